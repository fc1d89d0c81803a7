//! The `embed` stage over tables: a producer thread reads the input and preprocesses one batch
//! on all cores while the model embeds the previous one; at most two batches wait in between,
//! so memory stays bounded whatever the input size. Rows are written in input order.

use std::sync::mpsc::sync_channel;

use arrow_array::RecordBatch;
use rayon::prelude::*;

use super::{
    embed_prepared, embed_texts, prepare, prepare_isolated, EmbedOptions, Embedded, MediaItem,
    PrepareFn, Prepared, PREPROCESS_VERSION,
};
use crate::model::{ImageBind, ModelError};
use crate::outcome::{ErrorClass, Outcome, Status};
use crate::report::Summary;
use crate::shard::Shard;
use crate::table::embeddings::{EmbedColumns, EmbedInput, TextEmbeddingRow};
use crate::table::{ExtendingWriter, TableError, TableReader, TableWriter};

/// One batch on its way from the producer to the model.
struct Work {
    raw: RecordBatch,
    rows: Vec<EmbedInput>,
    prepared: Vec<Option<Prepared>>,
}

/// The model identity written on every row.
struct ModelInfo {
    id: String,
    version: String,
}

fn item(row: &EmbedInput) -> Option<MediaItem> {
    let path = row.path.as_ref().filter(|_| row.status == Status::Ok)?;
    Some(MediaItem {
        id: row.video_id.clone(),
        path: path.into(),
        description: row.description.clone(),
    })
}

/// The added columns of one row: its embeddings, or the input's outcome passed through.
fn columns(info: &ModelInfo, embedded: Option<Embedded>, input: &EmbedInput) -> EmbedColumns {
    let outcome = match (&embedded, input.status) {
        (Some(e), _) => e.outcome.clone(),
        (None, Status::Ok) => {
            Outcome::failed(ErrorClass::InvalidInput, "the row has no media `path`")
        }
        (None, _) => Outcome {
            status: input.status,
            error_class: input.error_class,
            error: input.error.clone(),
        },
    };
    let (video, audio, description, chunks, unique, codec) = match embedded {
        Some(e) => (
            e.video,
            e.audio,
            e.description,
            e.text_chunks,
            e.unique_token_count,
            e.audio_codec,
        ),
        None => (None, None, None, 0, 0, None),
    };
    EmbedColumns {
        video_emb: video,
        audio_emb: audio,
        description_emb: description,
        text_chunks: chunks as i64,
        unique_token_count: unique as i64,
        embedded_audio_codec: codec,
        model_id: info.id.clone(),
        model_version: info.version.clone(),
        preprocess_version: PREPROCESS_VERSION.into(),
        status: outcome.status,
        error_class: outcome.error_class,
        error: outcome.error,
    }
}

/// Embeds every row of `input` (a `clips` or `candidates` table) into `output`.
/// `on_rows(n)` is called as rows are written.
pub fn embed_table(
    input: &str,
    shard: Option<Shard>,
    output: &str,
    model: &mut ImageBind,
    opts: &EmbedOptions,
    on_rows: &dyn Fn(usize),
) -> Result<Summary, TableError> {
    let reader = TableReader::<EmbedInput>::open_shard(input, shard, crate::shard::BY_VIDEO)?;
    embed_table_with(prepare, reader, output, model, opts, on_rows)
}

fn embed_table_with(
    prepare: PrepareFn,
    mut reader: TableReader<EmbedInput>,
    output: &str,
    model: &mut ImageBind,
    opts: &EmbedOptions,
    on_rows: &dyn Fn(usize),
) -> Result<Summary, TableError> {
    let mut writer = ExtendingWriter::<EmbedColumns>::create(output, reader.schema())?;
    let mut summary = Summary::new("embed");
    let info = ModelInfo {
        id: model.manifest.model_id.clone(),
        version: model.manifest.model_version.clone(),
    };
    let batch = opts.batch.max(1);
    let (bpe, encoders) = (&model.bpe, &mut model.encoders);
    let (tx, rx) = sync_channel::<Result<Work, TableError>>(1);
    std::thread::scope(|scope| -> Result<(), TableError> {
        scope.spawn(move || {
            while let Some(next) = reader.next_batch() {
                let (raw, rows) = match next {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                for start in (0..rows.len()).step_by(batch) {
                    let chunk = rows[start..(start + batch).min(rows.len())].to_vec();
                    let prepared = chunk
                        .par_iter()
                        .map(|r| item(r).map(|i| prepare_isolated(prepare, &i, bpe, opts)))
                        .collect();
                    let work = Work {
                        raw: raw.slice(start, chunk.len()),
                        rows: chunk,
                        prepared,
                    };
                    if tx.send(Ok(work)).is_err() {
                        return; // the consumer stopped on an error
                    }
                }
            }
        });
        for work in rx {
            let Work {
                raw,
                rows,
                prepared,
            } = work?;
            let present: Vec<bool> = prepared.iter().map(Option::is_some).collect();
            let ready: Vec<Prepared> = prepared.into_iter().flatten().collect();
            let mut embedded = embed_prepared(encoders, &ready).into_iter();
            let out: Vec<EmbedColumns> = rows
                .iter()
                .zip(present)
                .map(|(row, has)| columns(&info, has.then(|| embedded.next()).flatten(), row))
                .collect();
            for c in &out {
                summary.add(c.status, c.error_class, None);
            }
            writer.write(&raw, &out)?;
            on_rows(out.len());
        }
        Ok(())
    })?;
    writer.finish()?;
    Ok(summary)
}

/// Embeds texts (queries, topics) into a `text_embeddings` table.
pub fn embed_text_table(
    texts: &[String],
    output: &str,
    model: &mut ImageBind,
    opts: &EmbedOptions,
) -> Result<Summary, EmbedTextError> {
    let embs = embed_texts(model, texts, opts.truncation)?;
    let mut writer = TableWriter::<TextEmbeddingRow>::create(output)?;
    let mut summary = Summary::new("embed");
    for (text, emb) in texts.iter().zip(embs) {
        let chunks = crate::imagebind::chunk::description_chunks(&model.bpe, text).len();
        let outcome = if emb.is_some() {
            Outcome::ok()
        } else {
            Outcome::failed(ErrorClass::EmptyDescription, "the text is empty")
        };
        summary.add(outcome.status, outcome.error_class, None);
        writer.push(TextEmbeddingRow {
            text: text.clone(),
            text_emb: emb,
            text_chunks: chunks as i64,
            unique_token_count: crate::imagebind::chunk::unique_token_count(&model.bpe, text)
                as i64,
            model_id: model.manifest.model_id.clone(),
            model_version: model.manifest.model_version.clone(),
            preprocess_version: PREPROCESS_VERSION.into(),
            status: outcome.status,
            error_class: outcome.error_class,
            error: outcome.error,
        })?;
    }
    writer.finish()?;
    Ok(summary)
}

/// Why `embed --text` failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum EmbedTextError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Table(#[from] TableError),
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::super::tests::{assert_internal_failure, prepare_or_panic, short_video, tiny_model};
    use super::*;
    use crate::table::candidates::CandidateRow;
    use crate::table::read_all;

    /// A candidates table of a short video under the given ids.
    fn candidates(path: &str, ids: &[&str]) {
        let rows = ids.iter().enumerate().map(|(rank, id)| {
            let mut row = CandidateRow::new("dir", *id, rank);
            row.path = Some(short_video().to_string_lossy().into_owned());
            row.description = "a short video".into();
            row
        });
        let mut writer = TableWriter::<CandidateRow>::create(path).unwrap();
        writer.write_rows(rows).unwrap();
        writer.finish().unwrap();
    }

    #[test]
    fn a_panic_preparing_one_row_fails_that_row_and_the_run_goes_on() {
        let dir = std::env::temp_dir().join(format!("omega-embed-panic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir
            .join("candidates.parquet")
            .to_string_lossy()
            .into_owned();
        let output = dir
            .join("embeddings.parquet")
            .to_string_lossy()
            .into_owned();
        // Batches of 2: the panic hits the first batch, and the second one still comes.
        candidates(&input, &["ok-1", "panic", "ok-2"]);
        let opts = EmbedOptions {
            batch: 2,
            ..EmbedOptions::default()
        };
        let written = Cell::new(0);
        let summary = embed_table_with(
            prepare_or_panic,
            TableReader::open(&input).unwrap(),
            &output,
            &mut tiny_model(),
            &opts,
            &|n| written.set(written.get() + n),
        );
        let rows: Result<Vec<EmbedColumns>, _> = read_all(&output);
        let _ = std::fs::remove_dir_all(&dir);
        summary.expect("the run goes on");
        let rows = rows.unwrap();
        assert_eq!((rows.len(), written.get()), (3, 3));
        for ok in [&rows[0], &rows[2]] {
            assert_eq!(ok.status, Status::Ok, "{:?}", ok.error);
            assert!(ok.video_emb.is_some() && ok.audio_emb.is_some());
        }
        assert_internal_failure(&Outcome {
            status: rows[1].status,
            error_class: rows[1].error_class,
            error: rows[1].error.clone(),
        });
    }
}
