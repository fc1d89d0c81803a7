//! `validate` over tables: answers are read one after another (their rows must be contiguous,
//! as writers produce them), validated, and written with the input columns kept.

use std::collections::HashSet;

use arrow_array::RecordBatch;

use super::{validate_response, ValidateOptions};
use crate::model::ImageBind;
use crate::outcome::Status;
use crate::report::Summary;
use crate::table::responses::{EmbeddedClipView, ResponseRow, ValidatedColumns};
use crate::table::{open_raw, ExtendingWriter, Table, TableError, TableReader};

#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("{path}: the rows of answer `{id}` are not contiguous; sort the table by response_id")]
    NotContiguous { path: String, id: String },
    #[error("{0}")]
    Runtime(String),
}

/// Rows of the input as responses: a `responses` table as is (streamed), or an `embeddings`
/// table grouped by query (one answer per query; rows that were not embedded are left out and
/// counted). The second form reads the table whole: it is for a curator's batch of clips, not a
/// whole dataset (which `dedup --scope dataset` streams).
fn read_responses(
    input: &str,
    summary: &mut Summary,
) -> Result<Box<dyn Iterator<Item = Result<Vec<ResponseRow>, TableError>>>, TableError> {
    let raw = open_raw(input)?;
    if raw.schema.column_with_name("response_id").is_some() {
        return Ok(Box::new(TableReader::<ResponseRow>::open(input)?));
    }
    let mut not_embedded = 0usize;
    let rows: Vec<ResponseRow> = TableReader::<EmbeddedClipView>::open(input)?
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .filter(|r| {
            let ok = r.status == Status::Ok;
            not_embedded += usize::from(!ok);
            ok
        })
        .map(|r| {
            let query = r.query.unwrap_or_default();
            ResponseRow {
                response_id: query.clone(),
                miner_uid: None,
                miner_hotkey: None,
                query,
                video_id: r.video_id,
                description: r.description,
                views: r.views,
                start_time: r.start_time.unwrap_or(0),
                end_time: r.end_time.unwrap_or(0),
                source: r.source,
                url: r.url,
                source_path: r.source_path,
                video_emb: r.video_emb,
                audio_emb: r.audio_emb,
                description_emb: r.description_emb,
            }
        })
        .collect();
    if not_embedded > 0 {
        tracing::warn!("{input}: {not_embedded} rows were not embedded (status not ok) and are not part of any answer");
    }
    summary.set("rows_not_embedded", not_embedded);
    Ok(Box::new(std::iter::once(Ok(rows))))
}

/// Validates every answer of `input` (a `responses` table, or an `embeddings` table whose rows
/// are grouped by query) into `output`.
pub fn validate_table(
    input: &str,
    output: &str,
    model: &mut ImageBind,
    opts: &ValidateOptions,
) -> Result<Summary, ValidateError> {
    let mut summary = Summary::new("validate");
    let batches = read_responses(input, &mut summary)?;
    let mut writer = ExtendingWriter::<ValidatedColumns>::create(output, &ResponseRow::schema())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ValidateError::Runtime(e.to_string()))?;
    let mut rng = opts
        .seed
        .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
    let (mut seen, mut group, mut answers, mut passed) =
        (HashSet::new(), Vec::<ResponseRow>::new(), 0usize, 0usize);
    let mut flush = |group: &mut Vec<ResponseRow>| -> Result<(), ValidateError> {
        if group.is_empty() {
            return Ok(());
        }
        let added = validate_response(group, model, opts, &mut rng, &rt);
        answers += 1;
        passed += usize::from(added[0].response_passed);
        for c in &added {
            summary.add(c.status, c.error_class, None);
        }
        let raw = RecordBatch::try_new(ResponseRow::schema(), ResponseRow::to_arrays(group))
            .map_err(|e| ValidateError::Runtime(e.to_string()))?;
        writer.write(&raw, &added)?;
        group.clear();
        Ok(())
    };
    for batch in batches {
        for row in batch? {
            if group
                .first()
                .is_some_and(|g| g.response_id != row.response_id)
            {
                flush(&mut group)?;
            }
            if group.is_empty() && !seen.insert(row.response_id.clone()) {
                return Err(ValidateError::NotContiguous {
                    path: input.to_string(),
                    id: row.response_id,
                });
            }
            group.push(row);
        }
    }
    flush(&mut group)?;
    writer.finish()?;
    summary.set("answers", answers);
    summary.set("answers_passed", passed);
    Ok(summary)
}
