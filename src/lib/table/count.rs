//! How many rows a table holds, when that is known before reading it: a Parquet file's footer
//! says so; an Arrow IPC stream (a pipe, or a file saved from one) does not.

use std::fs::File;

use parquet::file::metadata::ParquetMetaDataReader;

/// The number of rows of the table at `path`, from the Parquet footer alone (no column data is
/// read). `None` when that is not known up front: stdin (`-`), a named pipe, an Arrow IPC
/// stream, or a file that cannot be read (opening it as a table reports why). A folder of
/// tables holds the sum of its files' rows.
pub fn total_rows(path: &str) -> Option<u64> {
    if path != "-" && std::path::Path::new(path).is_dir() {
        let files = super::part_files(std::path::Path::new(path)).ok()?;
        return files.iter().map(|f| total_rows(f.to_str()?)).sum();
    }
    // Only regular files: opening a pipe here would take bytes from the real reader.
    if path == "-" || !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let file = File::open(path).ok()?;
    let meta = ParquetMetaDataReader::new().parse_and_finish(&file).ok()?;
    u64::try_from(meta.file_metadata().num_rows()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::candidates::CandidateRow;
    use crate::table::{Table, TableWriter};

    fn rows(n: usize) -> Vec<CandidateRow> {
        (0..n)
            .map(|i| CandidateRow::new("dir", format!("{i:016x}"), i))
            .collect()
    }

    #[test]
    fn parquet_files_know_their_rows_and_streams_do_not() {
        let dir = std::env::temp_dir().join(format!("omega-total-rows-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let parquet = dir.join("c.parquet");
        let mut w = TableWriter::<CandidateRow>::create(parquet.to_str().unwrap()).unwrap();
        w.write_rows(rows(3)).unwrap();
        w.finish().unwrap();
        // The same rows as an Arrow IPC stream, as `omega` writes to a pipe.
        let ipc = dir.join("c.arrows");
        let schema = CandidateRow::schema();
        let batch =
            arrow_array::RecordBatch::try_new(schema.clone(), CandidateRow::to_arrays(&rows(3)))
                .unwrap();
        let mut s =
            arrow_ipc::writer::StreamWriter::try_new(File::create(&ipc).unwrap(), &schema).unwrap();
        s.write(&batch).unwrap();
        s.finish().unwrap();

        let got =
            [&parquet, &ipc, &dir.join("missing.parquet")].map(|p| total_rows(p.to_str().unwrap()));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(got, [Some(3), None, None]);
        assert_eq!(total_rows("-"), None, "stdin is never opened here");
    }
}
