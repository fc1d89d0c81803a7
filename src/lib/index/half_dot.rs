//! The ANN graph's distance: 1 − dot product of two f16 unit vectors. usearch's built-in f16
//! cosine (NumKong's `nk_angular_f16_*`) keeps one fused multiply-add chain per sum and
//! recomputes both norms on every call, so each 16 values wait for the previous FMA to finish:
//! it took 78 % of an HNSW build and search (perf, 100 k vectors). The stored vectors and the
//! queries are unit vectors already, so the dot product alone ranks them; four independent sums
//! keep the FMA units busy instead of waiting on their latency.

use half::f16;

/// A dot product of two f16 slices of one length, summed in f32.
pub(super) type DotF16 = fn(&[f16], &[f16]) -> f32;

/// The fastest kernel this CPU runs (checked once, when a graph is opened).
pub(super) fn best_kernel() -> DotF16 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            return |a, b| unsafe { dot_avx512(a, b) };
        }
        if has_avx2_f16c() {
            return |a, b| unsafe { dot_avx2(a, b) };
        }
    }
    dot_portable
}

#[cfg(target_arch = "x86_64")]
fn has_avx2_f16c() -> bool {
    std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("f16c")
        && std::is_x86_feature_detected!("fma")
}

pub(super) fn dot_portable(a: &[f16], b: &[f16]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x.to_f32() * y.to_f32()).sum()
}

/// 64 values a step in four 16-lane sums; the tail (dimensions not a multiple of 64) in scalar.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dot_avx512(a: &[f16], b: &[f16]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr().cast::<__m256i>(), b.as_ptr().cast::<__m256i>());
    let mut sums = [_mm512_setzero_ps(); 4];
    let steps = n / 64;
    for step in 0..steps {
        for (lane, sum) in sums.iter_mut().enumerate() {
            let at = step * 4 + lane;
            // SAFETY: `at` 16-value groups lie within both slices (at < n / 16).
            let (x, y) = unsafe {
                (
                    _mm512_cvtph_ps(_mm256_loadu_si256(pa.add(at))),
                    _mm512_cvtph_ps(_mm256_loadu_si256(pb.add(at))),
                )
            };
            *sum = _mm512_fmadd_ps(x, y, *sum);
        }
    }
    let total = _mm512_add_ps(
        _mm512_add_ps(sums[0], sums[1]),
        _mm512_add_ps(sums[2], sums[3]),
    );
    _mm512_reduce_add_ps(total) + dot_portable(&a[steps * 64..n], &b[steps * 64..n])
}

/// 32 values a step in four 8-lane sums (AVX2 with F16C conversion).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,f16c,fma")]
unsafe fn dot_avx2(a: &[f16], b: &[f16]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr().cast::<__m128i>(), b.as_ptr().cast::<__m128i>());
    let mut sums = [_mm256_setzero_ps(); 4];
    let steps = n / 32;
    for step in 0..steps {
        for (lane, sum) in sums.iter_mut().enumerate() {
            let at = step * 4 + lane;
            // SAFETY: `at` 8-value groups lie within both slices (at < n / 8).
            let (x, y) = unsafe {
                (
                    _mm256_cvtph_ps(_mm_loadu_si128(pa.add(at))),
                    _mm256_cvtph_ps(_mm_loadu_si128(pb.add(at))),
                )
            };
            *sum = _mm256_fmadd_ps(x, y, *sum);
        }
    }
    let total = _mm256_add_ps(
        _mm256_add_ps(sums[0], sums[1]),
        _mm256_add_ps(sums[2], sums[3]),
    );
    let mut lanes = [0f32; 8];
    // SAFETY: `lanes` holds 8 f32.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), total) };
    lanes.iter().sum::<f32>() + dot_portable(&a[steps * 32..n], &b[steps * 32..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn halves(seed: u64, n: usize) -> Vec<f16> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                f16::from_f32(((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) / 16.0)
            })
            .collect()
    }

    fn exact(a: &[f16], b: &[f16]) -> f64 {
        a.iter().zip(b).map(|(x, y)| x.to_f64() * y.to_f64()).sum()
    }

    #[test]
    fn every_kernel_gives_the_dot_product_at_every_length() {
        let mut kernels: Vec<(&str, DotF16)> =
            vec![("portable", dot_portable), ("best", best_kernel())];
        #[cfg(target_arch = "x86_64")]
        if has_avx2_f16c() {
            kernels.push(("avx2", |a, b| unsafe { dot_avx2(a, b) }));
        }
        for n in [0, 1, 15, 31, 32, 63, 64, 100, 1024, 1031] {
            let (a, b) = (halves(n as u64 + 1, n), halves(n as u64 + 99, n));
            let want = exact(&a, &b);
            for (name, kernel) in &kernels {
                let got = kernel(&a, &b) as f64;
                assert!(
                    (got - want).abs() <= 1e-5,
                    "{name} at {n} values: {got} vs {want}"
                );
            }
        }
    }
}
