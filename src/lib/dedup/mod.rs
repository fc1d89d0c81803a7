//! `omega dedup`: in-answer de-duplication and novelty against the index of every video
//! already accepted (spec §4.2 steps 8–10, with B4 and B9 fixed), and building the index.

use crate::index::{IndexError, VectorIndex};
use crate::outcome::{ErrorClass, Outcome, Status};
use crate::report::Summary;
use crate::score::novelty::{global_novelty, in_batch, novelty, too_similar};
use crate::score::ScoreConfig;
use crate::table::dataset_deduped::DatasetDedupColumns;
use crate::table::deduped::{DedupColumns, DedupInput, IndexInput};
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
pub fn dedup_answer<'i>(
    rows: &[DedupInput],
    index: Option<&mut (dyn VectorIndex + 'i)>,
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
    if let (true, Some(ix)) = (insert, index) {
        ix.insert(&accepted)?;
    }
    Ok(out)
}

/// De-duplicates every answer of a `validated` table into `output`. Answers may span input
/// batches; rows are written in input order with every input column kept.
pub fn dedup_table<'i>(
    input: &str,
    shard: Option<crate::shard::Shard>,
    output: &str,
    mut index: Option<&mut (dyn VectorIndex + 'i)>,
    insert: bool,
    cfg: &ScoreConfig,
) -> Result<Summary, DedupError> {
    let mut reader = TableReader::<DedupInput>::open_shard(input, shard, crate::shard::BY_ANSWER)?;
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
/// deduped tables) to the index, and every vector of the embedded index folders among them
/// (loading an exact index into Milvus). Returns how many were new.
pub fn build_index(index: &mut dyn VectorIndex, tables: &[String]) -> Result<usize, DedupError> {
    let mut added = 0;
    for t in tables {
        if crate::index::ExactIndex::is_index(std::path::Path::new(t)) {
            added += copy_index(
                &crate::index::ExactIndex::open(std::path::Path::new(t))?,
                index,
            )?;
            continue;
        }
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

/// Copies every vector of `from` into `to`, a batch at a time. Returns how many were new.
fn copy_index(
    from: &crate::index::ExactIndex,
    to: &mut dyn VectorIndex,
) -> Result<usize, DedupError> {
    let mut added = 0;
    for start in (0..from.ids().len()).step_by(2048) {
        let end = (start + 2048).min(from.ids().len());
        let items: Vec<(String, Vec<f32>)> = (start..end)
            .map(|i| (from.ids()[i].clone(), from.vector(i)))
            .collect();
        added += to.insert(&items)?;
    }
    Ok(added)
}

/// `--scope dataset`: keeps the first of every group of near-duplicates across `shards` (in
/// order), comparing each row with the index and with the rows kept before it. Streams batch by
/// batch: memory holds one batch, the index lives on disk (kept rows are inserted as they go).
/// With `drop`, rows that are not kept are left out of the output (and counted).
pub fn dedup_dataset(
    shards: &[String],
    output: &str,
    index: &mut (dyn VectorIndex + 'static),
    drop: bool,
    cfg: &ScoreConfig,
) -> Result<Summary, DedupError> {
    crate::table::check_same_columns(shards)?;
    let mut summary = Summary::new("dedup");
    let mut writer: Option<ExtendingWriter<DatasetDedupColumns>> = None;
    let mut dropped = 0usize;
    let limit = 1.0 - cfg.difference_threshold;
    for shard in shards {
        let mut reader = TableReader::<IndexInput>::open(shard)?;
        if writer.is_none() {
            writer = Some(ExtendingWriter::create(output, reader.schema())?);
        }
        let w = writer.as_mut().expect("created above");
        while let Some(next) = reader.next_batch() {
            let (raw, rows) = next?;
            let vectors: Vec<&[f32]> = rows.iter().filter_map(|r| r.video_emb.as_deref()).collect();
            let mut nearest = index.nearest(&vectors)?.into_iter();
            let close = close_earlier_rows(&rows, limit);
            let mut accepted: Vec<(String, Vec<f32>)> = Vec::new();
            let mut kept_rows = std::collections::HashSet::new();
            let mut added = Vec::with_capacity(rows.len());
            for (i, r) in rows.iter().enumerate() {
                let Some(v) = r.video_emb.as_deref().filter(|_| r.status == Status::Ok) else {
                    if r.video_emb.is_some() {
                        nearest.next();
                    }
                    added.push(DatasetDedupColumns {
                        keep: false,
                        near_duplicate_of: None,
                        near_duplicate_cosine: None,
                    });
                    continue;
                };
                let in_index = nearest
                    .next()
                    .flatten()
                    .map(|n| (n.id, f64::from(n.cosine)));
                let in_batch = close[i]
                    .iter()
                    .filter(|j| kept_rows.contains(*j))
                    .map(|&j| {
                        let other = rows[j].video_emb.as_deref().expect("a close row has one");
                        let cosine = f64::from(crate::vector::cosine(v, other));
                        (rows[j].video_id.clone(), cosine)
                    })
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                let best = [in_index, in_batch]
                    .into_iter()
                    .flatten()
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                let dup = best.filter(|(_, c)| *c > limit);
                if dup.is_none() {
                    accepted.push((r.video_id.clone(), v.to_vec()));
                    kept_rows.insert(i);
                }
                added.push(DatasetDedupColumns {
                    keep: dup.is_none(),
                    near_duplicate_cosine: dup.as_ref().map(|d| d.1),
                    near_duplicate_of: dup.map(|d| d.0),
                });
            }
            index.insert(&accepted)?;
            for c in &added {
                let (status, class) = if c.keep {
                    (Status::Ok, None)
                } else {
                    (Status::Skipped, Some(ErrorClass::NotNovel))
                };
                summary.add(status, class, None);
            }
            if drop {
                let keep: Vec<bool> = added.iter().map(|c| c.keep).collect();
                dropped += keep.iter().filter(|k| !**k).count();
                let mask = arrow_array::BooleanArray::from(keep);
                let raw = arrow_select::filter::filter_record_batch(&raw, &mask).map_err(|e| {
                    TableError::Format {
                        path: shard.into(),
                        message: e.to_string(),
                    }
                })?;
                let kept: Vec<DatasetDedupColumns> = added.into_iter().filter(|c| c.keep).collect();
                w.write(&raw, &kept)?;
            } else {
                w.write(&raw, &added)?;
            }
        }
    }
    if let Some(w) = writer {
        w.finish()?;
    }
    summary.set("rows_dropped", dropped);
    Ok(summary)
}

/// For each row of a batch, the earlier rows whose cosine to it may exceed `limit`: a fast f32
/// dot product of unit vectors on every core, with a margin far above its rounding error, so
/// that the exact f64 cosine (which decides) is computed only for these few pairs.
fn close_earlier_rows(rows: &[IndexInput], limit: f64) -> Vec<Vec<usize>> {
    use rayon::prelude::*;
    const MARGIN: f64 = 1e-3;
    let units: Vec<Option<Vec<f32>>> = rows
        .iter()
        .map(|r| r.video_emb.as_deref().map(crate::vector::unit))
        .collect();
    (0..rows.len())
        .into_par_iter()
        .map(|i| {
            let Some(u) = &units[i] else {
                return Vec::new();
            };
            (0..i)
                .filter(|&j| {
                    units[j]
                        .as_ref()
                        .is_some_and(|w| f64::from(crate::vector::dot(u, w)) >= limit - MARGIN)
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod b5_alignment {
    use super::*;
    use crate::index::ExactIndex;

    /// B5: the original filtered videos and embeddings in separate lists, so a dropped video
    /// could shift every later embedding onto the wrong metadata. Property, over many random
    /// answers (any mix of dropped, failed, embedding-less and duplicate rows): every judged row
    /// finds exactly its own embedding in an index of all the rows' embeddings under their ids,
    /// every other row gets no numbers, and a duplicate points at a row with its embedding.
    #[test]
    fn filtering_never_misaligns_embeddings_and_metadata() {
        let dir = std::env::temp_dir().join(format!("omega-b5-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cfg = ScoreConfig::default();
        let mut rng = fastrand::Rng::with_seed(5);
        for round in 0..40 {
            let n = rng.usize(1..12);
            let base: Vec<Vec<f32>> = (0..n)
                .map(|_| (0..1024).map(|_| rng.f32() - 0.5).collect())
                .collect();
            let rows: Vec<DedupInput> = (0..n)
                .map(|i| {
                    // Some rows repeat an earlier row's vector: in-answer duplicates.
                    let source = if i > 0 && rng.u8(..) < 40 {
                        rng.usize(..i)
                    } else {
                        i
                    };
                    DedupInput {
                        response_id: "r".into(),
                        video_id: format!("v{round}-{i}"),
                        kept: rng.u8(..) > 50,
                        response_passed: rng.u8(..) > 20,
                        video_emb: (rng.u8(..) > 30).then(|| base[source].clone()),
                        status: if rng.u8(..) > 30 {
                            Status::Ok
                        } else {
                            Status::Failed
                        },
                        error_class: None,
                        error: None,
                    }
                })
                .collect();
            let round_dir = dir.join(round.to_string());
            let mut index = ExactIndex::open(&round_dir).unwrap();
            let own: Vec<(String, Vec<f32>)> = rows
                .iter()
                .filter_map(|r| Some((r.video_id.clone(), r.video_emb.clone()?)))
                .collect();
            index.insert(&own).unwrap();
            let out = dedup_answer(&rows, Some(&mut index), false, &cfg).unwrap();
            for (i, (row, got)) in rows.iter().zip(&out).enumerate() {
                let judged = row.kept
                    && row.response_passed
                    && row.status == Status::Ok
                    && row.video_emb.is_some();
                if !judged {
                    assert!(
                        got.nearest_id.is_none() && got.local_novelty.is_none(),
                        "round {round} row {i}"
                    );
                    continue;
                }
                let nearest = got.nearest_cosine.unwrap();
                assert!(
                    nearest > 0.999,
                    "round {round} row {i}: its own embedding is found"
                );
                let hit = got.nearest_id.as_ref().unwrap();
                let hit_row = rows.iter().find(|r| &r.video_id == hit).unwrap();
                assert_eq!(
                    hit_row.video_emb, row.video_emb,
                    "round {round} row {i}: aligned"
                );
                if let Some(j) = got.duplicate_of {
                    assert_eq!(
                        rows[j as usize].video_emb, row.video_emb,
                        "round {round} row {i}"
                    );
                    assert!(j as usize > i, "the later copy is kept");
                }
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
