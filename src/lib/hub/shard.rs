//! Parquet files written for the Hub: zstd, the page index on, and row groups of at most
//! [`ROW_GROUP_BYTES`] (the dataset viewer fails on row groups above about 286 MiB).
//!
//! A row group's columns are encoded in parallel (the three embedding columns are 99 % of the
//! bytes), on a background thread so that the caller reads the next rows meanwhile. Embedding
//! columns are written plain, without a dictionary or min/max statistics: floats from a model
//! never repeat, so a dictionary is built only to be thrown away, and nobody filters on the
//! minimum of an embedding's coordinates. Their pages are still in the offset index.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, SchemaRef};
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory,
};
use parquet::arrow::{ArrowSchemaConverter, ArrowWriter};
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use rayon::prelude::*;

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

/// Rows per row group so that a group stays under [`ROW_GROUP_BYTES`]: from the batch's
/// bytes per row (its Arrow buffers, which bound the plain-encoded size; a slice counts only
/// its own rows).
fn rows_per_group(batch: &RecordBatch) -> usize {
    let bytes: usize = batch
        .columns()
        .iter()
        .map(|c| {
            c.to_data()
                .get_slice_memory_size()
                .unwrap_or_else(|_| c.get_array_memory_size())
        })
        .sum();
    let per_row = bytes / batch.num_rows().max(1);
    (ROW_GROUP_BYTES * 9 / 10 / per_row.max(1)).max(1)
}

/// The writer properties of a shard of `schema`: zstd 3 and page statistics, but neither
/// dictionary nor statistics for list columns (the embeddings).
fn properties(schema: &SchemaRef) -> Result<WriterProperties, ParquetError> {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("level")))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(None)
        .set_key_value_metadata(Some(
            schema
                .metadata()
                .iter()
                .map(|(k, v)| parquet::file::metadata::KeyValue::new(k.clone(), v.clone()))
                .collect(),
        ));
    let leaves = ArrowSchemaConverter::new().convert(schema)?;
    for leaf in leaves.columns() {
        let top = schema.field_with_name(&leaf.path().parts()[0]);
        if top.is_ok_and(|f| matches!(f.data_type(), DataType::FixedSizeList(..))) {
            props = props
                .set_column_dictionary_enabled(leaf.path().clone(), false)
                .set_column_statistics_enabled(leaf.path().clone(), EnabledStatistics::None);
        }
    }
    Ok(props.build())
}

type FileWriter = SerializedFileWriter<AtomicFile>;

/// Writes a shard batch by batch, atomically (the file appears on [`ShardWriter::finish`]).
pub struct ShardWriter {
    path: PathBuf,
    schema: SchemaRef,
    factory: ArrowRowGroupWriterFactory,
    /// The file, while no row group is being encoded.
    file: Option<FileWriter>,
    /// The row group being encoded and appended; it gives the file back.
    encoding: Option<JoinHandle<Result<FileWriter, ParquetError>>>,
    group: Vec<RecordBatch>,
    in_group: usize,
    limit: usize,
    row_groups: usize,
    rows: usize,
}

impl ShardWriter {
    /// Starts a shard of `schema` (flat columns; a fixed-size list of a primitive is flat)
    /// at `path`; its metadata goes into the file's key-value metadata.
    pub fn create(path: &Path, schema: SchemaRef) -> Result<ShardWriter, ShardError> {
        let file = AtomicFile::create(path).map_err(|source| ShardError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let pq = parquet_error(path);
        let props = properties(&schema).map_err(&pq)?;
        let (file, factory) = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .and_then(ArrowWriter::into_serialized_writer)
            .map_err(&pq)?;
        if file.schema_descr().num_columns() != schema.fields().len() {
            return Err(pq(ParquetError::General(
                "a shard's columns must be flat (one Parquet leaf per column)".into(),
            )));
        }
        Ok(ShardWriter {
            path: path.to_path_buf(),
            schema,
            factory,
            file: Some(file),
            encoding: None,
            group: Vec::new(),
            in_group: 0,
            limit: usize::MAX,
            row_groups: 0,
            rows: 0,
        })
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Adds rows; a full row group is encoded while the caller goes on.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ShardError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.limit = self.limit.min(rows_per_group(batch));
        let mut offset = 0;
        while offset < batch.num_rows() {
            let take = (self.limit.saturating_sub(self.in_group))
                .max(1)
                .min(batch.num_rows() - offset);
            self.group.push(batch.slice(offset, take));
            (offset, self.in_group, self.rows) =
                (offset + take, self.in_group + take, self.rows + take);
            if self.in_group >= self.limit {
                self.start_group()?;
            }
        }
        Ok(())
    }

    /// Hands the buffered rows to a background thread that encodes them as one row group.
    fn start_group(&mut self) -> Result<(), ShardError> {
        if self.group.is_empty() {
            return Ok(());
        }
        let mut file = self.take_file()?;
        let columns = self
            .factory
            .create_column_writers(self.row_groups)
            .map_err(parquet_error(&self.path))?;
        let (group, schema) = (std::mem::take(&mut self.group), self.schema.clone());
        self.encoding = Some(std::thread::spawn(move || {
            let chunks = encode_columns(columns, &schema, &group)?;
            let mut row_group = file.next_row_group()?;
            for chunk in chunks {
                chunk.append_to_row_group(&mut row_group)?;
            }
            row_group.close()?;
            Ok(file)
        }));
        self.row_groups += 1;
        self.in_group = 0;
        Ok(())
    }

    /// The file, once the row group being encoded (if any) is in it.
    fn take_file(&mut self) -> Result<FileWriter, ShardError> {
        if let Some(job) = self.encoding.take() {
            let file = job.join().map_err(|payload| {
                parquet_error(&self.path)(ParquetError::General(format!(
                    "the encoder panicked: {}",
                    crate::isolate::panic_text(payload.as_ref())
                )))
            })?;
            return file.map_err(parquet_error(&self.path));
        }
        Ok(self
            .file
            .take()
            .expect("the file is here when no group is encoding"))
    }

    /// Writes the last row group and the footer, and moves the file into place.
    pub fn finish(mut self) -> Result<ShardFile, ShardError> {
        self.start_group()?;
        let file = self.take_file()?;
        let shown = self.path.display().to_string();
        let io = |source| ShardError::Io {
            path: shown.clone(),
            source,
        };
        file.into_inner()
            .map_err(parquet_error(&self.path))?
            .commit()
            .map_err(io)?;
        let bytes = std::fs::metadata(&self.path).map_err(io)?.len();
        Ok(ShardFile {
            rows: self.rows,
            bytes,
        })
    }
}

/// Encodes one row group's columns in parallel (one Parquet leaf per column).
fn encode_columns(
    columns: Vec<ArrowColumnWriter>,
    schema: &SchemaRef,
    group: &[RecordBatch],
) -> Result<Vec<ArrowColumnChunk>, ParquetError> {
    columns
        .into_par_iter()
        .enumerate()
        .map(|(i, mut column)| {
            for batch in group {
                for leaf in compute_leaves(schema.field(i), batch.column(i))? {
                    column.write(&leaf)?;
                }
            }
            column.close()
        })
        .collect()
}

fn parquet_error(path: &Path) -> impl Fn(ParquetError) -> ShardError + '_ {
    move |e| ShardError::Parquet {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Writes `batches` to `path` atomically. The schema's metadata goes into the file's
/// key-value metadata.
pub fn write_shard(
    path: &Path,
    batches: impl IntoIterator<Item = RecordBatch>,
    schema: arrow_schema::SchemaRef,
) -> Result<ShardFile, ShardError> {
    let mut writer = ShardWriter::create(path, schema)?;
    for batch in batches {
        writer.write(&batch)?;
    }
    writer.finish()
}
