//! `omega dedup` and the exact index: duplicates within an answer, novelty against the index
//! (empty index = novel), an insert killed with SIGKILL then rerun converging to the index
//! built in one go, and recall equal to a brute-force scan.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use omega::index::{ExactIndex, VectorIndex};
use omega::outcome::{ErrorClass, Status};
use omega::table::read_all;
use omega::table::responses::{DedupColumns, IndexInput};
use omega::table::TableWriter;

/// A validated answer of real clips: Big Buck Bunny in H.264 and VP9 (the same footage),
/// movie-hello and the rocket launch.
fn validated(work: &Path) -> PathBuf {
    let e = embedded_clips(
        work,
        &[
            "bigbuckbunny.mp4",
            "bbb_vp9_opus.webm",
            "movie-hello.mp4",
            "oa4_launch.webm",
        ],
        "q",
    );
    validate_unchecked(&e, &work.join("v.parquet"));
    work.join("v.parquet")
}

fn dedup(input: &Path, out: &Path, extra: &[&str]) -> Vec<DedupColumns> {
    run_ok(
        omega()
            .args(["dedup", "-i"])
            .arg(input)
            .arg("-o")
            .arg(out)
            .args(extra)
            .arg("-q"),
    );
    read_all(out.to_str().unwrap()).unwrap()
}

#[test]
fn duplicates_then_novelty_against_the_index() {
    let work = scratch("dedup-chain");
    let v = validated(&work);
    let index = work.join("index");
    let first = dedup(
        &v,
        &work.join("d1.parquet"),
        &["--index", index.to_str().unwrap(), "--insert"],
    );
    let dups: Vec<&DedupColumns> = first
        .iter()
        .filter(|c| c.error_class == Some(ErrorClass::Duplicate))
        .collect();
    assert_eq!(
        dups.len(),
        1,
        "the H.264 and VP9 Big Buck Bunny are one video: {first:#?}"
    );
    assert!(dups[0].duplicate_of.is_some());
    let ok: Vec<&DedupColumns> = first.iter().filter(|c| c.status == Status::Ok).collect();
    assert_eq!(ok.len(), 3);
    assert!(
        ok.iter().all(|c| c.global_novelty == Some(1.0)),
        "an empty index means novel (B9)"
    );
    assert_eq!(
        ExactIndex::open(&index).unwrap().len(),
        3,
        "the novel videos were inserted"
    );
    // The same answer again: everything is already in the dataset.
    let second = dedup(
        &v,
        &work.join("d2.parquet"),
        &["--index", index.to_str().unwrap()],
    );
    for c in second
        .iter()
        .filter(|c| c.error_class != Some(ErrorClass::Duplicate))
    {
        assert_eq!(
            (c.status, c.error_class),
            (Status::Skipped, Some(ErrorClass::NotNovel))
        );
        assert!(c.nearest_cosine.unwrap() > 0.999 && c.too_similar);
    }
    // Without an index only local novelty counts.
    let local = dedup(&v, &work.join("d3.parquet"), &[]);
    assert!(local.iter().all(|c| c.global_novelty.is_none()));
}

fn random_table(path: &Path, n: usize, seed: u64) -> Vec<(String, Vec<f32>)> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let rows: Vec<IndexInput> = (0..n)
        .map(|i| IndexInput {
            video_id: format!("v{i:06}"),
            video_emb: Some((0..1024).map(|_| rng.f32() - 0.5).collect()),
            status: Status::Ok,
        })
        .collect();
    let mut w = TableWriter::<IndexInput>::create(path.to_str().unwrap()).unwrap();
    w.write_rows(rows.iter().cloned()).unwrap();
    w.finish().unwrap();
    rows.into_iter()
        .map(|r| (r.video_id, r.video_emb.unwrap()))
        .collect()
}

#[test]
fn an_insert_killed_midway_converges_on_rerun() {
    let work = scratch("dedup-kill");
    let table = work.join("vectors.parquet");
    let items = random_table(&table, 8_000, 7);
    let whole = work.join("whole");
    run_ok(
        omega()
            .arg("dedup")
            .arg("--build-index")
            .arg(&whole)
            .arg(&table)
            .arg("-q"),
    );
    for (round, delay_ms) in [5u64, 30, 80, 160, 320].into_iter().enumerate() {
        let dir = work.join(format!("killed{round}"));
        let mut child = omega()
            .arg("dedup")
            .arg("--build-index")
            .arg(&dir)
            .arg(&table)
            .arg("-q")
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        run_ok(
            omega()
                .arg("dedup")
                .arg("--build-index")
                .arg(&dir)
                .arg(&table)
                .arg("-q"),
        );
        let (a, b) = (
            ExactIndex::open(&whole).unwrap(),
            ExactIndex::open(&dir).unwrap(),
        );
        assert_eq!(a.ids(), b.ids(), "round {round}: same ids, same order");
        let queries: Vec<&[f32]> = items
            .iter()
            .step_by(997)
            .map(|(_, v)| v.as_slice())
            .collect();
        assert_eq!(
            a.nearest(&queries).unwrap(),
            b.nearest(&queries).unwrap(),
            "round {round}: same answers"
        );
    }
}

#[test]
fn recall_equals_brute_force() {
    let work = scratch("dedup-recall");
    let table = work.join("vectors.parquet");
    let items = random_table(&table, 5_000, 11);
    let dir = work.join("index");
    run_ok(
        omega()
            .arg("dedup")
            .arg("--build-index")
            .arg(&dir)
            .arg(&table)
            .arg("-q"),
    );
    let index = ExactIndex::open(&dir).unwrap();
    let mut rng = fastrand::Rng::with_seed(3);
    let queries: Vec<Vec<f32>> = (0..100)
        .map(|i| {
            let base = &items[(i * 37) % items.len()].1;
            base.iter()
                .map(|x| x + (rng.f32() - 0.5) * if i % 2 == 0 { 0.2 } else { 3.0 })
                .collect()
        })
        .collect();
    let refs: Vec<&[f32]> = queries.iter().map(Vec::as_slice).collect();
    let got = index.nearest(&refs).unwrap();
    for (q, hit) in queries.iter().zip(got) {
        let cos = |v: &[f32]| {
            let dot: f64 = q
                .iter()
                .zip(v)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum();
            dot / (q.iter().map(|a| f64::from(*a).powi(2)).sum::<f64>().sqrt()
                * v.iter().map(|a| f64::from(*a).powi(2)).sum::<f64>().sqrt())
        };
        let best = items
            .iter()
            .map(|(id, v)| (cos(v), id))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .unwrap();
        let hit = hit.unwrap();
        assert_eq!(&hit.id, best.1, "exact search finds the true nearest");
        assert!(
            (f64::from(hit.cosine) - best.0).abs() < 2e-3,
            "f16 storage moves cosines by little"
        );
    }
}
