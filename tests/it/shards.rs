//! `--shard I/N`: every stage that shards, run as N parts, writes the same rows with the same
//! values as one run over the whole input; parts are skipped once complete; a folder of parts
//! is read only when all are complete; global steps refuse to run as parts.

use std::path::{Path, PathBuf};
use std::process::Command;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use omega::table::open_raw;

use crate::common::{media, omega, run_ok, scratch, tiny_model};

const PARTS: u32 = 3;
const QUERIES: [(&str, &[&str]); 2] = [
    (
        "birds and bikes",
        &["bikes.mp4", "cockatoo.mp4", "oa4_launch.webm"],
    ),
    (
        "animation",
        &["bbb_vp9_opus.webm", "its_a_game.mkv", "realshort.mp4"],
    ),
];

/// The whole table at `path` (a file or a folder of parts) in one batch, rows sorted by video
/// id (unique in these tables), so that tables written in another order compare equal.
fn sorted_rows(path: &Path) -> RecordBatch {
    let raw = open_raw(path.to_str().unwrap()).unwrap();
    let batches: Vec<RecordBatch> = raw.batches.map(Result::unwrap).collect();
    let all = arrow_select::concat::concat_batches(&raw.schema, &batches).unwrap();
    let ids = all.column_by_name("video_id").unwrap().as_string::<i32>();
    let mut order: Vec<u32> = (0..all.num_rows() as u32).collect();
    order.sort_by_key(|&i| ids.value(i as usize).to_string());
    let order = arrow_array::UInt32Array::from(order);
    arrow_select::take::take_record_batch(&all, &order).unwrap()
}

/// Asserts that the union of the parts in `parts` equals the single run's table `whole`.
fn assert_same_rows(stage: &str, whole: &Path, parts: &Path) {
    let (a, b) = (sorted_rows(whole), sorted_rows(parts));
    assert!(a.num_rows() > 0, "{stage}: the single run wrote no rows");
    assert_eq!(a.num_rows(), b.num_rows(), "{stage}: row counts differ");
    assert_eq!(
        a.schema().fields(),
        b.schema().fields(),
        "{stage}: columns differ"
    );
    for (i, field) in a.schema().fields().iter().enumerate() {
        let (x, y) = (a.column(i), b.column(i));
        let message = || {
            format!(
                "{stage}: column `{}` differs between the single run and the union of the parts",
                field.name()
            )
        };
        match (floats(x), floats(y)) {
            (Some(x), Some(y)) => {
                assert_eq!(x.len(), y.len(), "{}", message());
                for (u, v) in x.iter().zip(&y) {
                    assert!(same_float(*u, *v), "{}: {u:?} vs {v:?}", message());
                }
            }
            _ => assert_eq!(x.as_ref(), y.as_ref(), "{}", message()),
        }
    }
    for shard in 0..PARTS {
        let marker = parts.join(format!("part-{shard:05}-of-{PARTS:05}.stats.json"));
        let stats: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&marker).unwrap()).unwrap();
        assert_eq!(
            stats["shard"],
            format!("{shard}/{PARTS}"),
            "{stage}: {stats}"
        );
        assert!(
            stats["output_bytes"].as_u64().unwrap() > 0,
            "{stage}: {stats}"
        );
        assert!(stats["status"]["ok"].is_u64(), "{stage}: {stats}");
    }
}

/// The values of a float column (embeddings included), `None` for other columns.
fn floats(column: &arrow_array::ArrayRef) -> Option<Vec<Option<f64>>> {
    use arrow_array::types::{Float32Type, Float64Type};
    use arrow_schema::DataType;
    let values = match column.data_type() {
        DataType::Float64 => column.as_primitive::<Float64Type>().iter().collect(),
        DataType::Float32 => column
            .as_primitive::<Float32Type>()
            .iter()
            .map(|v| v.map(f64::from))
            .collect(),
        DataType::FixedSizeList(..) => {
            let list = column.as_fixed_size_list();
            (0..list.len())
                .flat_map(|row| match list.is_null(row) {
                    true => vec![None],
                    false => floats(&list.value(row)).unwrap(),
                })
                .collect()
        }
        _ => return None,
    };
    Some(values)
}

/// Equal, or within rounding: ONNX Runtime's kernels may sum in another order when a batch
/// holds other videos, which moves an embedding by a few units in the last place (the same
/// happens between two single runs with different --batch).
fn same_float(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b || (a - b).abs() <= 1e-5 * a.abs().max(b.abs()).max(1.0),
        (a, b) => a.is_none() && b.is_none(),
    }
}

/// The Parquet files of a dataset folder (not its spool).
fn dataset_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() && !name.starts_with('.') {
            files.extend(dataset_files(&path));
        } else if name.ends_with(".parquet") {
            files.push(path);
        }
    }
    files
}

/// One stage's command, run in `dir` (relative paths: both runs write the same strings).
fn stage(dir: &Path, args: &[&str]) -> Command {
    let mut c = omega();
    c.current_dir(dir).args(args).arg("-q");
    c
}

/// Runs `args` once into `output.parquet` in `whole`, and as PARTS parts into the folder
/// `output` in `split`, reading `input` in each (the single run's table, or the parts).
fn run_both(whole: &Path, split: &Path, args: &[&str], input: &str, output: &str) {
    let single_input = match whole.join(input).is_dir() {
        true => input.to_string(),
        false => format!("{input}.parquet"),
    };
    run_ok(stage(whole, args).args(["-i", &single_input, "-o", &format!("{output}.parquet")]));
    for i in 0..PARTS {
        let shard = format!("{i}/{PARTS}");
        run_ok(stage(split, args).args(["-i", input, "-o", output, "--shard", &shard]));
    }
    assert_same_rows(
        output,
        &whole.join(format!("{output}.parquet")),
        &split.join(output),
    );
}

#[test]
fn every_sharded_stage_writes_what_one_run_writes() {
    let work = scratch("shards-union");
    let (whole, split) = (work.join("whole"), work.join("split"));
    let model = tiny_model();
    let model = model.to_str().unwrap();
    // search --source dir: each query's folder once and as parts; the candidates of both
    // queries then form one input folder (plain tables, read in name order) for both runs.
    for (n, (query, files)) in QUERIES.iter().enumerate() {
        let src = work.join(format!("src{n}"));
        std::fs::create_dir_all(&src).unwrap();
        for f in *files {
            std::fs::copy(media(f), src.join(f)).unwrap();
        }
        let search = [
            "search",
            "--source",
            "dir",
            src.to_str().unwrap(),
            "--query",
            query,
        ];
        let name = format!("candidates/{n}.parquet");
        for dir in [&whole, &split] {
            std::fs::create_dir_all(dir.join("candidates")).unwrap();
            run_ok(stage(dir, &search).args(["-o", &name]));
        }
        let parts = split.join(format!("search{n}"));
        for i in 0..PARTS {
            let shard = format!("{i}/{PARTS}");
            run_ok(stage(&split, &search).args(["-o", parts.to_str().unwrap(), "--shard", &shard]));
        }
        assert_same_rows("search", &whole.join(&name), &parts);
    }
    run_both(
        &whole,
        &split,
        &["clip", "--media-dir", "media"],
        "candidates",
        "clips",
    );
    run_both(
        &whole,
        &split,
        &["embed", "--model", model],
        "clips",
        "embeddings",
    );
    let validate = [
        "validate",
        "--model",
        model,
        "--check",
        "all",
        "--media-dir",
        "recheck",
    ];
    run_both(&whole, &split, &validate, "embeddings", "validated");
    run_both(&whole, &split, &["dedup"], "validated", "deduped");
    let score = ["score", "--model", model];
    run_both(&whole, &split, &score, "deduped", "scored");
    // The global step reads the folder of parts as one table.
    for (dir, input) in [(&whole, "scored.parquet"), (&split, "scored")] {
        run_ok(&mut stage(
            dir,
            &["push-hf", "--model", model, "--to", "dataset", "-i", input],
        ));
    }
    let ids = |dir: &PathBuf| {
        let mut ids: Vec<String> = dataset_files(&dir.join("dataset"))
            .iter()
            .flat_map(|file| {
                let t = sorted_rows(file);
                // `video_id` is a fresh UUID per published row; the source's id is kept here.
                let ids = t
                    .column_by_name("youtube_id")
                    .unwrap()
                    .as_string::<i32>()
                    .clone();
                ids.iter()
                    .map(|s| s.unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        ids.sort();
        ids
    };
    let published = ids(&whole);
    assert!(!published.is_empty());
    assert_eq!(published, ids(&split), "the dataset from the parts differs");
}

#[test]
fn complete_parts_are_skipped_and_incomplete_folders_refused() {
    let work = scratch("shards-resume");
    let src = work.join("src");
    std::fs::create_dir_all(&src).unwrap();
    for f in QUERIES[0].1 {
        std::fs::copy(media(f), src.join(f)).unwrap();
    }
    let out = work.join("candidates");
    let search = |shard: &str| {
        let mut c = omega();
        c.args(["--json", "search", "--source", "dir"])
            .arg(&src)
            .arg("-o")
            .arg(&out)
            .args(["--shard", shard, "-q"]);
        c
    };
    let summary = |shard: &str| -> serde_json::Value {
        serde_json::from_slice(&run_ok(&mut search(shard)).stdout).unwrap()
    };
    assert!(summary("0/2").get("already_complete").is_none());
    // Part 1 of 2 is missing: the folder is not a table yet, and says what to run.
    let err = run_failing(omega().args(["show"]).arg(&out));
    assert!(err.contains("part-00001-of-00002 (no table)"), "{err}");
    assert!(err.contains("--shard I/2"), "{err}");
    let first = summary("1/2");
    assert!(first.get("already_complete").is_none(), "{first}");
    // A rerun of a complete part does nothing; a part whose marker is gone (killed before
    // its end) runs again.
    let again = summary("1/2");
    assert_eq!(again["already_complete"], true, "{again}");
    let marker = out.join("part-00000-of-00002.stats.json");
    std::fs::remove_file(&marker).unwrap();
    let err = run_failing(omega().args(["show"]).arg(&out));
    assert!(
        err.contains("part-00000-of-00002 (no completion marker)"),
        "{err}"
    );
    assert!(summary("0/2").get("already_complete").is_none());
    assert!(marker.is_file());
    run_ok(omega().args(["show"]).arg(&out));
    // Parts of another N in the same folder are refused.
    run_ok(&mut search("0/3"));
    let err = run_failing(omega().args(["show"]).arg(&out));
    assert!(err.contains("mixed"), "{err}");
}

#[test]
fn global_steps_and_bad_specs_are_refused_as_parts() {
    for (args, expected) in [
        (
            vec![
                "dedup", "-i", "x", "-o", "y", "--index", "ix", "--insert", "--shard", "0/2",
            ],
            "global steps",
        ),
        (
            vec![
                "dedup",
                "--scope",
                "dataset",
                "-o",
                "y",
                "--shard",
                "0/2",
                "a.parquet",
            ],
            "global steps",
        ),
        (
            vec![
                "score", "-i", "x", "-o", "y", "--model", "m", "--state", "s.json", "--shard",
                "0/2",
            ],
            "--state is global",
        ),
        (
            vec!["clip", "-i", "x", "--shard", "0/2"],
            "give it with -o DIR",
        ),
        (
            vec!["clip", "-i", "x", "-o", "y", "--shard", "2/2"],
            "from 0 to N-1",
        ),
        (
            vec!["search", "--topics", "t.txt", "-o", "y", "--shard", "0/2"],
            "needs --seed",
        ),
    ] {
        let dir = scratch("shards-refused");
        std::fs::write(dir.join("t.txt"), "a\nb\n").unwrap();
        let err = run_failing(omega().current_dir(&dir).args(&args));
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

/// Runs a command that must fail, returning its stderr.
fn run_failing(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "{cmd:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}
