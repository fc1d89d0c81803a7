//! The inverted-file backend: the stored vectors partitioned into lists around spherical
//! k-means centroids. A query scores the centroids, then the members of its `probes` nearest
//! lists only, with a tiled kernel that sums as `vector::dot` does (lists are probed by a few
//! queries each, which the exact scan's 16-query registers would mostly leave empty); the row
//! it picks is reported with the index's own cosine (`best_of::cosine`) — so every cosine it
//! returns is the exact backend's cosine, bit for bit, and a miss can only ever be a neighbour
//! in a list not probed.
//! Queries are grouped by list: each list's rows are read and converted once for every query of
//! the batch that probes it, so a batch costs a few small matrix products instead of one random
//! walk through a graph per query.
//!
//! The exact store stays the source of truth (ids, vectors, crash-safe commits). Beside it,
//! derived and rebuilt when in doubt: `ivf.centroids` (written atomically when trained) and
//! `ivf.lists` (each stored row's list, appended and synced after each insert). Both carry the
//! training's generation: lists of another generation, or fewer than the store's rows (a crash
//! between the two commits), are assigned again on open. Below [`MIN_TRAIN`] rows queries scan
//! the store; the lists are trained again when the store has grown 4× since the last training.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::best_of;
use super::exact::{keep_best, score_block, LineAligned, Queries};
use super::{AnnParams, ExactIndex, IndexError, Neighbour, VectorIndex};
use crate::table::EMBEDDING_DIM;
use crate::vector::unit;

const CENTROIDS: &str = "ivf.centroids";
const LISTS: &str = "ivf.lists";
const CENTROIDS_MAGIC: &[u8; 8] = b"OMEGAIVC";
const LISTS_MAGIC: &[u8; 8] = b"OMEGAIVL";
/// Magic, dim, list count, rows trained on, generation.
const CENTROIDS_HEADER: usize = 8 + 4 + 4 + 8 + 8;
/// Magic, generation.
const LISTS_HEADER: usize = 8 + 8;

/// Fewer rows are scanned whole: partitioning them would not pay.
pub const MIN_TRAIN: usize = 16_384;
/// Lists per √rows: 1 M rows get 2 000 lists of about 500 rows.
const LISTS_PER_SQRT_ROW: f64 = 2.0;
/// Training rows per list (FAISS warns below 39).
const SAMPLE_PER_LIST: usize = 48;
/// Rounds of k-means.
const ITERATIONS: usize = 10;
/// Centroids scored per pass (1 MiB of f32: a core's L2), and stored rows per converted block.
const BLOCK: usize = 256;
/// A list's rows are converted 8 at a time (32 KiB of f32, in L1) and scored while the next 8
/// are fetched: their first 4 cache lines each, which starts the page walk and the hardware's
/// stream for the rest (prefetching whole rows, or blocks of 256 rows, was 15–40 % slower at
/// 1 M rows).
const GATHER: usize = 8;
const PREFETCH_LINES: usize = 4;
/// Queries (or rows being assigned) per parallel task.
const QUERY_CHUNK: usize = 256;

pub struct IvfIndex {
    exact: ExactIndex,
    dir: PathBuf,
    probes: usize,
    /// Rows from which the store is partitioned ([`MIN_TRAIN`]; fewer in tests).
    min_train: usize,
    lists: Option<Lists>,
}

/// One training's partition of the store.
struct Lists {
    generation: u64,
    trained_on: usize,
    /// `count × dim` unit vectors.
    centroids: Vec<f32>,
    /// Store rows per list, ascending.
    members: Vec<Vec<u32>>,
}

impl Lists {
    fn count(&self) -> usize {
        self.members.len()
    }

    /// Puts each of `rows` (ascending, after every row already listed) in its list.
    fn add(&mut self, rows: &[u32], assigned: &[u32]) {
        for (&row, &list) in rows.iter().zip(assigned) {
            self.members[list as usize].push(row);
        }
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> IndexError + '_ {
    move |e| IndexError::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

/// How many lists `rows` stored vectors get.
fn list_count(rows: usize) -> usize {
    ((rows as f64).sqrt() * LISTS_PER_SQRT_ROW)
        .round()
        .clamp(16.0, 65_536.0) as usize
}

impl IvfIndex {
    /// Opens (or creates) the index in `dir`: the exact store, and its lists (trained, or
    /// completed after a crash, when they are due).
    pub fn open(dir: &Path, params: AnnParams) -> Result<Self, IndexError> {
        Self::open_with(dir, params, MIN_TRAIN)
    }

    fn open_with(dir: &Path, params: AnnParams, min_train: usize) -> Result<Self, IndexError> {
        let exact = ExactIndex::open(dir)?;
        let mut index = IvfIndex {
            exact,
            dir: dir.to_path_buf(),
            probes: params.probes.max(1),
            min_train,
            lists: None,
        };
        index.lists = index.load_lists()?;
        index.catch_up()?;
        Ok(index)
    }

    /// Lists probed per query.
    pub fn set_probes(&mut self, probes: usize) {
        self.probes = probes.max(1);
    }

    /// The lists as saved (`catch_up` assigns the rows saved after them); `None` when there are
    /// none yet or they cannot be read (they are trained again: they hold nothing the store
    /// does not).
    fn load_lists(&self) -> Result<Option<Lists>, IndexError> {
        let path = self.dir.join(CENTROIDS);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        let Some((generation, trained_on, centroids)) = parse_centroids(&bytes) else {
            tracing::warn!(path = %path.display(), "unreadable IVF centroids: training again");
            return Ok(None);
        };
        let count = centroids.len() / EMBEDDING_DIM;
        let mut lists = Lists {
            generation,
            trained_on,
            centroids,
            members: vec![Vec::new(); count],
        };
        let saved = self.saved_assignments(generation, count)?;
        if saved.is_empty() {
            // Missing, of another training or damaged: started again for this one.
            self.write_lists(&lists, &[])?;
        }
        lists.add(&(0..saved.len() as u32).collect::<Vec<_>>(), &saved);
        Ok(Some(lists))
    }

    /// The list of each stored row as saved for training `generation` (of `count` lists), up to
    /// the store's row count; empty when the file is missing, of another training or damaged.
    fn saved_assignments(&self, generation: u64, count: usize) -> Result<Vec<u32>, IndexError> {
        let path = self.dir.join(LISTS);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&path)(e)),
        };
        if bytes.len() < LISTS_HEADER
            || &bytes[..8] != LISTS_MAGIC
            || u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")) != generation
        {
            return Ok(Vec::new());
        }
        let lists: Vec<u32> = bytes[LISTS_HEADER..]
            .chunks_exact(4)
            .take(self.exact.len())
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        if lists.iter().any(|&l| l as usize >= count) {
            tracing::warn!(path = %path.display(), "IVF lists out of range: assigning again");
            return Ok(Vec::new());
        }
        Ok(lists)
    }

    /// Trains the lists when due (none yet and enough rows, or 4× the rows they were trained
    /// on), else assigns the rows not in a list yet to the current lists.
    fn catch_up(&mut self) -> Result<(), IndexError> {
        let rows = self.exact.len();
        let due = match &self.lists {
            None => rows >= self.min_train,
            Some(lists) => rows >= 4 * lists.trained_on.max(1),
        };
        if due {
            let mut lists = self.train();
            let all: Vec<u32> = (0..rows as u32).collect();
            let assigned = self.assign(&lists, &all);
            self.write_centroids(&lists)?;
            self.write_lists(&lists, &assigned)?;
            lists.add(&all, &assigned);
            self.lists = Some(lists);
            return Ok(());
        }
        let Some(lists) = &self.lists else {
            return Ok(());
        };
        let listed = assigned_rows(lists);
        let new: Vec<u32> = (listed as u32..rows as u32).collect();
        if new.is_empty() {
            return Ok(());
        }
        let assigned = self.assign(lists, &new);
        self.append_lists(listed, &assigned)?;
        self.lists
            .as_mut()
            .expect("checked above")
            .add(&new, &assigned);
        Ok(())
    }

    /// Spherical k-means over a seeded sample of the store: centroids are unit vectors, rows go
    /// to the centroid of highest cosine; an emptied list takes half of the largest.
    fn train(&self) -> Lists {
        let rows = self.exact.len();
        let count = list_count(rows);
        let mut rng = fastrand::Rng::with_seed(rows as u64);
        let mut sample: Vec<u32> = (0..rows as u32).collect();
        rng.shuffle(&mut sample);
        sample.truncate((count * SAMPLE_PER_LIST).min(rows));
        sample.sort_unstable();
        let dim = EMBEDDING_DIM;
        let mut centroids = self.exact.gather_f32(&sample[..count.min(sample.len())]);
        centroids.resize(count * dim, 0.0);
        for _ in 0..ITERATIONS {
            let assigned = nearest_lists(&centroids, &self.exact, &sample, 1);
            let mut sums = vec![0f32; count * dim];
            let mut sizes = vec![0usize; count];
            for (chunk, lists) in sample.chunks(BLOCK).zip(assigned.chunks(BLOCK)) {
                let vectors = self.exact.gather_f32(chunk);
                for (v, &l) in vectors.chunks_exact(dim).zip(lists) {
                    let sum = &mut sums[l as usize * dim..(l as usize + 1) * dim];
                    sum.iter_mut().zip(v).for_each(|(s, x)| *s += x);
                    sizes[l as usize] += 1;
                }
            }
            split_largest_into_empty(&mut sums, &mut sizes, dim, &mut rng);
            for (c, s) in centroids.chunks_exact_mut(dim).zip(sums.chunks_exact(dim)) {
                c.copy_from_slice(&unit(s));
            }
        }
        Lists {
            // Another training's lists never pass for this one's.
            generation: fastrand::u64(..),
            trained_on: rows,
            centroids,
            members: vec![Vec::new(); count],
        }
    }

    /// The nearest list of each of `rows` (stored rows).
    fn assign(&self, lists: &Lists, rows: &[u32]) -> Vec<u32> {
        nearest_lists(&lists.centroids, &self.exact, rows, 1)
    }

    fn write_centroids(&self, lists: &Lists) -> Result<(), IndexError> {
        let path = self.dir.join(CENTROIDS);
        let mut bytes = Vec::with_capacity(CENTROIDS_HEADER + lists.centroids.len() * 4);
        bytes.extend_from_slice(CENTROIDS_MAGIC);
        bytes.extend_from_slice(&(EMBEDDING_DIM as u32).to_le_bytes());
        bytes.extend_from_slice(&(lists.count() as u32).to_le_bytes());
        bytes.extend_from_slice(&(lists.trained_on as u64).to_le_bytes());
        bytes.extend_from_slice(&lists.generation.to_le_bytes());
        bytes.extend(lists.centroids.iter().flat_map(|x| x.to_le_bytes()));
        crate::fsutil::write_atomic(&path, &bytes).map_err(io(&path))
    }

    fn write_lists(&self, lists: &Lists, assigned: &[u32]) -> Result<(), IndexError> {
        let path = self.dir.join(LISTS);
        let mut bytes = Vec::with_capacity(LISTS_HEADER + assigned.len() * 4);
        bytes.extend_from_slice(LISTS_MAGIC);
        bytes.extend_from_slice(&lists.generation.to_le_bytes());
        bytes.extend(assigned.iter().flat_map(|l| l.to_le_bytes()));
        crate::fsutil::write_atomic(&path, &bytes).map_err(io(&path))
    }

    /// Appends the lists of the rows after the first `listed` (whatever the file holds past
    /// those — a torn entry, rows the store dropped — is cut first).
    fn append_lists(&self, listed: usize, assigned: &[u32]) -> Result<(), IndexError> {
        let path = self.dir.join(LISTS);
        let mut file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        file.set_len((LISTS_HEADER + 4 * listed) as u64)
            .map_err(io(&path))?;
        let bytes: Vec<u8> = assigned.iter().flat_map(|l| l.to_le_bytes()).collect();
        file.write_all(&bytes)
            .and_then(|_| file.sync_all())
            .map_err(io(&path))
    }

    /// The best stored row of each query among the members of its probed lists; queries with
    /// no candidate (every probed list empty) get `(−∞, usize::MAX)`.
    fn search_lists(&self, lists: &Lists, units: &[f32]) -> Vec<(f32, usize)> {
        let dim = EMBEDDING_DIM;
        let n = units.len() / dim;
        let probes = self.probes.min(lists.count());
        let probed = nearest_lists_of(&lists.centroids, units, probes);
        let mut by_list: Vec<Vec<u32>> = vec![Vec::new(); lists.count()];
        for (q, ls) in probed.chunks_exact(probes).enumerate() {
            for &l in ls {
                by_list[l as usize].push(q as u32);
            }
        }
        let found: Vec<(u32, (f32, usize))> = by_list
            .par_iter()
            .enumerate()
            .filter(|(l, qs)| !qs.is_empty() && !lists.members[*l].is_empty())
            .flat_map_iter(|(l, qs)| self.scan_list(&lists.members[l], qs, units))
            .collect();
        let mut best = vec![(f32::NEG_INFINITY, usize::MAX); n];
        for (q, (cosine, row)) in found {
            keep_best(&mut best[q as usize], cosine, row);
        }
        best
    }

    /// Scores the rows `members` against the queries `qs` (rows of `units`): each query's best.
    fn scan_list(&self, members: &[u32], qs: &[u32], units: &[f32]) -> Vec<(u32, (f32, usize))> {
        let dim = EMBEDDING_DIM;
        let queries = Queries::new(
            qs.iter()
                .map(|&q| units[q as usize * dim..(q as usize + 1) * dim].to_vec())
                .collect(),
        );
        let mut best = vec![(f32::NEG_INFINITY, usize::MAX); qs.len()];
        let mut rows = LineAligned::default();
        let blocks: Vec<&[u32]> = members.chunks(GATHER).collect();
        for (b, block) in blocks.iter().enumerate() {
            if let Some(next) = blocks.get(b + 1) {
                self.exact.prefetch_rows(next, PREFETCH_LINES);
            }
            self.exact.gather_into(block, &mut rows);
            score_block(
                &rows[..block.len() * dim],
                dim,
                0,
                &queries,
                &mut |j, r, cosines| {
                    for (&row, &cosine) in block[r..].iter().zip(cosines) {
                        keep_best(&mut best[j], cosine, row as usize)
                    }
                },
            );
        }
        qs.iter().copied().zip(best).collect()
    }
}

/// Rows already in a list.
fn assigned_rows(lists: &Lists) -> usize {
    lists.members.iter().map(Vec::len).sum()
}

/// Generation, rows trained on and centroids of an `ivf.centroids` file of this dimension.
fn parse_centroids(bytes: &[u8]) -> Option<(u64, usize, Vec<f32>)> {
    let header = bytes.get(..CENTROIDS_HEADER)?;
    let u32_at = |i: usize| u32::from_le_bytes(header[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(header[i..i + 8].try_into().expect("8 bytes"));
    let (dim, count) = (u32_at(8) as usize, u32_at(12) as usize);
    let body = &bytes[CENTROIDS_HEADER..];
    if &header[..8] != CENTROIDS_MAGIC
        || dim != EMBEDDING_DIM
        || count == 0
        || body.len() != count * dim * 4
    {
        return None;
    }
    let centroids = body
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
        .collect();
    Some((u64_at(24), u64_at(16) as usize, centroids))
}

/// Gives each empty list half of the largest list: its sum, nudged apart in opposite
/// directions (FAISS's remedy), so the next round splits the largest list in two.
fn split_largest_into_empty(
    sums: &mut [f32],
    sizes: &mut [usize],
    dim: usize,
    rng: &mut fastrand::Rng,
) {
    for empty in 0..sizes.len() {
        if sizes[empty] > 0 {
            continue;
        }
        let largest = (0..sizes.len())
            .max_by_key(|&l| sizes[l])
            .expect("at least one list");
        let source = unit(&sums[largest * dim..(largest + 1) * dim]);
        for (k, x) in source.iter().enumerate() {
            let nudge = (rng.f32() - 0.5) * 1e-3;
            sums[empty * dim + k] = x + nudge;
            sums[largest * dim + k] = x - nudge;
        }
        sizes[largest] /= 2;
        sizes[empty] = sizes[largest];
    }
}

/// The `probes` nearest centroids of each stored row in `rows` (row after row).
fn nearest_lists(centroids: &[f32], exact: &ExactIndex, rows: &[u32], probes: usize) -> Vec<u32> {
    rows.par_chunks(QUERY_CHUNK)
        .flat_map_iter(|chunk| nearest_lists_of_chunk(centroids, exact.gather_f32(chunk), probes))
        .collect()
}

/// The `probes` nearest centroids of each unit vector in `units` (row after row).
fn nearest_lists_of(centroids: &[f32], units: &[f32], probes: usize) -> Vec<u32> {
    units
        .par_chunks(QUERY_CHUNK * EMBEDDING_DIM)
        .flat_map_iter(|chunk| nearest_lists_of_chunk(centroids, chunk.to_vec(), probes))
        .collect()
}

/// The `probes` highest-scoring centroids of each vector of `vectors`, best first (ties: the
/// lower list); centroids are scored a cache-sized block at a time.
fn nearest_lists_of_chunk(centroids: &[f32], vectors: Vec<f32>, probes: usize) -> Vec<u32> {
    let dim = EMBEDDING_DIM;
    let count = centroids.len() / dim;
    let queries = Queries::new(vectors.chunks_exact(dim).map(<[f32]>::to_vec).collect());
    let n = queries.units.len();
    let mut scores = vec![f32::NEG_INFINITY; n * count];
    for (b, block) in centroids.chunks(BLOCK * dim).enumerate() {
        score_block(block, dim, b * BLOCK, &queries, &mut |q, l, cosines| {
            scores[q * count + l..][..cosines.len()].copy_from_slice(cosines)
        });
    }
    let mut out = Vec::with_capacity(n * probes);
    let mut order: Vec<u32> = Vec::with_capacity(count);
    for row in scores.chunks_exact(count) {
        order.clear();
        order.extend(0..count as u32);
        // Higher cosine first; NaN (a NaN query) last, so every query still gets lists.
        let rank = |a: &u32, b: &u32| {
            let (x, y) = (row[*a as usize], row[*b as usize]);
            y.total_cmp(&x).then(a.cmp(b))
        };
        if probes < count {
            order.select_nth_unstable_by(probes - 1, rank);
        }
        order[..probes].sort_unstable_by(rank);
        out.extend_from_slice(&order[..probes]);
    }
    out
}

impl VectorIndex for IvfIndex {
    fn len(&self) -> usize {
        self.exact.len()
    }

    fn nearest(&self, queries: &[&[f32]]) -> Result<Vec<Option<Neighbour>>, IndexError> {
        let Some(lists) = &self.lists else {
            return self.exact.nearest(queries);
        };
        if let Some(q) = queries.iter().find(|q| q.len() != EMBEDDING_DIM) {
            return Err(IndexError::Dimension {
                expected: EMBEDDING_DIM,
                found: q.len(),
            });
        }
        let units: Vec<f32> = queries.iter().flat_map(|q| unit(q)).collect();
        let best = self.search_lists(lists, &units);
        let ids = self.exact.ids();
        let nan = |q: usize| {
            units[q * EMBEDDING_DIM..(q + 1) * EMBEDDING_DIM]
                .iter()
                .any(|x| x.is_nan())
        };
        // A query whose probed lists are all empty is answered by the store.
        let unanswered: Vec<&[f32]> = (0..best.len())
            .filter(|&q| best[q].1 == usize::MAX && !nan(q))
            .map(|q| queries[q])
            .collect();
        let mut rescued = self.exact.nearest(&unanswered)?.into_iter();
        Ok(best
            .into_iter()
            .enumerate()
            .map(|(q, (_, row))| match ids.get(row) {
                // The lists' scan sums in another order: the cosine reported is the index's.
                Some(id) => Some(Neighbour {
                    id: id.clone(),
                    cosine: best_of::cosine(
                        &units[q * EMBEDDING_DIM..(q + 1) * EMBEDDING_DIM],
                        &self.exact.vector(row),
                    ),
                }),
                // As the exact scan: a NaN query matches nothing.
                None if nan(q) => Some(Neighbour {
                    id: ids[0].clone(),
                    cosine: f32::NAN,
                }),
                None => rescued.next().flatten(),
            })
            .collect())
    }

    fn insert(&mut self, items: &[(String, Vec<f32>)]) -> Result<usize, IndexError> {
        let added = self.exact.insert(items)?;
        if added > 0 {
            self.catch_up()?;
        }
        Ok(added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gauss(rng: &mut fastrand::Rng) -> f32 {
        let (u, v) = (rng.f32().max(1e-9), rng.f32());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }

    /// `n` vectors around `n / 20` centres (ids `v0…`), as the benchmark's mixture.
    fn clustered(n: usize, seed: u64) -> Vec<(String, Vec<f32>)> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let centres: Vec<Vec<f32>> = (0..n / 20)
            .map(|_| (0..EMBEDDING_DIM).map(|_| gauss(&mut rng)).collect())
            .collect();
        (0..n)
            .map(|i| {
                let c = &centres[rng.usize(..centres.len())];
                let v = c.iter().map(|x| x + 0.8 * gauss(&mut rng)).collect();
                (format!("v{i}"), v)
            })
            .collect()
    }

    /// Near-duplicates of every 29th item, then vectors near nothing stored.
    fn queries(items: &[(String, Vec<f32>)]) -> Vec<Vec<f32>> {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut out: Vec<Vec<f32>> = items
            .iter()
            .step_by(29)
            .map(|(_, v)| v.iter().map(|x| x + 0.4 * gauss(&mut rng)).collect())
            .collect();
        out.extend((0..10).map(|_| (0..EMBEDDING_DIM).map(|_| gauss(&mut rng)).collect()));
        out
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("omega-ivf-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn open(dir: &Path, probes: usize, min_train: usize) -> IvfIndex {
        let params = AnnParams {
            probes,
            ..AnnParams::default()
        };
        IvfIndex::open_with(dir, params, min_train).unwrap()
    }

    fn answers(index: &dyn VectorIndex, qs: &[Vec<f32>]) -> Vec<(String, u32)> {
        let refs: Vec<&[f32]> = qs.iter().map(Vec::as_slice).collect();
        index
            .nearest(&refs)
            .unwrap()
            .into_iter()
            .map(|n| n.map(|n| (n.id, n.cosine.to_bits())).unwrap())
            .collect()
    }

    #[test]
    fn probing_every_list_answers_as_the_exact_scan() {
        let dir = temp_dir("every");
        let items = clustered(1200, 1);
        let mut ivf = open(&dir, 1, 600);
        for chunk in items.chunks(300) {
            ivf.insert(chunk).unwrap();
        }
        let count = ivf.lists.as_ref().expect("trained at 600 rows").count();
        assert_eq!(assigned_rows(ivf.lists.as_ref().unwrap()), 1200);
        let qs = queries(&items);
        let exact = answers(&ExactIndex::open(&dir).unwrap(), &qs);
        ivf.set_probes(count);
        assert_eq!(answers(&ivf, &qs), exact, "same rows, same cosine bits");
        // The default probes find every near-duplicate: it lies in the query's nearest list.
        ivf.set_probes(AnnParams::default().probes);
        let found = answers(&ivf, &qs);
        let near = qs.len() - 10;
        assert_eq!(found[..near], exact[..near]);
        assert!(found.iter().all(|(id, _)| id.starts_with('v')));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn trains_when_big_enough_and_again_at_four_times_the_rows() {
        let dir = temp_dir("grow");
        let items = clustered(1400, 2);
        let mut ivf = open(&dir, 4, 300);
        ivf.insert(&items[..200]).unwrap();
        assert!(ivf.lists.is_none(), "too few rows: the store is scanned");
        let qs = queries(&items[..200]);
        assert_eq!(
            answers(&ivf, &qs),
            answers(&ExactIndex::open(&dir).unwrap(), &qs)
        );
        ivf.insert(&items[200..350]).unwrap();
        assert_eq!(ivf.lists.as_ref().unwrap().trained_on, 350);
        ivf.insert(&items[350..1399]).unwrap();
        assert_eq!(ivf.lists.as_ref().unwrap().trained_on, 350, "below 4×");
        ivf.insert(&items[1399..]).unwrap();
        let lists = ivf.lists.as_ref().unwrap();
        assert_eq!((lists.trained_on, assigned_rows(lists)), (1400, 1400));
        assert_eq!(lists.count(), list_count(1400));
        let reopened = open(&dir, 4, 300);
        let again = reopened.lists.as_ref().unwrap();
        assert_eq!(
            (again.generation, again.trained_on, &again.members),
            (lists.generation, 1400, &lists.members),
            "read back as written"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn lists_are_completed_or_rebuilt_after_a_crash_or_damage() {
        let dir = temp_dir("crash");
        let items = clustered(800, 3);
        let qs = queries(&items);
        let mut ivf = open(&dir, 1000, 400);
        ivf.insert(&items).unwrap();
        let exact = answers(&ExactIndex::open(&dir).unwrap(), &qs);
        let members = ivf.lists.as_ref().unwrap().members.clone();
        drop(ivf);
        let lists_path = dir.join(LISTS);
        // Killed before the last rows' lists were appended, one entry torn.
        let file = OpenOptions::new().write(true).open(&lists_path).unwrap();
        file.set_len((LISTS_HEADER + 4 * 500 + 2) as u64).unwrap();
        let ivf = open(&dir, 1000, 400);
        assert_eq!(ivf.lists.as_ref().unwrap().members, members, "completed");
        assert_eq!(answers(&ivf, &qs), exact);
        let len = std::fs::metadata(&lists_path).unwrap().len();
        assert_eq!(len, (LISTS_HEADER + 4 * 800) as u64);
        drop(ivf);
        // Lists of another training: assigned again.
        let mut bytes = std::fs::read(&lists_path).unwrap();
        bytes[8] ^= 0xff;
        std::fs::write(&lists_path, &bytes).unwrap();
        let ivf = open(&dir, 1000, 400);
        assert_eq!(
            ivf.lists.as_ref().unwrap().members,
            members,
            "assigned again"
        );
        let generation = ivf.lists.as_ref().unwrap().generation;
        drop(ivf);
        // Damaged centroids: trained again (a new generation), still every row in a list.
        std::fs::write(dir.join(CENTROIDS), b"OMEGAIVC not centroids").unwrap();
        let ivf = open(&dir, 1000, 400);
        let lists = ivf.lists.as_ref().unwrap();
        assert_ne!(lists.generation, generation);
        assert_eq!(assigned_rows(lists), 800);
        assert_eq!(answers(&ivf, &qs), exact);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn nan_and_wrong_length_queries() {
        let dir = temp_dir("nan");
        let items = clustered(400, 4);
        let mut ivf = open(&dir, 2, 200);
        assert_eq!(ivf.nearest(&[&items[0].1]).unwrap(), vec![None], "empty");
        ivf.insert(&items).unwrap();
        let nan = vec![f32::NAN; EMBEDDING_DIM];
        let found = ivf.nearest(&[&nan, &items[5].1]).unwrap();
        assert!(
            found[0].as_ref().unwrap().cosine.is_nan(),
            "matches nothing"
        );
        assert_eq!(found[1].as_ref().unwrap().id, "v5");
        assert!(matches!(
            ivf.nearest(&[&[1.0; 8]]),
            Err(IndexError::Dimension { found: 8, .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
