//! The exact index: a directory with `vectors.f16` (unit vectors, row after row, f16),
//! `ids.txt` (one id per line, same order) and `index.json` (the committed count). An insert
//! appends to both files, syncs them, then replaces `index.json` atomically; on open, anything
//! past the committed count (an insert killed half-way) is cut off. So a crash never corrupts
//! the index, and rerunning the insert adds exactly what is missing.
//!
//! The dimension is ImageBind's 1024 by default; any multiple of 8 can be chosen when the index
//! is created (Focus task and description indexes hold text-model embeddings), and is recorded
//! in `index.json`.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use half::f16;
use rayon::prelude::*;

use super::best_of::{self, Columns, Simd};
use super::{IndexError, Neighbour, VectorIndex};
use crate::table::EMBEDDING_DIM;
use crate::vector::{dot, unit};

const VECTORS: &str = "vectors.f16";
const IDS: &str = "ids.txt";
const META: &str = "index.json";

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Meta {
    count: usize,
    dim: usize,
    format: String,
}

pub struct ExactIndex {
    dir: PathBuf,
    dim: usize,
    ids: Vec<String>,
    known: HashSet<String>,
    map: Option<memmap2::Mmap>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> IndexError + '_ {
    move |e| IndexError::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

impl ExactIndex {
    /// Opens (or creates) the index of ImageBind embeddings in `dir`, dropping any uncommitted
    /// tail.
    pub fn open(dir: &Path) -> Result<Self, IndexError> {
        Self::open_with_dim(dir, EMBEDDING_DIM)
    }

    /// Opens (or creates) an index of `dim`-value vectors (a multiple of 8) in `dir`.
    pub fn open_with_dim(dir: &Path, dim: usize) -> Result<Self, IndexError> {
        if dim == 0 || !dim.is_multiple_of(8) {
            return Err(IndexError::Corrupt {
                path: dir.to_path_buf(),
                message: format!("vectors of {dim} values: the exact index holds a multiple of 8"),
            });
        }
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let meta_path = dir.join(META);
        let count = match std::fs::read(&meta_path) {
            Ok(b) => {
                let m: Meta = serde_json::from_slice(&b).map_err(|e| IndexError::Corrupt {
                    path: meta_path.clone(),
                    message: e.to_string(),
                })?;
                if m.dim != dim {
                    return Err(IndexError::Dimension {
                        expected: m.dim,
                        found: dim,
                    });
                }
                m.count
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => {
                return Err(IndexError::Io {
                    path: meta_path,
                    source: e,
                })
            }
        };
        let (vec_path, ids_path) = (dir.join(VECTORS), dir.join(IDS));
        let row = dim * 2;
        let vectors = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&vec_path)
            .map_err(io(&vec_path))?;
        let have = vectors.metadata().map_err(io(&vec_path))?.len() as usize;
        if have < count * row {
            return Err(IndexError::Corrupt {
                path: vec_path,
                message: format!("holds {} vectors, index.json says {count}", have / row),
            });
        }
        vectors
            .set_len((count * row) as u64)
            .map_err(io(&vec_path))?;
        let mut ids: Vec<String> = match File::open(&ids_path) {
            Ok(f) => BufReader::new(f)
                .lines()
                .take(count)
                .collect::<Result<_, _>>()
                .map_err(io(&ids_path))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                return Err(IndexError::Io {
                    path: ids_path,
                    source: e,
                })
            }
        };
        if ids.len() != count {
            return Err(IndexError::Corrupt {
                path: ids_path,
                message: format!("{} ids for {count} vectors", ids.len()),
            });
        }
        rewrite_ids(&ids_path, &ids)?;
        ids.shrink_to_fit();
        let known = ids.iter().cloned().collect();
        let mut index = ExactIndex {
            dir: dir.to_path_buf(),
            dim,
            ids,
            known,
            map: None,
        };
        index.remap()?;
        Ok(index)
    }

    fn remap(&mut self) -> Result<(), IndexError> {
        let path = self.dir.join(VECTORS);
        let file = File::open(&path).map_err(io(&path))?;
        // SAFETY: the file is only appended to by this process, after which it is remapped.
        self.map = if self.ids.is_empty() {
            None
        } else {
            Some(unsafe { memmap2::Mmap::map(&file) }.map_err(io(&path))?)
        };
        Ok(())
    }

    /// Rows `rows` as f32 into `out`, reused by the caller (its memory is only zeroed when it
    /// grows: zeroing a fresh megabyte per block was 3 % of a scan).
    fn block_into(&self, rows: std::ops::Range<usize>, out: &mut LineAligned) {
        let halves = self.halves(rows);
        out.set_len(halves.len());
        f16_to_f32(halves, out);
    }

    /// Stored rows `rows` (in that order) as f32.
    pub(super) fn gather_f32(&self, rows: &[u32]) -> Vec<f32> {
        let mut out = vec![0f32; rows.len() * self.dim];
        self.gather_rows(rows, &mut out);
        out
    }

    /// Stored rows `rows` (in that order) as f32 into `out`, reused by the caller (its memory
    /// is only zeroed when it grows).
    pub(super) fn gather_into(&self, rows: &[u32], out: &mut LineAligned) {
        out.set_len(rows.len() * self.dim);
        self.gather_rows(rows, out);
    }

    fn gather_rows(&self, rows: &[u32], out: &mut [f32]) {
        for (&row, dest) in rows.iter().zip(out.chunks_exact_mut(self.dim)) {
            f16_to_f32(self.halves(row as usize..row as usize + 1), dest);
        }
    }

    /// Asks the CPU to start loading the first `lines` cache lines of each of `rows`.
    pub(super) fn prefetch_rows(&self, rows: &[u32], lines: usize) {
        for &row in rows {
            let values = self.halves(row as usize..row as usize + 1);
            prefetch(&values[..(lines * 32).min(values.len())]);
        }
    }

    /// Rows `rows` as stored (f16).
    fn halves(&self, rows: std::ops::Range<usize>) -> &[f16] {
        let map = self.map.as_ref().expect("rows exist only when mapped");
        let bytes = &map[rows.start * self.dim * 2..rows.end * self.dim * 2];
        // SAFETY: the map is page-aligned and rows are 16-byte multiples, so the bytes are 2-aligned
        // f16 values; f16 has no invalid bit patterns.
        unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<f16>(), bytes.len() / 2) }
    }

    /// The nearest stored vector to `query` that is not stored under `except` (a video judged
    /// again after it was inserted must not find itself). One scan of every row.
    pub fn nearest_except(
        &self,
        query: &[f32],
        except: &str,
    ) -> Result<Option<Neighbour>, IndexError> {
        if query.len() != self.dim {
            return Err(IndexError::Dimension {
                expected: self.dim,
                found: query.len(),
            });
        }
        let queries = Columns::new(Simd::detect(), vec![unit(query)], self.dim);
        let skip = self.ids.iter().position(|id| id == except);
        let mut best = [(f32::NEG_INFINITY, usize::MAX)];
        let mut block = LineAligned::default();
        for b in 0..self.ids.len().div_ceil(BLOCK) {
            let rows = b * BLOCK..((b + 1) * BLOCK).min(self.ids.len());
            self.block_into(rows.clone(), &mut block);
            // The rows before and after the skipped one, if it is in this block.
            let (before, after) = match skip.filter(|row| rows.contains(row)) {
                Some(row) => (rows.start..row, row + 1..rows.end),
                None => (rows.clone(), rows.end..rows.end),
            };
            for part in [before, after] {
                let values = &block
                    [(part.start - rows.start) * self.dim..(part.end - rows.start) * self.dim];
                best_of::scan(values, self.dim, part.start, &queries, &mut best);
            }
        }
        // A NaN query, or an index holding only `except`: nothing.
        let [(cosine, row)] = best;
        Ok(self.ids.get(row).map(|id| Neighbour {
            id: id.clone(),
            cosine,
        }))
    }

    /// Whether `dir` holds an exact index (a committed `index.json`).
    pub fn is_index(dir: &Path) -> bool {
        dir.join(META).is_file()
    }

    /// Values per stored vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Stored vector `i` (a unit vector, from f16).
    pub fn vector(&self, i: usize) -> Vec<f32> {
        let mut out = vec![0f32; self.dim];
        f16_to_f32(self.halves(i..i + 1), &mut out);
        out
    }
}

/// Asks the CPU to start loading `values` into its caches.
fn prefetch(values: &[f16]) {
    #[cfg(target_arch = "x86_64")]
    for line in values.chunks(32) {
        // SAFETY: a prefetch is only a hint; the address is inside `values`.
        unsafe {
            std::arch::x86_64::_mm_prefetch(
                line.as_ptr().cast::<i8>(),
                std::arch::x86_64::_MM_HINT_T0,
            )
        };
    }
}

/// 16 f32 on a 64-byte boundary: the unit of [`LineAligned`].
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// f32 values that start on a cache line, so that the kernels' 512-bit loads (16 values at a
/// multiple of 16) never span two lines. `vec![0f32; n]` starts 16 bytes past a line, and the
/// split loads cost the scan ~6 % on an Intel Xeon.
#[derive(Default)]
pub(super) struct LineAligned {
    lines: Vec<Line>,
    len: usize,
}

impl LineAligned {
    pub(super) fn zeroed(len: usize) -> LineAligned {
        let mut out = LineAligned::default();
        out.set_len(len);
        out
    }

    /// Makes the buffer `len` values long, keeping its values; new memory is zeroed.
    pub(super) fn set_len(&mut self, len: usize) {
        if self.lines.len() * 16 < len {
            self.lines.resize(len.div_ceil(16), Line([0.0; 16]));
        }
        self.len = len;
    }
}

impl std::ops::Deref for LineAligned {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        // SAFETY: `Line` is 16 f32 without padding (repr C), and `len` <= 16 × lines.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<f32>(), self.len) }
    }
}

impl std::ops::DerefMut for LineAligned {
    fn deref_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `deref`, and `&mut self` makes this the only borrow.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<f32>(), self.len) }
    }
}

/// `src` as f32 into `dst` (one length), 16 values per instruction with AVX-512 and 8 with
/// F16C: the `half` crate calls a function per 8 values, which cost more than reading them.
fn f16_to_f32(src: &[f16], dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() && src.len().is_multiple_of(16) {
        // SAFETY: the CPU has AVX-512 F; the lengths are checked in the function.
        return unsafe { f16_to_f32_avx512(src, dst) };
    }
    use half::slice::HalfFloatSliceExt;
    src.convert_to_f32_slice(dst);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn f16_to_f32_avx512(src: &[f16], dst: &mut [f32]) {
    use std::arch::x86_64::*;
    assert!(src.len() == dst.len() && src.len().is_multiple_of(16));
    for k in (0..src.len()).step_by(16) {
        // SAFETY: k + 16 <= the length of both (asserted above).
        unsafe {
            let halves = _mm256_loadu_si256(src.as_ptr().add(k).cast());
            _mm512_storeu_ps(dst.as_mut_ptr().add(k), _mm512_cvtph_ps(halves));
        }
    }
}

/// Rewrites the ids file to exactly the committed ids (drops an uncommitted tail).
fn rewrite_ids(path: &Path, ids: &[String]) -> Result<(), IndexError> {
    let mut text = ids.join("\n");
    if !ids.is_empty() {
        text.push('\n');
    }
    if std::fs::read(path)
        .map(|b| b == text.as_bytes())
        .unwrap_or(false)
    {
        return Ok(());
    }
    crate::fsutil::write_atomic(path, text.as_bytes()).map_err(io(path))
}

/// Rows scanned per task: large enough to amortise scheduling, small enough (1 MiB as f32) to
/// stay in a core's L2 cache.
const BLOCK: usize = 256;
/// Queries scored against the rows in L1 before moving on: 64 queries are 256 KiB, in L2.
const QUERY_TILE: usize = 64;
/// The register tile: 4 rows × 2 queries = 8 eight-lane accumulators, 6 loads per 8 products.
const ROWS_PER_STEP: usize = 4;
const QUERIES_PER_STEP: usize = 2;

/// The register-tile kernel: dot products of 4 rows with 2 queries.
type Kernel = fn([&[f32]; 4], [&[f32]; 2]) -> [[f32; 2]; 4];

/// The queries of one search: unit vectors, and for the AVX-512 kernel the same queries laid
/// out as it reads them (see [`query_panel`]).
pub(super) struct Queries {
    pub(super) units: Vec<Vec<f32>>,
    panel: LineAligned,
}

impl Queries {
    pub(super) fn new(units: Vec<Vec<f32>>) -> Queries {
        let panel = if has_avx512() {
            query_panel(&units)
        } else {
            LineAligned::default()
        };
        Queries { units, panel }
    }
}

/// Whether the 512-bit kernel runs here (AVX-512 F and DQ: Intel since Skylake-SP, AMD since
/// Zen 4). On Zen 5 its 512-bit units do twice the work of AVX2 per instruction.
fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512dq")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The IVF backend's scan of its lists and centroids, where a few queries meet many rows (the
/// exact scan is [`best_of::scan`]). Scores every row of `rows` (row-major, `dim` values each, a
/// multiple of 8; row 0 is `first_row`) against every query, handing `emit`
/// `(query, row, cosines)`: the cosines of
/// that query with `row` and the rows after it, a few at a time (one call per pair cost the
/// scan a tenth of its time). Uses
/// AVX-512 or AVX2 with FMA when the CPU has it (the same arithmetic as [`dot`]: one fused
/// multiply-add per value and lane, so results do not depend on the CPU).
pub(super) fn score_block(
    rows: &[f32],
    dim: usize,
    first_row: usize,
    queries: &Queries,
    emit: &mut impl FnMut(usize, usize, &[f32]),
) {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: the CPU has AVX-512 F and DQ, checked just above.
        return unsafe { scan_tiles_avx512(rows, dim, first_row, queries, emit) };
    }
    let queries = &queries.units;
    #[cfg(target_arch = "x86_64")]
    if crate::vector::has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        return scan_tiles(rows, dim, first_row, queries, emit, |r, q| unsafe {
            dot_4x2_avx2(r, q)
        });
    }
    scan_tiles(rows, dim, first_row, queries, emit, dot_4x2)
}

#[inline(always)]
fn scan_tiles(
    rows: &[f32],
    dim: usize,
    first: usize,
    qs: &[Vec<f32>],
    emit: &mut impl FnMut(usize, usize, &[f32]),
    kernel: Kernel,
) {
    let n_rows = rows.len() / dim;
    for q0 in (0..qs.len()).step_by(QUERY_TILE) {
        let q_end = (q0 + QUERY_TILE).min(qs.len());
        for r0 in (0..n_rows).step_by(ROWS_PER_STEP) {
            let r_end = (r0 + ROWS_PER_STEP).min(n_rows);
            let mut q = q0;
            while q < q_end {
                let q_step = QUERIES_PER_STEP.min(q_end - q);
                if r_end - r0 == ROWS_PER_STEP && q_step == QUERIES_PER_STEP {
                    let r = |i: usize| &rows[(r0 + i) * dim..(r0 + i + 1) * dim];
                    let sums = kernel([r(0), r(1), r(2), r(3)], [&qs[q], &qs[q + 1]]);
                    for j in 0..QUERIES_PER_STEP {
                        emit(q + j, first + r0, &sums.map(|row| row[j]));
                    }
                } else {
                    scan_edge(rows, dim, first, r0..r_end, qs, q..q + q_step, emit);
                }
                q += q_step;
            }
        }
    }
}

/// A ragged edge of a tile (fewer queries or rows than the kernel takes; the common case when
/// an IVF list is probed by one or two queries of a batch): each query against 4 rows at once
/// when there are 4, with AVX2, else one `dot` per pair; the same bits either way.
#[inline(always)]
fn scan_edge(
    rows: &[f32],
    dim: usize,
    first: usize,
    row_range: std::ops::Range<usize>,
    qs: &[Vec<f32>],
    query_range: std::ops::Range<usize>,
    emit: &mut impl FnMut(usize, usize, &[f32]),
) {
    let row = |r: usize| &rows[r * dim..(r + 1) * dim];
    let mut row_range = row_range;
    #[cfg(target_arch = "x86_64")]
    if crate::vector::has_avx2_fma() {
        while row_range.len() >= ROWS_PER_STEP {
            let r0 = row_range.start;
            for j in query_range.clone() {
                let r = [row(r0), row(r0 + 1), row(r0 + 2), row(r0 + 3)];
                // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                let sums = unsafe { dot_4x1_avx2(r, &qs[j]) };
                emit(j, first + r0, &sums);
            }
            row_range.start += ROWS_PER_STEP;
        }
    }
    for r in row_range {
        for j in query_range.clone() {
            emit(j, first + r, &[dot(&qs[j], row(r))]);
        }
    }
}

/// Dot products of 4 rows with one query: four independent sums keep the adder busy where one
/// `dot` waits on each addition. Per lane the same fused multiply-adds in the same order as
/// [`dot`], lanes summed left to right: the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_4x1_avx2(rows: [&[f32]; 4], q: &[f32]) -> [f32; 4] {
    use std::arch::x86_64::*;
    let dim = q.len();
    assert!(dim.is_multiple_of(8) && rows.iter().all(|r| r.len() == dim));
    let mut acc = [_mm256_setzero_ps(); 4];
    for k in (0..dim).step_by(8) {
        // SAFETY: k + 8 <= dim = every slice's length (asserted above).
        let x = unsafe { _mm256_loadu_ps(q.as_ptr().add(k)) };
        for (row, acc) in rows.iter().zip(acc.iter_mut()) {
            // SAFETY: as above.
            let r = unsafe { _mm256_loadu_ps(row.as_ptr().add(k)) };
            *acc = _mm256_fmadd_ps(x, r, *acc);
        }
    }
    acc.map(|v| {
        let mut lanes = [0f32; 8];
        // SAFETY: `lanes` holds 8 f32.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) };
        lanes.iter().sum()
    })
}

/// Dimensions scored per pass of the AVX-512 tiles: 8 rows of 256 values (8 KiB) and the
/// tile's accumulators (12 KiB) stay in L1 while the queries' values stream from L2. Over all
/// 1024 dimensions at once, 8 rows alone are 32 KiB and every operand came from L2, which
/// serves too few bytes per cycle to feed two fused multiply-adds (Intel Xeon: 0.4 of peak).
const DIM_CHUNK: usize = 256;
/// Queries in one step of the AVX-512 kernel: three interleaved pairs, so 8 rows × 3 pairs =
/// 24 accumulators, 3 query loads and 8 row loads per 24 fused multiply-adds (the 4-query step
/// before it needed 10 loads per 16).
const STEP: usize = 6;
/// Queries scored against 8 rows before moving on to the next rows: 8 steps, 192 KiB in L2.
const PANEL_TILE: usize = 8 * STEP;

/// The 512-bit accumulators of `R` rows against one step: `[row][pair]`.
#[cfg(target_arch = "x86_64")]
type Acc<const R: usize> = [[std::arch::x86_64::__m512; 3]; R];

/// The queries laid out in the order the AVX-512 kernel reads them, so that one pass reads
/// one contiguous stream (which the kernel prefetches a step ahead): tile after tile of
/// [`PANEL_TILE`] queries, in each tile chunk after chunk of [`DIM_CHUNK`] dimensions, in each
/// chunk step after step of [`STEP`] queries, and in a step, for every 8 dimensions, its
/// queries' 8 values one after the other (pair `j` = queries `2j`, `2j + 1`: one 512-bit
/// load). An odd count is padded with a zero query; the last step of the last tile may hold
/// 2 or 4 queries.
fn query_panel(units: &[Vec<f32>]) -> LineAligned {
    let dim = units.first().map_or(0, Vec::len);
    let zero = vec![0f32; dim];
    let padded: Vec<&[f32]> = units
        .iter()
        .map(Vec::as_slice)
        .chain((units.len() % 2 == 1).then_some(&zero[..]))
        .collect();
    let mut panel = LineAligned::zeroed(padded.len() * dim);
    let mut at = 0;
    for tile in padded.chunks(PANEL_TILE) {
        for k0 in (0..dim).step_by(DIM_CHUNK) {
            let chunk = k0..(k0 + DIM_CHUNK).min(dim);
            for step in tile.chunks(STEP) {
                for k in chunk.clone().step_by(8) {
                    for q in step {
                        panel[at..at + 8].copy_from_slice(&q[k..k + 8]);
                        at += 8;
                    }
                }
            }
        }
    }
    panel
}

/// As [`scan_tiles`], with 8 rows × 6 queries per step of the AVX-512 kernel (4 rows where
/// fewer than 8 are left), the dimensions taken [`DIM_CHUNK`] at a time; the last 1 to 3 rows
/// go to [`scan_edge`]. Every lane still sees its products in the order of [`dot`]: the same
/// bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn scan_tiles_avx512(
    rows: &[f32],
    dim: usize,
    first: usize,
    queries: &Queries,
    emit: &mut impl FnMut(usize, usize, &[f32]),
) {
    let qs = &queries.units;
    let n_rows = rows.len() / dim;
    let row = |r: usize| &rows[r * dim..(r + 1) * dim];
    let padded = queries.panel.len() / dim;
    for q0 in (0..padded).step_by(PANEL_TILE) {
        let panel = &queries.panel[q0 * dim..(q0 + PANEL_TILE).min(padded) * dim];
        let tile = q0..(q0 + PANEL_TILE).min(qs.len());
        let mut r0 = 0;
        while r0 < n_rows {
            let r_step = match n_rows - r0 {
                8.. => 8,
                4..8 => 4,
                left => left,
            };
            // The padding query, if any, is scored and dropped here.
            let mut out = |q: usize, cosines: &[f32]| {
                if q0 + q < tile.end {
                    emit(q0 + q, first + r0, cosines)
                }
            };
            match r_step {
                8 => tile_pass(
                    std::array::from_fn::<_, 8, _>(|i| row(r0 + i)),
                    panel,
                    &mut out,
                ),
                4 => tile_pass(
                    std::array::from_fn::<_, 4, _>(|i| row(r0 + i)),
                    panel,
                    &mut out,
                ),
                _ => scan_edge(rows, dim, first, r0..r0 + r_step, qs, tile.clone(), emit),
            }
            r0 += r_step;
        }
    }
}

/// `R` rows against one tile of the query panel (see [`query_panel`]), dimension chunk by
/// dimension chunk, each `(query in the tile, cosines of the R rows)` handed to `emit` at the
/// end.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
fn tile_pass<const R: usize>(
    rows: [&[f32]; R],
    panel: &[f32],
    emit: &mut impl FnMut(usize, &[f32]),
) {
    use std::arch::x86_64::*;
    let dim = rows[0].len();
    let width = panel.len() / dim;
    let steps = width.div_ceil(STEP);
    // Queries in step `s`: 6, except in the last step of the last tile.
    let step_width = |s: usize| STEP.min(width - s * STEP);
    let mut acc = [[[_mm512_setzero_ps(); 3]; R]; PANEL_TILE / STEP];
    for k0 in (0..dim).step_by(DIM_CHUNK) {
        let chunk = rows.map(|r| &r[k0..(k0 + DIM_CHUNK).min(dim)]);
        let len = chunk[0].len();
        let at = k0 * width;
        for (s, acc) in acc[..steps].iter_mut().enumerate() {
            let start = at + s * STEP * len;
            let step = &panel[start..start + step_width(s) * len];
            // SAFETY: this function's target features are those of the kernel.
            unsafe {
                match step_width(s) {
                    6 => dot_step_avx512::<R, 3>(chunk, step, acc),
                    4 => dot_step_avx512::<R, 2>(chunk, step, acc),
                    _ => dot_step_avx512::<R, 1>(chunk, step, acc),
                }
            }
        }
    }
    for (s, acc) in acc[..steps].iter().enumerate() {
        for (j, cosines) in sums_rx6(acc)[..step_width(s)].iter().enumerate() {
            emit(s * STEP + j, cosines);
        }
    }
}

/// Adds to `acc` the products of `R` rows with one step of `2P` queries (`P` interleaved
/// pairs, see [`query_panel`]) over one chunk of dimensions. Each 512-bit accumulator holds
/// the 8 lanes of two (row, query) pairs; every lane sees the same fused multiply-adds in the
/// same order as [`dot`], twice as many per instruction as AVX2. The panel's values after
/// `step` (the next step, or the next chunk's first) are prefetched while this one is read:
/// the hardware prefetcher alone left the kernel waiting on L2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn dot_step_avx512<const R: usize, const P: usize>(
    rows: [&[f32]; R],
    step: &[f32],
    acc: &mut Acc<R>,
) {
    use std::arch::x86_64::*;
    let len = rows[0].len();
    assert!(
        P <= 3
            && len.is_multiple_of(8)
            && rows.iter().all(|r| r.len() == len)
            && step.len() == 2 * P * len
    );
    let ahead = step.as_ptr().wrapping_add(step.len());
    for k in (0..len).step_by(8) {
        let at = 2 * P * k;
        for line in 0..P {
            // A prefetch is only a hint: it never faults, and nothing is read through it.
            _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(at + 16 * line).cast());
        }
        // SAFETY: at + 16 P <= 2 P len = the step's length (asserted above).
        let pairs: [__m512; P] =
            std::array::from_fn(|j| unsafe { _mm512_loadu_ps(step.as_ptr().add(at + 16 * j)) });
        for (row, acc) in rows.iter().zip(acc.iter_mut()) {
            // SAFETY: k + 8 <= len = the row's length.
            let x = _mm512_broadcast_f32x8(unsafe { _mm256_loadu_ps(row.as_ptr().add(k)) });
            for (acc, pair) in acc.iter_mut().zip(pairs) {
                *acc = _mm512_fmadd_ps(pair, x, *acc);
            }
        }
    }
}

/// The cosines of a step's accumulators: query `j` of the step against the `R` rows, each
/// the sum of its 8 lanes left to right, as `dot` adds them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
fn sums_rx6<const R: usize>(acc: &Acc<R>) -> [[f32; R]; STEP] {
    use std::arch::x86_64::*;
    // Register jR + i holds row i against queries 2j (low 8 lanes) and 2j + 1 (high 8
    // lanes): summed 16 at a time, the sums of query 2j come out in rows' order.
    let mut regs = [_mm512_setzero_ps(); 32];
    for j in 0..3 {
        for (i, row) in acc.iter().enumerate() {
            regs[j * R + i] = row[j];
        }
    }
    let (mut low, mut high) = ([0f32; 32], [0f32; 32]);
    for g in 0..(3 * R).div_ceil(16) {
        let sixteen: [__m512; 16] = std::array::from_fn(|r| regs[16 * g + r]);
        let [l, h] = sum_halves_in_order(sixteen);
        low[16 * g..16 * g + 16].copy_from_slice(&l);
        high[16 * g..16 * g + 16].copy_from_slice(&h);
    }
    std::array::from_fn(|q| {
        let sums = if q % 2 == 0 { &low } else { &high };
        std::array::from_fn(|i| sums[q / 2 * R + i])
    })
}

/// For each of 16 registers, the sums of its low and of its high 8 lanes, each added left to
/// right as `dot` adds its lanes (so the same bits), without 224 scalar additions: a 16 × 16
/// transpose (64 shuffles) puts lane `c` of every register in one vector `t[c]`, and
/// `t[0] + t[1] + … + t[7]` is then the in-order sum of every register's low half at once.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
fn sum_halves_in_order(rows: [std::arch::x86_64::__m512; 16]) -> [[f32; 16]; 2] {
    use std::arch::x86_64::*;
    // 32-bit, then 64-bit interleaves within each 128-bit chunk: after them `u[4g + m]` holds,
    // in chunk `l`, column `4l + m` of rows 4g .. 4g + 4.
    let mut t = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(rows[2 * i], rows[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(rows[2 * i], rows[2 * i + 1]);
    }
    let mut u = [_mm512_setzero_ps(); 16];
    for g in 0..4 {
        let pd = |k: usize| _mm512_castps_pd(t[4 * g + k]);
        u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(0), pd(2)));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(0), pd(2)));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(1), pd(3)));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(1), pd(3)));
    }
    // Gather chunk `l` of u[m], u[4 + m], u[8 + m], u[12 + m]: column 4l + m of all 16 rows.
    let mut columns = [_mm512_setzero_ps(); 16];
    for m in 0..4 {
        let x01 = _mm512_shuffle_f32x4::<0x44>(u[m], u[4 + m]);
        let y01 = _mm512_shuffle_f32x4::<0xEE>(u[m], u[4 + m]);
        let x23 = _mm512_shuffle_f32x4::<0x44>(u[8 + m], u[12 + m]);
        let y23 = _mm512_shuffle_f32x4::<0xEE>(u[8 + m], u[12 + m]);
        columns[m] = _mm512_shuffle_f32x4::<0x88>(x01, x23);
        columns[4 + m] = _mm512_shuffle_f32x4::<0xDD>(x01, x23);
        columns[8 + m] = _mm512_shuffle_f32x4::<0x88>(y01, y23);
        columns[12 + m] = _mm512_shuffle_f32x4::<0xDD>(y01, y23);
    }
    let mut out = [[0f32; 16]; 2];
    for (half, sums) in out.iter_mut().enumerate() {
        let cols = &columns[8 * half..8 * half + 8];
        let total = cols[1..]
            .iter()
            .fold(cols[0], |acc, &c| _mm512_add_ps(acc, c));
        // SAFETY: `sums` holds 16 f32.
        unsafe { _mm512_storeu_ps(sums.as_mut_ptr(), total) };
    }
    out
}

/// `dot_4x2` written with AVX intrinsics: the compiler does not reliably keep the 8
/// accumulators of the portable version in registers. Same operations in the same order
/// (one fused multiply-add per value and lane; lanes summed left to right), so the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_4x2_avx2(rows: [&[f32]; 4], qs: [&[f32]; 2]) -> [[f32; 2]; 4] {
    use std::arch::x86_64::*;
    let dim = qs[0].len();
    assert!(dim.is_multiple_of(8) && rows.iter().chain(&qs).all(|v| v.len() == dim));
    let mut acc = [[_mm256_setzero_ps(); 2]; 4];
    for k in (0..dim).step_by(8) {
        // SAFETY: k + 8 <= dim = every slice's length (asserted above).
        let (q0, q1) = unsafe {
            (
                _mm256_loadu_ps(qs[0].as_ptr().add(k)),
                _mm256_loadu_ps(qs[1].as_ptr().add(k)),
            )
        };
        for (row, acc) in rows.iter().zip(acc.iter_mut()) {
            // SAFETY: as above.
            let x = unsafe { _mm256_loadu_ps(row.as_ptr().add(k)) };
            acc[0] = _mm256_fmadd_ps(q0, x, acc[0]);
            acc[1] = _mm256_fmadd_ps(q1, x, acc[1]);
        }
    }
    let mut out = [[0f32; 2]; 4];
    for (sums, acc) in out.iter_mut().zip(acc) {
        for (sum, v) in sums.iter_mut().zip(acc) {
            let mut lanes = [0f32; 8];
            // SAFETY: `lanes` holds 8 f32.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) };
            *sum = lanes.iter().sum();
        }
    }
    out
}

/// Four rows against two queries at once: each loaded lane feeds several products.
#[inline(always)]
fn dot_4x2(rows: [&[f32]; 4], qs: [&[f32]; 2]) -> [[f32; 2]; 4] {
    let mut acc = [[[0f32; 8]; 2]; 4];
    for k in (0..qs[0].len()).step_by(8) {
        let q = [&qs[0][k..k + 8], &qs[1][k..k + 8]];
        for (i, row) in rows.iter().enumerate() {
            let x = &row[k..k + 8];
            for j in 0..2 {
                for l in 0..8 {
                    acc[i][j][l] = q[j][l].mul_add(x[l], acc[i][j][l]);
                }
            }
        }
    }
    acc.map(|row| row.map(|lanes| lanes.iter().sum()))
}

/// Keeps the higher cosine; on a tie, the earlier row (so the answer never depends on threads).
pub(super) fn keep_best(slot: &mut (f32, usize), cosine: f32, row: usize) {
    if cosine > slot.0 || (cosine == slot.0 && row < slot.1) {
        *slot = (cosine, row);
    }
}

impl VectorIndex for ExactIndex {
    fn len(&self) -> usize {
        self.ids.len()
    }

    fn nearest(&self, queries: &[&[f32]]) -> Result<Vec<Option<Neighbour>>, IndexError> {
        if let Some(q) = queries.iter().find(|q| q.len() != self.dim) {
            return Err(IndexError::Dimension {
                expected: self.dim,
                found: q.len(),
            });
        }
        if self.ids.is_empty() || queries.is_empty() {
            return Ok(vec![None; queries.len()]);
        }
        let columns = Columns::new(
            Simd::detect(),
            queries.iter().map(|q| unit(q)).collect(),
            self.dim,
        );
        // Blocks of stored rows on all cores; each block is converted from f16 once (with the
        // CPU's F16C instructions when it has them) and every query is scored against it.
        let best = (0..self.ids.len().div_ceil(BLOCK))
            .into_par_iter()
            .map_init(LineAligned::default, |block, b| {
                let rows = b * BLOCK..((b + 1) * BLOCK).min(self.ids.len());
                self.block_into(rows.clone(), block);
                let mut best = vec![(f32::NEG_INFINITY, usize::MAX); columns.len()];
                best_of::scan(block, self.dim, rows.start, &columns, &mut best);
                best
            })
            .reduce(
                || vec![(f32::NEG_INFINITY, usize::MAX); columns.len()],
                |mut a, b| {
                    for (slot, (cosine, row)) in a.iter_mut().zip(b) {
                        keep_best(slot, cosine, row);
                    }
                    a
                },
            );
        Ok(best
            .into_iter()
            .map(|(cosine, i)| {
                // A query with NaN values matches nothing: its cosine is NaN, never a duplicate.
                Some(match self.ids.get(i) {
                    Some(id) => Neighbour {
                        id: id.clone(),
                        cosine,
                    },
                    None => Neighbour {
                        id: self.ids[0].clone(),
                        cosine: f32::NAN,
                    },
                })
            })
            .collect())
    }

    fn insert(&mut self, items: &[(String, Vec<f32>)]) -> Result<usize, IndexError> {
        let mut seen = HashSet::new();
        let new: Vec<&(String, Vec<f32>)> = items
            .iter()
            .filter(|(id, _)| !self.known.contains(id) && seen.insert(id.clone()))
            .collect();
        if let Some((_, v)) = new.iter().find(|(_, v)| v.len() != self.dim) {
            return Err(IndexError::Dimension {
                expected: self.dim,
                found: v.len(),
            });
        }
        if new.is_empty() {
            return Ok(0);
        }
        let (vec_path, ids_path) = (self.dir.join(VECTORS), self.dir.join(IDS));
        let mut bytes = Vec::with_capacity(new.len() * self.dim * 2);
        for (_, v) in &new {
            bytes.extend(unit(v).iter().flat_map(|x| f16::from_f32(*x).to_le_bytes()));
        }
        let mut vectors = OpenOptions::new()
            .append(true)
            .open(&vec_path)
            .map_err(io(&vec_path))?;
        vectors
            .write_all(&bytes)
            .and_then(|_| vectors.sync_all())
            .map_err(io(&vec_path))?;
        let mut ids = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&ids_path)
            .map_err(io(&ids_path))?;
        let text: String = new.iter().map(|(id, _)| format!("{id}\n")).collect();
        ids.write_all(text.as_bytes())
            .and_then(|_| ids.sync_all())
            .map_err(io(&ids_path))?;
        // The commit point: only now do the appended rows count.
        let count = self.ids.len() + new.len();
        let meta = Meta {
            count,
            dim: self.dim,
            format: "f16 unit vectors, little-endian".into(),
        };
        let meta_path = self.dir.join(META);
        crate::fsutil::write_atomic(
            &meta_path,
            &serde_json::to_vec(&meta).expect("meta serialises"),
        )
        .map_err(io(&meta_path))?;
        for (id, _) in &new {
            self.ids.push(id.clone());
            self.known.insert(id.clone());
        }
        self.remap()?;
        Ok(new.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(seed: u64) -> Vec<f32> {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..EMBEDDING_DIM).map(|_| rng.f32() - 0.5).collect()
    }

    /// The tiled scan must pick exactly what one `dot` per (query, row) picks, ties and ragged
    /// edges (rows and queries not multiples of the register tile) included.
    /// Every value of the AVX-512 kernel has the bits of `dot` (on CPUs with AVX-512; the
    /// dispatching scan below covers the others): 8- and 4-row tiles, steps of 6, 4 and 2
    /// queries, an odd count (padded with a zero query), and a dimension that is a multiple of
    /// neither the chunk nor 16 (Focus text embeddings are not 1024-d).
    #[test]
    fn the_avx512_kernel_gives_the_bits_of_dot() {
        if !has_avx512() {
            return;
        }
        for dim in [EMBEDDING_DIM, 392] {
            let vector = |seed: u64| vector(seed)[..dim].to_vec();
            let rows: Vec<Vec<f32>> = (0..8).map(|i| vector(200 + i)).collect();
            for n in [1usize, 4, 5, 6, 11] {
                let qs = Queries::new((0..n).map(|i| vector(300 + i as u64)).collect());
                let (mut eight, mut four) = (vec![], vec![]);
                // SAFETY: the CPU has AVX-512 F and DQ (checked above).
                unsafe {
                    tile_pass::<8>(
                        std::array::from_fn(|i| &rows[i][..]),
                        &qs.panel,
                        &mut |q, c| eight.extend(c.iter().enumerate().map(|(i, &d)| (q, i, d))),
                    );
                    tile_pass::<4>(
                        std::array::from_fn(|i| &rows[i][..]),
                        &qs.panel,
                        &mut |q, c| four.extend(c.iter().enumerate().map(|(i, &d)| (q, i, d))),
                    );
                }
                let padded = n.next_multiple_of(2);
                assert_eq!((eight.len(), four.len()), (8 * padded, 4 * padded));
                for (q, i, d) in eight.into_iter().chain(four) {
                    let want = qs.units.get(q).map_or(0.0, |q| dot(q, &rows[i]));
                    assert_eq!(
                        d.to_bits(),
                        want.to_bits(),
                        "dim {dim}, {n} queries: row {i} query {q}"
                    );
                }
            }
        }
    }

    /// Keeps in `best` each query's best of the cosines `score_block` hands over.
    fn keep<'a>(best: &'a mut [(f32, usize)]) -> impl FnMut(usize, usize, &[f32]) + 'a {
        |q, first, cosines| {
            for (i, &cosine) in cosines.iter().enumerate() {
                keep_best(&mut best[q], cosine, first + i);
            }
        }
    }

    /// The IVF lists' scan (`score_block`) picks exactly what one `dot` per pair picks.
    #[test]
    fn tiled_scan_equals_one_dot_per_pair() {
        // 15 rows: a step of 8, one of 4 and a ragged 3 for the AVX-512 scan.
        let rows: Vec<f32> = (0..15).flat_map(|i| unit(&vector(100 + i % 5))).collect();
        // 67 queries: full tiles and steps, a step of 2 and an odd count; 1 and 5: no full step.
        for n in [1, 5, 67] {
            let queries: Vec<Vec<f32>> = (0..n).map(|i| unit(&vector(100 + i % 9))).collect();
            // The dispatching scan (AVX2 here when the CPU has it) and the portable kernel.
            let mut best = vec![(f32::NEG_INFINITY, usize::MAX); queries.len()];
            score_block(
                &rows,
                EMBEDDING_DIM,
                10,
                &Queries::new(queries.clone()),
                &mut keep(&mut best),
            );
            let mut portable = vec![(f32::NEG_INFINITY, usize::MAX); queries.len()];
            scan_tiles(
                &rows,
                EMBEDDING_DIM,
                10,
                &queries,
                &mut keep(&mut portable),
                dot_4x2,
            );
            assert_eq!(best, portable);
            for (q, got) in queries.iter().zip(&best) {
                let mut want = (f32::NEG_INFINITY, usize::MAX);
                for (r, row) in rows.chunks_exact(EMBEDDING_DIM).enumerate() {
                    keep_best(&mut want, dot(q, row), 10 + r);
                }
                assert_eq!(got.0.to_bits(), want.0.to_bits());
                assert_eq!(got.1, want.1, "rows 5.. repeat rows 0..5: the earlier wins");
            }
        }
    }

    #[test]
    fn a_nan_query_matches_nothing() {
        let dir = std::env::temp_dir().join(format!("omega-index-nan-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut index = ExactIndex::open(&dir).unwrap();
        index.insert(&[("a".into(), vector(1))]).unwrap();
        let hit = index.nearest(&[&vec![f32::NAN; EMBEDDING_DIM]]).unwrap()[0].clone();
        assert!(hit.unwrap().cosine.is_nan());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn finds_the_nearest_and_survives_a_torn_append() {
        let dir = std::env::temp_dir().join(format!("omega-index-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut index = ExactIndex::open(&dir).unwrap();
        assert_eq!(
            index.nearest(&[&vector(1)]).unwrap(),
            vec![None],
            "empty index: no neighbour"
        );
        let items: Vec<(String, Vec<f32>)> =
            (0..5000).map(|i| (format!("v{i}"), vector(i))).collect();
        assert_eq!(index.insert(&items).unwrap(), 5000);
        assert_eq!(
            index.insert(&items[..10]).unwrap(),
            0,
            "ids already stored are skipped"
        );
        let mut near = vector(4321);
        near[0] += 0.01;
        let hit = index.nearest(&[&near]).unwrap()[0].clone().unwrap();
        assert_eq!(hit.id, "v4321");
        assert!(hit.cosine > 0.99);
        // A killed insert leaves bytes past the committed count: they are dropped on open.
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join(VECTORS))
            .unwrap()
            .write_all(&[1, 2, 3])
            .unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join(IDS))
            .unwrap()
            .write_all(b"ghost\n")
            .unwrap();
        let reopened = ExactIndex::open(&dir).unwrap();
        assert_eq!(reopened.len(), 5000);
        assert!(!reopened.ids().contains(&"ghost".to_string()));
        assert_eq!(
            reopened.nearest(&[&near]).unwrap()[0].as_ref().unwrap().id,
            "v4321"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// An index of another dimension (text-model embeddings) finds what brute force finds,
    /// remembers its dimension, and refuses vectors and reopenings of any other.
    #[test]
    fn other_dimensions_match_brute_force() {
        let dir = std::env::temp_dir().join(format!("omega-index-384-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let v = |seed: u64| -> Vec<f32> { vector(seed)[..384].to_vec() };
        let mut index = ExactIndex::open_with_dim(&dir, 384).unwrap();
        let items: Vec<(String, Vec<f32>)> = (0..300).map(|i| (format!("t{i}"), v(i))).collect();
        index.insert(&items).unwrap();
        for q in 1000..1020 {
            let query = v(q);
            let got = index.nearest(&[&query]).unwrap()[0].clone().unwrap();
            let want = (0..index.len())
                .map(|i| (best_of::cosine(&unit(&query), &index.vector(i)), i))
                .fold((f32::NEG_INFINITY, 0), |a, b| if b.0 > a.0 { b } else { a });
            assert_eq!(got.id, index.ids()[want.1]);
            assert_eq!(got.cosine.to_bits(), want.0.to_bits());
        }
        assert!(matches!(
            index.nearest(&[&vector(1)]),
            Err(IndexError::Dimension {
                expected: 384,
                found: 1024
            })
        ));
        assert!(matches!(
            ExactIndex::open(&dir),
            Err(IndexError::Dimension {
                expected: 384,
                found: 1024
            })
        ));
        let first = index.vector(0);
        let except = index.nearest_except(&first, "t0").unwrap().unwrap();
        assert_ne!(except.id, "t0", "the excluded id is never the answer");
        let want = (1..index.len())
            .map(|i| (best_of::cosine(&unit(&first), &index.vector(i)), i))
            .fold((f32::NEG_INFINITY, 0), |a, b| if b.0 > a.0 { b } else { a });
        assert_eq!(except.id, index.ids()[want.1]);
        assert_eq!(except.cosine.to_bits(), want.0.to_bits());
        assert!(ExactIndex::open_with_dim(&dir.join("odd"), 100).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
