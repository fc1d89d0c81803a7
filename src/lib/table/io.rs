//! Reading and writing tables. Files are Parquet (zstd); `-` is stdin/stdout, where the
//! stream format is Arrow IPC (Parquet needs a seekable file to be read, so it cannot stream
//! through a pipe). Readers sniff the format, so either works anywhere.

use std::fs::File;
use std::io::{BufReader, Cursor, Read};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::reader::ChunkReader;

use super::{column_positions, Table, TableError};
use crate::fsutil::AtomicFile;

/// How rows travel through a pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFormat {
    Parquet,
    ArrowIpc,
}

const PARQUET_MAGIC: &[u8] = b"PAR1";
/// Rows per Parquet row group / IPC batch when a stage writes row by row.
pub const BATCH_ROWS: usize = 1024;

fn display_path(path: &str) -> PathBuf {
    PathBuf::from(if path == "-" { "<stdin>" } else { path })
}

enum Sink {
    Parquet(ArrowWriter<AtomicFile>),
    Ipc(StreamWriter<std::io::Stdout>),
}

/// Writes a table to a Parquet file (atomically: a temporary file renamed on [`finish`]) or
/// to stdout as an Arrow IPC stream when the path is `-`.
///
/// [`finish`]: TableWriter::finish
pub struct TableWriter<T: Table> {
    sink: Sink,
    path: PathBuf,
    schema: arrow_schema::SchemaRef,
    pending: Vec<T>,
    rows: usize,
}

fn open_sink(path: &str, schema: &arrow_schema::SchemaRef) -> Result<(Sink, PathBuf), TableError> {
    let shown = PathBuf::from(if path == "-" { "<stdout>" } else { path });
    let fmt_err = |e: &dyn std::fmt::Display| TableError::Format {
        path: shown.clone(),
        message: e.to_string(),
    };
    let sink = if path == "-" {
        Sink::Ipc(
            StreamWriter::try_new(std::io::stdout(), schema).map_err(|e| arrow_error(e, &shown))?,
        )
    } else {
        let file = AtomicFile::create(Path::new(path)).map_err(|e| TableError::Io {
            path: shown.clone(),
            source: e,
        })?;
        let kv = schema
            .metadata()
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
            .collect();
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(3).expect("valid zstd level"),
            ))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_max_row_group_row_count(Some(64 * BATCH_ROWS))
            .set_key_value_metadata(Some(kv))
            .build();
        Sink::Parquet(
            ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| fmt_err(&e))?,
        )
    };
    Ok((sink, shown))
}

/// An Arrow error as a table error, keeping an I/O error's kind (a closed pipe on stdout is
/// EPIPE, which the CLI treats as a normal end, not as a failure).
fn arrow_error(e: arrow_schema::ArrowError, path: &Path) -> TableError {
    match e {
        arrow_schema::ArrowError::IoError(_, source) => TableError::Io {
            path: path.to_path_buf(),
            source,
        },
        other => format_error(path, other.to_string()),
    }
}

impl Sink {
    fn write(&mut self, batch: &RecordBatch, path: &Path) -> Result<(), TableError> {
        match self {
            Sink::Parquet(w) => w
                .write(batch)
                .map_err(|e| format_error(path, e.to_string())),
            Sink::Ipc(w) => w
                .write(batch)
                .and_then(|_| w.flush())
                .map_err(|e| arrow_error(e, path)),
        }
    }

    fn finish(self, path: &Path) -> Result<(), TableError> {
        let fmt_err = |message: String| TableError::Format {
            path: path.to_path_buf(),
            message,
        };
        match self {
            Sink::Parquet(w) => {
                let file = w.into_inner().map_err(|e| fmt_err(e.to_string()))?;
                file.commit().map_err(|e| TableError::Io {
                    path: path.to_path_buf(),
                    source: e,
                })
            }
            Sink::Ipc(mut w) => w.finish().map_err(|e| arrow_error(e, path)),
        }
    }
}

impl<T: Table> TableWriter<T> {
    pub fn create(path: &str) -> Result<Self, TableError> {
        Self::create_with_metadata(path, &[])
    }

    /// As [`create`](Self::create), with extra key-value pairs in the file's metadata (the
    /// block a `metagraph` was read at).
    pub fn create_with_metadata(path: &str, extra: &[(&str, String)]) -> Result<Self, TableError> {
        let base = T::schema();
        let mut metadata = base.metadata().clone();
        metadata.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let schema = Arc::new(arrow_schema::Schema::new_with_metadata(
            base.fields().clone(),
            metadata,
        ));
        let (sink, path) = open_sink(path, &schema)?;
        Ok(TableWriter {
            sink,
            path,
            schema,
            pending: Vec::new(),
            rows: 0,
        })
    }

    /// Buffers a row; rows are flushed in batches of [`BATCH_ROWS`].
    pub fn push(&mut self, row: T) -> Result<(), TableError> {
        self.pending.push(row);
        if self.pending.len() >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    pub fn write_rows(&mut self, rows: impl IntoIterator<Item = T>) -> Result<(), TableError> {
        rows.into_iter().try_for_each(|r| self.push(r))
    }

    fn flush(&mut self) -> Result<(), TableError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = RecordBatch::try_new(self.schema.clone(), T::to_arrays(&self.pending))
            .map_err(|e| TableError::Format {
                path: self.path.clone(),
                message: e.to_string(),
            })?;
        self.rows += self.pending.len();
        self.pending.clear();
        self.sink.write(&batch, &self.path)
    }

    /// Writes what is buffered, closes the file and moves it into place. Returns the row count.
    pub fn finish(mut self) -> Result<usize, TableError> {
        self.flush()?;
        self.sink.finish(&self.path)?;
        Ok(self.rows)
    }
}

/// Writes an input table's columns followed by the columns of `E`, batch by batch: a stage
/// that adds columns (e.g. `embed`) keeps everything upstream stages wrote. Input columns
/// that `E` also declares (the outcome columns) are replaced by `E`'s.
pub struct ExtendingWriter<E: Table> {
    sink: Sink,
    path: PathBuf,
    schema: arrow_schema::SchemaRef,
    keep: Vec<usize>,
    rows: usize,
    _e: PhantomData<E>,
}

impl<E: Table> ExtendingWriter<E> {
    pub fn create(path: &str, input: &arrow_schema::Schema) -> Result<Self, TableError> {
        let own = E::schema();
        let replaced: Vec<&str> = own.fields().iter().map(|f| f.name().as_str()).collect();
        let keep: Vec<usize> = (0..input.fields().len())
            .filter(|&i| !replaced.contains(&input.field(i).name().as_str()))
            .collect();
        let mut fields: Vec<arrow_schema::FieldRef> =
            keep.iter().map(|&i| input.fields()[i].clone()).collect();
        fields.extend(own.fields().iter().cloned());
        let schema = Arc::new(arrow_schema::Schema::new_with_metadata(
            fields,
            own.metadata().clone(),
        ));
        let (sink, path) = open_sink(path, &schema)?;
        Ok(ExtendingWriter {
            sink,
            path,
            schema,
            keep,
            rows: 0,
            _e: PhantomData,
        })
    }

    /// Writes `input` (a batch of the input table) extended with `rows` (one per input row).
    pub fn write(&mut self, input: &RecordBatch, rows: &[E]) -> Result<(), TableError> {
        assert_eq!(input.num_rows(), rows.len(), "one added row per input row");
        let mut columns: Vec<arrow_array::ArrayRef> =
            self.keep.iter().map(|&i| input.column(i).clone()).collect();
        columns.extend(E::to_arrays(rows));
        let batch =
            RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| TableError::Format {
                path: self.path.clone(),
                message: e.to_string(),
            })?;
        self.rows += rows.len();
        self.sink.write(&batch, &self.path)
    }

    pub fn finish(self) -> Result<usize, TableError> {
        self.sink.finish(&self.path)?;
        Ok(self.rows)
    }
}

/// A table's batches; every error already names the file. A table ends at its first error:
/// what a decoder would make of the bytes after one is not to be trusted.
pub type BatchIter = Box<dyn Iterator<Item = Result<RecordBatch, TableError>> + Send>;

/// Reads a table batch by batch, checking the schema on open and every value on the way.
pub struct TableReader<T: Table> {
    batches: BatchIter,
    schema: arrow_schema::SchemaRef,
    positions: Vec<usize>,
    path: PathBuf,
    rows_read: usize,
    pub format: StreamFormat,
    _t: PhantomData<T>,
}

/// An open table of any schema: its batches, schema and stream format.
pub struct RawTable {
    pub batches: BatchIter,
    pub schema: arrow_schema::SchemaRef,
    pub format: StreamFormat,
    /// The path as shown in messages (`<stdin>` for `-`).
    pub path: PathBuf,
}

/// Opens a Parquet file or Arrow IPC stream, whatever its schema; `-` reads stdin. A folder is
/// read as one table: the parts of a sharded stage, or its Parquet files (see [`super::parts`]).
pub fn open_raw(path: &str) -> Result<RawTable, TableError> {
    if path != "-" && Path::new(path).is_dir() {
        return super::parts::open_folder(Path::new(path));
    }
    open_one(path)
}

/// Opens one file as [`open_raw`] does.
pub(super) fn open_file(path: &Path) -> Result<RawTable, TableError> {
    open_one(&path.to_string_lossy())
}

fn open_one(path: &str) -> Result<RawTable, TableError> {
    let shown = display_path(path);
    let io_err = |e: std::io::Error| TableError::Io {
        path: shown.clone(),
        source: e,
    };
    let mut input: Box<dyn Read + Send> = if path == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(File::open(path).map_err(io_err)?)
    };
    let mut magic = Vec::with_capacity(4);
    (&mut input)
        .take(4)
        .read_to_end(&mut magic)
        .map_err(io_err)?;
    if magic.is_empty() {
        return Err(format_error(
            &shown,
            "empty input (expected a Parquet file or an Arrow IPC stream)".into(),
        ));
    }
    let (batches, schema, format) = if magic == PARQUET_MAGIC {
        // Parquet needs random access: reopen files, buffer stdin.
        if path == "-" {
            let mut buf = magic;
            input.read_to_end(&mut buf).map_err(io_err)?;
            open_parquet(bytes::Bytes::from(buf), &shown)?
        } else {
            open_parquet(File::open(path).map_err(io_err)?, &shown)?
        }
    } else {
        let chained = BufReader::new(Cursor::new(magic).chain(input));
        let reader = guarded(&shown, || StreamReader::try_new(chained, None))?;
        let schema = reader.schema();
        let batches: BatchIter = Box::new(Guarded::new(reader, shown.clone()));
        (batches, schema, StreamFormat::ArrowIpc)
    };
    Ok(RawTable {
        batches,
        schema,
        format,
        path: shown,
    })
}

fn open_parquet<R: ChunkReader + 'static>(
    input: R,
    path: &Path,
) -> Result<(BatchIter, arrow_schema::SchemaRef, StreamFormat), TableError> {
    // The builder's schema keeps the file's key-value metadata (the reader's drops it).
    let (reader, schema) = guarded(path, || {
        ParquetRecordBatchReaderBuilder::try_new(input).and_then(|b| {
            let schema = b.schema().clone();
            b.with_batch_size(BATCH_ROWS).build().map(|r| (r, schema))
        })
    })?;
    let batches: BatchIter = Box::new(Guarded::new(reader, path.to_path_buf()));
    Ok((batches, schema, StreamFormat::Parquet))
}

fn format_error(path: &Path, message: String) -> TableError {
    TableError::Format {
        path: path.to_path_buf(),
        message,
    }
}

thread_local! {
    /// Whether this thread is inside [`guarded`], whose panics are reported as errors.
    static DECODING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs one step of the `parquet` or `arrow-ipc` decoder. They panic on some corrupt files
/// (out-of-range offsets, impossible lengths); we cannot fix them, so a panic there becomes
/// a [`TableError::Format`] naming the file, and is not printed (see [`quiet_decoder_panics`]).
fn guarded<R, E: std::fmt::Display>(
    path: &Path,
    step: impl FnOnce() -> Result<R, E>,
) -> Result<R, TableError> {
    quiet_decoder_panics();
    let outer = DECODING.replace(true);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(step));
    DECODING.set(outer);
    match result {
        Ok(done) => done.map_err(|e| format_error(path, e.to_string())),
        Err(payload) => Err(format_error(
            path,
            format!(
                "corrupt data (the decoder panicked: {})",
                crate::isolate::panic_text(payload.as_ref())
            ),
        )),
    }
}

/// Wraps the panic hook, once, so that a panic inside [`guarded`] on this thread prints
/// nothing: it is reported as an error instead. The flag is per thread, so a panic anywhere
/// else (another thread, or outside the decoder) still reaches the previous hook as before.
fn quiet_decoder_panics() {
    static WRAP: std::sync::Once = std::sync::Once::new();
    WRAP.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !DECODING.try_with(std::cell::Cell::get).unwrap_or(false) {
                previous(info);
            }
        }));
    });
}

/// A decoder's batches with each step [`guarded`], ending at the first error.
struct Guarded<I> {
    inner: Option<I>,
    path: PathBuf,
}

impl<I> Guarded<I> {
    fn new(inner: I, path: PathBuf) -> Self {
        Guarded {
            inner: Some(inner),
            path,
        }
    }
}

impl<I, E> Iterator for Guarded<I>
where
    I: Iterator<Item = Result<RecordBatch, E>>,
    E: std::fmt::Display,
{
    type Item = Result<RecordBatch, TableError>;

    fn next(&mut self) -> Option<Self::Item> {
        let inner = self.inner.as_mut()?;
        let step = guarded(&self.path, || inner.next().transpose()).transpose();
        if !matches!(step, Some(Ok(_))) {
            self.inner = None;
        }
        step
    }
}

impl<T: Table> TableReader<T> {
    /// Opens a Parquet file or Arrow IPC stream (`-` reads stdin) and checks its schema.
    pub fn open(path: &str) -> Result<Self, TableError> {
        Self::from_raw(open_raw(path)?)
    }

    /// Opens `path` as [`open`](Self::open) does, keeping only the rows of `shard` (by the first
    /// of the `keys` columns the table has; every row when `None`).
    pub fn open_shard(
        path: &str,
        shard: Option<crate::shard::Shard>,
        keys: &[&str],
    ) -> Result<Self, TableError> {
        Self::from_raw(open_raw(path)?.take_shard(shard, keys)?)
    }

    /// Reads a table already opened with [`open_raw`] (a caller that looked at its schema
    /// first), checking its schema; stdin is read only once.
    pub fn from_raw(raw: RawTable) -> Result<Self, TableError> {
        let positions = column_positions::<T>(&raw.schema, &raw.path)?;
        Ok(TableReader {
            batches: raw.batches,
            schema: raw.schema,
            positions,
            path: raw.path,
            rows_read: 0,
            format: raw.format,
            _t: PhantomData,
        })
    }

    /// The schema of the file (all its columns, not only `T`'s).
    pub fn schema(&self) -> &arrow_schema::SchemaRef {
        &self.schema
    }

    /// The input as shown in messages (`<stdin>` for `-`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next batch of rows, or `None` at the end.
    pub fn next_rows(&mut self) -> Option<Result<Vec<T>, TableError>> {
        self.next_batch().map(|r| r.map(|(_, rows)| rows))
    }

    /// Where `T`'s columns are in the file's schema, in `T`'s order.
    pub fn positions(&self) -> &[usize] {
        &self.positions
    }

    /// The next raw batch (every column) and the row number of its first row, for a caller
    /// that works on the columns (see [`positions`](Self::positions)) and checks their values
    /// itself.
    pub fn next_raw(&mut self) -> Option<Result<(RecordBatch, usize), TableError>> {
        let batch = match self.batches.next()? {
            Ok(b) => b,
            Err(e) => return Some(Err(e)),
        };
        let offset = self.rows_read;
        self.rows_read += batch.num_rows();
        Some(Ok((batch, offset)))
    }

    /// The next raw batch (every column) with its rows as `T`.
    pub fn next_batch(&mut self) -> Option<Result<(RecordBatch, Vec<T>), TableError>> {
        let (batch, offset) = match self.next_raw()? {
            Ok(b) => b,
            Err(e) => return Some(Err(e)),
        };
        let arrays: Vec<&dyn arrow_array::Array> = self
            .positions
            .iter()
            .map(|&i| batch.column(i).as_ref())
            .collect();
        let rows = T::from_arrays(&arrays).map_err(|(column, row, message)| TableError::BadValue {
            path: self.path.clone(),
            row: offset + row,
            column,
            message,
        });
        Some(rows.map(|rows| (batch, rows)))
    }
}

impl<T: Table> Iterator for TableReader<T> {
    type Item = Result<Vec<T>, TableError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_rows()
    }
}

/// Reads a whole table into memory (for small tables and tests).
pub fn read_all<T: Table>(path: &str) -> Result<Vec<T>, TableError> {
    let mut rows = Vec::new();
    for batch in TableReader::<T>::open(path)? {
        rows.extend(batch?);
    }
    Ok(rows)
}
