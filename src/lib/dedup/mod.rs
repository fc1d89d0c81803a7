//! `omega dedup`: in-answer de-duplication and novelty against the index of every video
//! already accepted (spec §4.2 steps 8–10, with B4 and B9 fixed), and building the index.

use crate::index::{IndexError, VectorIndex};
use crate::outcome::{ErrorClass, Outcome, Status};
use crate::report::Summary;
use crate::score::novelty::{global_novelty, in_batch, novelty, too_similar};
use crate::score::ScoreConfig;
use crate::table::responses::{DedupColumns, DedupInput, IndexInput};
use crate::table::{for_each_group, ExtendingWriter, TableError, TableReader};

#[derive(Debug, thiserror::Error)]
pub enum DedupError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// Judges one answer's rows. With `insert`, its novel videos go into the index afterwards,
/// so later answers of the same run are compared with them.
pub fn dedup_answer(
    rows: &[DedupInput],
    index: Option<&mut (dyn VectorIndex + 'static)>,
    insert: bool,
    cfg: &ScoreConfig,
) -> Result<Vec<DedupColumns>, IndexError> {
    let judged: Vec<usize> = (0..rows.len())
        .filter(|&i| {
            rows[i].kept
                && rows[i].response_passed
                && rows[i].status == Status::Ok
                && rows[i].video_emb.is_some()
        })
        .collect();
    let videos: Vec<&[f32]> = judged
        .iter()
        .map(|&i| rows[i].video_emb.as_deref().expect("filtered"))
        .collect();
    let local = in_batch(&videos, cfg);
    let mut index = index;
    let nearest = match index.as_deref() {
        Some(ix) => Some(ix.nearest(&videos)?),
        None => None,
    };
    let mut out: Vec<DedupColumns> = rows
        .iter()
        .map(|r| DedupColumns {
            duplicate_of: None,
            local_novelty: None,
            nearest_id: None,
            nearest_cosine: None,
            global_novelty: None,
            novelty: None,
            too_similar: false,
            status: r.status,
            error_class: r.error_class,
            error: r.error.clone(),
        })
        .collect();
    let mut accepted = Vec::new();
    for (n, &i) in judged.iter().enumerate() {
        let c = &mut out[i];
        c.duplicate_of = local[n].duplicate_of.map(|j| judged[j] as i64);
        c.local_novelty = local[n].local_novelty;
        if let Some(near) = nearest.as_ref().map(|all| all[n].clone()) {
            c.nearest_cosine = near.as_ref().map(|x| f64::from(x.cosine));
            c.nearest_id = near.map(|x| x.id);
            c.global_novelty = Some(global_novelty(c.nearest_cosine));
        }
        let outcome = if let Some(j) = c.duplicate_of {
            Outcome::skipped(
                ErrorClass::Duplicate,
                format!("the same video as position {j} of this answer"),
            )
        } else {
            let v = novelty(
                c.local_novelty.unwrap_or(1.0),
                c.global_novelty.unwrap_or(1.0),
            );
            c.novelty = Some(v);
            c.too_similar = too_similar(v, cfg);
            if c.too_similar {
                Outcome::skipped(
                    ErrorClass::NotNovel,
                    format!("novelty {v:.3} < {}", cfg.difference_threshold),
                )
            } else {
                accepted.push((
                    rows[i].video_id.clone(),
                    rows[i].video_emb.clone().expect("filtered"),
                ));
                Outcome::ok()
            }
        };
        c.status = outcome.status;
        c.error_class = outcome.error_class;
        c.error = outcome.error;
    }
    if let (true, Some(ix)) = (insert, index.as_deref_mut()) {
        ix.insert(&accepted)?;
    }
    Ok(out)
}

/// De-duplicates every answer of a `validated` table into `output`. Answers may span input
/// batches; rows are written in input order with every input column kept.
pub fn dedup_table(
    input: &str,
    output: &str,
    mut index: Option<&mut (dyn VectorIndex + 'static)>,
    insert: bool,
    cfg: &ScoreConfig,
) -> Result<Summary, DedupError> {
    let mut reader = TableReader::<DedupInput>::open(input)?;
    let mut writer = ExtendingWriter::<DedupColumns>::create(output, reader.schema())?;
    let mut summary = Summary::new("dedup");
    for_each_group(
        &mut reader,
        |r| &r.response_id,
        |rows, raw| -> Result<(), DedupError> {
            let added = dedup_answer(&rows, index.as_deref_mut(), insert, cfg)?;
            added
                .iter()
                .for_each(|c| summary.add(c.status, c.error_class, None));
            writer.write(&raw, &added)?;
            Ok(())
        },
    )?;
    writer.finish()?;
    Ok(summary)
}

/// Adds every `ok` row with a video embedding of `tables` (embeddings, responses, validated or
/// deduped tables) to the index. Returns how many were new.
pub fn build_index(index: &mut dyn VectorIndex, tables: &[String]) -> Result<usize, DedupError> {
    let mut added = 0;
    for t in tables {
        for batch in TableReader::<IndexInput>::open(t)? {
            let items: Vec<(String, Vec<f32>)> = batch?
                .into_iter()
                .filter(|r| r.status == Status::Ok)
                .filter_map(|r| Some((r.video_id, r.video_emb?)))
                .collect();
            added += index.insert(&items)?;
        }
    }
    Ok(added)
}
