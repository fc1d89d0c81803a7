//! Plain-text rendering of any stage table, for `omega show` and the demo.

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Schema};

use super::TableError;

/// The text of one cell; `null` for nulls, `[N × type]` for list columns.
pub fn cell_text(array: &dyn Array, row: usize) -> String {
    if array.is_null(row) {
        return "null".into();
    }
    match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().value(row).to_string(),
        DataType::LargeUtf8 => array.as_string::<i64>().value(row).to_string(),
        DataType::Utf8View => array.as_string_view().value(row).to_string(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(row).to_string(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(row).to_string(),
        DataType::Float64 => trim_float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Float32 => trim_float(f64::from(array.as_primitive::<Float32Type>().value(row))),
        DataType::Boolean => array.as_boolean().value(row).to_string(),
        DataType::FixedSizeList(f, n) => format!("[{n} × {}]", f.data_type()),
        other => format!("<{other}>"),
    }
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" || s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// Renders `columns` (all when empty) of `batches`, read from `path` with `schema`, as an
/// aligned text table, cutting cells to `width` characters and newlines to `⏎`. A column
/// name the schema lacks is an error naming the file, even when there are no rows to show.
pub fn render(
    path: &Path,
    schema: &Schema,
    batches: &[RecordBatch],
    columns: &[String],
    width: usize,
) -> Result<String, TableError> {
    let names: Vec<String> = if columns.is_empty() {
        schema.fields().iter().map(|f| f.name().clone()).collect()
    } else {
        columns.to_vec()
    };
    let idx = names
        .iter()
        .map(|n| column_index(path, schema, n))
        .collect::<Result<Vec<_>, _>>()?;
    if batches.is_empty() {
        return Ok(String::new());
    }
    let mut rows = vec![names];
    for b in batches {
        for r in 0..b.num_rows() {
            rows.push(
                idx.iter()
                    .map(|&i| shorten(&cell_text(b.column(i).as_ref(), r), width))
                    .collect(),
            );
        }
    }
    Ok(aligned(&rows))
}

fn column_index(path: &Path, schema: &Schema, name: &str) -> Result<usize, TableError> {
    schema
        .index_of(name)
        .map_err(|_| TableError::UnknownColumn {
            path: path.to_path_buf(),
            column: name.to_string(),
            available: schema.fields().iter().map(|f| f.name().clone()).collect(),
        })
}

/// The rows as lines of cells padded to their column's width.
fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v}{}", " ".repeat(w - v.chars().count())))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn shorten(s: &str, width: usize) -> String {
    let s = s.replace('\n', "⏎");
    if s.chars().count() <= width {
        s
    } else {
        let mut t: String = s.chars().take(width.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}
