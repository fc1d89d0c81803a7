//! The Focus marketplace (spec §6.4): miners buy scored Focus videos with TAO; validators
//! reward the purchases. [`store`] holds the state (SQLite or PostgreSQL through sqlx),
//! [`server`] the HTTP API, [`dashboard`] the public page, [`price`] the original's price.

pub mod buy;
pub mod dashboard;
pub mod price;
pub mod server;
pub mod store;

use crate::table::focus::FocusListingInput;
use crate::table::{read_all, TableError};
use store::Listing;

/// The `ready` videos of a `focus-scored` table that have an owner, priced against the day's
/// budget `max_focus_tao`; and how many rows were left out (not ready, no owner, no score).
pub fn listings_from(path: &str, max_focus_tao: f64) -> Result<(Vec<Listing>, usize), TableError> {
    let rows: Vec<FocusListingInput> = read_all(path)?;
    let total = rows.len();
    let listings: Vec<Listing> = rows
        .into_iter()
        .filter(|r| r.decision.as_deref() == Some("ready"))
        .filter_map(|r| {
            let (owner, score, seconds) = (r.owner_coldkey.clone()?, r.focus_score?, r.focus_seconds?);
            let components = serde_json::json!({
                "task": r.task_score, "task_uniqueness": r.task_uniqueness,
                "completion": r.completion_score, "description_uniqueness": r.description_uniqueness,
                "video_uniqueness": r.video_uniqueness, "formula": r.formula,
            });
            Some(Listing {
                components: components.to_string(),
                ..Listing::for_sale(
                    &r.video_id,
                    &r.task_title,
                    score,
                    seconds,
                    &owner,
                    price::price_rao(score, seconds, max_focus_tao),
                )
            })
        })
        .filter(|l| l.price_rao > 0)
        .collect();
    let skipped = total - listings.len();
    Ok((listings, skipped))
}
