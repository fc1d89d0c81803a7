//! The exact scan's kernels: each query's best stored row, with every cosine summed in the
//! order of its dimensions (`s = fma(q[k], x[k], s)` for k = 0, 1, …; see [`cosine`]). That is
//! the order of a BLAS product: a register holds one sum per lane (16 queries against one
//! row), so no lane is ever added to another, and the best-so-far of 16 queries is kept with
//! one comparison. The kernel it replaces summed 8 lanes per cosine in the order of
//! `vector::dot`; those lane sums and the hand-off of each sum cost the scan a fifth of its
//! time on an Intel Xeon (BENCHMARKS.md).
//!
//! The AVX-512, AVX2 and portable scans compute exactly [`cosine`], lane by lane, so results
//! do not depend on the CPU; the other backends report [`cosine`] for the rows they find.

use super::exact::{keep_best, LineAligned};

/// The index's cosine of two unit vectors: one fused multiply-add per dimension, in order.
/// Every backend reports this value, bit for bit, for the rows it returns.
pub fn cosine(q: &[f32], x: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if crate::vector::has_avx2_fma() {
        // SAFETY: the CPU has FMA, checked just above.
        return unsafe { cosine_fma(q, x) };
    }
    cosine_in_order(q, x)
}

/// [`cosine_in_order`] compiled with FMA, where `mul_add` is one instruction.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn cosine_fma(q: &[f32], x: &[f32]) -> f32 {
    cosine_in_order(q, x)
}

#[inline(always)]
fn cosine_in_order(q: &[f32], x: &[f32]) -> f32 {
    q.iter().zip(x).fold(0.0, |s, (a, b)| a.mul_add(*b, s))
}

/// Which scan runs here: the widest vectors the CPU has.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Simd {
    Avx512,
    Avx2,
    Portable,
}

impl Simd {
    pub(super) fn detect() -> Simd {
        [Simd::Avx512, Simd::Avx2]
            .into_iter()
            .find(|simd| simd.runs_here())
            .unwrap_or(Simd::Portable)
    }

    /// Whether this CPU has the instructions of this scan.
    fn runs_here(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => std::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => crate::vector::has_avx2_fma(),
            #[cfg(not(target_arch = "x86_64"))]
            Simd::Avx512 | Simd::Avx2 => false,
            Simd::Portable => true,
        }
    }

    /// Queries in one register.
    fn lanes(self) -> usize {
        match self {
            Simd::Avx512 => 16,
            Simd::Avx2 | Simd::Portable => 8,
        }
    }
}

/// Queries scored together against each row: 3 registers of them.
const TILE_REGISTERS: usize = 3;

/// The queries of one search in columns, as the scan reads them: tile after tile of up to
/// 3 registers of queries (48 with AVX-512, 24 with AVX2), in each tile dimension after
/// dimension, the tile's values side by side; the last tile is padded with zero queries to
/// whole registers. The portable scan reads the queries as they are, and has no columns.
pub(super) struct Columns {
    kernel: Simd,
    dim: usize,
    units: Vec<Vec<f32>>,
    panel: LineAligned,
}

impl Columns {
    pub(super) fn new(kernel: Simd, units: Vec<Vec<f32>>, dim: usize) -> Columns {
        // The scans' safety rests on this: a kernel only runs where its instructions exist.
        assert!(kernel.runs_here(), "{kernel:?} does not run on this CPU");
        let tile = kernel.lanes() * TILE_REGISTERS;
        if kernel == Simd::Portable {
            let panel = LineAligned::default();
            return Columns {
                kernel,
                dim,
                units,
                panel,
            };
        }
        let padded = units.len().next_multiple_of(kernel.lanes());
        let mut panel = LineAligned::zeroed(padded * dim);
        for (t, queries) in units.chunks(tile).enumerate() {
            let width = queries.len().next_multiple_of(kernel.lanes());
            let columns = &mut panel[t * tile * dim..][..width * dim];
            for (j, q) in queries.iter().enumerate() {
                for (k, &value) in q.iter().enumerate() {
                    columns[k * width + j] = value;
                }
            }
        }
        Columns {
            kernel,
            dim,
            units,
            panel,
        }
    }

    /// The number of queries.
    pub(super) fn len(&self) -> usize {
        self.units.len()
    }

    /// Each tile: its first query, its queries, its columns (`dim` × padded width values).
    fn tiles(&self) -> impl Iterator<Item = (usize, usize, &[f32])> + '_ {
        let tile = self.kernel.lanes() * TILE_REGISTERS;
        (0..self.len()).step_by(tile).map(move |first| {
            let queries = tile.min(self.len() - first);
            let width = queries.next_multiple_of(self.kernel.lanes());
            (
                first,
                queries,
                &self.panel[first * self.dim..][..width * self.dim],
            )
        })
    }
}

/// Keeps in `best[q]` query `q`'s best `(cosine, row)` among `rows` (row-major, `dim` values
/// each; row 0 is `first_row`): higher cosine, the earlier row on a tie, NaN never.
pub(super) fn scan(
    rows: &[f32],
    dim: usize,
    first_row: usize,
    queries: &Columns,
    best: &mut [(f32, usize)],
) {
    debug_assert_eq!(queries.dim, dim);
    if rows.is_empty() {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    match queries.kernel {
        // SAFETY: `Columns::new` refuses a kernel this CPU cannot run.
        Simd::Avx512 => return unsafe { x86::scan_avx512(rows, dim, first_row, queries, best) },
        Simd::Avx2 => return unsafe { x86::scan_avx2(rows, dim, first_row, queries, best) },
        Simd::Portable => {}
    }
    for (i, row) in rows.chunks_exact(dim).enumerate() {
        for (slot, q) in best.iter_mut().zip(&queries.units) {
            keep_best(slot, cosine_in_order(q, row), first_row + i);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{keep_best, Columns};
    use std::arch::x86_64::*;

    /// Dimensions ahead of the one being read that the kernels prefetch the queries of.
    const AHEAD: usize = 8;

    /// The scan with 16-query registers, 8 rows at a time (24 accumulators of 32).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn scan_avx512(
        rows: &[f32],
        dim: usize,
        first_row: usize,
        queries: &Columns,
        best: &mut [(f32, usize)],
    ) {
        scan_with::<__m512, 8>(rows, dim, first_row, queries, best)
    }

    /// The scan with 8-query registers, 4 rows at a time (12 accumulators of 16).
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn scan_avx2(
        rows: &[f32],
        dim: usize,
        first_row: usize,
        queries: &Columns,
        best: &mut [(f32, usize)],
    ) {
        scan_with::<__m256, 4>(rows, dim, first_row, queries, best)
    }

    /// One register of sums, 16 or 8 queries against one row, and what the scan does with it.
    /// Every method is inlined into the entry point above that enables its instructions.
    trait Sums: Copy {
        const LANES: usize;
        /// The block rows of a register's best sums so far, lane by lane.
        type Rows: Copy;
        unsafe fn zero() -> Self;
        unsafe fn splat(x: f32) -> Self;
        unsafe fn load(values: *const f32) -> Self;
        /// `self + q · x`, rounded once.
        unsafe fn add_product(self, q: Self, x: Self) -> Self;
        unsafe fn no_rows() -> Self::Rows;
        /// Where `self` beats `top` (strictly, so NaN never does), `top` takes it and `at`
        /// takes `row`.
        unsafe fn keep_into(self, top: &mut Self, at: &mut Self::Rows, row: i32);
        unsafe fn store(self, at: Self::Rows, cosines: *mut f32, rows: *mut i32);
    }

    impl Sums for __m512 {
        const LANES: usize = 16;
        type Rows = __m512i;
        #[inline(always)]
        unsafe fn zero() -> Self {
            _mm512_setzero_ps()
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            _mm512_set1_ps(x)
        }
        #[inline(always)]
        unsafe fn load(values: *const f32) -> Self {
            _mm512_loadu_ps(values)
        }
        #[inline(always)]
        unsafe fn add_product(self, q: Self, x: Self) -> Self {
            _mm512_fmadd_ps(q, x, self)
        }
        #[inline(always)]
        unsafe fn no_rows() -> Self::Rows {
            _mm512_set1_epi32(-1)
        }
        #[inline(always)]
        unsafe fn keep_into(self, top: &mut Self, at: &mut Self::Rows, row: i32) {
            let better = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(self, *top);
            *top = _mm512_mask_mov_ps(*top, better, self);
            *at = _mm512_mask_mov_epi32(*at, better, _mm512_set1_epi32(row));
        }
        #[inline(always)]
        unsafe fn store(self, at: Self::Rows, cosines: *mut f32, rows: *mut i32) {
            _mm512_storeu_ps(cosines, self);
            _mm512_storeu_si512(rows.cast(), at);
        }
    }

    impl Sums for __m256 {
        const LANES: usize = 8;
        type Rows = __m256i;
        #[inline(always)]
        unsafe fn zero() -> Self {
            _mm256_setzero_ps()
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            _mm256_set1_ps(x)
        }
        #[inline(always)]
        unsafe fn load(values: *const f32) -> Self {
            _mm256_loadu_ps(values)
        }
        #[inline(always)]
        unsafe fn add_product(self, q: Self, x: Self) -> Self {
            _mm256_fmadd_ps(q, x, self)
        }
        #[inline(always)]
        unsafe fn no_rows() -> Self::Rows {
            _mm256_set1_epi32(-1)
        }
        #[inline(always)]
        unsafe fn keep_into(self, top: &mut Self, at: &mut Self::Rows, row: i32) {
            let better = _mm256_cmp_ps::<_CMP_GT_OQ>(self, *top);
            *top = _mm256_blendv_ps(*top, self, better);
            let rows = _mm256_castsi256_ps(_mm256_set1_epi32(row));
            *at = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(*at), rows, better));
        }
        #[inline(always)]
        unsafe fn store(self, at: Self::Rows, cosines: *mut f32, rows: *mut i32) {
            _mm256_storeu_ps(cosines, self);
            _mm256_storeu_si256(rows.cast(), at);
        }
    }

    /// Every tile of queries against every row: each tile takes 1 to 3 registers.
    #[inline(always)]
    unsafe fn scan_with<S: Sums, const WIDE: usize>(
        rows: &[f32],
        dim: usize,
        first_row: usize,
        queries: &Columns,
        best: &mut [(f32, usize)],
    ) {
        for (first, count, columns) in queries.tiles() {
            let best = &mut best[first..first + count];
            match count.div_ceil(S::LANES) {
                3 => tile::<S, WIDE, 3>(rows, dim, first_row, columns, best),
                2 => tile::<S, WIDE, 2>(rows, dim, first_row, columns, best),
                _ => tile::<S, WIDE, 1>(rows, dim, first_row, columns, best),
            }
        }
    }

    /// Every row against one tile of `V` registers of queries: `WIDE` rows at a time (then 4,
    /// then 1), each row's cosines compared with the tile's best so far in registers.
    #[inline(always)]
    unsafe fn tile<S: Sums, const WIDE: usize, const V: usize>(
        rows: &[f32],
        dim: usize,
        first_row: usize,
        columns: &[f32],
        best: &mut [(f32, usize)],
    ) {
        let n_rows = rows.len() / dim;
        let mut top = [S::splat(f32::NEG_INFINITY); V];
        let mut at = [S::no_rows(); V];
        let mut r0 = 0;
        while r0 < n_rows {
            let left = n_rows - r0;
            let step = if left >= WIDE {
                WIDE
            } else if left >= 4 {
                4
            } else {
                1
            };
            let block = &rows[r0 * dim..(r0 + step) * dim];
            if step == WIDE {
                rows_against::<S, WIDE, V>(block, columns, r0, &mut top, &mut at);
            } else if step == 4 {
                rows_against::<S, 4, V>(block, columns, r0, &mut top, &mut at);
            } else {
                rows_against::<S, 1, V>(block, columns, r0, &mut top, &mut at);
            }
            r0 += step;
        }
        let (mut cosines, mut found) = ([0f32; 48], [0i32; 48]);
        for v in 0..V {
            // SAFETY: both arrays hold 48 ≥ LANES (v + 1) values (V ≤ 3, LANES ≤ 16).
            top[v].store(
                at[v],
                cosines.as_mut_ptr().add(S::LANES * v),
                found.as_mut_ptr().add(S::LANES * v),
            );
        }
        for (slot, (&cosine, &row)) in best.iter_mut().zip(cosines.iter().zip(&found)) {
            if let Ok(row) = usize::try_from(row) {
                keep_best(slot, cosine, first_row + row);
            }
        }
    }

    /// `R` rows (`block`, row-major) against the tile: each lane sums `q[k] · x[k]` over k in
    /// order, then each query's best so far is kept where a row beats it (strictly: the
    /// earlier row wins a tie; NaN never wins).
    #[inline(always)]
    unsafe fn rows_against<S: Sums, const R: usize, const V: usize>(
        block: &[f32],
        columns: &[f32],
        r0: usize,
        top: &mut [S; V],
        at: &mut [S::Rows; V],
    ) {
        let dim = block.len() / R;
        let width = S::LANES * V;
        assert!(columns.len() == width * dim && block.len() == R * dim);
        let rows: [*const f32; R] = std::array::from_fn(|i| block.as_ptr().wrapping_add(i * dim));
        let mut acc = [[S::zero(); V]; R];
        for k in 0..dim {
            let q = columns.as_ptr().wrapping_add(width * k);
            for line in 0..width.div_ceil(16) {
                // A prefetch is only a hint: it never faults, and nothing is read through it.
                _mm_prefetch::<_MM_HINT_T0>(q.wrapping_add(width * AHEAD + 16 * line).cast());
            }
            // SAFETY: width (k + 1) ≤ width dim = the columns' length (asserted above).
            let qs: [S; V] = std::array::from_fn(|v| S::load(q.add(S::LANES * v)));
            for (row, acc) in rows.iter().zip(acc.iter_mut()) {
                // SAFETY: k < dim, and each row holds dim values (asserted above).
                let x = S::splat(*row.add(k));
                for (acc, q) in acc.iter_mut().zip(qs) {
                    *acc = acc.add_product(q, x);
                }
            }
        }
        for (i, acc) in acc.iter().enumerate() {
            for (sums, (top, at)) in acc.iter().zip(top.iter_mut().zip(at.iter_mut())) {
                sums.keep_into(top, at, (r0 + i) as i32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit_vector(seed: u64, dim: usize) -> Vec<f32> {
        let mut rng = fastrand::Rng::with_seed(seed);
        crate::vector::unit(&(0..dim).map(|_| rng.f32() - 0.5).collect::<Vec<_>>())
    }

    /// The scans this CPU can run.
    fn kernels() -> Vec<Simd> {
        [Simd::Portable, Simd::Avx2, Simd::Avx512]
            .into_iter()
            .filter(|simd| simd.runs_here())
            .collect()
    }

    /// Each query's best by brute force over [`cosine`]: the earlier row on a tie.
    fn brute_force(rows: &[Vec<f32>], queries: &[Vec<f32>], first: usize) -> Vec<(f32, usize)> {
        queries
            .iter()
            .map(|q| {
                let mut best = (f32::NEG_INFINITY, usize::MAX);
                for (r, row) in rows.iter().enumerate() {
                    keep_best(&mut best, cosine(q, row), first + r);
                }
                best
            })
            .collect()
    }

    /// Every kernel gives every cosine the bits of [`cosine`] (one row at a time, so each
    /// query's best is that row's cosine), for tiles of 1–3 registers, several tiles, a
    /// dimension of Focus text embeddings (384) and one that is not a multiple of 16 (392).
    #[test]
    fn every_kernel_gives_the_bits_of_cosine() {
        for dim in [1024, 392, 384] {
            let rows: Vec<Vec<f32>> = (0..3).map(|i| unit_vector(200 + i, dim)).collect();
            for n in [1usize, 5, 16, 17, 33, 48, 67] {
                let queries: Vec<Vec<f32>> =
                    (0..n).map(|i| unit_vector(300 + i as u64, dim)).collect();
                for kernel in kernels() {
                    let columns = Columns::new(kernel, queries.clone(), dim);
                    for (r, row) in rows.iter().enumerate() {
                        let mut best = vec![(f32::NEG_INFINITY, usize::MAX); n];
                        scan(row, dim, 7 + r, &columns, &mut best);
                        for (q, (got, want)) in best.iter().zip(&queries).enumerate() {
                            let want = cosine(want, row);
                            assert_eq!(
                                (got.0.to_bits(), got.1),
                                (want.to_bits(), 7 + r),
                                "{kernel:?}, dim {dim}, {n} queries: row {r} query {q}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// Over many rows (steps of 8, 4 and single rows; rows repeated, so ties) every kernel
    /// keeps what brute force keeps: the higher cosine, the earlier row on a tie.
    #[test]
    fn every_kernel_keeps_the_best_and_the_earlier_of_a_tie() {
        let dim = 1024;
        // 23 rows: 8 + 8 + 4 + 1 + 1 + 1 with AVX-512, 4 × 5 + 3 with AVX2.
        let rows: Vec<Vec<f32>> = (0..23).map(|i| unit_vector(100 + i % 7, dim)).collect();
        let flat: Vec<f32> = rows.concat();
        for n in [1usize, 5, 67] {
            let queries: Vec<Vec<f32>> = (0..n as u64)
                .map(|i| unit_vector(100 + i % 11, dim))
                .collect();
            let want = brute_force(&rows, &queries, 40);
            for kernel in kernels() {
                let mut best = vec![(f32::NEG_INFINITY, usize::MAX); n];
                scan(
                    &flat,
                    dim,
                    40,
                    &Columns::new(kernel, queries.clone(), dim),
                    &mut best,
                );
                assert_eq!(best, want, "{kernel:?}, {n} queries");
            }
        }
    }

    /// A NaN query keeps nothing; nor does an empty block.
    #[test]
    fn nan_queries_and_empty_blocks_keep_nothing() {
        let dim = 64;
        let queries = vec![vec![f32::NAN; dim], unit_vector(1, dim)];
        let row = unit_vector(2, dim);
        for kernel in kernels() {
            let columns = Columns::new(kernel, queries.clone(), dim);
            let mut best = vec![(f32::NEG_INFINITY, usize::MAX); 2];
            scan(&[], dim, 0, &columns, &mut best);
            assert_eq!(best[1], (f32::NEG_INFINITY, usize::MAX), "{kernel:?}");
            scan(&row, dim, 3, &columns, &mut best);
            assert_eq!(best[0].1, usize::MAX, "{kernel:?}: NaN matched a row");
            assert_eq!(best[1], (cosine(&queries[1], &row), 3), "{kernel:?}");
        }
    }
}
