//! A folder read as one table: the parts a sharded stage wrote (`part-IIIII-of-NNNNN.parquet`,
//! see [`crate::shard`]), or any folder of Parquet files with the same columns. Parts are read in
//! name order, so the union is the same whichever worker finished first; a folder whose parts
//! are not all complete (a table and its marker for every I of N) is refused, naming what is
//! missing, so a global step never runs on part of the data.

use std::path::{Path, PathBuf};

use super::io::{open_file, BatchIter, RawTable};
use super::TableError;
use crate::shard::{marker_of, Shard};

/// The tables of `dir`, in the order they are read.
pub fn part_files(dir: &Path) -> Result<Vec<PathBuf>, TableError> {
    let io = |source| TableError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut tables = Vec::new();
    let mut parts: Vec<Shard> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let name = entry.map_err(io)?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(shard) = Shard::from_file_name(name) {
            parts.push(shard);
        } else if name.ends_with(".parquet") && !name.starts_with('.') {
            tables.push(dir.join(name));
        }
    }
    if parts.is_empty() {
        if tables.is_empty() {
            return Err(incomplete(dir, "no Parquet tables in the folder".into()));
        }
        tables.sort();
        return Ok(tables);
    }
    complete_parts(dir, parts)
}

/// Every part 0..N of a sharded output, checked complete.
fn complete_parts(dir: &Path, mut parts: Vec<Shard>) -> Result<Vec<PathBuf>, TableError> {
    parts.sort_by_key(|s| (s.count, s.index));
    let count = parts[0].count;
    if let Some(other) = parts.iter().find(|s| s.count != count) {
        return Err(incomplete(
            dir,
            format!(
                "parts of {count} and of {} shards are mixed (two runs with different --shard N); \
                 write each run to its own folder",
                other.count
            ),
        ));
    }
    let mut missing = Vec::new();
    let mut files = Vec::with_capacity(count as usize);
    for index in 0..count {
        let shard = Shard { index, count };
        let table = dir.join(shard.file_name());
        if !table.is_file() {
            missing.push(format!("{} (no table)", shard.stem()));
        } else if !marker_of(&table).is_file() {
            missing.push(format!("{} (no completion marker)", shard.stem()));
        }
        files.push(table);
    }
    if !missing.is_empty() {
        let shown = missing
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let more = missing.len().saturating_sub(8);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        return Err(incomplete(
            dir,
            format!(
                "{} of {count} parts are not complete: {shown}{more}; run those shards \
                 (the same command with --shard I/{count}; a rerun skips the complete ones)",
                missing.len()
            ),
        ));
    }
    Ok(files)
}

fn incomplete(dir: &Path, message: String) -> TableError {
    TableError::IncompleteFolder {
        path: dir.to_path_buf(),
        message,
    }
}

/// Refuses tables whose columns (names, types, order) differ from the first one's: read as one
/// table, a table with other columns would be written under wrong names. Only the footers /
/// stream headers are read, before any work starts.
pub fn check_same_columns<P: AsRef<Path>>(tables: &[P]) -> Result<(), TableError> {
    let Some((first, rest)) = tables.split_first() else {
        return Ok(());
    };
    let open = |p: &P| super::open_raw(&p.as_ref().to_string_lossy());
    let reference = open(first)?;
    for table in rest {
        let other = open(table)?;
        if let Some(difference) = super::column_difference(&reference.schema, &other.schema) {
            return Err(TableError::SchemaMismatch {
                path: other.path,
                reference: reference.path.clone(),
                difference,
            });
        }
    }
    Ok(())
}

/// Opens the folder `dir` as one table: every file's columns are checked against the first's
/// before any row is read, then the files are read one after another.
pub fn open_folder(dir: &Path) -> Result<RawTable, TableError> {
    let files = part_files(dir)?;
    check_same_columns(&files)?;
    let first = open_file(&files[0])?;
    let schema = first.schema.clone();
    let format = first.format;
    let mut rest = files.into_iter().skip(1);
    let mut current = first.batches;
    let batches: BatchIter = Box::new(std::iter::from_fn(move || loop {
        if let Some(next) = current.next() {
            return Some(next);
        }
        match open_file(&rest.next()?) {
            Ok(t) => current = t.batches,
            Err(e) => return Some(Err(e)),
        }
    }));
    Ok(RawTable {
        batches,
        schema,
        format,
        path: dir.to_path_buf(),
    })
}

impl RawTable {
    /// Only the rows of `shard` (all rows when `None`), by the first of the `keys` columns the
    /// table has. Rows are filtered batch by batch, before any value is decoded.
    pub fn take_shard(self, shard: Option<Shard>, keys: &[&str]) -> Result<RawTable, TableError> {
        let Some(shard) = shard else { return Ok(self) };
        let Some(column) = crate::shard::key_column(&self.schema, keys) else {
            return Err(TableError::UnknownColumn {
                path: self.path,
                column: keys.join("` or `"),
                available: self
                    .schema
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect(),
            });
        };
        let (path, name) = (self.path.clone(), self.schema.field(column).name().clone());
        let batches: BatchIter = Box::new(self.batches.map(move |batch| {
            shard
                .filter(&batch?, column)
                .map_err(|message| TableError::Format {
                    path: path.clone(),
                    message: format!("sharding by `{name}`: {message}"),
                })
        }));
        Ok(RawTable { batches, ..self })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Summary;
    use crate::shard::PartOutput;
    use crate::table::candidates::CandidateRow;
    use crate::table::{read_all, TableWriter};

    fn write_part(dir: &Path, shard: Shard, ids: &[&str], marker: bool) {
        let out = PartOutput::new(dir, shard);
        let mut w = TableWriter::<CandidateRow>::create(out.table().to_str().unwrap()).unwrap();
        for (rank, id) in ids.iter().enumerate() {
            w.push(CandidateRow::new("dir", id.to_string(), rank))
                .unwrap();
        }
        w.finish().unwrap();
        if marker {
            out.complete(&Summary::new("search")).unwrap();
        }
    }

    #[test]
    fn a_folder_of_complete_parts_reads_as_their_union_in_part_order() {
        let dir = tempdir("union");
        write_part(&dir, Shard { index: 1, count: 2 }, &["c"], true);
        write_part(&dir, Shard { index: 0, count: 2 }, &["a", "b"], true);
        let ids: Vec<String> = read_all::<CandidateRow>(dir.to_str().unwrap())
            .unwrap()
            .into_iter()
            .map(|r| r.video_id)
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(crate::table::total_rows(dir.to_str().unwrap()), Some(3));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_folder_with_a_part_missing_or_unmarked_is_refused_by_name() {
        let dir = tempdir("incomplete");
        write_part(&dir, Shard { index: 0, count: 3 }, &["a"], true);
        write_part(&dir, Shard { index: 1, count: 3 }, &["b"], false);
        let err = open_folder(&dir).err().expect("refused").to_string();
        assert!(
            err.contains("part-00001-of-00003 (no completion marker)"),
            "{err}"
        );
        assert!(err.contains("part-00002-of-00003 (no table)"), "{err}");
        write_part(&dir, Shard { index: 0, count: 2 }, &["a"], true);
        let err = open_folder(&dir).err().expect("refused").to_string();
        assert!(err.contains("mixed"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("omega-parts-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
