//! The `scored` columns `omega score` adds, and the columns it reads from a `deduped` table.

use crate::outcome::{ErrorClass, Status};

crate::table! {
    /// The columns of a `deduped` table that `omega score` reads.
    pub struct ScoreInput = "score-input", version 1 {
        /// As in `responses`.
        response_id: String ["-"],
        /// As in `responses`.
        miner_uid: Option<crate::uid::Uid> ["-"],
        /// As in `responses`.
        miner_hotkey: Option<String> ["-"],
        /// As in `responses`.
        query: String ["-"],
        /// As in `responses`.
        video_id: String ["-"],
        /// As in `responses`.
        description: String ["-"],
        /// As in `responses`.
        video_emb: Option<Vec<f32>> ["-"],
        /// As in `responses`.
        audio_emb: Option<Vec<f32>> ["-"],
        /// As in `responses`.
        description_emb: Option<Vec<f32>> ["-"],
        /// As in `validated`.
        response_passed: bool ["-"],
        /// As in `validated`.
        response_score: Option<f64> ["-"],
        /// As in `validated`.
        response_reason: Option<String> ["-"],
        /// As in `deduped`: only `ok` videos are scored.
        status: Status ["-"],
        /// As in `deduped`.
        error_class: Option<ErrorClass> ["-"],
        /// As in `deduped`.
        error: Option<String> ["-"],
    }
}

crate::table! {
    /// Every column of the `deduped` table, then every component of the score: per video
    /// (each cosine, T, the length scaler, the stuffing numbers) and per answer (the score,
    /// penalty and reason, repeated on each of its rows).
    pub struct ScoreColumns = "scored", version 1 {
        /// cos(video, description embedding).
        video_desc_cos: Option<f64> ["-"],
        /// cos(audio, description embedding).
        audio_desc_cos: Option<f64> ["-"],
        /// cos(video, query embedding); the query is embedded with ImageBind's text encoder.
        video_query_cos: Option<f64> ["-"],
        /// cos(audio, query embedding).
        audio_query_cos: Option<f64> ["-"],
        /// Text similarity T of description and query (text model), min(0.5, cos²).
        text_similarity: Option<f64> ["-"],
        /// Unique BPE tokens of the description (1024-context CLIP tokenizer).
        unique_token_count: Option<i64> ["count"],
        /// The length factor (0.65 up to 100 unique tokens, 1 from 300).
        length_scaler: Option<f64> ["-"],
        /// (0.65 · video_desc_cos + 0.35 · audio_desc_cos) · length_scaler.
        description_relevance: Option<f64> ["-"],
        /// (video_query_cos + audio_query_cos + T) / 3.
        query_relevance: Option<f64> ["-"],
        /// The stuffing classifier's label for the description (null when no classifier is set).
        stuffing_label: Option<String> ["-"],
        /// Its softmax probability.
        stuffing_confidence: Option<f64> ["-"],
        /// Extraneous-chunk check: chunks (60 tokens) of the description.
        chunks_total: Option<i64> ["count"],
        /// Chunks scoring below 0.6 × the best chunk.
        chunks_low_quality: Option<i64> ["count"],
        /// Chunks scoring below 0.12.
        chunks_really_bad: Option<i64> ["count"],
        /// The video counts in its answer's score.
        scored: bool ["-"],
        /// The answer's score (floored at 0.005; −5 for penalties; null when the answer cannot
        /// be scored).
        answer_score: Option<f64> ["-"],
        /// The penalty that decided the answer, if any.
        answer_penalty: Option<f64> ["-"],
        /// Why the answer got its score.
        answer_reason: Option<String> ["-"],
        /// `ok` for scored videos; `skipped` otherwise.
        status: Status ["-"],
        /// The input's class, or `not_novel`/`duplicate` passed through.
        error_class: Option<ErrorClass> ["-"],
        /// Details.
        error: Option<String> ["-"],
    }
}
