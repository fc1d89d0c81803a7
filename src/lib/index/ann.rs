//! The approximate backend (feature `ann`): a usearch HNSW graph over the exact store. The
//! exact store stays the source of truth — it holds the vectors and ids, commits inserts
//! crash-safely, and re-ranks the graph's top candidates exactly, so a threshold decision never
//! rests on an approximate distance. The graph file (`hnsw.usearch`) is saved atomically after
//! each insert; if it disagrees with the store (a crash between the two), it is rebuilt.

use std::path::{Path, PathBuf};

use super::exact::{dot, unit};
use super::{ExactIndex, IndexError, Neighbour, VectorIndex};
use crate::table::EMBEDDING_DIM;

/// HNSW parameters.
#[derive(Debug, Clone, Copy)]
pub struct AnnParams {
    pub connectivity: usize,
    pub expansion_add: usize,
    pub expansion_search: usize,
    /// Graph candidates re-ranked exactly per query.
    pub rerank: usize,
}

impl Default for AnnParams {
    fn default() -> Self {
        AnnParams {
            connectivity: 16,
            expansion_add: 128,
            expansion_search: 128,
            rerank: 16,
        }
    }
}

pub struct AnnIndex {
    exact: ExactIndex,
    graph: usearch::Index,
    path: PathBuf,
    params: AnnParams,
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
    usearch::Index::new(&options).map_err(|e| ann_error(path, e))
}

impl AnnIndex {
    pub fn open(dir: &Path, params: AnnParams) -> Result<Self, IndexError> {
        let exact = ExactIndex::open(dir)?;
        let path = dir.join("hnsw.usearch");
        let graph = new_graph(&params, &path)?;
        if path.exists() {
            graph
                .load(path.to_str().unwrap_or_default())
                .map_err(|e| ann_error(&path, e))?;
            graph.change_expansion_search(params.expansion_search);
        }
        let mut index = AnnIndex {
            exact,
            graph,
            path,
            params,
        };
        if index.graph.size() != index.exact.len() {
            index.graph = new_graph(&params, &index.path)?;
            index.add_rows(0)?;
            index.save()?;
        }
        Ok(index)
    }

    /// Adds stored rows `from..` to the graph (key = row number).
    fn add_rows(&mut self, from: usize) -> Result<(), IndexError> {
        let total = self.exact.len();
        self.graph
            .reserve(total)
            .map_err(|e| ann_error(&self.path, e))?;
        for i in from..total {
            self.graph
                .add(i as u64, &self.exact.vector(i))
                .map_err(|e| ann_error(&self.path, e))?;
        }
        Ok(())
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
        queries
            .iter()
            .map(|q| {
                if self.exact.is_empty() {
                    return Ok(None);
                }
                let q = unit(q);
                let found = self
                    .graph
                    .search(&q, self.params.rerank)
                    .map_err(|e| ann_error(&self.path, e))?;
                // Exact re-rank of the candidates from the stored vectors.
                let best = found
                    .keys
                    .iter()
                    .map(|&k| {
                        // The exact scan's own dot product: re-ranked cosines equal exact ones.
                        (dot(&q, &self.exact.vector(k as usize)), k as usize)
                    })
                    .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
                Ok(best.map(|(cosine, i)| Neighbour {
                    id: self.exact.ids()[i].clone(),
                    cosine,
                }))
            })
            .collect()
    }

    fn insert(&mut self, items: &[(String, Vec<f32>)]) -> Result<usize, IndexError> {
        let before = self.exact.len();
        let added = self.exact.insert(items)?;
        if added > 0 {
            self.add_rows(before)?;
            self.save()?;
        }
        Ok(added)
    }
}
