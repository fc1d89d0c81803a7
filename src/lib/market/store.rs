//! The marketplace's state in SQL, through sqlx's `Any` driver: a SQLite file by default,
//! PostgreSQL in production, the same statements on both (`$N` placeholders, which SQLite
//! takes too). Every state change is one transaction. Reserving a video is one conditional
//! `UPDATE … WHERE state = 'submitted'`: on both databases exactly one of two racing miners
//! changes the row, the other changes nothing and is told the video is taken.

use std::collections::BTreeMap;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

/// The migrations, in order: (version, name, SQL).
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "init",
    include_str!("../../../migrations/market/0001_init.sql"),
)];

/// Failed purchases in a row that ban a miner (the original's latest code).
pub const BAN_AFTER_FAILURES: i64 = 5;
/// How long a ban lasts.
pub const BAN_SECONDS: i64 = 24 * 3600;
/// The window of the daily cap and of the validators' purchase scores.
pub const DAY_SECONDS: i64 = 24 * 3600;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{url}: {source} (sqlite://FILE or postgres://USER@HOST:PORT/DB)")]
    Open { url: String, source: sqlx::Error },
    #[error("migration {version} ({name}): {source}")]
    Migration {
        version: i64,
        name: &'static str,
        source: sqlx::Error,
    },
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
}

/// A video's marketplace states (the original's `FocusVideoStateInternal`, in lower case).
pub mod state {
    pub const SUBMITTED: &str = "submitted";
    pub const PURCHASE_PENDING: &str = "purchase_pending";
    pub const PURCHASED: &str = "purchased";
}

/// A video as listed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Listing {
    pub video_id: String,
    pub task_title: String,
    pub score: f64,
    /// The five components and the formula, as JSON.
    pub components: String,
    pub duration_seconds: f64,
    pub owner_coldkey: String,
    pub price_rao: i64,
    pub state: String,
    pub miner_hotkey: Option<String>,
    pub reserved_until: Option<i64>,
    pub extrinsic: Option<String>,
    pub earned_rao: Option<i64>,
    pub updated_at: i64,
}

impl Listing {
    /// A video put up for sale (nobody has reserved or bought it yet).
    pub fn for_sale(
        video_id: &str,
        task_title: &str,
        score: f64,
        duration_seconds: f64,
        owner_coldkey: &str,
        price_rao: i64,
    ) -> Listing {
        Listing {
            video_id: video_id.into(),
            task_title: task_title.into(),
            score,
            components: "{}".into(),
            duration_seconds,
            owner_coldkey: owner_coldkey.into(),
            price_rao,
            state: state::SUBMITTED.into(),
            miner_hotkey: None,
            reserved_until: None,
            extrinsic: None,
            earned_rao: None,
            updated_at: 0,
        }
    }
}

/// What a purchase request came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Reservation {
    Reserved {
        owner_coldkey: String,
        price_rao: i64,
    },
    /// Unknown, or not listed for sale now (taken, bought).
    NotAvailable,
    Banned {
        until: i64,
    },
    /// The marketplace sold its daily budget.
    CapReached {
        sold_rao: i64,
        cap_rao: i64,
    },
}

/// What completing a verified purchase came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Completion {
    Purchased,
    /// The transfer already paid for another purchase.
    AlreadyUsed,
    /// The video is no longer this miner's to buy.
    NotReserved,
}

/// Purchases of one miner in the scoring window.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct MinerPurchases {
    /// Each purchased video's score (ERA's `purchased_videos`).
    pub scores: Vec<f64>,
    /// TAO paid (HEAD's `total_focus_points`), in rao.
    pub paid_rao: i64,
}

/// An entry of the purchase history.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Event {
    pub video_id: String,
    pub miner_hotkey: String,
    pub event: String,
    pub detail: Option<String>,
    pub at: i64,
}

pub struct Store {
    pool: AnyPool,
    /// SQLite: write transactions start with `BEGIN IMMEDIATE`, taking the write lock first; a
    /// deferred one that reads and then writes fails at once with "database is locked" when
    /// another connection is doing the same.
    sqlite: bool,
}

const LISTING_COLUMNS: &str = "video_id, task_title, score, components, duration_seconds, \
    owner_coldkey, price_rao, state, miner_hotkey, reserved_until, extrinsic, earned_rao, updated_at";

fn listing(row: &AnyRow) -> Result<Listing, sqlx::Error> {
    Ok(Listing {
        video_id: row.try_get("video_id")?,
        task_title: row.try_get("task_title")?,
        score: row.try_get("score")?,
        components: row.try_get("components")?,
        duration_seconds: row.try_get("duration_seconds")?,
        owner_coldkey: row.try_get("owner_coldkey")?,
        price_rao: row.try_get("price_rao")?,
        state: row.try_get("state")?,
        miner_hotkey: row.try_get("miner_hotkey")?,
        reserved_until: row.try_get("reserved_until")?,
        extrinsic: row.try_get("extrinsic")?,
        earned_rao: row.try_get("earned_rao")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// A SQLite URL that creates its file when missing.
fn with_create(url: &str) -> String {
    if url.starts_with("sqlite:") && !url.contains("mode=") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}mode=rwc")
    } else {
        url.to_string()
    }
}

impl Store {
    /// Connects to `url` and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(std::time::Duration::from_secs(30))
            .connect(&with_create(url))
            .await
            .map_err(|source| StoreError::Open {
                url: url.to_string(),
                source,
            })?;
        let store = Store {
            pool,
            sqlite: url.starts_with("sqlite:"),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// A transaction that will write.
    async fn write_tx(&self) -> Result<Tx<'static>, sqlx::Error> {
        if self.sqlite {
            self.pool.begin_with("BEGIN IMMEDIATE").await
        } else {
            self.pool.begin().await
        }
    }

    /// Applies the migrations not applied yet, each in its own transaction.
    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS omega_migrations \
             (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(&self.pool)
        .await?;
        for &(version, name, sql) in MIGRATIONS {
            let fail = |source| StoreError::Migration {
                version,
                name,
                source,
            };
            let mut tx = self.write_tx().await?;
            let done = sqlx::query("SELECT version FROM omega_migrations WHERE version = $1")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
            if done.is_some() {
                continue;
            }
            for statement in statements(sql) {
                sqlx::query(&statement)
                    .execute(&mut *tx)
                    .await
                    .map_err(fail)?;
            }
            sqlx::query(
                "INSERT INTO omega_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            )
            .bind(version)
            .bind(name)
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
            tx.commit().await.map_err(fail)?;
        }
        Ok(())
    }

    /// Lists `videos` for sale (state `submitted`); a video already known keeps its state, so
    /// listing a table again never re-sells a bought video. Returns how many were new.
    pub async fn list_videos(&self, videos: &[Listing]) -> Result<usize, StoreError> {
        let mut tx = self.write_tx().await?;
        let mut added = 0;
        for v in videos {
            let known = sqlx::query("SELECT video_id FROM focus_videos WHERE video_id = $1")
                .bind(&v.video_id)
                .fetch_optional(&mut *tx)
                .await?;
            if known.is_some() {
                continue;
            }
            sqlx::query(
                "INSERT INTO focus_videos (video_id, task_title, score, components, duration_seconds, \
                 owner_coldkey, price_rao, state, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
            )
            .bind(&v.video_id)
            .bind(&v.task_title)
            .bind(v.score)
            .bind(&v.components)
            .bind(v.duration_seconds)
            .bind(&v.owner_coldkey)
            .bind(v.price_rao)
            .bind(state::SUBMITTED)
            .bind(now())
            .execute(&mut *tx)
            .await?;
            added += 1;
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Videos for sale, the longest waiting first (the original's order), at most `limit`.
    pub async fn for_sale(&self, limit: i64) -> Result<Vec<Listing>, StoreError> {
        let sql = format!(
            "SELECT {LISTING_COLUMNS} FROM focus_videos WHERE state = $1 \
             ORDER BY updated_at, video_id LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(state::SUBMITTED)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(listing).collect::<Result<_, _>>()?)
    }

    /// Every video, for the dashboard.
    pub async fn all(&self) -> Result<Vec<Listing>, StoreError> {
        let sql = format!("SELECT {LISTING_COLUMNS} FROM focus_videos ORDER BY video_id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(listing).collect::<Result<_, _>>()?)
    }

    pub async fn video(&self, video_id: &str) -> Result<Option<Listing>, StoreError> {
        let sql = format!("SELECT {LISTING_COLUMNS} FROM focus_videos WHERE video_id = $1");
        let row = sqlx::query(&sql)
            .bind(video_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(listing).transpose()?)
    }

    /// Reserves `video_id` for `hotkey` until `until`, unless the miner is banned, the day's
    /// sales reached `cap_rao`, or the video is not for sale.
    pub async fn reserve(
        &self,
        video_id: &str,
        hotkey: &str,
        now: i64,
        until: i64,
        cap_rao: i64,
    ) -> Result<Reservation, StoreError> {
        let mut tx = self.write_tx().await?;
        let ban = sqlx::query("SELECT banned_until FROM miner_bans WHERE hotkey = $1")
            .bind(hotkey)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = ban {
            let until: Option<i64> = row.try_get("banned_until")?;
            if let Some(until) = until.filter(|u| *u > now) {
                return Ok(Reservation::Banned { until });
            }
        }
        let sold: Option<i64> = sqlx::query(
            "SELECT CAST(SUM(earned_rao) AS BIGINT) AS sold FROM focus_videos WHERE state = $1 AND updated_at >= $2",
        )
        .bind(state::PURCHASED)
        .bind(now - DAY_SECONDS)
        .fetch_one(&mut *tx)
        .await?
        .try_get("sold")?;
        let sold = sold.unwrap_or(0);
        // The original refuses from 90 % of the day's budget on.
        if sold as f64 >= 0.9 * cap_rao as f64 {
            return Ok(Reservation::CapReached {
                sold_rao: sold,
                cap_rao,
            });
        }
        let changed = sqlx::query(
            "UPDATE focus_videos SET state = $1, miner_hotkey = $2, reserved_until = $3, updated_at = $4 \
             WHERE video_id = $5 AND state = $6",
        )
        .bind(state::PURCHASE_PENDING)
        .bind(hotkey)
        .bind(until)
        .bind(now)
        .bind(video_id)
        .bind(state::SUBMITTED)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed != 1 {
            return Ok(Reservation::NotAvailable);
        }
        let row =
            sqlx::query("SELECT owner_coldkey, price_rao FROM focus_videos WHERE video_id = $1")
                .bind(video_id)
                .fetch_one(&mut *tx)
                .await?;
        record(&mut tx, video_id, hotkey, "reserved", None, now).await?;
        tx.commit().await?;
        Ok(Reservation::Reserved {
            owner_coldkey: row.try_get("owner_coldkey")?,
            price_rao: row.try_get("price_rao")?,
        })
    }

    /// Puts reservations whose window ended back on sale, counting a failed purchase for each
    /// miner (a ban after [`BAN_AFTER_FAILURES`] in a row). Returns the videos put back.
    pub async fn expire(&self, now: i64) -> Result<Vec<(String, String)>, StoreError> {
        let mut tx = self.write_tx().await?;
        let rows = sqlx::query(
            "SELECT video_id, miner_hotkey FROM focus_videos WHERE state = $1 AND reserved_until < $2",
        )
        .bind(state::PURCHASE_PENDING)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let mut expired = Vec::new();
        for row in rows {
            let (video, hotkey): (String, Option<String>) =
                (row.try_get("video_id")?, row.try_get("miner_hotkey")?);
            let hotkey = hotkey.unwrap_or_default();
            let changed = release(&mut tx, &video, Some(&hotkey), now).await?;
            if changed {
                count_failure(&mut tx, &hotkey, now).await?;
                record(&mut tx, &video, &hotkey, "expired", None, now).await?;
                expired.push((video, hotkey));
            }
        }
        tx.commit().await?;
        Ok(expired)
    }

    /// The miner gives its reservation back; true when it held one.
    pub async fn revert(&self, video_id: &str, hotkey: &str, now: i64) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let changed = release(&mut tx, video_id, Some(hotkey), now).await?;
        if changed {
            record(&mut tx, video_id, hotkey, "reverted", None, now).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// Marks a verified purchase: the video is `hotkey`'s if it reserved it (or it is back on
    /// sale), and the transfer `extrinsic` never paid for anything else.
    pub async fn complete(
        &self,
        video_id: &str,
        hotkey: &str,
        extrinsic: &str,
        paid_rao: i64,
        now: i64,
    ) -> Result<Completion, StoreError> {
        let mut tx = self.write_tx().await?;
        let used = sqlx::query("SELECT video_id FROM focus_videos WHERE extrinsic = $1")
            .bind(extrinsic)
            .fetch_optional(&mut *tx)
            .await?;
        if used.is_some() {
            return Ok(Completion::AlreadyUsed);
        }
        let changed = sqlx::query(
            "UPDATE focus_videos SET state = $1, extrinsic = $2, earned_rao = $3, miner_hotkey = $4, \
             reserved_until = NULL, updated_at = $5 \
             WHERE video_id = $6 AND ((state = $7 AND miner_hotkey = $4) OR state = $8)",
        )
        .bind(state::PURCHASED)
        .bind(extrinsic)
        .bind(paid_rao)
        .bind(hotkey)
        .bind(now)
        .bind(video_id)
        .bind(state::PURCHASE_PENDING)
        .bind(state::SUBMITTED)
        .execute(&mut *tx)
        .await;
        let changed = match changed {
            Ok(r) => r.rows_affected(),
            // The unique extrinsic column: a concurrent use of the same transfer.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Ok(Completion::AlreadyUsed)
            }
            Err(e) => return Err(e.into()),
        };
        if changed != 1 {
            return Ok(Completion::NotReserved);
        }
        sqlx::query("DELETE FROM miner_bans WHERE hotkey = $1")
            .bind(hotkey)
            .execute(&mut *tx)
            .await?;
        record(&mut tx, video_id, hotkey, "purchased", Some(extrinsic), now).await?;
        tx.commit().await?;
        Ok(Completion::Purchased)
    }

    /// Notes a verification that failed (kept in the history shown on the dashboard).
    pub async fn note(
        &self,
        video_id: &str,
        hotkey: &str,
        event: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        record(&mut tx, video_id, hotkey, event, Some(detail), now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Each miner's purchases since `since`.
    pub async fn purchases_since(
        &self,
        since: i64,
    ) -> Result<BTreeMap<String, MinerPurchases>, StoreError> {
        let rows = sqlx::query(
            "SELECT miner_hotkey, score, earned_rao FROM focus_videos \
             WHERE state = $1 AND updated_at >= $2 AND extrinsic IS NOT NULL AND miner_hotkey IS NOT NULL",
        )
        .bind(state::PURCHASED)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        let mut out: BTreeMap<String, MinerPurchases> = BTreeMap::new();
        for row in rows {
            let m = out.entry(row.try_get("miner_hotkey")?).or_default();
            m.scores.push(row.try_get("score")?);
            m.paid_rao += row.try_get::<Option<i64>, _>("earned_rao")?.unwrap_or(0);
        }
        Ok(out)
    }

    /// The purchase history, newest first.
    pub async fn events(&self, limit: i64) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(
            "SELECT video_id, miner_hotkey, event, detail, at FROM purchase_events ORDER BY at DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Event {
                    video_id: r.try_get("video_id")?,
                    miner_hotkey: r.try_get("miner_hotkey")?,
                    event: r.try_get("event")?,
                    detail: r.try_get("detail")?,
                    at: r.try_get("at")?,
                })
            })
            .collect()
    }

    /// A miner's ban, if any: (failed purchases in a row, banned until).
    pub async fn ban(&self, hotkey: &str) -> Result<Option<(i64, Option<i64>)>, StoreError> {
        let row =
            sqlx::query("SELECT failed_in_a_row, banned_until FROM miner_bans WHERE hotkey = $1")
                .bind(hotkey)
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            Some(r) => Some((r.try_get("failed_in_a_row")?, r.try_get("banned_until")?)),
            None => None,
        })
    }
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// Puts a reserved video back on sale (held by `hotkey` when given); true when it was.
async fn release(
    tx: &mut Tx<'_>,
    video_id: &str,
    hotkey: Option<&str>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE focus_videos SET state = $1, miner_hotkey = NULL, reserved_until = NULL, updated_at = $2 \
         WHERE video_id = $3 AND state = $4 AND miner_hotkey = $5",
    )
    .bind(state::SUBMITTED)
    .bind(now)
    .bind(video_id)
    .bind(state::PURCHASE_PENDING)
    .bind(hotkey.unwrap_or_default())
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() == 1)
}

async fn count_failure(tx: &mut Tx<'_>, hotkey: &str, now: i64) -> Result<(), sqlx::Error> {
    let failed: i64 = match sqlx::query("SELECT failed_in_a_row FROM miner_bans WHERE hotkey = $1")
        .bind(hotkey)
        .fetch_optional(&mut **tx)
        .await?
    {
        Some(row) => row.try_get::<i64, _>("failed_in_a_row")? + 1,
        None => {
            sqlx::query("INSERT INTO miner_bans (hotkey, failed_in_a_row) VALUES ($1, 0)")
                .bind(hotkey)
                .execute(&mut **tx)
                .await?;
            1
        }
    };
    let banned_until = (failed >= BAN_AFTER_FAILURES).then_some(now + BAN_SECONDS);
    sqlx::query("UPDATE miner_bans SET failed_in_a_row = $1, banned_until = $2 WHERE hotkey = $3")
        .bind(if banned_until.is_some() { 0 } else { failed })
        .bind(banned_until)
        .bind(hotkey)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn record(
    tx: &mut Tx<'_>,
    video_id: &str,
    hotkey: &str,
    event: &str,
    detail: Option<&str>,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO purchase_events (video_id, miner_hotkey, event, detail, at) VALUES ($1, $2, $3, $4, $5)")
        .bind(video_id)
        .bind(hotkey)
        .bind(event)
        .bind(detail)
        .bind(at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The SQL statements of a migration file (split at `;` ending a line; comment lines dropped).
fn statements(sql: &str) -> Vec<String> {
    let body: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    body.split(";\n")
        .map(|s| s.trim().trim_end_matches(';').trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
