//! Vector maths on embeddings, in one place: cosine similarity, unit vectors and the dot
//! product the IVF lists' scan agrees with bit for bit.

/// Cosine similarity of two embeddings, accumulated in f64 (the stages compare it to
/// thresholds such as 0.95, so it must not depend on summation order).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    (dot / (na * nb).max(1e-30)) as f32
}

/// `v` scaled to length 1 (a zero vector stays zero).
pub fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter().map(|x| x / n).collect()
}

/// Dot product with 8 independent accumulators, one fused multiply-add per value and lane
/// (lanes summed left to right, a tail of fewer than 8 values added last). The IVF lists'
/// kernels compute the same sums in the same order, so they agree with it bit for bit on every
/// CPU (the exact scan sums in dimension order instead: `index::best_of`): with AVX2 and FMA here, elsewhere through `f32::mul_add`, which rounds the same way.
/// Fused, because on CPUs whose multiply and add share ports (Intel's) a separate multiply and
/// add cost twice the instructions of one FMA.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { dot_avx2_fma(a, b) };
    }
    dot_lanes(a, b)
}

/// Whether the CPU has AVX2 and FMA (every x86-64 CPU since 2013 but a few low-power ones).
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx2_fma() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

/// [`dot_lanes`] compiled for AVX2 and FMA, where `mul_add` is one instruction.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2_fma(a: &[f32], b: &[f32]) -> f32 {
    dot_lanes(a, b)
}

#[inline(always)]
fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] = x[k].mul_add(y[k], acc[k]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_unit_and_dot_agree() {
        let a: Vec<f32> = (0..20).map(|i| (i as f32 * 0.7).sin()).collect();
        let b: Vec<f32> = (0..20).map(|i| (i as f32 * 0.3).cos()).collect();
        let by_units = dot(&unit(&a), &unit(&b));
        assert!((cosine(&a, &b) - by_units).abs() < 1e-6);
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-6);
        // The tail past the last full 8 lanes counts.
        assert_eq!(dot(&[1.0; 9], &[2.0; 9]), 18.0);
        assert_eq!(unit(&[0.0, 0.0]), vec![0.0, 0.0]);
    }

    /// The dispatched `dot` (AVX2 and FMA here) has the bits of the portable one.
    #[test]
    fn dot_is_the_same_with_and_without_simd() {
        let mut rng = fastrand::Rng::with_seed(7);
        for len in [8, 1024, 1027] {
            let a: Vec<f32> = (0..len).map(|_| rng.f32() - 0.5).collect();
            let b: Vec<f32> = (0..len).map(|_| rng.f32() - 0.5).collect();
            assert_eq!(
                dot(&a, &b).to_bits(),
                dot_lanes(&a, &b).to_bits(),
                "len {len}"
            );
        }
    }
}
