//! The approximate index backend (feature `ann`): recall@1 against the exact index on
//! clustered vectors, for near-duplicate queries (the threshold decision dedup makes) and fresh
//! ones, and a graph rebuilt from the exact store when it is missing or stale.

use crate::common;

use omega::index::{AnnIndex, AnnParams, ExactIndex, VectorIndex};

/// `clusters` Gaussian-ish clusters of `per` vectors each (not uniform noise: real embeddings cluster).
fn clustered(clusters: usize, per: usize, seed: u64) -> Vec<(String, Vec<f32>)> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = Vec::new();
    for c in 0..clusters {
        let centre: Vec<f32> = (0..1024).map(|_| rng.f32() - 0.5).collect();
        for i in 0..per {
            let v = centre.iter().map(|x| x + (rng.f32() - 0.5) * 0.6).collect();
            out.push((format!("c{c}-{i}"), v));
        }
    }
    out
}

fn recall(ann: &AnnIndex, exact: &ExactIndex, queries: &[Vec<f32>]) -> f64 {
    let refs: Vec<&[f32]> = queries.iter().map(Vec::as_slice).collect();
    let (a, e) = (ann.nearest(&refs).unwrap(), exact.nearest(&refs).unwrap());
    a.iter()
        .zip(&e)
        .filter(|(x, y)| x.as_ref().map(|n| &n.id) == y.as_ref().map(|n| &n.id))
        .count() as f64
        / queries.len() as f64
}

#[test]
fn recall_against_exact_and_rebuild() {
    let work = common::scratch("ann-recall");
    let items = clustered(25, 80, 1);
    let mut ann = AnnIndex::open(&work.join("ann"), AnnParams::default()).unwrap();
    let mut exact = ExactIndex::open(&work.join("exact")).unwrap();
    assert_eq!(ann.insert(&items).unwrap(), items.len());
    exact.insert(&items).unwrap();
    let mut rng = fastrand::Rng::with_seed(9);
    let near: Vec<Vec<f32>> = (0..200)
        .map(|i| {
            items[(i * 17) % items.len()]
                .1
                .iter()
                .map(|x| x + (rng.f32() - 0.5) * 0.35)
                .collect()
        })
        .collect();
    let fresh: Vec<Vec<f32>> = clustered(25, 5, 77).into_iter().map(|(_, v)| v).collect();
    let (r_near, r_fresh) = (recall(&ann, &exact, &near), recall(&ann, &exact, &fresh));
    eprintln!("recall@1: near-duplicates {r_near:.3}, fresh {r_fresh:.3}");
    assert!(r_near >= 0.98, "near-duplicate recall {r_near}");
    assert!(r_fresh >= 0.8, "fresh-query recall {r_fresh}");
    // Re-ranked cosines are the exact ones.
    let refs: Vec<&[f32]> = near.iter().map(Vec::as_slice).collect();
    for (a, e) in ann
        .nearest(&refs)
        .unwrap()
        .iter()
        .zip(exact.nearest(&refs).unwrap())
    {
        if a.as_ref().unwrap().id == e.as_ref().unwrap().id {
            assert_eq!(a.as_ref().unwrap().cosine, e.as_ref().unwrap().cosine);
        }
    }
    // The search-time knobs apply on open, without a rebuild: a greedy search (ef 1) that
    // re-ranks one candidate misses more of the fresh queries' true neighbours.
    drop(ann);
    let greedy = AnnParams {
        expansion_search: 1,
        rerank: 1,
        ..AnnParams::default()
    };
    let narrow = AnnIndex::open(&work.join("ann"), greedy).unwrap();
    let r_greedy = recall(&narrow, &exact, &fresh);
    eprintln!("recall@1 with ef 1, rerank 1: fresh {r_greedy:.3}");
    assert!(r_greedy < r_fresh, "{r_greedy} vs {r_fresh}");
    drop(narrow);
    // A missing graph (a crash before it was saved) is rebuilt from the exact store.
    std::fs::remove_file(work.join("ann/hnsw.usearch")).unwrap();
    let rebuilt = AnnIndex::open(&work.join("ann"), AnnParams::default()).unwrap();
    assert_eq!(rebuilt.len(), items.len());
    assert!(recall(&rebuilt, &exact, &near) >= 0.98);
    drop(rebuilt);
    // A graph file of another shape (8 f32 values per vector), as many vectors as the store, is
    // not searched with the f16 embedding kernel: it is rebuilt from the store too.
    let foreign = usearch::Index::new(&usearch::IndexOptions {
        dimensions: 8,
        quantization: usearch::ScalarKind::F32,
        ..Default::default()
    })
    .unwrap();
    foreign.reserve(items.len()).unwrap();
    for key in 0..items.len() {
        foreign.add(key as u64, &[key as f32 + 1.0; 8]).unwrap();
    }
    let graph = work.join("ann/hnsw.usearch");
    foreign.save(graph.to_str().unwrap()).unwrap();
    let reopened = AnnIndex::open(&work.join("ann"), AnnParams::default()).unwrap();
    assert!(recall(&reopened, &exact, &near) >= 0.98);
    assert!(
        std::fs::metadata(&graph).unwrap().len() > 1_000_000,
        "the graph was rebuilt"
    );
}

/// Builds a usearch graph the way `AnnIndex` does, on eight threads at once: usearch's
/// concurrent `add` strands rows (unum-cloud/USearch#735). Returns the graph and the rows that
/// no search finds, however wide.
fn concurrent_graph(vectors: &[Vec<f32>]) -> (usearch::Index, Vec<usize>) {
    let graph = usearch::Index::new(&usearch::IndexOptions {
        dimensions: 1024,
        metric: usearch::MetricKind::Cos,
        quantization: usearch::ScalarKind::F16,
        connectivity: 32,
        expansion_add: 128,
        expansion_search: vectors.len(),
        multi: false,
    })
    .unwrap();
    graph
        .reserve_capacity_and_threads(vectors.len(), 8)
        .unwrap();
    let per_thread = vectors.len().div_ceil(8);
    std::thread::scope(|s| {
        for (t, chunk) in vectors.chunks(per_thread).enumerate() {
            let graph = &graph;
            s.spawn(move || {
                for (i, v) in chunk.iter().enumerate() {
                    graph.add((t * per_thread + i) as u64, v).unwrap();
                }
            });
        }
    });
    let stranded = (0..vectors.len())
        .filter(|&i| graph.search(&vectors[i], 1).unwrap().keys != [i as u64])
        .collect();
    (graph, stranded)
}

#[test]
fn rows_a_concurrent_build_stranded_are_relinked_on_open() {
    let work = common::scratch("ann-stranded");
    let items = clustered(10, 100, 3);
    let vectors: Vec<Vec<f32>> = items.iter().map(|(_, v)| omega::vector::unit(v)).collect();
    // Most eight-thread builds of these 1 000 rows strand a few (1 to 16 in 17 of 30 tries).
    let (graph, stranded) = (0..20)
        .map(|_| concurrent_graph(&vectors))
        .find(|(_, stranded)| !stranded.is_empty())
        .expect(
            "20 concurrent usearch builds stranded no row: if usearch#735 is fixed, relink can go",
        );
    let dir = work.join("ann");
    ExactIndex::open(&dir).unwrap().insert(&items).unwrap();
    graph
        .save(dir.join("hnsw.usearch").to_str().unwrap())
        .unwrap();
    drop(graph);
    // Opening finds the stranded rows, adds them back one at a time and saves the graph: every
    // row is its own nearest neighbour again, in the index and in the saved graph itself.
    let ann = AnnIndex::open(&dir, AnnParams::default()).unwrap();
    let refs: Vec<&[f32]> = items.iter().map(|(_, v)| v.as_slice()).collect();
    let found = ann.nearest(&refs).unwrap();
    let missed: Vec<&str> = items
        .iter()
        .zip(&found)
        .filter(|((id, _), n)| n.as_ref().map(|n| &n.id) != Some(id))
        .map(|((id, _), _)| id.as_str())
        .collect();
    assert!(
        missed.is_empty(),
        "{} were stranded, {missed:?} still missed",
        stranded.len()
    );
    drop(ann);
    let saved = usearch::Index::new(&usearch::IndexOptions::default()).unwrap();
    saved
        .load(dir.join("hnsw.usearch").to_str().unwrap())
        .unwrap();
    saved.change_expansion_search(vectors.len());
    for &row in &stranded {
        assert_eq!(
            saved.search(&vectors[row], 1).unwrap().keys,
            [row as u64],
            "row {row}"
        );
    }
}
