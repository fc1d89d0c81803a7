//! Every constant of the validator's scoring, with the original's values (ERA `5fd0724`) as
//! defaults; a config file or flags override them.

/// Scoring constants (spec §8).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
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

/// Why a config file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a scoring config: {source}")]
    Parse {
        path: std::path::PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: `{field}` = {value}: {rule}")]
    Invalid {
        path: std::path::PathBuf,
        field: &'static str,
        value: String,
        rule: &'static str,
    },
}

impl ScoreConfig {
    /// Reads a JSON config (missing keys keep the original's values, unknown keys are refused
    /// so a misspelt setting is never silently ignored) and checks its values.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.into(),
            source,
        })?;
        let cfg: Self = serde_json::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.into(),
            source,
        })?;
        cfg.check()
            .map_err(|(field, value, rule)| ConfigError::Invalid {
                path: path.into(),
                field,
                value,
                rule,
            })?;
        Ok(cfg)
    }

    /// The first value no stage can work with, as (field, value, rule).
    pub fn check(&self) -> Result<(), (&'static str, String, &'static str)> {
        let finite = [
            ("min_score", self.min_score),
            ("fake_video_punishment", self.fake_video_punishment),
            (
                "stuffed_description_punishment",
                self.stuffed_description_punishment,
            ),
            ("video_relevance_weight", self.video_relevance_weight),
            ("description_length_weight", self.description_length_weight),
            (
                "min_length_boost_token_count",
                self.min_length_boost_token_count,
            ),
            (
                "max_length_boost_token_count",
                self.max_length_boost_token_count,
            ),
            (
                "description_relevance_scaling_factor",
                self.description_relevance_scaling_factor,
            ),
            (
                "query_relevance_scaling_factor",
                self.query_relevance_scaling_factor,
            ),
            ("text_similarity_cap", self.text_similarity_cap),
            ("no_response_minimum", self.no_response_minimum),
            (
                "low_quality_fraction_of_best",
                self.low_quality_fraction_of_best,
            ),
            ("really_bad_threshold", self.really_bad_threshold),
            ("similarity_threshold", self.similarity_threshold),
            ("duplicate_threshold", self.duplicate_threshold),
            ("difference_threshold", self.difference_threshold),
        ];
        first_bad(&finite, |v| v.is_finite(), "must be a finite number")?;
        let unit = [
            ("check_probability", self.check_probability),
            ("moving_average_alpha", self.moving_average_alpha),
            ("stuffing_confidence", self.stuffing_confidence),
        ];
        first_bad(&unit, |v| (0.0..=1.0).contains(&v), "must be within 0..1")?;
        let lengths_ok = self.min_video_length >= 0.0
            && self.min_video_length <= self.max_video_length
            && self.max_video_length.is_finite();
        if !lengths_ok {
            let v = format!("{}..{}", self.min_video_length, self.max_video_length);
            return Err((
                "min_video_length",
                v,
                "need 0 ≤ min_video_length ≤ max_video_length",
            ));
        }
        let counts = [
            ("num_videos", self.num_videos),
            ("extraneous_chunk_tokens", self.extraneous_chunk_tokens),
            ("max_chunks", self.max_chunks),
        ];
        let counts = counts.map(|(f, v)| (f, v as f64));
        first_bad(&counts, |v| v >= 1.0, "must be at least 1")?;
        Ok(())
    }
}

/// The first `(field, value)` whose value breaks `rule`, as `check` reports it.
fn first_bad(
    values: &[(&'static str, f64)],
    ok: impl Fn(f64) -> bool,
    rule: &'static str,
) -> Result<(), (&'static str, String, &'static str)> {
    match values.iter().find(|(_, v)| !ok(*v)) {
        Some((field, value)) => Err((field, value.to_string(), rule)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<ScoreConfig, ConfigError> {
        let dir = std::env::temp_dir().join(format!("omega-config-{}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        std::fs::write(&path, text).unwrap();
        let cfg = ScoreConfig::load(&path);
        std::fs::remove_dir_all(&dir).unwrap();
        cfg
    }

    #[test]
    fn a_config_overrides_defaults_and_refuses_nonsense() {
        let cfg = load(r#"{"similarity_threshold": 0.9}"#).unwrap();
        assert_eq!(cfg.similarity_threshold, 0.9);
        assert_eq!(cfg.num_videos, ScoreConfig::default().num_videos);
        let typo = load(r#"{"similarity_treshold": 0.9}"#)
            .unwrap_err()
            .to_string();
        assert!(
            typo.contains("unknown field `similarity_treshold`"),
            "{typo}"
        );
        let zero = load(r#"{"num_videos": 0}"#).unwrap_err().to_string();
        assert!(zero.contains("`num_videos` = 0"), "{zero}");
        let p = load(r#"{"check_probability": 2}"#).unwrap_err().to_string();
        assert!(p.contains("check_probability"), "{p}");
        assert!(ScoreConfig::default().check().is_ok());
    }
}
