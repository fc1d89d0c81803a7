//! Relevance, length scaling and the aggregate (spec §4.2 steps 12–14).

use super::ScoreConfig;

/// The text similarity T from a sentence-model cosine: squared, capped (0.5).
pub fn text_similarity(cos: f64, cfg: &ScoreConfig) -> f64 {
    (cos * cos).min(cfg.text_similarity_cap)
}

/// `(cos(v, q) + cos(a, q) + T) / 3`.
pub fn query_relevance(video_query_cos: f64, audio_query_cos: f64, t: f64) -> f64 {
    (video_query_cos + audio_query_cos + t) / 3.0
}

/// The factor the description relevance is multiplied by for `unique_tokens` unique BPE
/// tokens: 1 − 0.35 up to 100 tokens, rising with log2 to 1 at 300 and above.
pub fn length_scaler(unique_tokens: usize, cfg: &ScoreConfig) -> f64 {
    let u = unique_tokens as f64;
    let w = cfg.description_length_weight;
    if u <= cfg.min_length_boost_token_count {
        return 1.0 - w;
    }
    let (lo, hi) = (
        cfg.min_length_boost_token_count.log2(),
        cfg.max_length_boost_token_count.log2(),
    );
    let s = (hi.min(u.log2()) - lo) / (hi - lo);
    1.0 - w * (1.0 - s)
}

/// `(0.65 · cos(v, d) + 0.35 · cos(a, d))`, length-scaled.
pub fn description_relevance(
    video_desc_cos: f64,
    audio_desc_cos: f64,
    unique_tokens: usize,
    cfg: &ScoreConfig,
) -> f64 {
    let w = cfg.video_relevance_weight;
    let rel = w * video_desc_cos + (1.0 - w) * audio_desc_cos;
    rel * length_scaler(unique_tokens, cfg)
}

/// `(0.7 · Σ desc + 1.3 · Σ query) / 2 / num_videos`, floored at the minimum score. The
/// denominator is always `num_videos`, as in the original (the network's numbers depend on it).
pub fn aggregate(desc_rels: &[f64], query_rels: &[f64], cfg: &ScoreConfig) -> f64 {
    let d: f64 = desc_rels.iter().sum();
    let q: f64 = query_rels.iter().sum();
    let score = (cfg.description_relevance_scaling_factor * d
        + cfg.query_relevance_scaling_factor * q)
        / 2.0
        / cfg.num_videos as f64;
    score.max(cfg.min_score)
}

/// Counts of the extraneous-chunk check: per-chunk scores `s = (cos(v, t) + cos(a, t)) / 2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkVerdict {
    pub low_quality: usize,
    pub really_bad: usize,
    pub total: usize,
}

impl ChunkVerdict {
    /// Counts for the chunks' scores; one chunk or none counts as (0, 0, 0), as the original.
    pub fn new(chunk_scores: &[f64], cfg: &ScoreConfig) -> Self {
        if chunk_scores.len() <= 1 {
            return ChunkVerdict {
                low_quality: 0,
                really_bad: 0,
                total: 0,
            };
        }
        let best = chunk_scores
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        ChunkVerdict {
            low_quality: chunk_scores
                .iter()
                .filter(|&&s| s < cfg.low_quality_fraction_of_best * best)
                .count(),
            really_bad: chunk_scores
                .iter()
                .filter(|&&s| s < cfg.really_bad_threshold)
                .count(),
            total: chunk_scores.len(),
        }
    }

    /// The whole answer is punished.
    pub fn punish(&self, cfg: &ScoreConfig) -> bool {
        self.really_bad > cfg.really_bad_max || self.low_quality >= cfg.low_quality_punish_at
    }

    /// The item is kept (when nobody in the answer is punished).
    pub fn keep(&self, cfg: &ScoreConfig) -> bool {
        self.low_quality < cfg.low_quality_punish_at && self.total <= cfg.max_chunks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn length_scaler_edges() {
        let c = ScoreConfig::default();
        close(length_scaler(0, &c), 0.65);
        close(length_scaler(100, &c), 0.65);
        // U = 101: s = (log2 101 − log2 100) / (log2 300 − log2 100) = log(1.01) / log(3)
        let s = (1.01f64).ln() / 3f64.ln();
        close(length_scaler(101, &c), 1.0 - 0.35 * (1.0 - s));
        close(length_scaler(300, &c), 1.0);
        close(length_scaler(10_000, &c), 1.0);
        // Between: U = 173.2 ≈ geometric mean of 100 and 300 → s = 0.5.
        let s = (173f64.log2() - 100f64.log2()) / (300f64.log2() - 100f64.log2());
        close(length_scaler(173, &c), 1.0 - 0.35 * (1.0 - s));
    }

    #[test]
    fn relevance_by_hand() {
        let c = ScoreConfig::default();
        close(text_similarity(0.9, &c), 0.5);
        close(text_similarity(0.5, &c), 0.25);
        close(text_similarity(-0.6, &c), 0.36);
        close(query_relevance(0.3, 0.2, 0.25), 0.25);
        // 0.65·0.4 + 0.35·0.2 = 0.33; × 0.65 for U ≤ 100.
        close(description_relevance(0.4, 0.2, 50, &c), 0.33 * 0.65);
        close(description_relevance(0.4, 0.2, 300, &c), 0.33);
    }

    #[test]
    fn aggregate_divides_by_eight_and_floors() {
        let c = ScoreConfig::default();
        // (0.7·(0.3+0.3) + 1.3·(0.2+0.2)) / 2 / 8 = (0.42 + 0.52) / 16 = 0.05875
        close(aggregate(&[0.3, 0.3], &[0.2, 0.2], &c), 0.05875);
        close(aggregate(&[], &[], &c), 0.005);
        close(aggregate(&[-0.5], &[-0.5], &c), 0.005);
    }

    #[test]
    fn extraneous_chunks() {
        let c = ScoreConfig::default();
        assert_eq!(
            ChunkVerdict::new(&[0.01], &c),
            ChunkVerdict {
                low_quality: 0,
                really_bad: 0,
                total: 0
            }
        );
        let v = ChunkVerdict::new(&[0.5, 0.29, 0.31, 0.1], &c);
        assert_eq!(
            v,
            ChunkVerdict {
                low_quality: 2,
                really_bad: 1,
                total: 4
            }
        );
        assert!(!v.punish(&c) && v.keep(&c));
        let bad: Vec<f64> = (0..7).map(|_| 0.05).chain([0.9]).collect();
        assert!(
            ChunkVerdict::new(&bad, &c).punish(&c),
            "7 really bad chunks > 5"
        );
        let low: Vec<f64> = (0..16).map(|_| 0.2).chain([0.9]).collect();
        assert!(
            ChunkVerdict::new(&low, &c).punish(&c),
            "16 low-quality chunks"
        );
        let many: Vec<f64> = (0..51).map(|_| 0.5).collect();
        assert!(
            !ChunkVerdict::new(&many, &c).keep(&c),
            "more than 50 chunks are dropped"
        );
    }
}
