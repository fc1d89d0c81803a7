//! Index benchmark (`cargo bench --features ann --bench index`, run by benches/index.sh):
//! N clustered 1024-d vectors (a mixture of Gaussians, not uniform noise), 1000 near-duplicate
//! queries (an indexed vector + noise, cosine ≈ 0.95) and 1000 fresh queries from the same
//! mixture; build time, bytes per vector, queries per second and recall@1 (against exact) for
//! the exact and the ANN backends. Writes the vectors and queries as .npy for the FAISS side.

use std::path::{Path, PathBuf};
use std::time::Instant;

mod vectors;

use omega::embed::npy::write_npy;
use omega::index::{AnnIndex, AnnParams, ExactIndex, IvfIndex, Neighbour, VectorIndex};

fn main() {
    let Some(n) = vectors::bench_size() else {
        return;
    };
    let work = PathBuf::from(
        std::env::var("OMEGA_BENCH_DIR").unwrap_or_else(|_| "target/bench-index".into()),
    );
    if std::env::var_os("OMEGA_BENCH_REUSE").is_some() {
        return search_again(&work);
    }
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let vectors::Set { items, near, fresh } = vectors::clustered(n);
    let flat = |rows: &[Vec<f32>]| rows.concat();
    write_npy(
        &work.join("vectors.npy"),
        &[n, 1024],
        &flat(&items.iter().map(|i| i.1.clone()).collect::<Vec<_>>()),
    )
    .unwrap();
    write_npy(&work.join("near.npy"), &[1000, 1024], &flat(&near)).unwrap();
    write_npy(&work.join("fresh.npy"), &[1000, 1024], &flat(&fresh)).unwrap();

    let t = Instant::now();
    let mut exact = ExactIndex::open(&work.join("exact")).unwrap();
    for chunk in items.chunks(8192) {
        exact.insert(chunk).unwrap();
    }
    let exact_build = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let ann = AnnIndex::open(&work.join("exact"), ann_params()).unwrap(); // graph built from the store
    let ann_build = t.elapsed().as_secs_f64();
    let dir_bytes = |d: &str| {
        std::fs::read_dir(work.join(d))
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum::<u64>()
    };
    let graph_bytes = std::fs::metadata(work.join("exact/hnsw.usearch"))
        .unwrap()
        .len();
    let run = |index: &dyn VectorIndex, qs: &[Vec<f32>]| -> (f64, Vec<Option<Neighbour>>) {
        let refs: Vec<&[f32]> = qs.iter().map(Vec::as_slice).collect();
        let t = Instant::now();
        let out = index.nearest(&refs).unwrap();
        (qs.len() as f64 / t.elapsed().as_secs_f64(), out)
    };
    let recall = |a: &[Option<Neighbour>], b: &[Option<Neighbour>]| {
        a.iter()
            .zip(b)
            .filter(|(x, y)| x.as_ref().map(|n| &n.id) == y.as_ref().map(|n| &n.id))
            .count() as f64
            / a.len() as f64
    };
    let mut out = serde_json::Map::new();
    out.insert("n".into(), n.into());
    out.insert("threads".into(), rayon::current_num_threads().into());
    let mut truth = Vec::new();
    for (name, qs) in [("near", &near), ("fresh", &fresh)] {
        let (eq, er) = run(&exact, qs);
        let (aq, ar) = run(&ann, qs);
        out.insert(format!("exact_{name}_qps"), eq.into());
        out.insert(format!("ann_{name}_qps"), aq.into());
        out.insert(format!("ann_{name}_recall"), recall(&ar, &er).into());
        let ids: Vec<String> = er.iter().map(|x| x.as_ref().unwrap().id.clone()).collect();
        std::fs::write(
            work.join(format!("exact_{name}_ids.json")),
            serde_json::to_string(&ids).unwrap(),
        )
        .unwrap();
        truth.push(er);
    }
    // The search-time expansion: recall and speed at the former default and a larger ef over
    // the same graph.
    for ef in search_expansions() {
        let params = AnnParams {
            expansion_search: ef,
            ..ann_params()
        };
        let tuned = AnnIndex::open(&work.join("exact"), params).unwrap();
        for ((name, qs), er) in [("near", &near), ("fresh", &fresh)].into_iter().zip(&truth) {
            let (aq, ar) = run(&tuned, qs);
            out.insert(format!("ann_ef{ef}_{name}_qps"), aq.into());
            out.insert(format!("ann_ef{ef}_{name}_recall"), recall(&ar, er).into());
        }
    }
    let t = Instant::now();
    let mut ivf = IvfIndex::open(&work.join("exact"), AnnParams::default()).unwrap();
    out.insert("ivf_build_s".into(), t.elapsed().as_secs_f64().into());
    let ivf_bytes = ivf_bytes(&work.join("exact"));
    out.insert(
        "ivf_bytes_per_vector".into(),
        (ivf_bytes as f64 / n as f64).into(),
    );
    out.insert("ivf_probes".into(), AnnParams::default().probes.into());
    // One untimed pass: the store is memory-mapped, and its pages are mapped into the process
    // on first touch (FAISS's vectors are in memory once added, usearch loads its graph).
    run(&ivf, &near);
    for probes in probe_counts() {
        ivf.set_probes(probes);
        for ((name, qs), er) in [("near", &near), ("fresh", &fresh)].into_iter().zip(&truth) {
            let (q, r) = run(&ivf, qs);
            out.insert(format!("ivf_p{probes}_{name}_qps"), q.into());
            out.insert(
                format!("ivf_p{probes}_{name}_recall"),
                recall(&r, er).into(),
            );
        }
    }
    out.insert("exact_build_s".into(), exact_build.into());
    out.insert("ann_build_s".into(), ann_build.into());
    out.insert(
        "exact_bytes_per_vector".into(),
        ((dir_bytes("exact") - graph_bytes - ivf_bytes) as f64 / n as f64).into(),
    );
    out.insert(
        "ann_graph_bytes_per_vector".into(),
        (graph_bytes as f64 / n as f64).into(),
    );
    out.insert("ann_connectivity".into(), ann_params().connectivity.into());
    out.insert("ann_ef".into(), ann_params().expansion_search.into());
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}

/// OMEGA_BENCH_REUSE=1: only the graph's open time, the search expansions (OMEGA_BENCH_EFS),
/// the IVF probes and, with OMEGA_BENCH_EXACT=1, the exact scan, over the graph, queries
/// and exact answers an earlier run left in OMEGA_BENCH_DIR (a 1 M graph takes 20–40 min to
/// build on 2 cores; the search settings do not change it).
fn search_again(work: &Path) {
    // Each query set and its exact answers, read once for every ef.
    let sets: Vec<(&str, Vec<f32>, Vec<String>)> = ["near", "fresh"]
        .into_iter()
        .map(|name| {
            let queries = read_queries(&work.join(format!("{name}.npy")));
            let truth = serde_json::from_slice(
                &std::fs::read(work.join(format!("exact_{name}_ids.json"))).unwrap(),
            )
            .unwrap();
            (name, queries, truth)
        })
        .collect();
    let mut out = serde_json::Map::new();
    // Opening reads the graph and walks it for rows its concurrent build cut off.
    let t = Instant::now();
    drop(AnnIndex::open(&work.join("exact"), ann_params()).unwrap());
    out.insert("ann_open_s".into(), t.elapsed().as_secs_f64().into());
    let mut measure = |index: &dyn VectorIndex, label: String| {
        for (name, queries, truth) in &sets {
            let refs: Vec<&[f32]> = queries.chunks(1024).collect();
            let t = Instant::now();
            let found = index.nearest(&refs).unwrap();
            let qps = refs.len() as f64 / t.elapsed().as_secs_f64();
            let hits = found
                .iter()
                .zip(truth)
                .filter(|(f, id)| f.as_ref().is_some_and(|f| &f.id == *id))
                .count();
            out.insert(format!("{label}_{name}_qps"), qps.into());
            let recall = hits as f64 / truth.len() as f64;
            out.insert(format!("{label}_{name}_recall"), recall.into());
        }
    };
    for ef in search_expansions() {
        let params = AnnParams {
            expansion_search: ef,
            ..ann_params()
        };
        measure(
            &AnnIndex::open(&work.join("exact"), params).unwrap(),
            format!("ann_ef{ef}"),
        );
    }
    // The exact scan over the same store, after one untimed pass (its pages mapped).
    if std::env::var_os("OMEGA_BENCH_EXACT").is_some() {
        let exact = ExactIndex::open(&work.join("exact")).unwrap();
        exact
            .nearest(&sets[0].1.chunks(1024).collect::<Vec<_>>())
            .unwrap();
        measure(&exact, "exact".into());
    }
    // The IVF lists are trained on the first open (and timed), reused after.
    let t = Instant::now();
    let mut ivf = IvfIndex::open(&work.join("exact"), AnnParams::default()).unwrap();
    let ivf_open = t.elapsed().as_secs_f64();
    let warm: Vec<&[f32]> = sets[0].1.chunks(1024).collect();
    ivf.nearest(&warm).unwrap(); // untimed, as in `main`
    for probes in probe_counts() {
        ivf.set_probes(probes);
        measure(&ivf, format!("ivf_p{probes}"));
    }
    out.insert("ivf_open_s".into(), ivf_open.into());
    out.insert(
        "ivf_bytes_per_vector".into(),
        (ivf_bytes(&work.join("exact")) as f64 / ivf.len() as f64).into(),
    );
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}

/// The f32 rows of a .npy file that `write_npy` wrote (format 1.0: a 10-byte preamble whose
/// last two bytes are the header's length, then the header, then the data).
fn read_queries(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    let header = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
    bytes[10 + header..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// The defaults, or the graph's connectivity from OMEGA_BENCH_ANN_M.
fn ann_params() -> AnnParams {
    let mut params = AnnParams::default();
    if let Some(m) = std::env::var("OMEGA_BENCH_ANN_M")
        .ok()
        .and_then(|m| m.parse().ok())
    {
        params.connectivity = m;
    }
    params
}

/// The IVF lists probed per query: the default, then OMEGA_BENCH_PROBES (comma-separated).
fn probe_counts() -> Vec<usize> {
    let default = AnnParams::default().probes;
    let others = std::env::var("OMEGA_BENCH_PROBES").unwrap_or_else(|_| "2,4,16".into());
    let others = others.split(',').filter_map(|p| p.trim().parse().ok());
    std::iter::once(default)
        .chain(others.filter(|&p| p != default))
        .collect()
}

/// Bytes of the IVF backend's own files (centroids and lists) in `dir`.
fn ivf_bytes(dir: &Path) -> u64 {
    ["ivf.centroids", "ivf.lists"]
        .iter()
        .map(|f| std::fs::metadata(dir.join(f)).map_or(0, |m| m.len()))
        .sum()
}

/// The other search expansions measured over the same graph (OMEGA_BENCH_EFS, comma-separated).
fn search_expansions() -> Vec<usize> {
    std::env::var("OMEGA_BENCH_EFS")
        .unwrap_or_else(|_| "56,64,128".into())
        .split(',')
        .filter_map(|ef| ef.trim().parse().ok())
        .collect()
}
