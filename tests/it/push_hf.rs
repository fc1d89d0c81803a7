//! `omega push-hf`: a local dataset that the real `datasets` library loads, Hub-sized row
//! groups, the Hub protocol against a strict mock server with injected 429/5xx/412, pushes
//! killed (SIGKILL) at five points then rerun → every row exactly once, a corrupt spool part,
//! and accumulate mode (threshold and SIGTERM).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{omega, python, run_ok, scratch, support};
use omega::outcome::Status;
use omega::table::hub::HubInput;
use omega::table::{Table, TableWriter};

/// A `scored`-like table of `n` rows; every 7th row is not accepted. Returns the ids of the
/// accepted rows with the sum of their video embedding.
fn scored_table(path: &Path, n: usize, seed: u64) -> BTreeMap<String, f32> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let emb =
        |rng: &mut fastrand::Rng| -> Vec<f32> { (0..1024).map(|_| rng.f32() - 0.5).collect() };
    let mut writer = TableWriter::<HubInput>::create(&path.to_string_lossy()).unwrap();
    let mut accepted = BTreeMap::new();
    for i in 0..n {
        let video = emb(&mut rng);
        let ok = i % 7 != 3;
        let id = format!("s{seed}-{i:06}");
        if ok {
            accepted.insert(id.clone(), video.iter().sum::<f32>());
        }
        writer
            .push(HubInput {
                video_id: id,
                description: format!("clip {i}: a description with some words"),
                views: i as i64,
                start_time: 10,
                end_time: 40,
                query: "cats".into(),
                video_emb: Some(video),
                audio_emb: Some(emb(&mut rng)),
                description_emb: Some(emb(&mut rng)),
                description_relevance: Some(0.25),
                query_relevance: Some(i as f64 / n as f64),
                status: if ok { Status::Ok } else { Status::Skipped },
            })
            .unwrap();
    }
    writer.finish().unwrap();
    accepted
}

/// `omega push-hf --to DIR`, options to follow.
fn push_to(dir: &Path) -> Command {
    let mut c = omega();
    c.arg("push-hf").arg("--to").arg(dir);
    c
}

#[derive(serde::Deserialize, Debug)]
struct Facts {
    files: Vec<String>,
    row_groups: Vec<RowGroup>,
    rows: BTreeMap<String, Vec<(f64, f64)>>,
    schema: Option<String>,
    load_rows: Option<usize>,
    load_features: Option<BTreeMap<String, String>>,
    load_ids: Option<Vec<String>>,
    card_rows: Option<usize>,
    data_files_rows: Option<usize>,
    first_embed_len: Option<usize>,
}

#[derive(serde::Deserialize, Debug)]
struct RowGroup {
    rows: usize,
    bytes: u64,
    compression: String,
    page_index: bool,
}

fn facts(dir: &Path, load: bool) -> Facts {
    let mut cmd = Command::new(python());
    cmd.arg(support("check_dataset.py")).arg(dir);
    if load {
        cmd.arg("--load");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every accepted row exactly once, with its own embedding.
fn assert_exactly_once(f: &Facts, accepted: &BTreeMap<String, f32>, context: &str) {
    let twice: Vec<_> = f
        .rows
        .iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(k, _)| k)
        .collect();
    assert!(twice.is_empty(), "{context}: rows pushed twice: {twice:?}");
    let got: Vec<&String> = f.rows.keys().collect();
    let want: Vec<&String> = accepted.keys().collect();
    assert_eq!(got.len(), want.len(), "{context}: row count");
    assert_eq!(got, want, "{context}: the same rows");
    for (id, sum) in accepted {
        assert!(
            (f.rows[id][0].0 - *sum as f64).abs() < 2e-3,
            "{context}: {id} has its own embedding"
        );
    }
}

#[test]
fn a_local_dataset_loads_with_datasets_and_keeps_row_groups_small() {
    let work = scratch("push-local");
    let input = work.join("scored.parquet");
    // 10 500 accepted rows of about 12.4 KB: one shard holds more than 100 MB.
    let accepted = scored_table(&input, 12_250, 1);
    let dir = work.join("dataset");
    run_ok(
        push_to(&dir)
            .args(["-q", "--shard-rows", "9000", "-i"])
            .arg(&input),
    );
    let f = facts(&dir, true);
    assert_exactly_once(&f, &accepted, "local push");
    assert_eq!(
        f.files.len(),
        2,
        "10 500 rows at 9000 per shard: {:?}",
        f.files
    );
    assert!(
        f.files
            .iter()
            .all(|p| p.starts_with("default/train/")
                && p.len() == "default/train/000/".len() + 26 + 8)
    );
    assert!(
        f.row_groups.len() >= 3,
        "the big shard is split into row groups"
    );
    for g in &f.row_groups {
        assert!(
            g.bytes <= 100_000_000,
            "row group of {} bytes ({} rows)",
            g.bytes,
            g.rows
        );
        assert_eq!(g.compression, "ZSTD");
        assert!(g.page_index);
    }
    assert_eq!(
        f.schema.as_deref(),
        Some("fixed_size_list<item: float not null>[1024]")
    );
    assert_eq!(f.load_rows, Some(accepted.len()));
    assert_eq!(f.card_rows, Some(accepted.len()));
    assert_eq!(f.data_files_rows, Some(accepted.len()));
    assert_eq!(f.first_embed_len, Some(1024));
    assert_eq!(
        f.load_ids.unwrap(),
        accepted.keys().cloned().collect::<Vec<_>>()
    );
    let features = f.load_features.unwrap();
    assert_eq!(
        features["video_embed"],
        "List(Value('float32'), length=1024)"
    );
    assert_eq!(features["views"], "Value('int64')");
    assert_eq!(features.len(), 13);

    // The same input again adds nothing; a new input adds its rows, and the card counts all.
    let out = run_ok(push_to(&dir).args(["--json", "-i"]).arg(&input));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["inputs_already_spooled"], 1);
    assert_eq!(report["rows_committed"], 0);
    let more = work.join("more.parquet");
    let mut all = accepted;
    all.extend(scored_table(&more, 50, 2));
    run_ok(push_to(&dir).args(["-q", "-i"]).arg(&more));
    let f = facts(&dir, true);
    assert_exactly_once(&f, &all, "second push");
    assert_eq!(f.card_rows, Some(all.len()));
}

#[test]
fn the_shards_layout_and_dry_run() {
    let work = scratch("push-shards");
    let input = work.join("scored.parquet");
    let accepted = scored_table(&input, 700, 3);
    let dir = work.join("dataset");
    let dry = run_ok(
        push_to(&dir)
            .args([
                "--dry-run",
                "--layout",
                "shards",
                "--shard-rows",
                "250",
                "-i",
            ])
            .arg(&input),
    );
    let text = String::from_utf8_lossy(&dry.stderr);
    assert!(
        text.contains("would commit data/train-00000-of-00003.parquet (250 rows)"),
        "{text}"
    );
    assert!(
        text.contains("would commit data/train-00002-of-00003.parquet (100 rows)"),
        "{text}"
    );
    assert!(!dir.join("data").exists(), "a dry run writes nothing");
    run_ok(
        push_to(&dir)
            .args(["-q", "--layout", "shards", "--shard-rows", "250", "-i"])
            .arg(&input),
    );
    let f = facts(&dir, true);
    assert_exactly_once(&f, &accepted, "shards layout");
    assert_eq!(
        f.files,
        [
            "data/train-00000-of-00003.parquet",
            "data/train-00001-of-00003.parquet",
            "data/train-00002-of-00003.parquet"
        ]
    );
    assert_eq!(f.load_rows, Some(600));
    // A spool belongs to one target and layout.
    let other = push_to(&dir).args(["-i"]).arg(&input).output().unwrap();
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stderr).contains("give this push its own --spool DIR"));
}

/// Writes a `scored`-like table with pyarrow, its embeddings as `list<float>` (not fixed-size
/// lists); `bad` is Python code run on the row dict `r` of row `i`. Prints the ids of the
/// accepted rows with the sum of their video embedding, as JSON.
fn pyarrow_scored(path: &Path, n: usize, bad: &str) -> BTreeMap<String, f32> {
    let script = format!(
        r#"
import json, math, sys
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
rng = np.random.default_rng(1)
rows, accepted = [], {{}}
for i in range({n}):
    e = lambda: [float(x) for x in rng.standard_normal(1024, dtype=np.float32)]
    r = dict(video_id=f"p{{i:04}}", description=f"clip {{i}}", views=i, start_time=0,
             end_time=30, query="cats", video_emb=e(), audio_emb=e(), description_emb=e(),
             description_relevance=0.5, query_relevance=0.25, status="ok")
{bad}
    rows.append(r)
    publishable = r["status"] == "ok" and all(r[k] is not None for k in ("video_emb", "audio_emb", "description_emb")) \
        and all(r[k] is not None and math.isfinite(r[k]) for k in ("description_relevance", "query_relevance"))
    if publishable and None not in r["video_emb"]:
        accepted[r["video_id"]] = float(np.array(r["video_emb"], dtype=np.float32).sum(dtype=np.float64))
schema = pa.schema([("video_id", pa.string()), ("description", pa.large_string()),
    ("views", pa.int64()), ("start_time", pa.int64()), ("end_time", pa.int64()),
    ("query", pa.string()), ("video_emb", pa.list_(pa.float32())),
    ("audio_emb", pa.list_(pa.float32())), ("description_emb", pa.list_(pa.float32())),
    ("description_relevance", pa.float64()), ("query_relevance", pa.float64()),
    ("status", pa.string())])
pq.write_table(pa.Table.from_pylist(rows, schema=schema), sys.argv[1])
print(json.dumps(accepted))
"#
    );
    let out = run_ok(Command::new(python()).arg("-c").arg(script).arg(path));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_pyarrow_table_is_published_and_a_part_that_fills_a_shard_is_linked_not_rewritten() {
    let work = scratch("push-pyarrow");
    let input = work.join("scored.parquet");
    let bad = "    if i == 5: r[\"audio_emb\"] = None\n    if i == 9: r[\"query_relevance\"] = float(\"nan\")\n    if i == 11: r[\"status\"] = \"skipped\"";
    let accepted = pyarrow_scored(&input, 120, bad);
    assert_eq!(accepted.len(), 117);
    let (dir, spool) = (work.join("dataset"), work.join("spool"));
    let push = || {
        let mut c = push_to(&dir);
        c.args(["--layout", "shards", "--shard-rows", "50", "--spool"])
            .arg(&spool)
            .arg("-i")
            .arg(&input);
        c
    };
    let dry = run_ok(push().arg("--dry-run"));
    let err = String::from_utf8_lossy(&dry.stderr);
    for (row, field) in [(5, "audio_emb"), (9, "query_relevance")] {
        assert!(
            err.contains(&format!("row {row}: `{field}` is missing")),
            "{err}"
        );
    }
    // Killed once the first shard is staged: it is the first spool part, by a hard link.
    let killed = push().env("OMEGA_KILL_AT", "staged").output().unwrap();
    assert!(!killed.status.success());
    let staged = std::fs::metadata(spool.join("staging/000000.parquet")).unwrap();
    let parts = walk(&spool.join("pending"));
    let first = parts
        .iter()
        .find(|p| p.ends_with("part-0000.parquet"))
        .unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        staged.ino(),
        std::fs::metadata(first).unwrap().ino(),
        "the staged shard is the spool part, not a copy"
    );
    run_ok(&mut push());
    let f = facts(&dir, true);
    assert_exactly_once(&f, &accepted, "pyarrow input");
    assert_eq!(f.load_rows, Some(117));
    assert!(f
        .row_groups
        .iter()
        .all(|g| g.page_index && g.compression == "ZSTD"));

    // A null inside an embedding is a bad value: the run stops, naming file, row and column.
    let holey = work.join("holey.parquet");
    pyarrow_scored(&holey, 8, "    if i == 3: r[\"video_emb\"][7] = None");
    let out = push_to(&work.join("other"))
        .arg("-i")
        .arg(&holey)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("holey.parquet") && err.contains("row 3") && err.contains("video_emb"),
        "{err}"
    );
}

/// The mock Hub (tests/support/mock_hub.py) on 127.0.0.1.
struct MockHub {
    child: Child,
    port: u16,
    storage: PathBuf,
}

impl MockHub {
    fn start(work: &Path, fail: &[&str]) -> MockHub {
        let storage = work.join("hub-storage");
        let port_file = work.join("hub-port");
        let _ = std::fs::remove_file(&port_file);
        let mut cmd = Command::new(python());
        cmd.arg(support("mock_hub.py"))
            .arg("--storage")
            .arg(&storage)
            .arg("--port-file")
            .arg(&port_file)
            .args(["--repo", "omega-test/videos", "--token", "hf_test_token"]);
        for f in fail {
            cmd.args(["--fail", f]);
        }
        // Dropped (killed and reaped) if it never says its port.
        let mut hub = MockHub {
            child: cmd.spawn().unwrap(),
            port: 0,
            storage,
        };
        for _ in 0..200 {
            if let Ok(p) = std::fs::read_to_string(&port_file) {
                hub.port = p.trim().parse().unwrap();
                return hub;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the mock Hub did not start");
    }

    fn push(&self, spool: &Path) -> Command {
        let mut c = omega();
        c.args([
            "push-hf",
            "-q",
            "--repo",
            "omega-test/videos",
            "--retry-delay-ms",
            "20",
        ])
        .arg("--endpoint")
        .arg(format!("http://127.0.0.1:{}", self.port))
        .arg("--spool")
        .arg(spool)
        .env("HF_TOKEN", "hf_test_token")
        .env_remove("HF_ENDPOINT");
        c
    }

    fn stats(&self) -> serde_json::Value {
        let out = Command::new(python())
            .arg("-c")
            .arg(format!(
                "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:{}/_stats').read().decode())",
                self.port
            ))
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for MockHub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_hub_push_survives_rate_limits_server_errors_and_conflicts() {
    let work = scratch("push-hub");
    let input = work.join("scored.parquet");
    let accepted = scored_table(&input, 1200, 4);
    let hub = MockHub::start(
        &work,
        &[
            "info:503:1",
            "preupload:500:2",
            "commit:429:3",
            "commit:500:6",
            "commit:412:2",
        ],
    );
    run_ok(
        hub.push(&work.join("spool"))
            .args(["--shard-rows", "300", "--files-per-commit", "2", "-i"])
            .arg(&input),
    );
    let f = facts(&hub.storage, false);
    assert_exactly_once(&f, &accepted, "hub push");
    assert_eq!(f.files.len(), 4);
    let stats = hub.stats();
    assert_eq!(stats["commits"], 2, "four shards, two per commit: {stats}");
    assert_eq!(
        stats["injected"], 14,
        "every injected failure was met: {stats}"
    );
    assert_eq!(stats["rejected"], 0, "no malformed request: {stats}");
    let card = std::fs::read_to_string(hub.storage.join("README.md")).unwrap();
    assert!(
        card.contains(&format!("num_examples: {}", accepted.len())),
        "{card}"
    );

    // A wrong token is a clear error, and the rows stay spooled.
    let more = work.join("more.parquet");
    scored_table(&more, 10, 5);
    let out = hub
        .push(&work.join("spool"))
        .env("HF_TOKEN", "wrong")
        .arg("-i")
        .arg(&more)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("HF_TOKEN") && err.contains("rerun to resume"),
        "{err}"
    );
}

#[test]
fn a_push_killed_at_any_point_then_rerun_pushes_every_row_once() {
    for point in ["spooled", "staged", "planned", "uploaded", "committed"] {
        let work = scratch(&format!("push-kill-{point}"));
        let input = work.join("scored.parquet");
        let accepted = scored_table(&input, 1000, 6);
        let hub = MockHub::start(&work, &[]);
        let spool = work.join("spool");
        let killed = hub
            .push(&spool)
            .args(["--shard-rows", "300", "--files-per-commit", "2", "-i"])
            .arg(&input)
            .env("OMEGA_KILL_AT", point)
            .output()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            killed.status.signal(),
            Some(9),
            "{point}: killed by SIGKILL"
        );
        run_ok(
            hub.push(&spool)
                .args(["--shard-rows", "300", "--files-per-commit", "2", "-i"])
                .arg(&input),
        );
        assert_exactly_once(&facts(&hub.storage, false), &accepted, point);
        let stats = hub.stats();
        assert_eq!(stats["rejected"], 0);
        // Never uploaded twice either: a shard committed before the kill is found, not resent.
        let mut shards: Vec<&str> = stats["committed_paths"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p.as_str().filter(|p| p.ends_with(".parquet")))
            .collect();
        let sent = shards.len();
        shards.dedup();
        assert_eq!((sent, shards.len()), (3, 3), "{point}: {stats}");
    }
}

#[test]
fn a_corrupt_spool_part_is_reported_and_the_rest_is_pushed() {
    let work = scratch("push-corrupt");
    let (a, b) = (work.join("a.parquet"), work.join("b.parquet"));
    scored_table(&a, 100, 7);
    let good = scored_table(&b, 100, 8);
    let dir = work.join("dataset");
    let spool = work.join("spool");
    // Accumulate mode below the threshold: both inputs wait in the spool.
    for input in [&a, &b] {
        run_ok(
            push_to(&dir)
                .args(["-q", "--flush-at", "100000", "-i"])
                .arg(input)
                .arg("--spool")
                .arg(&spool),
        );
    }
    assert!(
        !dir.join("default").exists(),
        "nothing committed below --flush-at"
    );
    let mut parts: Vec<PathBuf> = walk(&spool.join("pending"));
    parts.sort();
    assert_eq!(parts.len(), 2);
    // The first spooled input's part gets garbage in the middle.
    let victim = parts
        .iter()
        .find(|p| p.to_string_lossy().contains(&common_key(&a)))
        .unwrap()
        .clone();
    let mut bytes = std::fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    bytes.truncate(mid);
    std::fs::write(&victim, &bytes).unwrap();
    let out = push_to(&dir).arg("--spool").arg(&spool).output().unwrap();
    assert!(!out.status.success(), "a quarantined part fails the run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&*victim.to_string_lossy()) && err.contains("unreadable"),
        "{err}"
    );
    assert_exactly_once(&facts(&dir, false), &good, "the good input");
    assert_eq!(walk(&spool.join("quarantine")).len(), 1);
}

/// The spool key of an input (the first 24 hex digits of its sha256).
fn common_key(path: &Path) -> String {
    omega::media::sha256_file(path).unwrap()[..24].to_string()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn accumulate_mode_commits_at_the_threshold_and_on_sigterm() {
    let work = scratch("push-accumulate");
    let dir = work.join("dataset");
    let spool = work.join("spool");
    let push = |input: &Path| -> serde_json::Value {
        let out = run_ok(
            push_to(&dir)
                .args(["-q", "--json", "--flush-at", "150", "-i"])
                .arg(input)
                .arg("--spool")
                .arg(&spool),
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let mut all = scored_table(&work.join("a.parquet"), 100, 9);
    let r = push(&work.join("a.parquet"));
    assert_eq!(
        (r["rows_committed"].as_u64(), r["rows_pending"].as_u64()),
        (Some(0), Some(all.len() as u64))
    );
    all.extend(scored_table(&work.join("b.parquet"), 100, 10));
    let r = push(&work.join("b.parquet"));
    assert_eq!(r["rows_committed"].as_u64(), Some(all.len() as u64), "{r}");
    assert_exactly_once(&facts(&dir, false), &all, "threshold");

    // A stream on stdin that stays open: SIGTERM commits what arrived and exits cleanly.
    let c = work.join("c.parquet");
    all.extend(scored_table(&c, 60, 11));
    let mut child = push_to(&dir)
        .args(["-q", "--flush-at", "100000", "-i", "-"])
        .arg("--spool")
        .arg(&spool)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let reader = omega::table::TableReader::<HubInput>::open(&c.to_string_lossy()).unwrap();
    let mut writer =
        arrow_ipc::writer::StreamWriter::try_new(&mut stdin, &HubInput::schema()).unwrap();
    for batch in reader {
        let rows = batch.unwrap();
        let arrays = HubInput::to_arrays(&rows);
        writer
            .write(&arrow_array::RecordBatch::try_new(HubInput::schema(), arrays).unwrap())
            .unwrap();
    }
    writer.flush().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    drop(writer);
    drop(stdin);
    assert!(status.success(), "SIGTERM is a clean stop: {status:?}");
    assert_exactly_once(&facts(&dir, false), &all, "after SIGTERM");
}
