//! Parquet files written for the Hub: zstd, the page index on, and row groups of at most
//! [`ROW_GROUP_BYTES`] (the dataset viewer fails on row groups above about 286 MiB).

use std::path::Path;

use arrow_array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::fsutil::AtomicFile;

/// The bound on a row group's uncompressed size.
pub const ROW_GROUP_BYTES: usize = 100 * 1000 * 1000;

/// What was written.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct ShardFile {
    pub rows: usize,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: writing Parquet: {message}")]
    Parquet { path: String, message: String },
}

/// Rows per row group so that a group stays under [`ROW_GROUP_BYTES`]: from the widest row
/// of the batch (its Arrow buffers, which bound the plain-encoded size).
fn rows_per_group(batch: &RecordBatch) -> usize {
    let per_row = batch.get_array_memory_size() / batch.num_rows().max(1);
    (ROW_GROUP_BYTES * 9 / 10 / per_row.max(1)).max(1)
}

/// Writes `batches` to `path` atomically. `metadata` goes into the file's key-value metadata.
pub fn write_shard(
    path: &Path,
    batches: impl IntoIterator<Item = RecordBatch>,
    schema: arrow_schema::SchemaRef,
) -> Result<ShardFile, ShardError> {
    let shown = path.display().to_string();
    let io = |source| ShardError::Io {
        path: shown.clone(),
        source,
    };
    let pq = |e: parquet::errors::ParquetError| ShardError::Parquet {
        path: shown.clone(),
        message: e.to_string(),
    };
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("level")))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(None)
        .set_key_value_metadata(Some(
            schema
                .metadata()
                .iter()
                .map(|(k, v)| parquet::file::metadata::KeyValue::new(k.clone(), v.clone()))
                .collect(),
        ))
        .build();
    let file = AtomicFile::create(path).map_err(io)?;
    let mut writer = ArrowWriter::try_new(file, schema, Some(props)).map_err(pq)?;
    let (mut rows, mut in_group, mut limit) = (0, 0, usize::MAX);
    for batch in batches {
        limit = limit.min(rows_per_group(&batch));
        let mut offset = 0;
        while offset < batch.num_rows() {
            let take = (limit - in_group).min(batch.num_rows() - offset);
            writer.write(&batch.slice(offset, take)).map_err(pq)?;
            (offset, in_group, rows) = (offset + take, in_group + take, rows + take);
            if in_group >= limit {
                writer.flush().map_err(pq)?;
                in_group = 0;
            }
        }
    }
    writer.into_inner().map_err(pq)?.commit().map_err(io)?;
    let bytes = std::fs::metadata(path).map_err(io)?.len();
    Ok(ShardFile { rows, bytes })
}
