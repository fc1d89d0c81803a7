//! Every constant of the validator's scoring, with the original's values (ERA `5fd0724`) as
//! defaults; a config file or flags override them.

/// Scoring constants (spec §8).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ScoreConfig {
    /// Score of an empty answer, and the floor of every score.
    pub min_score: f64,
    /// Penalty for a fake video, a failed spot check, or stuffing.
    pub fake_video_punishment: f64,
    pub stuffed_description_punishment: f64,
    /// Videos per answer; also the aggregate's denominator.
    pub num_videos: usize,
    /// Valid clip length bounds, seconds.
    pub min_video_length: f64,
    pub max_video_length: f64,
    /// Spot-check probability and the cosine every re-embedded modality must exceed.
    pub check_probability: f64,
    pub similarity_threshold: f64,
    /// In-batch duplicates: video cosine above this.
    pub duplicate_threshold: f64,
    /// Too similar when novelty falls below this.
    pub difference_threshold: f64,
    pub video_relevance_weight: f64,
    pub description_length_weight: f64,
    pub min_length_boost_token_count: f64,
    pub max_length_boost_token_count: f64,
    pub description_relevance_scaling_factor: f64,
    pub query_relevance_scaling_factor: f64,
    /// Text similarity T = min(cap, cos²).
    pub text_similarity_cap: f64,
    /// Moving-average weight of a new reward, and what non-responders move toward.
    pub moving_average_alpha: f64,
    pub no_response_minimum: f64,
    /// Extraneous-chunk check (2024-10-23): chunk size and thresholds.
    pub extraneous_chunk_tokens: usize,
    pub low_quality_fraction_of_best: f64,
    pub really_bad_threshold: f64,
    pub really_bad_max: usize,
    pub low_quality_punish_at: usize,
    pub max_chunks: usize,
    /// Classifier stuffing check: stuffed with confidence above this → punishment.
    pub stuffing_confidence: f64,
}

impl Default for ScoreConfig {
    fn default() -> Self {
        ScoreConfig {
            min_score: 0.005,
            fake_video_punishment: -5.0,
            stuffed_description_punishment: -5.0,
            num_videos: 8,
            min_video_length: 5.0,
            max_video_length: 120.0,
            check_probability: 0.1,
            similarity_threshold: 0.95,
            duplicate_threshold: 0.95,
            difference_threshold: 0.1,
            video_relevance_weight: 0.65,
            description_length_weight: 0.35,
            min_length_boost_token_count: 100.0,
            max_length_boost_token_count: 300.0,
            description_relevance_scaling_factor: 0.7,
            query_relevance_scaling_factor: 1.3,
            text_similarity_cap: 0.5,
            moving_average_alpha: 0.3,
            no_response_minimum: 0.005,
            extraneous_chunk_tokens: 60,
            low_quality_fraction_of_best: 0.6,
            really_bad_threshold: 0.12,
            really_bad_max: 5,
            low_quality_punish_at: 16,
            max_chunks: 50,
            stuffing_confidence: 0.75,
        }
    }
}
