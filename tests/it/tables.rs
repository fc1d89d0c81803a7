//! Stage tables: schema docs in `schemas/` match the declarations, files and pipes round-trip,
//! and a file with a missing or mistyped column is refused with a message naming both.

use std::io::Write;
use std::process::Stdio;
use std::sync::Arc;

use crate::common::*;
use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use omega::outcome::{ErrorClass, Status};
use omega::table::candidates::CandidateRow;
use omega::table::clips::ClipRow;
use omega::table::{read_all, TableError, TableReader, TableWriter};

fn sample_rows() -> Vec<CandidateRow> {
    (0..2500)
        .map(|i| {
            let mut r = CandidateRow::new("youtube", format!("id{i:09}"), i);
            r.title = format!("title ünïcode {i}");
            r.description = format!("title {i}\n\ndesc");
            r.duration_s = (i % 3 != 0).then_some(i as f64 / 10.0);
            r.has_audio = (i % 2 == 0).then_some(i % 4 == 0);
            if i % 7 == 0 {
                r.status = Status::Failed;
                r.error_class = Some(ErrorClass::CorruptMedia);
                r.error = Some("bad".into());
            }
            r
        })
        .collect()
}

#[test]
fn schema_docs_match_the_declarations() {
    for (name, md) in omega::table::all_markdown() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("schemas/{name}.md"));
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            on_disk,
            md,
            "{} is stale: run `omega schema {name} > schemas/{name}.md`",
            path.display()
        );
    }
}

#[test]
fn parquet_round_trip_keeps_every_row_and_value() {
    let dir = scratch("tables-roundtrip");
    let path = dir.join("c.parquet");
    let rows = sample_rows();
    let mut w = TableWriter::<CandidateRow>::create(path.to_str().unwrap()).unwrap();
    w.write_rows(rows.clone()).unwrap();
    assert_eq!(w.finish().unwrap(), rows.len());
    assert_eq!(
        read_all::<CandidateRow>(path.to_str().unwrap()).unwrap(),
        rows
    );
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("c.parquet")]);
    // The clips table reads nothing it does not declare: a candidates file is not a clips file.
    let err = read_all::<ClipRow>(path.to_str().unwrap()).unwrap_err();
    assert!(matches!(err, TableError::MissingColumn { .. }), "{err}");
}

/// `omega schema` is a trivial stage; the IPC stream is tested through a real pipe with `clip`
/// in tests/clip_local.rs. Here: the reader sniffs Parquet and IPC on stdin alike.
#[test]
fn stdin_accepts_parquet_and_arrow_ipc() {
    let dir = scratch("tables-stdin");
    let path = dir.join("c.parquet");
    let rows = sample_rows();
    let mut w = TableWriter::<CandidateRow>::create(path.to_str().unwrap()).unwrap();
    w.write_rows(rows.clone()).unwrap();
    w.finish().unwrap();
    // A clip run with nothing ok to clip turns candidates into clips without touching media:
    // feed it the Parquet bytes on stdin, then its own IPC output on stdin again.
    let failed: Vec<CandidateRow> = rows
        .into_iter()
        .map(|mut r| {
            r.status = Status::Skipped;
            r.error_class = Some(ErrorClass::Live);
            r
        })
        .collect();
    let mut w = TableWriter::<CandidateRow>::create(path.to_str().unwrap()).unwrap();
    w.write_rows(failed.clone()).unwrap();
    w.finish().unwrap();
    let parquet = std::fs::read(&path).unwrap();
    let mut child = omega()
        .args(["clip", "-", "-o", "-", "--quiet", "--media-dir"])
        .arg(dir.join("m"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&parquet).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_ne!(&out.stdout[..4], b"PAR1", "pipes carry Arrow IPC");
    let ipc = dir.join("clips.arrows");
    std::fs::write(&ipc, &out.stdout).unwrap();
    let mut reader = TableReader::<ClipRow>::open(ipc.to_str().unwrap()).unwrap();
    assert_eq!(reader.format, omega::table::StreamFormat::ArrowIpc);
    let clips: Vec<ClipRow> = reader.by_ref().flat_map(|b| b.unwrap()).collect();
    assert_eq!(clips.len(), failed.len());
    for (c, f) in clips.iter().zip(&failed) {
        assert_eq!(
            (&c.video_id, c.status, c.error_class),
            (&f.video_id, Status::Skipped, Some(ErrorClass::Live))
        );
    }
}

fn write_foreign(path: &std::path::Path, fields: Vec<Field>, columns: Vec<arrow_array::ArrayRef>) {
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    write_batch(path, &batch);
}

#[test]
fn missing_or_mistyped_columns_are_named() {
    let dir = scratch("tables-mismatch");
    let missing = dir.join("missing.parquet");
    write_foreign(
        &missing,
        vec![Field::new("source", DataType::Utf8, false)],
        vec![Arc::new(StringArray::from(vec!["dir"]))],
    );
    let out = omega()
        .args(["clip"])
        .arg(&missing)
        .args(["-o", "/dev/null"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("missing.parquet") && stderr.contains("`video_id` is missing"),
        "{stderr}"
    );

    // Take a real candidates file and change the type of `views`.
    let good = dir.join("good.parquet");
    let mut w = TableWriter::<CandidateRow>::create(good.to_str().unwrap()).unwrap();
    w.write_rows(sample_rows().into_iter().take(3)).unwrap();
    w.finish().unwrap();
    let file = std::fs::File::open(&good).unwrap();
    let batch = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let (mut fields, mut cols): (Vec<Field>, Vec<_>) = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .zip(batch.columns().iter().cloned())
        .unzip();
    let i = fields.iter().position(|f| f.name() == "views").unwrap();
    fields[i] = Field::new("views", DataType::Utf8, false);
    cols[i] = Arc::new(StringArray::from(vec!["1", "2", "3"]));
    let wrong = dir.join("wrong type.parquet");
    write_foreign(&wrong, fields.clone(), cols.clone());
    let err = read_all::<CandidateRow>(wrong.to_str().unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("wrong type.parquet")
            && err.contains("`views` has type Utf8")
            && err.contains("Int64"),
        "{err}"
    );

    // A null where a value is required names the row.
    let j = fields.iter().position(|f| f.name() == "rank").unwrap();
    fields[i] = Field::new("views", DataType::Int64, false);
    cols[i] = Arc::new(Int64Array::from(vec![1, 2, 3]));
    fields[j] = Field::new("rank", DataType::Int64, true);
    cols[j] = Arc::new(Int64Array::from(vec![Some(0), None, Some(2)]));
    let nulls = dir.join("nulls.parquet");
    write_foreign(&nulls, fields, cols);
    let err = read_all::<CandidateRow>(nulls.to_str().unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("nulls.parquet: row 1, column `rank`"), "{err}");

    let text = dir.join("not-a-table.parquet");
    std::fs::write(&text, "hello").unwrap();
    let err = read_all::<CandidateRow>(text.to_str().unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not-a-table.parquet") && err.contains("not a readable"),
        "{err}"
    );
}

/// Tables written by pandas or pyarrow with their default codec (Snappy) are read, with the
/// table's rows and values.
#[test]
fn snappy_parquet_from_pyarrow_is_read() {
    let dir = scratch("tables-snappy");
    let path = dir.join("focus.parquet");
    let script = r#"
import sys, pyarrow as pa, pyarrow.parquet as pq
pq.write_table(pa.table({
    "video_id": ["a", "b"], "task_title": ["t1", "t2"], "task_description": ["d1", "d2"],
    "media": pa.array([None, "x.mp4"], pa.string()), "duration_seconds": [60.0, None],
    "detailed_description": pa.array([None, None], pa.string()),
    "boost_multiplier": pa.array([1.5, None], pa.float64()), "owner_coldkey": pa.array([None, None], pa.string()),
}), sys.argv[1])
assert pq.ParquetFile(sys.argv[1]).metadata.row_group(0).column(0).compression == "SNAPPY"
"#;
    crate::common::run_ok(
        std::process::Command::new(python())
            .args(["-c", script])
            .arg(&path),
    );
    let rows: Vec<omega::table::focus::FocusVideoRow> = read_all(path.to_str().unwrap()).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].duration_seconds, rows[1].media.as_deref()),
        (Some(60.0), Some("x.mp4"))
    );
    assert_eq!(rows[0].boost_multiplier, Some(1.5));
}
