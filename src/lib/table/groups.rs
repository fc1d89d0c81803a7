//! Reading a table answer by answer: contiguous rows with the same key, with their raw rows
//! (every column) so a stage can write them back extended. Answers may span input batches.
//! An answer whose rows are not contiguous is refused (splitting it silently would judge two
//! halves as two answers): `validate`, `dedup` and `score` all group through here.

use std::collections::HashSet;
use std::path::Path;

use arrow_array::RecordBatch;

use super::{Table, TableError, TableReader};

/// Calls `f` with the rows of each group of contiguous rows sharing `key`, and those rows'
/// raw batch, in input order.
pub fn for_each_group<T: Table + Clone, E: From<TableError>>(
    reader: &mut TableReader<T>,
    key: fn(&T) -> &str,
    f: impl FnMut(Vec<T>, RecordBatch) -> Result<(), E>,
) -> Result<(), E> {
    let (schema, path) = (reader.schema().clone(), reader.path().to_path_buf());
    let batches = std::iter::from_fn(|| reader.next_batch());
    group_batches(batches, &schema, &path, key, f)
}

/// [`for_each_group`] over any stream of (raw batch, rows) pairs of one schema; `path` names
/// the input in errors.
pub fn group_batches<T: Clone, E: From<TableError>>(
    batches: impl Iterator<Item = Result<(RecordBatch, Vec<T>), TableError>>,
    schema: &arrow_schema::SchemaRef,
    path: &Path,
    key: fn(&T) -> &str,
    mut f: impl FnMut(Vec<T>, RecordBatch) -> Result<(), E>,
) -> Result<(), E> {
    let mut seen: HashSet<String> = HashSet::new();
    let (mut rows, mut raw): (Vec<T>, Vec<RecordBatch>) = (Vec::new(), Vec::new());
    let mut emit = |rows: &mut Vec<T>, raw: &mut Vec<RecordBatch>| -> Result<(), E> {
        if rows.is_empty() {
            return Ok(());
        }
        let batch = arrow_select::concat::concat_batches(schema, raw.iter()).map_err(|e| {
            TableError::Format {
                path: path.to_path_buf(),
                message: format!("joining the rows of one answer: {e}"),
            }
        })?;
        raw.clear();
        f(std::mem::take(rows), batch)
    };
    for next in batches {
        let (batch, batch_rows) = next?;
        let mut start = 0;
        for (i, row) in batch_rows.iter().enumerate() {
            // The row before this one: earlier in this batch, or the last of the open group.
            let previous = batch_rows[start..i].last().or(rows.last()).map(key);
            if previous == Some(key(row)) {
                continue;
            }
            if !seen.insert(key(row).to_string()) {
                let key = key(row).to_string();
                return Err(TableError::NotContiguous {
                    path: path.to_path_buf(),
                    key,
                }
                .into());
            }
            if previous.is_some() {
                rows.extend_from_slice(&batch_rows[start..i]);
                raw.push(batch.slice(start, i - start));
                emit(&mut rows, &mut raw)?;
                start = i;
            }
        }
        rows.extend_from_slice(&batch_rows[start..]);
        raw.push(batch.slice(start, batch_rows.len() - start));
    }
    emit(&mut rows, &mut raw)
}
