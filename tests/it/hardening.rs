//! Issue 10: inputs that used to crash omega (exit 101) now give a clear error or a failed
//! row; settings that were silently ignored now take effect; every stage keeps every input
//! column and groups answers the same way.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use crate::common::*;
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use omega::table::responses::ResponseRow;
use omega::table::validated::ValidatedColumns;
use omega::table::{read_all, Table, TableWriter};

/// Runs omega, expecting a refusal: not a panic (101), and stderr saying `needle`.
fn refused(cmd: &mut Command, code: i32, needle: &str) -> Output {
    let out = cmd.output().expect("omega runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{cmd:?}\nstderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{cmd:?} panicked:\n{stderr}");
    assert!(
        stderr.contains(needle),
        "{cmd:?}: `{needle}` not in:\n{stderr}"
    );
    out
}

/// A unit-length embedding pointing mostly along axis `k`.
fn embedding(k: usize) -> Option<Vec<f32>> {
    let mut v = vec![0.01f32; 1024];
    v[k % 1024] = 1.0;
    Some(v)
}

fn response(answer: &str, video: &str, start: i64, end: i64) -> ResponseRow {
    ResponseRow {
        response_id: answer.into(),
        miner_uid: Some(3),
        miner_hotkey: Some("5Hotkey".into()),
        query: "skateboarding".into(),
        video_id: video.into(),
        description: format!("a video called {video}"),
        views: 10,
        start_time: start,
        end_time: end,
        source: "dir".into(),
        url: None,
        source_path: Some("/nonexistent.mp4".into()),
        video_emb: embedding(video.len() * 7),
        audio_emb: embedding(video.len() * 11),
        description_emb: embedding(video.len() * 13),
    }
}

fn write_responses(path: &Path, rows: &[ResponseRow]) {
    let mut w = TableWriter::<ResponseRow>::create(path.to_str().unwrap()).unwrap();
    w.write_rows(rows.iter().cloned()).unwrap();
    w.finish().unwrap();
}

/// Writes `rows` with `column` replaced by `values` (to make tables omega itself never writes).
fn write_with_column(path: &Path, rows: &[ResponseRow], column: &str, values: ArrayRef) {
    let schema = ResponseRow::schema();
    let mut arrays = ResponseRow::to_arrays(rows);
    arrays[schema.index_of(column).unwrap()] = values;
    write_batch(path, &RecordBatch::try_new(schema, arrays).unwrap());
}

fn validate(input: &Path, output: &Path, extra: &[&str]) -> Command {
    let mut cmd = omega();
    cmd.args(["validate", "--check", "none", "-q", "-i"])
        .arg(input)
        .arg("-o")
        .arg(output)
        .arg("--model")
        .arg(tiny_model())
        .args(extra);
    cmd
}

#[test]
fn bad_seconds_are_refused_by_every_command() {
    let work = scratch("hardening-seconds");
    let empty = work.join("none.parquet");
    for bad in ["-1", "nan", "inf", "1e400"] {
        let timeout = format!("--timeout={bad}");
        refused(
            omega().args(["search", "--query", "x", &timeout]),
            2,
            "seconds",
        );
        refused(
            omega().args(["clip", "-i"]).arg(&empty).arg(&timeout),
            2,
            "seconds",
        );
        refused(&mut validate(&empty, &empty, &[&timeout]), 2, "seconds");
        refused(
            omega()
                .args(["clip", "-i"])
                .arg(&empty)
                .arg(format!("--start={bad}")),
            2,
            "seconds",
        );
    }
}

#[test]
fn uids_are_bounded_in_flags_and_tables() {
    let work = scratch("hardening-uids");
    let input = work.join("r.parquet");
    refused(
        omega()
            .args(["score", "--text-model", "x", "--model", "x", "-i"])
            .arg(&input)
            .args([
                "--state",
                "s.json",
                "--sampled-uids",
                "3,18446744073709551615",
            ]),
        2,
        "out of range",
    );
    // A peer's table with a UID of four billion: refused, naming the file, row and column.
    let rows = [response("a", "v1", 0, 10), response("a", "v2", 0, 10)];
    let uids = Arc::new(Int64Array::from(vec![Some(1), Some(4_000_000_000)]));
    write_with_column(&input, &rows, "miner_uid", uids);
    let out = refused(
        &mut validate(&input, &work.join("v.parquet"), &[]),
        1,
        "out of range",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    for part in ["r.parquet", "row 1", "miner_uid", "4000000000"] {
        assert!(stderr.contains(part), "`{part}` not in {stderr}");
    }
}

#[test]
fn peers_extreme_times_fail_the_metadata_check_without_a_panic() {
    let work = scratch("hardening-times");
    let input = work.join("r.parquet");
    let rows = [
        response("a", "v1", i64::MIN, i64::MAX),
        response("a", "v2", i64::MAX, i64::MIN),
        response("a", "v3", -5, 5),
    ];
    write_responses(&input, &rows);
    let output = work.join("v.parquet");
    run_ok(&mut validate(&input, &output, &[]));
    let v: Vec<ValidatedColumns> = read_all(output.to_str().unwrap()).unwrap();
    assert_eq!(v.len(), 3);
    assert!(!v[0].kept && !v[1].kept, "overflowing lengths are not kept");
    assert!(
        v[2].kept,
        "10 s from −5 s passes the metadata check, as in the original"
    );
}

#[test]
fn validate_keeps_every_input_column_and_takes_the_config() {
    let work = scratch("hardening-validate-columns");
    let input = work.join("r.parquet");
    let rows = [response("a", "v1", 0, 3), response("a", "v2", 0, 10)];
    // An extra column a miner-facing tool might add.
    let schema = ResponseRow::schema();
    let mut fields: Vec<_> = schema.fields().iter().cloned().collect();
    fields.push(Arc::new(arrow_schema::Field::new(
        "round",
        arrow_schema::DataType::Utf8,
        false,
    )));
    let schema = Arc::new(arrow_schema::Schema::new_with_metadata(
        fields,
        schema.metadata().clone(),
    ));
    let mut arrays = ResponseRow::to_arrays(&rows);
    arrays.push(Arc::new(StringArray::from(vec!["r7", "r7"])));
    write_batch(&input, &RecordBatch::try_new(schema, arrays).unwrap());

    let output = work.join("v.parquet");
    run_ok(&mut validate(&input, &output, &[]));
    let raw = omega::table::open_raw(output.to_str().unwrap()).unwrap();
    assert!(
        raw.schema.column_with_name("round").is_some(),
        "{:?}",
        raw.schema
    );
    let v: Vec<ValidatedColumns> = read_all(output.to_str().unwrap()).unwrap();
    assert_eq!(
        v.iter().map(|c| c.kept).collect::<Vec<_>>(),
        [false, true],
        "3 s < 5 s"
    );

    // The config's min_video_length reaches validate.
    let config = work.join("config.json");
    std::fs::write(&config, r#"{"min_video_length": 2}"#).unwrap();
    run_ok(&mut validate(
        &input,
        &output,
        &["--config", config.to_str().unwrap()],
    ));
    let v: Vec<ValidatedColumns> = read_all(output.to_str().unwrap()).unwrap();
    assert_eq!(v.iter().map(|c| c.kept).collect::<Vec<_>>(), [true, true]);

    // A misspelt key is an error, not a silently ignored setting.
    std::fs::write(&config, r#"{"min_video_lenght": 2}"#).unwrap();
    refused(
        &mut validate(&input, &output, &["--config", config.to_str().unwrap()]),
        1,
        "unknown field `min_video_lenght`",
    );
}

#[test]
fn every_grouping_stage_refuses_split_answers() {
    let work = scratch("hardening-groups");
    let input = work.join("r.parquet");
    let rows = [
        response("a", "v1", 0, 10),
        response("b", "v2", 0, 10),
        response("a", "v3", 0, 10),
    ];
    write_responses(&input, &rows);
    refused(
        &mut validate(&input, &work.join("v.parquet"), &[]),
        1,
        "answer `a` are not contiguous",
    );
    // dedup and score read a validated table: make one from contiguous answers, then split one.
    let sorted = [rows[0].clone(), rows[2].clone(), rows[1].clone()];
    write_responses(&input, &sorted);
    let validated = work.join("v.parquet");
    run_ok(&mut validate(&input, &validated, &[]));
    let raw = omega::table::open_raw(validated.to_str().unwrap()).unwrap();
    let batches: Vec<RecordBatch> = raw.batches.map(|b| b.unwrap()).collect();
    let batch = arrow_select::concat::concat_batches(&raw.schema, &batches).unwrap();
    let order = arrow_array::UInt32Array::from(vec![0, 2, 1]);
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|c| arrow_select::take::take(c.as_ref(), &order, None).unwrap())
        .collect();
    let split = work.join("split.parquet");
    write_batch(
        &split,
        &RecordBatch::try_new(raw.schema.clone(), columns).unwrap(),
    );
    refused(
        omega()
            .args(["dedup", "-q", "-i"])
            .arg(&split)
            .arg("-o")
            .arg(work.join("d.parquet")),
        1,
        "answer `a` are not contiguous",
    );
    refused(
        omega()
            .args(["score", "-q", "--model"])
            .arg(tiny_model())
            .arg("-i")
            .arg(&split)
            .arg("-o")
            .arg(work.join("s.parquet")),
        1,
        "answer `a` are not contiguous",
    );
}

#[test]
fn dataset_dedup_refuses_shards_of_another_schema() {
    let work = scratch("hardening-shards");
    let (a, b) = (work.join("a.parquet"), work.join("b.parquet"));
    write_responses(&a, &[response("a", "v1", 0, 10)]);
    // Same columns, one of them renamed: formerly written under the first shard's names.
    let rows = [response("b", "v2", 0, 10)];
    let schema = ResponseRow::schema();
    let mut fields: Vec<_> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields[1] = fields[1].clone().with_name("uid");
    let renamed = Arc::new(arrow_schema::Schema::new(fields));
    write_batch(
        &b,
        &RecordBatch::try_new(renamed, ResponseRow::to_arrays(&rows)).unwrap(),
    );
    let out = work.join("u.parquet");
    let refusal = refused(
        omega()
            .args(["dedup", "-q", "--scope", "dataset", "-o"])
            .arg(&out)
            .arg(&a)
            .arg(&b),
        1,
        "b.parquet",
    );
    let stderr = String::from_utf8_lossy(&refusal.stderr);
    assert!(
        stderr.contains("`uid`") && stderr.contains("`miner_uid`"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing written");
    refused(
        omega().args(["dedup", "--scope", "everything"]),
        2,
        "possible values: answer, dataset",
    );
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let work = scratch("hardening-pipe");
    let table = work.join("r.parquet");
    let rows: Vec<ResponseRow> = (0..3000)
        .map(|i| response("a", &format!("v{i}"), 0, 10))
        .collect();
    write_responses(&table, &rows);
    let src = work.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy(media("bikes.mp4"), src.join("bikes.mp4")).unwrap();
    let (table, src) = (table.to_str().unwrap(), src.to_str().unwrap());
    for args in [
        vec!["show", "--limit", "3000", table],
        vec!["schema", "responses"],
        vec!["show", "--limit", "1", table],
        // A table as an Arrow IPC stream on stdout, and the --json summary.
        vec!["search", "--source", "dir", src, "-o", "-"],
        vec![
            "search",
            "--json",
            "--source",
            "dir",
            src,
            "-o",
            "c.parquet",
        ],
    ] {
        let mut child = omega()
            .current_dir(&work)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // `| head -0`: the reader is gone before omega writes.
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn clip_takes_its_input_as_a_flag_or_positionally() {
    let work = scratch("hardening-clip-input");
    let src = work.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy(media("bikes.mp4"), src.join("bikes.mp4")).unwrap();
    let candidates = work.join("c.parquet");
    run_ok(
        omega()
            .args(["search", "-q", "--source", "dir"])
            .arg(&src)
            .arg("-o")
            .arg(&candidates),
    );
    for (i, flag) in [Some("-i"), Some("--input"), None].into_iter().enumerate() {
        let out = work.join(format!("k{i}.parquet"));
        let mut cmd = omega();
        cmd.args(["clip", "-q", "--media-dir"])
            .arg(work.join("media"));
        cmd.args(flag).arg(&candidates).arg("-o").arg(&out);
        run_ok(&mut cmd);
        let rows: Vec<omega::table::clips::ClipRow> = read_all(out.to_str().unwrap()).unwrap();
        assert_eq!(rows.len(), 1, "{flag:?}");
        assert_eq!(rows[0].status, omega::outcome::Status::Ok, "{flag:?}");
    }
}

#[test]
fn validate_reads_its_table_from_stdin() {
    // validate looks at the schema before choosing a reader; stdin must be read only once.
    let work = scratch("hardening-validate-stdin");
    let input = work.join("r.parquet");
    write_responses(&input, &[response("a", "v1", 0, 10)]);
    let output = work.join("v.parquet");
    let mut cmd = validate(Path::new("-"), &output, &[]);
    cmd.stdin(std::fs::File::open(&input).unwrap());
    run_ok(&mut cmd);
    let v: Vec<ValidatedColumns> = read_all(output.to_str().unwrap()).unwrap();
    assert_eq!(v.len(), 1);
}
