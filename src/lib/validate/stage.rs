//! `validate` over tables: answers are read one after another (their rows must be contiguous,
//! as writers produce them), validated, and written with every input column kept.

use std::sync::Arc;

use arrow_array::{BooleanArray, RecordBatch};
use arrow_schema::{Schema, SchemaRef};

use super::{validate_response, ValidateOptions};
use crate::model::ImageBind;
use crate::outcome::Status;
use crate::report::Summary;
use crate::shard::Shard;
use crate::table::responses::{EmbeddedClipView, ResponseRow};
use crate::table::validated::ValidatedColumns;
use crate::table::{group_batches, open_raw, ExtendingWriter, Table, TableError, TableReader};

#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("starting the download runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// The answers of an input table as (raw batch, rows) pairs of one schema.
type Batches = Box<dyn Iterator<Item = Result<(RecordBatch, Vec<ResponseRow>), TableError>>>;

/// The input as responses: a `responses` table as is (streamed, every column kept), or an
/// `embeddings` table whose `ok` rows become responses grouped by query (one answer per
/// query, its rows brought together; the other rows are left out and counted), keeping the
/// table's other columns after the response columns.
fn read_responses(
    input: &str,
    shard: Option<Shard>,
    summary: &mut Summary,
) -> Result<(Batches, SchemaRef, std::path::PathBuf), TableError> {
    let raw = open_raw(input)?.take_shard(shard, crate::shard::BY_ANSWER)?;
    if raw.schema.column_with_name("response_id").is_some() {
        let mut reader = TableReader::<ResponseRow>::from_raw(raw)?;
        let (schema, path) = (reader.schema().clone(), reader.path().to_path_buf());
        return Ok((
            Box::new(std::iter::from_fn(move || reader.next_batch())),
            schema,
            path,
        ));
    }
    let mut reader = TableReader::<EmbeddedClipView>::from_raw(raw)?;
    let (input_schema, path) = (reader.schema().clone(), reader.path().to_path_buf());
    let own = ResponseRow::schema();
    let extra: Vec<usize> = (0..input_schema.fields().len())
        .filter(|&i| own.column_with_name(input_schema.field(i).name()).is_none())
        .collect();
    let mut fields: Vec<_> = own.fields().iter().cloned().collect();
    fields.extend(extra.iter().map(|&i| input_schema.fields()[i].clone()));
    let schema = Arc::new(Schema::new_with_metadata(fields, own.metadata().clone()));
    let mut not_embedded = 0usize;
    let mut batches = Vec::new();
    while let Some(next) = reader.next_batch() {
        let (batch, rows) = next?;
        let ok: Vec<bool> = rows.iter().map(|r| r.status == Status::Ok).collect();
        not_embedded += ok.iter().filter(|&&o| !o).count();
        let responses: Vec<ResponseRow> = rows
            .into_iter()
            .zip(&ok)
            .filter(|(_, &ok)| ok)
            .map(|(r, _)| response_of(r))
            .collect();
        let keep = BooleanArray::from(ok);
        let mut columns = ResponseRow::to_arrays(&responses);
        for &i in &extra {
            columns.push(
                arrow_select::filter::filter(batch.column(i), &keep).map_err(|e| {
                    TableError::Format {
                        path: path.clone(),
                        message: e.to_string(),
                    }
                })?,
            );
        }
        let raw =
            RecordBatch::try_new(schema.clone(), columns).map_err(|e| TableError::Format {
                path: path.clone(),
                message: e.to_string(),
            })?;
        batches.push((raw, responses));
    }
    let grouped = group_by_query(&schema, batches).map_err(|e| TableError::Format {
        path: path.clone(),
        message: e.to_string(),
    })?;
    if not_embedded > 0 {
        tracing::warn!("{input}: {not_embedded} rows were not embedded (status not ok) and are not part of any answer");
    }
    summary.set("rows_not_embedded", not_embedded);
    Ok((Box::new(std::iter::once(Ok(grouped))), schema, path))
}

/// The curator's responses in one batch, the rows of each query together (queries in order of
/// first appearance, rows in input order within one): a folder of `embed` parts, split by video,
/// holds each query's rows in several places.
fn group_by_query(
    schema: &SchemaRef,
    batches: Vec<(RecordBatch, Vec<ResponseRow>)>,
) -> Result<(RecordBatch, Vec<ResponseRow>), arrow_schema::ArrowError> {
    let (raw, rows): (Vec<RecordBatch>, Vec<Vec<ResponseRow>>) = batches.into_iter().unzip();
    let raw = arrow_select::concat::concat_batches(schema, &raw)?;
    let rows: Vec<ResponseRow> = rows.into_iter().flatten().collect();
    let mut first_seen: std::collections::HashMap<&str, usize> = Default::default();
    let mut order: Vec<(usize, usize)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let next = first_seen.len();
            (*first_seen.entry(r.response_id.as_str()).or_insert(next), i)
        })
        .collect();
    order.sort_unstable();
    let take = arrow_array::UInt32Array::from_iter_values(order.iter().map(|&(_, i)| i as u32));
    let raw = arrow_select::take::take_record_batch(&raw, &take)?;
    // Moved, not cloned: each row holds three embeddings.
    let mut slots: Vec<Option<ResponseRow>> = rows.into_iter().map(Some).collect();
    let rows = order
        .iter()
        .map(|&(_, i)| slots[i].take().expect("each row is taken once"))
        .collect();
    Ok((raw, rows))
}

/// A curator's embedded clip as a video of the answer for its query.
fn response_of(r: EmbeddedClipView) -> ResponseRow {
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
}

/// The random choices of one answer's spot check: with a seed, drawn from the seed and the
/// answer alone, so an answer is checked the same way whatever else the input holds (a part
/// of a sharded run decides exactly as the whole run does).
fn answer_rng(seed: Option<u64>, response_id: &str) -> fastrand::Rng {
    match seed {
        Some(seed) => fastrand::Rng::with_seed(seed ^ crate::shard::key_hash(response_id)),
        None => fastrand::Rng::new(),
    }
}

/// Validates every answer of `input` (a `responses` table, or an `embeddings` table whose rows
/// are grouped by query) into `output`.
pub fn validate_table(
    input: &str,
    shard: Option<Shard>,
    output: &str,
    model: &mut ImageBind,
    opts: &ValidateOptions,
) -> Result<Summary, ValidateError> {
    let mut summary = Summary::new("validate");
    let (batches, schema, path) = read_responses(input, shard, &mut summary)?;
    let mut writer = ExtendingWriter::<ValidatedColumns>::create(output, &schema)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ValidateError::Runtime)?;
    let (mut answers, mut passed) = (0usize, 0usize);
    group_batches(
        batches,
        &schema,
        &path,
        |r| &r.response_id,
        |group, raw| -> Result<(), ValidateError> {
            let mut rng = answer_rng(opts.seed, &group[0].response_id);
            let added = validate_response(&group, model, opts, &mut rng, &rt);
            answers += 1;
            passed += usize::from(added[0].response_passed);
            for c in &added {
                summary.add(c.status, c.error_class, None);
            }
            writer.write(&raw, &added)?;
            Ok(())
        },
    )?;
    writer.finish()?;
    summary.set("answers", answers);
    summary.set("answers_passed", passed);
    Ok(summary)
}
