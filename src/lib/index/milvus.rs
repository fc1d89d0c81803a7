//! The novelty index in Milvus (`milvus://HOST:PORT/COLLECTION`), for a dataset past what one
//! machine holds (30 M × 1024 f32 is 114 GiB): many validators and curator workers share one
//! collection.
//!
//! * Decisions never rest on an approximate distance: each query asks Milvus for its `rerank`
//!   best candidates *with their stored vectors* and the cosine is computed here, exactly, as
//!   the embedded index computes it; an approximate index (IVF, HNSW, DiskANN) can only make a
//!   true nearest neighbour missing from the candidates, which `rerank` makes rare.
//! * Inserts are idempotent: ids already in the collection are skipped (one `get` per batch),
//!   the others are *upserted*, so a rerun after a kill, or two workers racing on one id, still
//!   leave one row per id (a plain Milvus insert would store duplicates).
//! * Vectors are stored unit-length with the inner-product metric: the inner product is the
//!   cosine.
//!
//! The location's query string sets the collection's index when it is created and the search
//! parameters: `?index=IVF_SQ8&nlist=4096&nprobe=64`, `?index=HNSW&M=16&efConstruction=200&ef=128`,
//! `?index=DISKANN&search_list=100`, `rerank=N` (default 16). Default: `FLAT` (exact). The
//! server's token comes from `$MILVUS_TOKEN` (`user:password` or an API key).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

use milvus::v2::prelude::*;
// The prelude has its own one-parameter `Result`.
use std::result::Result;

use super::{IndexError, Neighbour, VectorIndex};
use crate::vector::unit;

const ID_FIELD: &str = "id";
const VECTOR_FIELD: &str = "vector";
/// The longest id the collection stores (video ids are 11–36 characters).
const MAX_ID_LEN: u32 = 512;
/// Rows per insert or lookup request (8 MB of 1024-d vectors: far below gRPC's 64 MB).
const CHUNK: usize = 2048;
const DEFAULT_RERANK: usize = 16;

/// Where the collection is and how it is indexed and searched.
#[derive(Debug, Clone, PartialEq)]
pub struct MilvusLocation {
    /// `http://HOST:PORT`.
    pub uri: String,
    pub collection: String,
    pub index: String,
    /// Index build parameters (nlist, M, efConstruction, …).
    pub build: HashMap<String, String>,
    /// Search parameters (nprobe, ef, search_list, …).
    pub search: HashMap<String, String>,
    pub rerank: usize,
}

/// Search-time keys of the location's query string; the others configure the index.
const SEARCH_KEYS: &[&str] = &["nprobe", "ef", "search_list", "search_width", "itopk_size"];

impl std::str::FromStr for MilvusLocation {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let usage = "expected milvus://HOST:PORT/COLLECTION[?index=IVF_SQ8&nlist=4096&nprobe=64]";
        let rest = text
            .strip_prefix("milvus://")
            .ok_or_else(|| format!("`{text}`: {usage}"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (host, collection) = path
            .split_once('/')
            .ok_or_else(|| format!("`{text}`: no collection; {usage}"))?;
        let valid_name = collection
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && collection
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            && collection.len() <= 255;
        if host.is_empty() || !valid_name {
            return Err(format!(
                "`{text}`: the collection name takes letters, digits and _ (not first a digit); {usage}"
            ));
        }
        let mut location = MilvusLocation {
            uri: format!("http://{host}"),
            collection: collection.to_string(),
            index: "FLAT".into(),
            build: HashMap::new(),
            search: HashMap::new(),
            rerank: DEFAULT_RERANK,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{text}`: `{pair}` is not KEY=VALUE"))?;
            match key {
                "index" => location.index = value.to_ascii_uppercase(),
                "rerank" => {
                    location.rerank = value
                        .parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| format!("`{text}`: rerank must be a count from 1"))?
                }
                k if SEARCH_KEYS.contains(&k) => {
                    location.search.insert(k.into(), value.into());
                }
                k => {
                    location.build.insert(k.into(), value.into());
                }
            }
        }
        index_type(&location.index).map_err(|e| format!("`{text}`: {e}"))?;
        Ok(location)
    }
}

fn index_type(name: &str) -> Result<IndexType, String> {
    Ok(match name {
        "FLAT" => IndexType::Flat,
        "IVF_FLAT" => IndexType::IvfFlat,
        "IVF_SQ8" => IndexType::IvfSq8,
        "IVF_PQ" => IndexType::IvfPq,
        "HNSW" => IndexType::Hnsw,
        "HNSW_SQ" => IndexType::HnswSq,
        "DISKANN" => IndexType::DiskAnn,
        "AUTOINDEX" => IndexType::AutoIndex,
        other => {
            return Err(format!(
                "index `{other}`: expected FLAT, IVF_FLAT, IVF_SQ8, IVF_PQ, HNSW, HNSW_SQ, \
                 DISKANN or AUTOINDEX"
            ))
        }
    })
}

/// A Milvus collection as a [`VectorIndex`].
pub struct MilvusIndex {
    location: MilvusLocation,
    client: ClientV2,
    runtime: tokio::runtime::Runtime,
    dim: usize,
    /// The last row count read (kept when the server cannot be asked).
    len: std::cell::Cell<usize>,
}

impl MilvusIndex {
    /// Connects to the collection, creating it (and its index) for `dim`-d vectors when missing.
    pub fn open(location: &MilvusLocation, dim: usize) -> Result<Self, IndexError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| remote(location, format!("starting the client runtime: {e}")))?;
        // A few retries within 30 s: the SDK's default (75 attempts) hides a dead server for
        // minutes.
        let retry = RetryConfig::new()
            .max_attempts(3)
            .max_retry_timeout(Duration::from_secs(30));
        let mut config = ConnectConfig::new()
            .uri(location.uri.clone())
            .connect_timeout(Duration::from_secs(10))
            .retry(retry);
        if let Ok(token) = std::env::var("MILVUS_TOKEN") {
            config = config.token(token);
        }
        let client = blocking(&runtime, ClientV2::new(&config))
            .map_err(|e| remote(location, format!("connecting: {e}")))?;
        let index = MilvusIndex {
            location: location.clone(),
            client,
            runtime,
            dim,
            len: std::cell::Cell::new(0),
        };
        index.prepare()?;
        index.len.set(index.count()?);
        Ok(index)
    }

    fn block<F: Future + Send>(&self, future: F) -> F::Output
    where
        F::Output: Send,
    {
        blocking(&self.runtime, future)
    }

    fn fail(&self, what: &str, e: impl std::fmt::Display) -> IndexError {
        remote(&self.location, format!("{what}: {e}"))
    }

    /// Sends a built request with `send` and waits for the answer; an error building or
    /// sending it names `what`.
    fn rpc<R, T, F>(
        &self,
        what: &str,
        request: milvus::v2::error::Result<R>,
        send: impl FnOnce(R) -> F,
    ) -> Result<T, IndexError>
    where
        F: Future<Output = milvus::v2::error::Result<T>> + Send,
        T: Send,
    {
        let request = request.map_err(|e| self.fail(what, e))?;
        self.block(send(request)).map_err(|e| self.fail(what, e))
    }

    /// Creates the collection and its index if missing, checks its dimension, loads it.
    fn prepare(&self) -> Result<(), IndexError> {
        let name = self.location.collection.as_str();
        let has = HasCollectionRequest::builder()
            .collection_name(name)
            .build();
        let exists = self
            .rpc("has_collection", has, |r| self.client.has_collection(r))?
            .exists();
        if exists {
            self.check_dimension()?;
        } else {
            self.create()?;
        }
        let load = LoadCollectionRequest::builder()
            .collection_name(name)
            .build();
        self.rpc("load_collection", load, |r| self.client.load_collection(r))
    }

    fn create(&self) -> Result<(), IndexError> {
        let name = self.location.collection.as_str();
        let schema = CollectionSchema::new()
            .enable_dynamic_field(false)
            .add_field(
                FieldSchema::new()
                    .name(ID_FIELD)
                    .data_type(DataType::VarChar)
                    .primary_key(true)
                    .max_length(MAX_ID_LEN),
            )
            .add_field(
                FieldSchema::new()
                    .name(VECTOR_FIELD)
                    .data_type(DataType::FloatVector)
                    .dimension(self.dim as u32),
            );
        let create = CreateCollectionRequest::builder()
            .collection_name(name)
            .schema(schema)
            .consistency_level(ConsistencyLevel::Strong)
            .build();
        self.rpc("create_collection", create, |r| {
            self.client.create_collection(r)
        })?;
        let kind = index_type(&self.location.index).map_err(|e| self.fail("index", e))?;
        // Milvus Lite wants the index named like its field; Milvus takes any name.
        let param = IndexParam::new()
            .field_name(VECTOR_FIELD)
            .index_name(VECTOR_FIELD)
            .index_type(kind)
            .metric_type(MetricType::Ip)
            .extra_params(self.location.build.clone());
        // Not waited for (the wait needs AllocTimestamp, which Milvus Lite lacks): until the
        // index is built, Milvus searches the rows as they are, exactly.
        let index = CreateIndexRequest::builder()
            .collection_name(name)
            .index_param(param)
            .sync(false)
            .build();
        self.rpc("create_index", index, |r| self.client.create_index(r))
    }

    fn check_dimension(&self) -> Result<(), IndexError> {
        let describe = DescribeCollectionRequest::builder()
            .collection_name(self.location.collection.as_str())
            .build();
        let described = self.rpc("describe_collection", describe, |r| {
            self.client.describe_collection(r)
        })?;
        let fields = described.description().get_schema().get_fields();
        let vector = fields
            .iter()
            .find(|f| f.get_name() == VECTOR_FIELD && f.get_data_type() == DataType::FloatVector)
            .ok_or_else(|| {
                self.fail(
                    "the collection",
                    format!("has no float vector field `{VECTOR_FIELD}`: not an omega index"),
                )
            })?;
        let found = vector.get_dimension() as usize;
        if found != self.dim {
            return Err(IndexError::Dimension {
                expected: found,
                found: self.dim,
            });
        }
        Ok(())
    }

    /// Rows in the collection, counted by the server (strong consistency: every acknowledged
    /// insert is counted).
    fn count(&self) -> Result<usize, IndexError> {
        let query = QueryRequest::builder()
            .collection_name(self.location.collection.as_str())
            .filter("")
            .output_fields(["count(*)"])
            .consistency_level(ConsistencyLevel::Strong)
            .build();
        let response = self.rpc("count", query, |r| self.client.query(r))?;
        let rows = response
            .results()
            .rows()
            .map_err(|e| self.fail("count", e))?;
        let mut count = 0;
        for row in rows {
            count = row.get_i64("count(*)").map_err(|e| self.fail("count", e))?;
        }
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// Which of `ids` the collection holds. A filter query, not `get`: Milvus Lite does not
    /// take `get`'s filter template.
    fn existing(&self, ids: &[String]) -> Result<HashSet<String>, IndexError> {
        let quoted: Vec<String> = ids
            .iter()
            .map(|id| format!("\"{}\"", id.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        let query = QueryRequest::builder()
            .collection_name(self.location.collection.as_str())
            .filter(format!("{ID_FIELD} in [{}]", quoted.join(",")))
            .output_fields([ID_FIELD])
            .consistency_level(ConsistencyLevel::Strong)
            .build();
        let response = self.rpc("query", query, |r| self.client.query(r))?;
        let mut found = HashSet::new();
        for row in response
            .results()
            .rows()
            .map_err(|e| self.fail("query", e))?
        {
            found.insert(
                row.get_str(ID_FIELD)
                    .map_err(|e| self.fail("query", e))?
                    .to_string(),
            );
        }
        Ok(found)
    }

    fn check_dim(&self, v: &[f32]) -> Result<(), IndexError> {
        if v.len() == self.dim {
            Ok(())
        } else {
            Err(IndexError::Dimension {
                expected: self.dim,
                found: v.len(),
            })
        }
    }
}

/// Runs `future` to its end on `runtime`, from any thread: on a thread that is already inside
/// a tokio runtime (a validator round) it runs on a scoped helper thread, since a runtime
/// cannot be blocked on from within another.
fn blocking<F: Future + Send>(runtime: &tokio::runtime::Runtime, future: F) -> F::Output
where
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return runtime.block_on(future);
    }
    std::thread::scope(|s| {
        s.spawn(|| runtime.block_on(future))
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn remote(location: &MilvusLocation, message: String) -> IndexError {
    IndexError::Remote {
        location: format!("milvus {}/{}", location.uri, location.collection),
        message,
    }
}

impl VectorIndex for MilvusIndex {
    fn len(&self) -> usize {
        match self.count() {
            Ok(n) => self.len.set(n),
            Err(e) => tracing::warn!("{e}; using the last count"),
        }
        self.len.get()
    }

    fn nearest(&self, queries: &[&[f32]]) -> Result<Vec<Option<Neighbour>>, IndexError> {
        if queries.is_empty() {
            return Ok(Vec::new());
        }
        queries.iter().try_for_each(|q| self.check_dim(q))?;
        let units: Vec<Vec<f32>> = queries.iter().map(|q| unit(q)).collect();
        let mut nearest = Vec::with_capacity(queries.len());
        // Each answer carries `rerank` stored vectors per query: keep it under the client's
        // 4 MiB message limit.
        let per_request = (3 << 20) / (self.location.rerank * self.dim * 4).max(1);
        for chunk in units.chunks(per_request.clamp(1, CHUNK)) {
            let search = SearchRequest::builder()
                .collection_name(self.location.collection.as_str())
                .vector_field(VECTOR_FIELD)
                .vectors(SearchVectors::Float(chunk.to_vec()))
                .output_fields([VECTOR_FIELD])
                .limit(self.location.rerank as i64)
                .metric_type(MetricType::Ip)
                .extra_params(self.location.search.clone())
                .consistency_level(ConsistencyLevel::Strong)
                .build();
            let response = self.rpc("search", search, |r| self.client.search(r))?;
            let results = response.results();
            for (query, result) in chunk.iter().zip(results.iter()) {
                let mut best: Option<Neighbour> = None;
                for row in result.rows().map_err(|e| self.fail("search", e))? {
                    let id = row.get_str(ID_FIELD).map_err(|e| self.fail("search", e))?;
                    let stored = row
                        .get_float_vector(VECTOR_FIELD)
                        .map_err(|e| self.fail("search", e))?;
                    // The exact cosine, on the stored vector: the server's distance only chose
                    // the candidates.
                    let cosine = crate::vector::dot(query, stored);
                    if best.as_ref().is_none_or(|b| cosine > b.cosine) {
                        best = Some(Neighbour {
                            id: id.to_string(),
                            cosine,
                        });
                    }
                }
                nearest.push(best);
            }
        }
        if nearest.len() != queries.len() {
            return Err(self.fail(
                "search",
                format!("{} results for {} queries", nearest.len(), queries.len()),
            ));
        }
        Ok(nearest)
    }

    fn insert(&mut self, items: &[(String, Vec<f32>)]) -> Result<usize, IndexError> {
        items.iter().try_for_each(|(_, v)| self.check_dim(v))?;
        let mut added = 0;
        for chunk in items.chunks(CHUNK) {
            let ids: Vec<String> = chunk.iter().map(|(id, _)| id.clone()).collect();
            let mut skip = self.existing(&ids)?;
            let rows: Vec<serde_json::Value> = chunk
                .iter()
                .filter(|(id, _)| skip.insert(id.clone()))
                .map(|(id, v)| serde_json::json!({ ID_FIELD: id, VECTOR_FIELD: unit(v) }))
                .collect();
            if rows.is_empty() {
                continue;
            }
            let count = rows.len();
            let rows = InsertRequest::builder()
                .collection_name(self.location.collection.as_str())
                .rows(rows)
                .build()
                .map_err(|e| self.fail("upsert", e))?;
            let upsert = UpsertRequest::builder().insert(rows).build();
            self.rpc("upsert", upsert, |r| self.client.upsert(r))?;
            added += count;
        }
        self.len.set(self.len.get() + added);
        Ok(added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_locations_with_index_and_search_settings() {
        let l: MilvusLocation =
            "milvus://127.0.0.1:19530/omega_videos?index=ivf_sq8&nlist=4096&nprobe=64&rerank=32"
                .parse()
                .unwrap();
        assert_eq!(l.uri, "http://127.0.0.1:19530");
        assert_eq!(l.collection, "omega_videos");
        assert_eq!(l.index, "IVF_SQ8");
        assert_eq!(l.build.get("nlist").map(String::as_str), Some("4096"));
        assert_eq!(l.search.get("nprobe").map(String::as_str), Some("64"));
        assert_eq!(l.rerank, 32);
        let plain: MilvusLocation = "milvus://h:1/c".parse().unwrap();
        assert_eq!(
            (plain.index.as_str(), plain.rerank),
            ("FLAT", DEFAULT_RERANK)
        );
        for bad in [
            "http://h:1/c",
            "milvus://h:1",
            "milvus://h:1/9c",
            "milvus://h:1/a-b",
            "milvus:///c",
            "milvus://h:1/c?index=LSH",
            "milvus://h:1/c?rerank=0",
            "milvus://h:1/c?nlist",
        ] {
            assert!(bad.parse::<MilvusLocation>().is_err(), "{bad} accepted");
        }
    }
}
