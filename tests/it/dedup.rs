//! `omega dedup` and the exact index: duplicates within an answer, novelty against the index
//! (empty index = novel), an insert killed with SIGKILL then rerun converging to the index
//! built in one go, and recall equal to a brute-force scan.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::*;
use omega::index::{ExactIndex, VectorIndex};
use omega::outcome::{ErrorClass, Status};
use omega::table::deduped::{DedupColumns, IndexInput};
use omega::table::read_all;
use omega::table::TableWriter;

/// A validated answer of real clips: Big Buck Bunny in H.264 and VP9 (the same footage),
/// movie-hello and the rocket launch.
pub fn validated(work: &Path) -> PathBuf {
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

pub fn dedup(input: &Path, out: &Path, extra: &[&str]) -> Vec<DedupColumns> {
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
    // The thresholds come from --config (they used to be hard-coded in dedup): a duplicate
    // threshold no cosine can pass, and a difference threshold below any novelty, make every
    // video new.
    let config = work.join("config.json");
    std::fs::write(
        &config,
        r#"{"duplicate_threshold": 1.5, "difference_threshold": -1.0}"#,
    )
    .unwrap();
    let lenient = dedup(
        &v,
        &work.join("d4.parquet"),
        &[
            "--index",
            index.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ],
    );
    assert_eq!(lenient.len(), first.len());
    assert!(
        lenient
            .iter()
            .all(|c| c.status == Status::Ok && !c.too_similar),
        "{lenient:#?}"
    );
}

/// `omega dedup --build-index DIR TABLE`.
fn build_index(dir: &Path, table: &Path) {
    run_ok(
        omega()
            .arg("dedup")
            .arg("--build-index")
            .arg(dir)
            .arg(table)
            .arg("-q"),
    );
}

/// `n` random vectors written as a shard; returns them.
pub fn random_table(path: &Path, n: usize, seed: u64) -> Vec<(String, Vec<f32>)> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let rows: Vec<(String, Vec<f32>)> = (0..n)
        .map(|i| {
            (
                format!("v{i:06}"),
                (0..1024).map(|_| rng.f32() - 0.5).collect(),
            )
        })
        .collect();
    shard(path, &rows);
    rows
}

#[test]
fn an_insert_killed_midway_converges_on_rerun() {
    let work = scratch("dedup-kill");
    let table = work.join("vectors.parquet");
    let items = random_table(&table, 8_000, 7);
    let whole = work.join("whole");
    build_index(&whole, &table);
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
        build_index(&dir, &table);
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
    build_index(&dir, &table);
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

/// Writes `ids` with the given vectors as an `IndexInput` shard.
fn shard(path: &Path, rows: &[(String, Vec<f32>)]) {
    let mut w = TableWriter::<IndexInput>::create(path.to_str().unwrap()).unwrap();
    w.write_rows(rows.iter().map(|(id, v)| IndexInput {
        video_id: id.clone(),
        video_emb: Some(v.clone()),
        status: Status::Ok,
    }))
    .unwrap();
    w.finish().unwrap();
}

#[test]
fn dataset_scope_keeps_the_first_of_each_near_duplicate_group_across_shards() {
    let work = scratch("dedup-dataset");
    let mut rng = fastrand::Rng::with_seed(5);
    let bases: Vec<Vec<f32>> = (0..300)
        .map(|_| (0..1024).map(|_| rng.f32() - 0.5).collect())
        .collect();
    // Each base appears up to 3 times with small noise (cosine ≈ 0.99), spread over two shards
    // and across batch boundaries (1024 rows per batch).
    let mut rows = Vec::new();
    for copy in 0..3 {
        for (b, base) in bases
            .iter()
            .enumerate()
            .filter(|(b, _)| copy == 0 || b % (copy + 1) == 0)
        {
            let v: Vec<f32> = base.iter().map(|x| x + (rng.f32() - 0.5) * 0.02).collect();
            rows.push((format!("b{b}-c{copy}"), v));
        }
    }
    let (a, b) = rows.split_at(rows.len() / 2);
    shard(&work.join("s1.parquet"), a);
    shard(&work.join("s2.parquet"), b);
    let out = work.join("unique.parquet");
    run_ok(
        omega()
            .args(["dedup", "--scope", "dataset", "-o"])
            .arg(&out)
            .arg(work.join("s1.parquet"))
            .arg(work.join("s2.parquet"))
            .arg("-q"),
    );
    let kept: Vec<omega::table::dataset_deduped::DatasetDedupColumns> =
        read_all(out.to_str().unwrap()).unwrap();
    let ids: Vec<IndexInput> = read_all(out.to_str().unwrap()).unwrap();
    assert_eq!(
        kept.len(),
        rows.len(),
        "every row is in the output, with its verdict"
    );
    for (row, k) in ids.iter().zip(&kept) {
        let first_copy = row.video_id.ends_with("-c0");
        assert_eq!(k.keep, first_copy, "{}: {k:?}", row.video_id);
        if !first_copy {
            let base = row.video_id.split('-').next().unwrap();
            assert!(
                k.near_duplicate_of
                    .as_deref()
                    .unwrap()
                    .starts_with(&format!("{base}-")),
                "{k:?}"
            );
        }
    }
    // --drop-duplicates writes only the kept rows.
    let out2 = work.join("unique2.parquet");
    run_ok(
        omega()
            .args(["dedup", "--scope", "dataset", "--drop-duplicates", "-o"])
            .arg(&out2)
            .arg(work.join("s1.parquet"))
            .arg(work.join("s2.parquet"))
            .arg("-q"),
    );
    let only: Vec<IndexInput> = read_all(out2.to_str().unwrap()).unwrap();
    assert_eq!(only.len(), bases.len());
    // The IVF backend gives the same verdicts (below its training size it scans the store; the
    // lists themselves are tested in the library).
    let out3 = work.join("unique3.parquet");
    run_ok(
        omega()
            .args([
                "dedup",
                "--scope",
                "dataset",
                "--backend",
                "ivf",
                "--ivf-probes",
                "4",
            ])
            .arg("-o")
            .arg(&out3)
            .arg(work.join("s1.parquet"))
            .arg(work.join("s2.parquet"))
            .arg("-q"),
    );
    let by_ivf: Vec<omega::table::dataset_deduped::DatasetDedupColumns> =
        read_all(out3.to_str().unwrap()).unwrap();
    assert_eq!(by_ivf, kept);
}
