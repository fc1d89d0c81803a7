//! The Milvus backend against the embedded exact index (`cargo bench --features milvus --bench
//! milvus`, run by benches/milvus.sh, which starts the server): the same N clustered vectors
//! inserted into both (vectors/s), 1000 near-duplicate and 1000 fresh queries (queries/s),
//! recall@1 against the exact index, and how often the novelty decision at the original's 0.95
//! cosine threshold is the same. OMEGA_BENCH_MILVUS names the collection (milvus://…).

mod vectors;

use std::time::Instant;

use omega::index::{ExactIndex, MilvusIndex, Neighbour, VectorIndex};

/// The original's duplicate threshold: a video is not novel above this cosine.
const THRESHOLD: f32 = 0.95;

fn main() {
    let Some(n) = vectors::bench_size() else {
        return;
    };
    let location = std::env::var("OMEGA_BENCH_MILVUS").expect("OMEGA_BENCH_MILVUS=milvus://…");
    let work = std::path::PathBuf::from("target/bench-milvus");
    let _ = std::fs::remove_dir_all(&work);
    let vectors::Set { items, near, fresh } = vectors::clustered(n);
    let mut exact = ExactIndex::open(&work.join("exact")).unwrap();
    let mut milvus = MilvusIndex::open(&location.parse().unwrap(), 1024).unwrap();
    let mut out = serde_json::Map::new();
    out.insert("n".into(), n.into());
    out.insert("location".into(), location.clone().into());
    for (name, index) in [
        ("exact", &mut exact as &mut dyn VectorIndex),
        ("milvus", &mut milvus),
    ] {
        let t = Instant::now();
        for chunk in items.chunks(8192) {
            index.insert(chunk).unwrap();
        }
        out.insert(
            format!("{name}_insert_per_s"),
            (n as f64 / t.elapsed().as_secs_f64()).into(),
        );
    }
    let run = |index: &dyn VectorIndex, qs: &[Vec<f32>]| -> (f64, Vec<Option<Neighbour>>) {
        let refs: Vec<&[f32]> = qs.iter().map(Vec::as_slice).collect();
        let t = Instant::now();
        let found = index.nearest(&refs).unwrap();
        (qs.len() as f64 / t.elapsed().as_secs_f64(), found)
    };
    for (name, qs) in [("near", &near), ("fresh", &fresh)] {
        let (eq, truth) = run(&exact, qs);
        let (mq, found) = run(&milvus, qs);
        let pairs = || {
            truth
                .iter()
                .zip(&found)
                .map(|(t, f)| (t.as_ref().unwrap(), f.as_ref()))
        };
        let recall = pairs()
            .filter(|(t, f)| f.is_some_and(|f| f.id == t.id))
            .count();
        let same_decision = pairs()
            .filter(|(t, f)| (t.cosine > THRESHOLD) == f.is_some_and(|f| f.cosine > THRESHOLD))
            .count();
        let duplicates = truth
            .iter()
            .flatten()
            .filter(|t| t.cosine > THRESHOLD)
            .count();
        out.insert(format!("exact_{name}_qps"), eq.into());
        out.insert(format!("milvus_{name}_qps"), mq.into());
        out.insert(
            format!("milvus_{name}_recall"),
            (recall as f64 / qs.len() as f64).into(),
        );
        out.insert(
            format!("milvus_{name}_same_decision"),
            (same_decision as f64 / qs.len() as f64).into(),
        );
        out.insert(format!("{name}_above_threshold"), duplicates.into());
    }
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
