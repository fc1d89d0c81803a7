//! The approximate backend (feature `ann`): a usearch HNSW graph over the exact store. The
//! exact store stays the source of truth — it holds the vectors and ids, commits inserts
//! crash-safely, and re-ranks the graph's top candidates exactly, so a threshold decision never
//! rests on an approximate distance. The graph file (`hnsw.usearch`) is saved atomically after
//! each insert; if it disagrees with the store (a crash between the two), it is rebuilt. Rows
//! the graph's concurrent build cut off are found and linked anew (`AnnIndex::relink`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use super::best_of;
use super::half_dot::{best_kernel, DotF16};
use super::{AnnParams, ExactIndex, IndexError, Neighbour, VectorIndex};
use crate::table::EMBEDDING_DIM;
use crate::vector::{dot, unit};

pub struct AnnIndex {
    exact: ExactIndex,
    graph: usearch::Index,
    path: PathBuf,
    params: AnnParams,
    /// Thread contexts reserved in the graph: at most this many calls run at once (usearch
    /// would share a context between surplus callers).
    threads: usize,
    /// Rows the graph still cannot reach after `relink` (normally none): every query re-ranks
    /// them too, so no stored row is ever out of a search's sight.
    stranded: Vec<usize>,
}

fn ann_error(path: &Path, e: impl std::fmt::Display) -> IndexError {
    IndexError::Corrupt {
        path: path.to_path_buf(),
        message: format!("HNSW graph: {e}"),
    }
}

fn new_graph(params: &AnnParams, path: &Path) -> Result<usearch::Index, IndexError> {
    let options = usearch::IndexOptions {
        dimensions: EMBEDDING_DIM,
        metric: usearch::MetricKind::Cos,
        quantization: usearch::ScalarKind::F16,
        connectivity: params.connectivity,
        expansion_add: params.expansion_add,
        expansion_search: params.expansion_search,
        multi: false,
    };
    let mut graph = usearch::Index::new(&options).map_err(|e| ann_error(path, e))?;
    use_dot_distance(&mut graph, path)?;
    Ok(graph)
}

/// Whether the graph holds what `use_dot_distance` reads: EMBEDDING_DIM values in f16.
fn holds_embeddings_in_f16(graph: &usearch::Index) -> bool {
    graph.dimensions() == EMBEDDING_DIM && graph.scalar_kind() == usearch::ScalarKind::F16
}

/// Replaces usearch's f16 cosine by 1 − dot on this CPU's fastest kernel (`half_dot`): every
/// vector in the graph and every query is a unit vector. The file keeps the cosine metric kind,
/// so a graph saved by an earlier omega loads unchanged; loading restores the built-in metric,
/// hence the call after every load too.
fn use_dot_distance(graph: &mut usearch::Index, path: &Path) -> Result<(), IndexError> {
    let dot: DotF16 = best_kernel();
    let distance = move |a: *const usearch::f16, b: *const usearch::f16| {
        // SAFETY: usearch calls the metric with two vectors of the graph's dimensions, both in
        // its f16 storage (queries are cast to it first); usearch's f16 is a transparent i16,
        // the same bits as `half::f16`.
        let (a, b) = unsafe {
            (
                std::slice::from_raw_parts(a.cast::<half::f16>(), EMBEDDING_DIM),
                std::slice::from_raw_parts(b.cast::<half::f16>(), EMBEDDING_DIM),
            )
        };
        1.0 - dot(a, b)
    };
    <usearch::f16 as usearch::VectorType>::change_metric(graph, Box::new(distance))
        .map_err(|e| ann_error(path, e))
}

impl AnnIndex {
    pub fn open(dir: &Path, params: AnnParams) -> Result<Self, IndexError> {
        let exact = ExactIndex::open(dir)?;
        let path = dir.join("hnsw.usearch");
        let mut graph = new_graph(&params, &path)?;
        if path.exists() {
            graph
                .load(path.to_str().unwrap_or_default())
                .map_err(|e| ann_error(&path, e))?;
            if holds_embeddings_in_f16(&graph) {
                use_dot_distance(&mut graph, &path)?;
                graph.change_expansion_search(params.expansion_search);
            } else {
                // Another shape of graph (loading takes the file's own): the distance kernel
                // reads EMBEDDING_DIM f16 values, so it is rebuilt from the store below.
                graph = new_graph(&params, &path)?;
            }
        }
        let mut index = AnnIndex {
            exact,
            graph,
            path,
            params,
            threads: rayon::current_num_threads(),
            stranded: Vec::new(),
        };
        let rebuild = index.graph.size() != index.exact.len();
        if rebuild {
            index.graph = new_graph(&params, &index.path)?;
            index.add_rows(0)?;
        }
        index.reserve(index.exact.len())?;
        // A graph saved by an omega without `relink` may hold stranded rows.
        let relinked = index.relink()?;
        if rebuild || relinked > 0 {
            index.save()?;
        }
        Ok(index)
    }

    /// Re-inserts, one at a time, the rows no search can reach, and keeps any still stranded
    /// for exact re-ranking. Returns how many were re-inserted.
    ///
    /// usearch's concurrent `add` can strand a row: stored, but linked from nowhere a search
    /// goes (unum-cloud/USearch#735, not fixed in the latest release, 2.26.6). Here one or
    /// two rows of 2 000 clustered vectors in about a third of the two-thread builds, found by
    /// no search however wide: a near-duplicate of such a row was never reported; at 100 k rows
    /// four. Removing a row and adding it back alone links it anew (usearch reuses its slot).
    fn relink(&mut self) -> Result<usize, IndexError> {
        let stranded = self.stranded_rows();
        if stranded.is_empty() {
            self.stranded = Vec::new();
            return Ok(0);
        }
        for &row in &stranded {
            let key = row as u64;
            self.graph
                .remove(key)
                .map_err(|e| ann_error(&self.path, e))?;
            self.graph
                .add(key, &self.exact.vector(row))
                .map_err(|e| ann_error(&self.path, e))?;
        }
        self.stranded = self.stranded_rows();
        tracing::info!(
            relinked = stranded.len(),
            still_stranded = self.stranded.len(),
            "HNSW graph: re-linked rows its concurrent build left unreachable"
        );
        Ok(stranded.len())
    }

    /// The rows no search can reach. The walk starts from the top-level nodes that find
    /// themselves: the entry node always does, while a top-level node the concurrent build cut
    /// off (seen under load) would make its whole cut-off part look reachable.
    fn stranded_rows(&self) -> Vec<usize> {
        stranded_rows(&self.graph, self.exact.len(), |row| {
            let found = self.graph.search(&self.exact.vector(row), 1);
            found.is_ok_and(|f| f.keys == [row as u64])
        })
    }

    fn reserve(&self, capacity: usize) -> Result<(), IndexError> {
        self.graph
            .reserve_capacity_and_threads(capacity, self.threads)
            .map_err(|e| ann_error(&self.path, e))
    }

    /// Splits `n` items into one contiguous range per reserved thread context.
    fn per_thread(&self, n: usize) -> usize {
        n.div_ceil(self.threads).max(1)
    }

    /// Adds stored rows `from..` to the graph (key = row number) on all cores: usearch takes
    /// concurrent inserts, one per reserved thread context.
    fn add_rows(&mut self, from: usize) -> Result<(), IndexError> {
        let total = self.exact.len();
        self.reserve(total)?;
        let rows: Vec<usize> = (from..total).collect();
        rows.par_chunks(self.per_thread(rows.len()))
            .try_for_each(|chunk| {
                chunk.iter().try_for_each(|&i| {
                    self.graph
                        .add(i as u64, &self.exact.vector(i))
                        .map_err(|e| ann_error(&self.path, e))
                })
            })
    }

    /// The graph's candidates for one query, re-ranked exactly.
    fn nearest_one(&self, q: &[f32]) -> Result<Option<Neighbour>, IndexError> {
        if self.exact.is_empty() {
            return Ok(None);
        }
        let q = unit(q);
        let found = self
            .graph
            .search(&q, self.params.rerank)
            .map_err(|e| ann_error(&self.path, e))?;
        // Exact re-rank of the candidates from the stored vectors.
        let candidates = found.keys.iter().map(|&k| k as usize);
        let best = candidates
            .chain(self.stranded.iter().copied())
            .map(|i| (dot(&q, &self.exact.vector(i)), i))
            .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
        // `dot` sums in another order than the index: the cosine reported is the index's.
        Ok(best.map(|(_, i)| Neighbour {
            id: self.exact.ids()[i].clone(),
            cosine: best_of::cosine(&q, &self.exact.vector(i)),
        }))
    }

    fn save(&self) -> Result<(), IndexError> {
        let tmp = crate::fsutil::temp_path(&self.path);
        self.graph
            .save(tmp.to_str().unwrap_or_default())
            .map_err(|e| ann_error(&self.path, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| IndexError::Io {
            path: self.path.clone(),
            source: e,
        })
    }
}

impl VectorIndex for AnnIndex {
    fn len(&self) -> usize {
        self.exact.len()
    }

    fn nearest(&self, queries: &[&[f32]]) -> Result<Vec<Option<Neighbour>>, IndexError> {
        if let Some(q) = queries.iter().find(|q| q.len() != EMBEDDING_DIM) {
            return Err(IndexError::Dimension {
                expected: EMBEDDING_DIM,
                found: q.len(),
            });
        }
        let found: Vec<Vec<Option<Neighbour>>> = queries
            .par_chunks(self.per_thread(queries.len()))
            .map(|chunk| chunk.iter().map(|q| self.nearest_one(q)).collect())
            .collect::<Result<_, _>>()?;
        Ok(found.concat())
    }

    fn insert(&mut self, items: &[(String, Vec<f32>)]) -> Result<usize, IndexError> {
        let before = self.exact.len();
        let added = self.exact.insert(items)?;
        if added > 0 {
            self.add_rows(before)?;
            self.relink()?;
            self.save()?;
        }
        Ok(added)
    }
}

/// The rows of `graph` (keys `0..rows`) that no search can reach: 90–120 ms for 100 k rows on
/// two cores (the graph's build took 133 s).
fn stranded_rows(
    graph: &usearch::Index,
    rows: usize,
    finds_itself: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let levels: Vec<usize> = (0..rows)
        .into_par_iter()
        .map(|k| graph.level_of_key(k as u64))
        .collect();
    let top = levels.iter().copied().max().unwrap_or(0);
    let starts: Vec<usize> = (0..rows)
        .filter(|&i| levels[i] == top && finds_itself(i))
        .collect();
    unreachable(&levels, &starts, |row, level, out| {
        let mut links = graph.neighbors(row as u64, level);
        let from = out.len();
        out.resize(from + links.total(), 0);
        let copied = links.drain_into(&mut out[from..]);
        out.truncate(from + copied);
    })
}

/// The nodes of a layered graph (node `i` on levels `0..=levels[i]`; `links(node, level, out)`
/// appends its out-links there) that no walk from `starts` reaches over the links of every
/// level. Links to nodes outside the graph are ignored. The walk goes breadth first, each
/// frontier on all cores.
fn unreachable(
    levels: &[usize],
    starts: &[usize],
    links: impl Fn(usize, usize, &mut Vec<u64>) + Sync,
) -> Vec<usize> {
    let seen: Vec<AtomicBool> = levels.iter().map(|_| AtomicBool::new(false)).collect();
    for &i in starts {
        seen[i].store(true, Ordering::Relaxed);
    }
    let first_time = |node: u64| {
        usize::try_from(node)
            .ok()
            .and_then(|i| seen.get(i))
            .is_some_and(|s| !s.swap(true, Ordering::Relaxed))
    };
    let mut frontier: Vec<u64> = starts.iter().map(|&i| i as u64).collect();
    while !frontier.is_empty() {
        frontier = frontier
            .par_iter()
            .fold(Vec::new, |mut found, &node| {
                for level in 0..=levels[node as usize] {
                    let from = found.len();
                    links(node as usize, level, &mut found);
                    let mut kept = from;
                    for read in from..found.len() {
                        if first_time(found[read]) {
                            found[kept] = found[read];
                            kept += 1;
                        }
                    }
                    found.truncate(kept);
                }
                found
            })
            .reduce(Vec::new, |mut a, b| {
                a.extend(b);
                a
            });
    }
    (0..levels.len())
        .filter(|&i| !seen[i].load(Ordering::Relaxed))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::unreachable;

    /// A graph from per-level adjacency lists: `edges[level]` holds `(from, to)` pairs.
    fn walk(levels: &[usize], edges: &[&[(usize, usize)]]) -> Vec<usize> {
        let top = levels.iter().copied().max().unwrap_or(0);
        let starts: Vec<usize> = (0..levels.len()).filter(|&i| levels[i] == top).collect();
        unreachable(levels, &starts, |node, level, out| {
            out.extend(
                edges[level]
                    .iter()
                    .filter(|e| e.0 == node)
                    .map(|e| e.1 as u64),
            );
        })
    }

    #[test]
    fn rows_linked_from_nowhere_or_only_from_stranded_rows_are_unreachable() {
        // 0 is the top node; 3 has no in-link; 4 is linked only from 3; 1 only on level 1.
        let levels = [1, 1, 0, 0, 0, 0];
        let base: &[(usize, usize)] = &[(0, 2), (2, 0), (3, 4), (4, 2), (2, 5)];
        let upper: &[(usize, usize)] = &[(0, 1), (1, 0)];
        assert_eq!(walk(&levels, &[base, upper]), vec![3, 4]);
    }

    #[test]
    fn every_top_node_starts_a_walk_and_foreign_links_are_ignored() {
        let levels = [0, 0, 0];
        let base: &[(usize, usize)] = &[(0, 9), (1, 2)];
        assert_eq!(walk(&levels, &[base]), Vec::<usize>::new());
        let levels = [1, 0, 0];
        let upper: &[(usize, usize)] = &[];
        assert_eq!(walk(&levels, &[base, upper]), vec![1, 2]);
        assert_eq!(walk(&[], &[]), Vec::<usize>::new());
    }
}
