//! Vector indexes of every video already accepted, for global novelty. One small trait; the
//! exact backend (f16 vectors in a memory-mapped file, scanned on all cores) is always right
//! and is the default; approximate or distributed backends plug in behind the same trait.

#[cfg(feature = "ann")]
mod ann;
mod best_of;
mod exact;
#[cfg(feature = "ann")]
mod half_dot;
mod ivf;
#[cfg(feature = "milvus")]
mod milvus;

#[cfg(feature = "ann")]
pub use ann::AnnIndex;
pub use exact::ExactIndex;
pub use ivf::IvfIndex;
#[cfg(feature = "milvus")]
pub use milvus::{MilvusIndex, MilvusLocation};

/// HNSW parameters of the ANN backend. Connectivity and the build-time expansion shape the
/// graph when it is built; the search-time expansion and the re-ranked candidates can change on
/// every open (more of either: higher recall, fewer queries per second).
#[derive(Debug, Clone, Copy)]
pub struct AnnParams {
    pub connectivity: usize,
    pub expansion_add: usize,
    pub expansion_search: usize,
    /// Graph candidates re-ranked exactly per query.
    pub rerank: usize,
    /// The IVF backend's lists probed per query (of about 2·√N lists).
    pub probes: usize,
}

impl Default for AnnParams {
    fn default() -> Self {
        AnnParams {
            // usearch links a new node to `connectivity` neighbours on the base level too
            // (FAISS to 2·M): at 1 M clustered vectors M 16 needed ef 192 for recall@1 0.99,
            // M 32 has 0.998 / 0.993 at ef 64 and 0.999 / 0.999 at ef 96, answering 1.8× the
            // queries of M 16's former default ef 256 (0.994 / 0.995), for 1.85× the build
            // time (BENCHMARKS.md). A dedup default must not miss one duplicate in 50; ef 96
            // keeps a margin for larger indexes.
            connectivity: 32,
            expansion_add: 128,
            expansion_search: 96,
            rerank: 16,
            probes: 8,
        }
    }
}

/// The nearest stored vector to a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    pub id: String,
    pub cosine: f32,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Corrupt {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("vector of {found} values, the index holds {expected}")]
    Dimension { expected: usize, found: usize },
    #[error("{location}: {message}")]
    Remote { location: String, message: String },
    #[error("{0}")]
    Location(String),
}

/// A store of id-tagged embeddings answering nearest-neighbour queries by cosine.
pub trait VectorIndex {
    /// Number of stored vectors.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The nearest stored vector to each query (`None` for an empty index).
    fn nearest(&self, queries: &[&[f32]]) -> Result<Vec<Option<Neighbour>>, IndexError>;
    /// Adds vectors; ids already stored are skipped, so a rerun after a crash converges.
    /// Returns how many were added.
    fn insert(&mut self, items: &[(String, Vec<f32>)]) -> Result<usize, IndexError>;
}

/// Which index implementation a stage opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// Exact search over all stored vectors (always right; the default up to a few million).
    Exact,
    /// usearch HNSW with exact re-ranking (needs the `ann` cargo feature).
    Ann,
    /// Inverted lists around k-means centroids, each probed list scanned exactly.
    Ivf,
}

/// Opens (or creates) the index in `dir` with `backend` (`ann` is tuned by `params`).
pub fn open(
    dir: &std::path::Path,
    backend: Backend,
    params: AnnParams,
) -> Result<Box<dyn VectorIndex>, IndexError> {
    match backend {
        Backend::Exact => Ok(Box::new(ExactIndex::open(dir)?)),
        Backend::Ivf => Ok(Box::new(IvfIndex::open(dir, params)?)),
        #[cfg(feature = "ann")]
        Backend::Ann => Ok(Box::new(AnnIndex::open(dir, params)?)),
        #[cfg(not(feature = "ann"))]
        Backend::Ann => Err(IndexError::Corrupt {
            path: dir.to_path_buf(),
            message: "this omega was built without the `ann` backend: cargo build --release --features ann".into(),
        }),
    }
}

/// Opens the index at `location`: a folder (with `backend`), or a Milvus collection
/// `milvus://HOST:PORT/COLLECTION[?index=…]` holding `dim`-d vectors (the `milvus` feature).
pub fn open_location(
    location: &str,
    backend: Backend,
    params: AnnParams,
    dim: usize,
) -> Result<Box<dyn VectorIndex>, IndexError> {
    if !location.starts_with("milvus://") {
        return open(std::path::Path::new(location), backend, params);
    }
    #[cfg(feature = "milvus")]
    {
        let parsed: MilvusLocation = location.parse().map_err(IndexError::Location)?;
        Ok(Box::new(MilvusIndex::open(&parsed, dim)?))
    }
    #[cfg(not(feature = "milvus"))]
    {
        let _ = dim;
        Err(IndexError::Location(format!(
            "{location}: this omega was built without the Milvus backend: cargo build --release --features milvus"
        )))
    }
}

/// A read-only index with a scratch index on top: queries see both, inserts go to the scratch
/// only. A validator round judges its answers against the dataset as it was when the round
/// began plus what the round itself accepted so far (two miners sending one video in one round:
/// the later answer's copy is not novel), and the dataset index is only written when the round
/// is committed — so a round interrupted and judged again never finds its own videos.
pub struct Overlay<'a> {
    pub base: &'a dyn VectorIndex,
    pub top: Box<dyn VectorIndex>,
}

impl VectorIndex for Overlay<'_> {
    fn len(&self) -> usize {
        self.base.len() + self.top.len()
    }

    fn nearest(&self, queries: &[&[f32]]) -> Result<Vec<Option<Neighbour>>, IndexError> {
        let below = self.base.nearest(queries)?;
        let above = self.top.nearest(queries)?;
        Ok(below
            .into_iter()
            .zip(above)
            .map(|(b, a)| match (b, a) {
                (Some(b), Some(a)) => Some(if a.cosine > b.cosine { a } else { b }),
                (b, a) => b.or(a),
            })
            .collect())
    }

    fn insert(&mut self, items: &[(String, Vec<f32>)]) -> Result<usize, IndexError> {
        self.top.insert(items)
    }
}
