//! Reading a table answer by answer: contiguous rows with the same key, with their raw rows
//! (every column) so a stage can write them back extended. Answers may span input batches.

use arrow_array::RecordBatch;

use super::{Table, TableError, TableReader};

/// Calls `f` with the rows of each group of contiguous rows sharing `key`, and those rows'
/// raw batch, in input order.
pub fn for_each_group<T: Table + Clone, E: From<TableError>>(
    reader: &mut TableReader<T>,
    key: fn(&T) -> &str,
    mut f: impl FnMut(Vec<T>, RecordBatch) -> Result<(), E>,
) -> Result<(), E> {
    let schema = reader.schema().clone();
    let (mut rows, mut raw): (Vec<T>, Vec<RecordBatch>) = (Vec::new(), Vec::new());
    let mut emit = |rows: &mut Vec<T>, raw: &mut Vec<RecordBatch>| -> Result<(), E> {
        if rows.is_empty() {
            return Ok(());
        }
        let batch = arrow_select::concat::concat_batches(&schema, raw.iter()).map_err(|e| {
            TableError::Format {
                path: "<concat>".into(),
                message: e.to_string(),
            }
        })?;
        raw.clear();
        f(std::mem::take(rows), batch)
    };
    while let Some(next) = reader.next_batch() {
        let (batch, batch_rows) = next?;
        let mut current = rows.last().map(|r| key(r).to_string());
        let mut start = 0;
        for (i, row) in batch_rows.iter().enumerate() {
            if current.as_deref().is_some_and(|c| c != key(row)) {
                rows.extend_from_slice(&batch_rows[start..i]);
                raw.push(batch.slice(start, i - start));
                emit(&mut rows, &mut raw)?;
                start = i;
            }
            current = Some(key(row).to_string());
        }
        rows.extend_from_slice(&batch_rows[start..]);
        raw.push(batch.slice(start, batch_rows.len() - start));
    }
    emit(&mut rows, &mut raw)
}
