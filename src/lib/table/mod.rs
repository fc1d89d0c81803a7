//! Stage tables: every table is declared once with [`table!`](crate::table!), written as
//! Parquet (zstd) to files and as an Arrow IPC stream to pipes, and checked on open.
//!
//! * [`Table`]: what a declared row type knows about itself.
//! * [`TableWriter`] / [`TableReader`]: streaming, atomic I/O (`-` = stdin/stdout).
//! * [`markdown`]: the `schemas/*.md` documentation, generated from the declaration.

mod cell;
mod count;
mod groups;
mod io;
mod macros;
mod parts;
mod show;

pub mod candidates;
pub mod clips;
pub mod dataset_deduped;
pub mod deduped;
pub mod embeddings;
pub mod focus;
pub mod hub;
pub mod metagraph;
pub mod responses;
pub mod round_miners;
pub mod scored;
pub mod validated;
pub mod weights;

use std::path::PathBuf;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema};

pub use cell::{Cell, EMBEDDING_DIM};
pub use count::total_rows;
pub use groups::{for_each_group, group_batches};
pub use io::{
    open_raw, read_all, ExtendingWriter, RawTable, StreamFormat, TableReader, TableWriter,
};
pub use parts::{check_same_columns, part_files};
pub use show::{cell_text, render};

/// Key-value metadata keys stored in every file omega writes.
pub const META_TABLE: &str = "omega.table";
pub const META_SCHEMA_VERSION: &str = "omega.schema_version";
pub const META_WRITER: &str = "omega.writer";

/// One declared column.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: &'static str,
    pub data_type: DataType,
    pub nullable: bool,
    /// Whether a file's column of this type can be read (e.g. any string flavour).
    pub accepts: fn(&DataType) -> bool,
    pub unit: &'static str,
    pub doc: &'static str,
}

/// A row type declared with `table!`.
pub trait Table: Sized + Send + 'static {
    const NAME: &'static str;
    const VERSION: u32;
    const DOC: &'static str;
    fn columns() -> Vec<Column>;
    fn to_arrays(rows: &[Self]) -> Vec<arrow_array::ArrayRef>;
    /// Rows from arrays given in [`Table::columns`] order; `Err((column, row, message))`.
    fn from_arrays(
        arrays: &[&dyn arrow_array::Array],
    ) -> Result<Vec<Self>, (&'static str, usize, String)>;

    /// The Arrow schema, with the table name and version in its metadata.
    fn schema() -> Arc<Schema> {
        let fields: Vec<Field> = Self::columns()
            .into_iter()
            .map(|c| Field::new(c.name, c.data_type, c.nullable))
            .collect();
        let meta = [
            (META_TABLE.to_string(), Self::NAME.to_string()),
            (META_SCHEMA_VERSION.to_string(), Self::VERSION.to_string()),
            (
                META_WRITER.to_string(),
                format!("omega {}", env!("CARGO_PKG_VERSION")),
            ),
        ];
        Arc::new(Schema::new_with_metadata(
            fields,
            meta.into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        ))
    }
}

/// Why a table could not be read or written. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a readable Parquet file or Arrow IPC stream: {message}")]
    Format { path: PathBuf, message: String },
    #[error(
        "{path}: column `{column}` is missing (the `{table}` table needs it as {expected}); \
         was this file written by the stage that produces `{table}`?"
    )]
    MissingColumn {
        path: PathBuf,
        table: &'static str,
        column: &'static str,
        expected: String,
    },
    #[error(
        "{path}: column `{column}` has type {found}, but the `{table}` table needs {expected}"
    )]
    WrongType {
        path: PathBuf,
        table: &'static str,
        column: &'static str,
        expected: String,
        found: String,
    },
    #[error("{path}: row {row}, column `{column}`: {message}")]
    BadValue {
        path: PathBuf,
        row: usize,
        column: &'static str,
        message: String,
    },
    #[error(
        "{path}: the rows of answer `{key}` are not contiguous (an answer's rows must follow \
         each other, as omega's stages write them); sort the table by response_id"
    )]
    NotContiguous { path: PathBuf, key: String },
    #[error(
        "{path}: {difference} (compared with {reference}); every shard must have the same \
         columns in the same order: write them with the same stage, or run them separately"
    )]
    SchemaMismatch {
        path: PathBuf,
        reference: PathBuf,
        difference: String,
    },
    #[error("{path}: {message}")]
    IncompleteFolder { path: PathBuf, message: String },
    #[error("{path}: no column `{column}` (columns: {})", .available.join(", "))]
    UnknownColumn {
        path: PathBuf,
        column: String,
        available: Vec<String>,
    },
    #[error("{path}: the `{table}` schema version {found} is newer than this omega reads ({supported}); upgrade omega")]
    NewerVersion {
        path: PathBuf,
        table: &'static str,
        found: u32,
        supported: u32,
    },
}

/// The first difference between two schemas' columns, in words; `None` when they agree.
fn column_difference(a: &arrow_schema::Schema, b: &arrow_schema::Schema) -> Option<String> {
    for (i, fa) in a.fields().iter().enumerate() {
        let Some(fb) = b.fields().get(i) else {
            return Some(format!(
                "column `{}` (number {}) is missing",
                fa.name(),
                i + 1
            ));
        };
        if fa.name() != fb.name() {
            return Some(format!(
                "column {} is `{}`, expected `{}`",
                i + 1,
                fb.name(),
                fa.name()
            ));
        }
        if fa.data_type() != fb.data_type() {
            let (ta, tb) = (fa.data_type(), fb.data_type());
            return Some(format!(
                "column `{}` has type {tb}, expected {ta}",
                fa.name()
            ));
        }
    }
    let extra = b.fields().get(a.fields().len())?;
    Some(format!("extra column `{}`", extra.name()))
}

/// Positions of the declared columns in a file's schema, checking names and types.
fn column_positions<T: Table>(
    file: &Schema,
    path: &std::path::Path,
) -> Result<Vec<usize>, TableError> {
    if let Some(v) = file
        .metadata()
        .get(META_SCHEMA_VERSION)
        .and_then(|v| v.parse::<u32>().ok())
    {
        let same_table = file
            .metadata()
            .get(META_TABLE)
            .is_some_and(|t| t == T::NAME);
        if same_table && v > T::VERSION {
            return Err(TableError::NewerVersion {
                path: path.to_path_buf(),
                table: T::NAME,
                found: v,
                supported: T::VERSION,
            });
        }
    }
    T::columns()
        .into_iter()
        .map(|col| {
            let (idx, field) =
                file.column_with_name(col.name)
                    .ok_or_else(|| TableError::MissingColumn {
                        path: path.to_path_buf(),
                        table: T::NAME,
                        column: col.name,
                        expected: col.data_type.to_string(),
                    })?;
            if !(col.accepts)(field.data_type()) {
                return Err(TableError::WrongType {
                    path: path.to_path_buf(),
                    table: T::NAME,
                    column: col.name,
                    expected: col.data_type.to_string(),
                    found: field.data_type().to_string(),
                });
            }
            Ok(idx)
        })
        .collect()
}

/// The markdown documentation of a table, as kept in `schemas/<name>.md`.
pub fn markdown<T: Table>() -> String {
    let mut out = format!("# `{}` table (schema version {})\n\n", T::NAME, T::VERSION);
    for line in T::DOC.lines() {
        out.push_str(line.strip_prefix(' ').unwrap_or(line));
        out.push('\n');
    }
    out.push_str(&format!(
        "\nStored in the Parquet/Arrow key-value metadata: `{META_TABLE}` = `{}`, `{META_SCHEMA_VERSION}` = `{}`, \
         `{META_WRITER}` = the omega version that wrote it.\n\n",
        T::NAME,
        T::VERSION
    ));
    out.push_str("| column | type | null | unit | meaning |\n|---|---|---|---|---|\n");
    for c in T::columns() {
        let doc: Vec<&str> = c.doc.lines().map(str::trim).collect();
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            c.name,
            c.data_type,
            if c.nullable { "yes" } else { "no" },
            c.unit,
            doc.join(" ").trim()
        ));
    }
    out
}

/// Names of the tables and their markdown, for `omega schema` and the docs test.
pub fn all_markdown() -> Vec<(&'static str, String)> {
    fn doc<T: Table>() -> (&'static str, String) {
        (T::NAME, markdown::<T>())
    }
    vec![
        doc::<candidates::CandidateRow>(),
        doc::<clips::ClipRow>(),
        doc::<embeddings::EmbedColumns>(),
        doc::<embeddings::TextEmbeddingRow>(),
        doc::<responses::ResponseRow>(),
        doc::<validated::ValidatedColumns>(),
        doc::<deduped::DedupColumns>(),
        doc::<scored::ScoreColumns>(),
        doc::<dataset_deduped::DatasetDedupColumns>(),
        doc::<hub::HubRow>(),
        doc::<weights::WeightRow>(),
        doc::<metagraph::MetagraphRow>(),
        doc::<round_miners::RoundMinerRow>(),
        doc::<focus::FocusVideoRow>(),
        doc::<focus::FocusScoreColumns>(),
    ]
}
