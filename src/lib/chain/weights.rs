//! The Python SDK's weight processing, bit for bit: what a validator does to its scores before
//! `set_weights`. Ported from bittensor 9.10.1 `bittensor/utils/weight_utils.py` (the same
//! logic in 9.12.2 and 10.2.0), numpy path:
//!
//! * [`process_weights`] = `process_weights` / `process_weights_for_netuid` (keep positive
//!   weights, uniform fallback, the `min_allowed_weights` fill, the exclude quantile,
//!   [`normalize_max_weight`]);
//! * [`convert_weights_and_uids_for_emit`] = the same name: max-upscaling to `u16` with Python's
//!   `round` (ties to even);
//! * [`version_as_int`] = `bittensor.core.settings.version_as_int`.
//!
//! "Bit for bit" means reproducing numpy's arithmetic, not just the formulas: the SDK casts the
//! weights to float32 and numpy 2 (NEP 50) keeps float32 wherever a Python scalar meets a float32
//! value, sums with pairwise summation in blocks of 8192, accumulates `cumsum` sequentially, and
//! computes `quantile` in the array's dtype. Each step below says which dtype the SDK uses there.
//! Two branches of `process_weights` compute in float64 (the uniform fallback and the
//! fewer-than-`min_allowed_weights` fill), so the processed weights are returned as `f64`
//! (float32 results widen exactly). `tests/it/weights.rs` compares 1000 random cases with the
//! real SDK: identical uids and `u16` weights, and identical processed weights.
//!
//! Where omega deliberately differs: the SDK silently treats NaN and negative weights as zero
//! (`weights > 0` is false for them) and fails late on infinities (an infinite weight turns the
//! quantile or the normalisation into NaN, which drops every weight or makes
//! `convert_weights_and_uids_for_emit` raise); omega refuses all three up front with a
//! [`WeightsError`], as it refuses uids and weights of different lengths.
//!
//! numpy versus torch: OMEGA's neurons set `USE_TORCH=1`, and the SDK's torch path is not the
//! same arithmetic. Where fewer weights than `min_allowed_weights` are positive, torch fills and
//! normalises in float32 where numpy uses float64; about 1 case in 400 then differs by one unit
//! in one `u16` weight. omega follows the SDK's default numpy path; the chain accepts both.

use crate::uid::Uid;

/// The chain's weight scale: a weight is a `u16`, the largest one is `U16_MAX`.
pub const U16_MAX: u16 = u16::MAX;

/// `normalize_max_weight`'s "numerical stability" epsilon.
const EPSILON: f64 = 1e-7;

/// The weight every neuron gets before the positive weights are added, in the
/// fewer-than-`min_allowed_weights` branch (`np.ones(n) * 1e-5`).
const FILL_WEIGHT: f64 = 1e-5;

/// numpy's reduction buffer (`NPY_BUFSIZE`): `sum` adds the pairwise sums of 8192-element blocks.
const NUMPY_BLOCK: usize = 8192;

/// Why weights cannot be processed or emitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeightsError {
    #[error("weight {value} at position {index} is not a finite number")]
    NotFinite { index: usize, value: f64 },
    #[error("weight {value} at position {index} is negative: weights on the chain are >= 0")]
    Negative { index: usize, value: f64 },
    #[error("{uids} uids but {weights} weights: each weight needs exactly one uid")]
    LengthMismatch { uids: usize, weights: usize },
    #[error("no weights to emit")]
    Empty,
    #[error("max_weight_limit {0} is not a finite number")]
    LimitNotFinite(f64),
    #[error("a subnet of {0} neurons has UIDs beyond 65535 (u16 on the chain)")]
    TooManyNeurons(usize),
    #[error(
        "positive weight at position {index}, but the subnet has {num_neurons} neurons: with fewer \
         positive weights than min_allowed_weights the SDK uses positions as uids"
    )]
    PositionBeyondNeurons { index: usize, num_neurons: usize },
}

/// Why a version string has no `version_as_int`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VersionError {
    #[error("version `{0}` does not start with MAJOR.MINOR.PATCH")]
    NotAVersion(String),
    #[error("version `{0}` has a part of 1000 or more (the SDK packs parts in base 1000)")]
    PartTooLarge(String),
}

/// The float types the SDK computes in (numpy float32 and float64), with numpy's casts.
trait NumpyFloat:
    Copy
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
{
    /// numpy's cast from float64 (round to nearest, ties to even).
    fn from_f64(value: f64) -> Self;
    fn to_f64(self) -> f64;
    fn total_cmp(&self, other: &Self) -> std::cmp::Ordering;

    /// A Python int meeting this dtype (NEP 50: the int takes the array's dtype).
    fn from_count(count: usize) -> Self {
        Self::from_f64(count as f64)
    }
}

impl NumpyFloat for f32 {
    fn from_f64(value: f64) -> Self {
        value as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn total_cmp(&self, other: &Self) -> std::cmp::Ordering {
        f32::total_cmp(self, other)
    }
}

impl NumpyFloat for f64 {
    fn from_f64(value: f64) -> Self {
        value
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn total_cmp(&self, other: &Self) -> std::cmp::Ordering {
        f64::total_cmp(self, other)
    }
}

/// numpy's `pairwise_sum` (`loops_utils.h.src`): eight running sums for up to 128 elements,
/// halves (cut at a multiple of 8) above that.
fn pairwise_sum<T: NumpyFloat>(values: &[T]) -> T {
    let n = values.len();
    if n < 8 {
        return values.iter().fold(T::from_f64(-0.0), |acc, &v| acc + v);
    }
    if n <= 128 {
        let mut lanes = [values[0]; 8];
        lanes.copy_from_slice(&values[..8]);
        let unrolled_end = n - n % 8;
        for block in values[8..unrolled_end].chunks_exact(8) {
            for (lane, &v) in lanes.iter_mut().zip(block) {
                *lane = *lane + v;
            }
        }
        let l = lanes;
        let head = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
        return values[unrolled_end..].iter().fold(head, |acc, &v| acc + v);
    }
    let half = n / 2 - (n / 2) % 8;
    pairwise_sum(&values[..half]) + pairwise_sum(&values[half..])
}

/// `ndarray.sum()` in the array's dtype: the add identity plus the pairwise sum of each block
/// the reduction iterator hands the loop (checked against numpy 2.0.2 up to 70 000 elements).
fn numpy_sum<T: NumpyFloat>(values: &[T]) -> T {
    values
        .chunks(NUMPY_BLOCK)
        .fold(T::from_f64(0.0), |acc, block| acc + pairwise_sum(block))
}

/// `np.cumsum`: sequential, in the array's dtype.
fn numpy_cumsum<T: NumpyFloat>(values: &[T]) -> Vec<T> {
    let mut cumsum = Vec::with_capacity(values.len());
    for &v in values {
        let running = cumsum.last().map_or(v, |&r| r + v);
        cumsum.push(running);
    }
    cumsum
}

fn sorted<T: NumpyFloat>(values: &[T]) -> Vec<T> {
    let mut sorted = values.to_vec();
    sorted.sort_by(T::total_cmp);
    sorted
}

/// The SDK's `normalize_max_weight(x, limit)`: scales `x` to sum to 1 with no value above
/// `limit` (as nearly as its cutoff formula gets), in `x`'s float type. An empty `x` gives an
/// empty result (numpy's `ones_like(x) / 0` on no elements).
pub fn normalize_max_weight(x: &[f32], limit: f64) -> Vec<f32> {
    normalize_max_weight_in(x, limit)
}

fn normalize_max_weight_in<T: NumpyFloat>(x: &[T], limit: f64) -> Vec<T> {
    let n = x.len();
    if n == 0 {
        return Vec::new();
    }
    let x_sum = numpy_sum(x);
    // `x.shape[0] * limit <= 1` is Python int times Python float: float64.
    if x_sum.to_f64() == 0.0 || n as f64 * limit <= 1.0 {
        // `np.ones_like(x) / n`: the int takes x's dtype.
        return vec![T::from_f64(1.0) / T::from_count(n); n];
    }
    // Python floats meeting numpy values of dtype T become T (NEP 50).
    let limit_t = T::from_f64(limit);
    let values = sorted(x);
    let values_sum = numpy_sum(&values);
    let estimation: Vec<T> = values.iter().map(|&v| v / values_sum).collect();
    let largest = estimation[1..]
        .iter()
        .fold(estimation[0], |m, &e| if e > m { e } else { m });
    if largest <= limit_t {
        return x.iter().map(|&w| w / x_sum).collect();
    }
    let cumsum = numpy_cumsum(&estimation);
    let below_limit = count_below_limit(&estimation, &cumsum, limit_t);
    let cutoff = clamp_cutoff(&cumsum, below_limit, limit, values_sum);
    clamp_and_normalize(x, cutoff)
}

/// `n_values = (estimation / (estimation_sum + cumsum + epsilon) < limit).sum()`, where
/// `estimation_sum[i] = (n - i - 1) * estimation[i]`, all in T.
fn count_below_limit<T: NumpyFloat>(estimation: &[T], cumsum: &[T], limit: T) -> usize {
    let n = estimation.len();
    let epsilon = T::from_f64(EPSILON);
    (0..n)
        .filter(|&i| {
            let tail = T::from_count(n - i - 1) * estimation[i];
            estimation[i] / (tail + cumsum[i] + epsilon) < limit
        })
        .count()
}

/// `cutoff = (limit * cumsum[k - 1] - epsilon) / (1 - limit * (n - k)) * values.sum()`. The
/// numerator is in T (Python floats meet a numpy T scalar); the denominator is float64 (a Python
/// float times numpy's int64 count), so the quotient and the cutoff are float64. With `k = 0`
/// Python's `cumsum[-1]` reads the last element.
fn clamp_cutoff<T: NumpyFloat>(cumsum: &[T], below_limit: usize, limit: f64, values_sum: T) -> f64 {
    let n = cumsum.len();
    let pivot = cumsum[below_limit.checked_sub(1).unwrap_or(n - 1)];
    let numerator = T::from_f64(limit) * pivot - T::from_f64(EPSILON);
    let denominator = 1.0 - limit * (n - below_limit) as f64;
    numerator.to_f64() / denominator * values_sum.to_f64()
}

/// `weights[weights > cutoff] = cutoff; weights / weights.sum()`: the comparison is float64
/// (a T array against a numpy float64 scalar), the stored cutoff is cast back to T.
fn clamp_and_normalize<T: NumpyFloat>(x: &[T], cutoff: f64) -> Vec<T> {
    let clamped: Vec<T> = x
        .iter()
        .map(|&w| {
            if w.to_f64() > cutoff {
                T::from_f64(cutoff)
            } else {
                w
            }
        })
        .collect();
    let total = numpy_sum(&clamped);
    clamped.iter().map(|&w| w / total).collect()
}

/// `np.quantile(values, q)` with numpy 2's default `linear` method on float32 values: `q` is
/// cast to float32, the virtual index `(n - 1) * q` and the interpolation are float32.
fn numpy_quantile_f32(values: &[f32], q: f64) -> f32 {
    let sorted = sorted(values);
    let last = sorted.len() - 1;
    let virtual_index = f32::from_count(last) * q as f32;
    if virtual_index >= f32::from_count(last) {
        return sorted[last];
    }
    let below = virtual_index.floor();
    let (a, b) = (sorted[below as usize], sorted[below as usize + 1]);
    let gamma = virtual_index - below;
    let diff = b - a;
    // numpy's `_lerp` interpolates from whichever end is nearer.
    if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    }
}

/// Refuses what the SDK would silently zero (NaN, negatives) or fail on late (infinities).
fn check_weights(weights: &[f32]) -> Result<(), WeightsError> {
    for (index, &w) in weights.iter().enumerate() {
        let value = f64::from(w);
        if !w.is_finite() {
            return Err(WeightsError::NotFinite { index, value });
        }
        if w < 0.0 {
            return Err(WeightsError::Negative { index, value });
        }
    }
    Ok(())
}

fn all_uids(num_neurons: usize) -> Vec<Uid> {
    // Callers have checked num_neurons <= 65536, so every index fits.
    (0..num_neurons).map(|i| i as Uid).collect()
}

/// The SDK's `process_weights(uids, weights, num_neurons, min_allowed_weights,
/// max_weight_limit, exclude_quantile)`, which `process_weights_for_netuid` calls with
/// `metagraph.n`, the subnet's `MinAllowedWeights` and `MaxWeightsLimit / 65535`.
/// `exclude_quantile` is on the `u16` scale (the SDK divides it by 65535).
///
/// Returns the uids and their normalised weights (summing to about 1). Three outcomes, as in
/// the SDK:
/// * no positive weight, or `num_neurons < min_allowed_weights`: every uid `0..num_neurons`
///   with `1/num_neurons` (float64);
/// * fewer positive weights than `min_allowed_weights`: every uid `0..num_neurons` with
///   `1e-5` plus its weight, through [`normalize_max_weight`] in float64. The SDK indexes this
///   fill by the weight's *position*, not its uid (the same when `uids` is `0..n`, as in
///   validators); omega reproduces that and refuses a position beyond `num_neurons`, where
///   the SDK raises `IndexError`;
/// * otherwise the positive weights at or above the exclude quantile, with their uids, through
///   [`normalize_max_weight`] in float32.
pub fn process_weights(
    uids: &[Uid],
    weights: &[f32],
    num_neurons: usize,
    min_allowed_weights: u64,
    max_weight_limit: f64,
    exclude_quantile: u16,
) -> Result<(Vec<Uid>, Vec<f64>), WeightsError> {
    if uids.len() != weights.len() {
        return Err(WeightsError::LengthMismatch {
            uids: uids.len(),
            weights: weights.len(),
        });
    }
    check_weights(weights)?;
    if !max_weight_limit.is_finite() {
        return Err(WeightsError::LimitNotFinite(max_weight_limit));
    }
    if num_neurons > usize::from(U16_MAX) + 1 {
        return Err(WeightsError::TooManyNeurons(num_neurons));
    }
    let positive: Vec<usize> = (0..weights.len()).filter(|&i| weights[i] > 0.0).collect();
    let count = |n: usize| n as u64;
    if positive.is_empty() || count(num_neurons) < min_allowed_weights {
        // `np.ones(n, dtype=int64) / n`: float64.
        let uniform = vec![1.0 / num_neurons as f64; num_neurons];
        return Ok((all_uids(num_neurons), uniform));
    }
    if count(positive.len()) < min_allowed_weights {
        let filled = fill_below_min_allowed(weights, &positive, num_neurons)?;
        let normalized = normalize_max_weight_in(&filled, max_weight_limit);
        return Ok((all_uids(num_neurons), normalized));
    }
    let (kept_uids, kept) = exclude_low_quantile(
        uids,
        weights,
        &positive,
        min_allowed_weights,
        exclude_quantile,
    );
    let normalized = normalize_max_weight_in(&kept, max_weight_limit);
    Ok((kept_uids, normalized.into_iter().map(f64::from).collect()))
}

/// `weights = np.ones(n, dtype=int64) * 1e-5; weights[positive_positions] += positive_weights`
/// (float64 plus float32 widened).
fn fill_below_min_allowed(
    weights: &[f32],
    positive: &[usize],
    num_neurons: usize,
) -> Result<Vec<f64>, WeightsError> {
    let mut filled = vec![FILL_WEIGHT; num_neurons];
    for &index in positive {
        let slot = filled
            .get_mut(index)
            .ok_or(WeightsError::PositionBeyondNeurons { index, num_neurons })?;
        *slot += f64::from(weights[index]);
    }
    Ok(filled)
}

/// Drops the positive weights below the `min(exclude_quantile / 65535, max(0, nnz -
/// min_allowed) / nnz)` quantile (Python floats, float64), keeping at least
/// `min_allowed_weights` of them; the comparison `lowest <= weight` is float32.
fn exclude_low_quantile(
    uids: &[Uid],
    weights: &[f32],
    positive: &[usize],
    min_allowed_weights: u64,
    exclude_quantile: u16,
) -> (Vec<Uid>, Vec<f32>) {
    let nonzero = positive.len() as u64;
    let max_exclude = nonzero.saturating_sub(min_allowed_weights) as f64 / nonzero as f64;
    let quantile = f64::from(exclude_quantile) / f64::from(U16_MAX);
    let positive_weights: Vec<f32> = positive.iter().map(|&i| weights[i]).collect();
    let lowest = numpy_quantile_f32(&positive_weights, quantile.min(max_exclude));
    positive
        .iter()
        .filter(|&&i| lowest <= weights[i])
        .map(|&i| (uids[i], weights[i]))
        .unzip()
}

/// The SDK's `convert_weights_and_uids_for_emit(uids, weights)`: divides every weight by the
/// largest, scales to `0..=65535` with Python's `round` (ties to even) and drops the zeros.
/// All-zero weights give nothing to set (empty lists, as in the SDK); no weights at all is an
/// error (the SDK's `min([])` raises).
pub fn convert_weights_and_uids_for_emit(
    uids: &[Uid],
    weights: &[f64],
) -> Result<(Vec<Uid>, Vec<u16>), WeightsError> {
    if uids.len() != weights.len() {
        return Err(WeightsError::LengthMismatch {
            uids: uids.len(),
            weights: weights.len(),
        });
    }
    if weights.is_empty() {
        return Err(WeightsError::Empty);
    }
    for (index, &value) in weights.iter().enumerate() {
        if !value.is_finite() {
            return Err(WeightsError::NotFinite { index, value });
        }
        if value < 0.0 {
            return Err(WeightsError::Negative { index, value });
        }
    }
    let max_weight = weights.iter().copied().fold(0.0, f64::max);
    if max_weight == 0.0 {
        return Ok((Vec::new(), Vec::new()));
    }
    Ok(uids
        .iter()
        .zip(weights)
        .filter_map(|(&uid, &w)| {
            // `round(float(w / max) * 65535)`: float64 throughout, Python's ties-to-even round;
            // the value is within 0..=65535 because w <= max.
            let scaled = (w / max_weight * f64::from(U16_MAX)).round_ties_even();
            (scaled != 0.0).then_some((uid, scaled as u16))
        })
        .unzip())
}

/// The SDK's `version_as_int` for a version string: the leading `MAJOR.MINOR.PATCH` (the SDK
/// drops suffixes such as `rc1`) packed in base 1000, so 9.10.1 is 9010001. It is the SDK's
/// default `version_key`; a subnet may expect its own (OMEGA's is `1000*major + 10*minor + patch`).
pub fn version_as_int(version: &str) -> Result<u64, VersionError> {
    let not_a_version = || VersionError::NotAVersion(version.to_string());
    let mut rest = version;
    let mut packed = 0u64;
    for part_index in 0..3 {
        if part_index > 0 {
            rest = rest.strip_prefix('.').ok_or_else(not_a_version)?;
        }
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(not_a_version());
        }
        let part = rest[..digits]
            .parse::<u64>()
            .ok()
            .filter(|&p| p < 1000)
            .ok_or_else(|| VersionError::PartTooLarge(version.to_string()))?;
        packed = packed * 1000 + part;
        rest = &rest[digits..];
    }
    Ok(packed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emit_scales_to_the_largest_and_rounds_ties_to_even() {
        // 0.5 * 65535 = 32767.5 rounds to the even 32768; 0.5/65535 scales to 0.5, rounds to 0 and is
        // dropped.
        let (uids, vals) =
            convert_weights_and_uids_for_emit(&[3, 7, 9], &[1.0, 0.5, 0.5 / 65535.0]).unwrap();
        assert_eq!(uids, vec![3, 7]);
        assert_eq!(vals, vec![65535, 32768]);
        // 1.5/65535 * 65535 = 1.5 rounds to 2; 2.5/65535 -> 2 (ties to even, not away from zero).
        let (_, vals) =
            convert_weights_and_uids_for_emit(&[0, 1, 2], &[1.0, 1.5 / 65535.0, 2.5 / 65535.0])
                .unwrap();
        assert_eq!(vals, vec![65535, 2, 2]);
    }

    #[test]
    fn emit_all_zero_is_nothing_and_bad_input_is_refused() {
        assert_eq!(
            convert_weights_and_uids_for_emit(&[0, 1], &[0.0, 0.0]),
            Ok((vec![], vec![]))
        );
        assert_eq!(
            convert_weights_and_uids_for_emit(&[], &[]),
            Err(WeightsError::Empty)
        );
        assert_eq!(
            convert_weights_and_uids_for_emit(&[0], &[1.0, 2.0]),
            Err(WeightsError::LengthMismatch {
                uids: 1,
                weights: 2
            })
        );
        assert_eq!(
            convert_weights_and_uids_for_emit(&[0, 1], &[1.0, -0.5]),
            Err(WeightsError::Negative {
                index: 1,
                value: -0.5
            })
        );
        assert!(matches!(
            convert_weights_and_uids_for_emit(&[0, 1], &[f64::NAN, 1.0]),
            Err(WeightsError::NotFinite { index: 0, .. })
        ));
        assert!(matches!(
            convert_weights_and_uids_for_emit(&[0], &[f64::INFINITY]),
            Err(WeightsError::NotFinite { index: 0, .. })
        ));
    }

    #[test]
    fn numpy_sum_is_pairwise_in_float32() {
        // 2^24 then sixteen ones: sequential float32 addition loses every one (2^24 + 1 rounds
        // back to 2^24, ties to even); numpy's eight lanes add the ones together first.
        let mut values = vec![16_777_216.0f32];
        values.extend([1.0f32; 16]);
        assert_eq!(values.iter().fold(0.0f32, |a, &v| a + v), 16_777_216.0);
        assert_eq!(numpy_sum(&values), 16_777_232.0);
        assert_eq!(numpy_cumsum(&[1.0f32, 2.0, 3.0]), vec![1.0, 3.0, 6.0]);
    }

    #[test]
    fn normalize_max_weight_by_hand() {
        // Under the limit: plain normalisation.
        assert_eq!(
            normalize_max_weight(&[1.0, 1.0, 2.0], 0.5),
            vec![0.25, 0.25, 0.5]
        );
        // n * limit <= 1, or all zero: uniform.
        assert_eq!(normalize_max_weight(&[1.0, 3.0], 0.5), vec![0.5, 0.5]);
        assert_eq!(
            normalize_max_weight(&[0.0, 0.0, 0.0], 0.9),
            vec![1.0 / 3.0; 3]
        );
        assert!(normalize_max_weight(&[], 0.5).is_empty());
        // One dominant weight among four, limit 0.4: est = [.1, .1, .1, .7]; k = 3;
        // cutoff = (0.4 * 0.3 - 1e-7) / (1 - 0.4) * 10 ~= 2 - 1.7e-6, so the result is
        // about [1/5, 1/5, 1/5, 2/5] (the clamped weight just under the limit).
        let y = normalize_max_weight(&[1.0, 1.0, 1.0, 7.0], 0.4);
        assert!((y[3] - 0.4).abs() < 1e-6 && y[3] < 0.4, "{y:?}");
        assert!((y[0] - 0.2).abs() < 1e-6, "{y:?}");
    }

    #[test]
    fn quantile_interpolates_like_numpy() {
        // np.quantile([1, 2, 3, 4], 0.5) == 2.5; 0.25 -> 1.75; 1.0 -> 4.
        assert_eq!(numpy_quantile_f32(&[4.0, 1.0, 3.0, 2.0], 0.5), 2.5);
        assert_eq!(numpy_quantile_f32(&[4.0, 1.0, 3.0, 2.0], 0.25), 1.75);
        assert_eq!(numpy_quantile_f32(&[4.0, 1.0, 3.0, 2.0], 1.0), 4.0);
        assert_eq!(numpy_quantile_f32(&[5.0], 0.3), 5.0);
    }

    #[test]
    fn process_weights_branches() {
        // No positive weight: uniform over all neurons, uids 0..n.
        let (uids, w) = process_weights(&[0, 1], &[0.0, 0.0], 4, 1, 1.0, 0).unwrap();
        assert_eq!((uids, w), (vec![0, 1, 2, 3], vec![0.25; 4]));
        // Fewer neurons than min_allowed_weights: uniform too.
        let (uids, _) = process_weights(&[0], &[1.0], 2, 3, 1.0, 0).unwrap();
        assert_eq!(uids, vec![0, 1]);
        // Fewer positive weights than min_allowed: everyone gets 1e-5 plus their weight.
        let (uids, w) = process_weights(&[0, 1, 2], &[0.0, 1.0, 0.0], 3, 2, 1.0, 0).unwrap();
        assert_eq!(uids, vec![0, 1, 2]);
        // numpy's sum of three: (-0.0 + 1e-5) + (1 + 1e-5) + 1e-5, in that order.
        let total = 1e-5 + (1.0 + 1e-5) + 1e-5;
        assert_eq!(w, vec![1e-5 / total, (1.0 + 1e-5) / total, 1e-5 / total]);
        // Enough positive weights: zeros dropped, uids kept as given.
        let (uids, w) = process_weights(&[5, 9, 2], &[1.0, 0.0, 3.0], 10, 1, 1.0, 0).unwrap();
        assert_eq!((uids, w), (vec![5, 2], vec![0.25, 0.75]));
        // The exclude quantile drops the lowest, but keeps min_allowed_weights of them.
        let (uids, _) =
            process_weights(&[0, 1, 2, 3], &[1.0, 2.0, 3.0, 4.0], 4, 2, 1.0, 65535).unwrap();
        assert_eq!(uids, vec![2, 3]);
    }

    #[test]
    fn process_weights_refuses_bad_input() {
        assert!(matches!(
            process_weights(&[0, 1], &[1.0, f32::NAN], 2, 1, 0.5, 0),
            Err(WeightsError::NotFinite { index: 1, .. })
        ));
        assert!(matches!(
            process_weights(&[0], &[f32::INFINITY], 2, 1, 0.5, 0),
            Err(WeightsError::NotFinite { index: 0, .. })
        ));
        assert_eq!(
            process_weights(&[0], &[-1.0], 2, 1, 0.5, 0),
            Err(WeightsError::Negative {
                index: 0,
                value: -1.0
            })
        );
        assert_eq!(
            process_weights(&[0, 1], &[1.0], 2, 1, 0.5, 0),
            Err(WeightsError::LengthMismatch {
                uids: 2,
                weights: 1
            })
        );
        assert!(matches!(
            process_weights(&[0], &[1.0], 2, 1, f64::NAN, 0),
            Err(WeightsError::LimitNotFinite(_))
        ));
        assert_eq!(
            process_weights(&[0], &[1.0], 70_000, 1, 0.5, 0),
            Err(WeightsError::TooManyNeurons(70_000))
        );
        assert_eq!(
            process_weights(&[0, 1, 2], &[0.0, 0.0, 1.0], 2, 2, 0.5, 0),
            Err(WeightsError::PositionBeyondNeurons {
                index: 2,
                num_neurons: 2
            })
        );
        // No neurons: nothing to process, and nothing to emit.
        let (uids, w) = process_weights(&[], &[], 0, 0, 0.5, 0).unwrap();
        assert_eq!(
            convert_weights_and_uids_for_emit(&uids, &w),
            Err(WeightsError::Empty)
        );
    }

    #[test]
    fn version_as_int_packs_base_1000() {
        assert_eq!(version_as_int("9.10.1"), Ok(9_010_001));
        assert_eq!(version_as_int("10.2.0rc1"), Ok(10_002_000));
        assert_eq!(version_as_int("1.2.3.4"), Ok(1_002_003));
        assert!(matches!(
            version_as_int("9.10"),
            Err(VersionError::NotAVersion(_))
        ));
        assert!(matches!(
            version_as_int("v9.1.0"),
            Err(VersionError::NotAVersion(_))
        ));
        assert!(matches!(
            version_as_int("1.1000.0"),
            Err(VersionError::PartTooLarge(_))
        ));
        assert!(matches!(
            version_as_int("1.99999999999999999999999.0"),
            Err(VersionError::PartTooLarge(_))
        ));
    }
}
