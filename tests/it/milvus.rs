//! The novelty index in Milvus, against a real Milvus Lite server (PyPI milvus-lite, started
//! here on loopback): `omega dedup` decides as with the embedded index, nearest neighbours equal
//! the exact index's (FLAT) or nearly (IVF), inserts are idempotent, a build killed with SIGKILL
//! converges on rerun, and an embedded index folder loads into a collection.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{free_port, omega, run_ok, scratch, venv_python};
use crate::dedup::{dedup, random_table, validated};
use omega::index::{ExactIndex, MilvusIndex, VectorIndex};
use omega::table::deduped::DedupColumns;

/// A Milvus Lite server on 127.0.0.1, killed (with its data) when dropped.
struct MilvusServer {
    child: Child,
    port: u16,
}

impl MilvusServer {
    fn start(work: &Path) -> Self {
        let python = venv_python("OMEGA_MILVUS_PYTHON", ".cache/milvus/bin/python");
        let port = free_port();
        let data = work.join("milvus-data");
        std::fs::create_dir_all(&data).unwrap();
        let log = std::fs::File::create(work.join("milvus.log")).unwrap();
        let child = Command::new(python.with_file_name("milvus-lite"))
            .args(["server", "--host", "127.0.0.1", "--port", &port.to_string()])
            .arg("--data-dir")
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("milvus-lite starts (scripts/setup.sh installs it)");
        let server = MilvusServer { child, port };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "milvus-lite did not listen: {}",
                std::fs::read_to_string(work.join("milvus.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn location(&self, collection: &str) -> String {
        format!("milvus://127.0.0.1:{}/{collection}", self.port)
    }
}

impl Drop for MilvusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn open(location: &str) -> MilvusIndex {
    MilvusIndex::open(&location.parse().unwrap(), 1024).unwrap()
}

/// `omega --json dedup --build-index LOCATION SOURCE…`: the vectors it added.
fn build(location: &str, sources: &[&Path]) -> u64 {
    let out = run_ok(
        omega()
            .args(["--json", "dedup", "--build-index", location])
            .args(sources)
            .arg("-q"),
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    summary["indexed_new"].as_u64().unwrap()
}

/// Near-duplicates (small noise) and fresh vectors (large noise) of stored ones.
fn queries(items: &[(String, Vec<f32>)], n: usize) -> Vec<Vec<f32>> {
    let mut rng = fastrand::Rng::with_seed(5);
    (0..n)
        .map(|i| {
            let noise = if i % 2 == 0 { 0.1 } else { 3.0 };
            let base = &items[(i * 37) % items.len()].1;
            base.iter().map(|x| x + (rng.f32() - 0.5) * noise).collect()
        })
        .collect()
}

#[test]
fn dedup_against_milvus_decides_as_against_the_embedded_index() {
    let work = scratch("milvus-dedup");
    let server = MilvusServer::start(&work);
    let v = validated(&work);
    let folder = work.join("index");
    let folder = folder.to_str().unwrap();
    let milvus = server.location("videos");
    let run = |index: &str, name: &str, insert: bool| -> Vec<DedupColumns> {
        let mut args = vec!["--index", index];
        if insert {
            args.push("--insert");
        }
        dedup(&v, &work.join(name), &args)
    };
    // First pass inserts the novel videos, the second finds them all in the dataset.
    for (pass, insert) in [("first", true), ("second", false)] {
        let a = run(folder, &format!("exact-{pass}.parquet"), insert);
        let b = run(&milvus, &format!("milvus-{pass}.parquet"), insert);
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(
                (x.status, x.error_class, x.too_similar),
                (y.status, y.error_class, y.too_similar),
                "{pass} pass: {x:?} vs {y:?}"
            );
            let close = |p: Option<f64>, q: Option<f64>| match (p, q) {
                (Some(p), Some(q)) => (p - q).abs() < 2e-3,
                (p, q) => p == q,
            };
            assert!(close(x.nearest_cosine, y.nearest_cosine), "{x:?} vs {y:?}");
            assert!(close(x.global_novelty, y.global_novelty), "{x:?} vs {y:?}");
        }
    }
    assert_eq!(
        open(&milvus).len(),
        ExactIndex::open(Path::new(folder)).unwrap().len()
    );
}

#[test]
fn nearest_neighbours_equal_the_exact_index_and_inserts_are_idempotent() {
    let work = scratch("milvus-recall");
    let server = MilvusServer::start(&work);
    let table = work.join("vectors.parquet");
    let items = random_table(&table, 3_000, 11);
    let folder = work.join("exact");
    assert_eq!(build(folder.to_str().unwrap(), &[&table]), 3_000);
    let flat = server.location("flat");
    assert_eq!(build(&flat, &[&table]), 3_000);
    assert_eq!(build(&flat, &[&table]), 0, "a rerun adds nothing");
    // An embedded index folder loads into a collection, and again adds nothing the second time.
    let copy = server.location("copy");
    assert_eq!(build(&copy, &[&folder]), 3_000);
    assert_eq!(build(&copy, &[&folder, &table]), 0);
    let exact = ExactIndex::open(&folder).unwrap();
    let qs = queries(&items, 100);
    let refs: Vec<&[f32]> = qs.iter().map(Vec::as_slice).collect();
    let truth = exact.nearest(&refs).unwrap();
    for location in [&flat, &copy] {
        let index = open(location);
        assert_eq!(index.len(), 3_000);
        for (want, got) in truth.iter().zip(index.nearest(&refs).unwrap()) {
            let (want, got) = (want.as_ref().unwrap(), got.unwrap());
            assert_eq!(want.id, got.id, "{location}: FLAT search is exact");
            assert!(
                (want.cosine - got.cosine).abs() < 2e-3,
                "{want:?} vs {got:?}"
            );
        }
    }
    // An approximate collection (IVF): candidates from 8 of 32 lists, re-ranked exactly here.
    let ivf = server.location("ivf") + "?index=IVF_FLAT&nlist=32&nprobe=8&rerank=16";
    let mut index = open(&ivf);
    assert_eq!(index.insert(&items).unwrap(), 3_000);
    assert_eq!(index.insert(&items[..10]).unwrap(), 0);
    let found = index.nearest(&refs).unwrap();
    let near_hits = truth
        .iter()
        .zip(&found)
        .step_by(2) // the near-duplicates
        .filter(|(t, f)| t.as_ref().map(|t| &t.id) == f.as_ref().map(|f| &f.id))
        .count();
    assert_eq!(
        near_hits, 50,
        "every near-duplicate is found through the IVF lists"
    );
}

#[test]
fn a_build_killed_midway_converges_on_rerun() {
    let work = scratch("milvus-kill");
    let server = MilvusServer::start(&work);
    let table = work.join("vectors.parquet");
    let items = random_table(&table, 6_000, 7);
    let location = server.location("killed");
    let mut child = omega()
        .args(["dedup", "--build-index", &location])
        .arg(&table)
        .arg("-q")
        .spawn()
        .unwrap();
    let index = open(&location);
    let started = Instant::now();
    // Killed once part of the vectors is in (at least one batch, not all of them).
    while index.len() == 0 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    let partial = index.len();
    assert!(
        partial > 0 && partial < items.len(),
        "killed with {partial} rows in"
    );
    let added = build(&location, &[&table]);
    assert_eq!(
        partial as u64 + added,
        6_000,
        "the rerun adds exactly what is missing"
    );
    assert_eq!(index.len(), 6_000, "no id is stored twice");
    let probe: Vec<&[f32]> = items
        .iter()
        .step_by(599)
        .map(|(_, v)| v.as_slice())
        .collect();
    for (hit, (id, _)) in index
        .nearest(&probe)
        .unwrap()
        .iter()
        .zip(items.iter().step_by(599))
    {
        assert_eq!(&hit.as_ref().unwrap().id, id);
    }
}

#[test]
fn unreachable_servers_and_bad_locations_are_named() {
    let work = scratch("milvus-errors");
    let dead = format!("milvus://127.0.0.1:{}/videos", free_port());
    for (location, expected) in [
        (dead.as_str(), "connecting"),
        ("milvus://127.0.0.1:1/9videos", "collection name"),
    ] {
        let out = omega()
            .args([
                "dedup",
                "-i",
                "x.parquet",
                "-o",
                "y.parquet",
                "--index",
                location,
            ])
            .current_dir(&work)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(expected),
            "{location}: {err}"
        );
    }
}
