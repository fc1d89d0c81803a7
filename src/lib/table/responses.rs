//! The `responses` table (miners' answers, one row per submitted video), the `embeddings`
//! columns `validate --group-by` reads to make responses of a curator's own clips, and the
//! `validated` columns `omega validate` adds.

use crate::outcome::{ErrorClass, Status};

crate::table! {
    /// One row per submitted video of a miner's answer (the original's `VideoMetadata`, with
    /// the answer it belongs to). `omega validate` also makes these from an `embeddings`
    /// table (`--group-by query`: one answer per query), so a curator can judge their own clips.
    pub struct ResponseRow = "responses", version 1 {
        /// The answer this video belongs to.
        response_id: String ["-"],
        /// The miner's UID; null for a curator's own data.
        miner_uid: Option<i64> ["-"],
        /// The miner's hotkey (ss58); null for a curator's own data.
        miner_hotkey: Option<String> ["-"],
        /// The query the answer is for.
        query: String ["-"],
        /// The submitted video id (a YouTube id must have 11 characters).
        video_id: String ["-"],
        /// The submitted description.
        description: String ["-"],
        /// Submitted view count.
        views: i64 ["count"],
        /// Submitted start of the clip in the video.
        start_time: i64 ["s"],
        /// Submitted end of the clip in the video.
        end_time: i64 ["s"],
        /// Where the video can be fetched again: `youtube`, `url` or `dir`.
        source: String ["-"],
        /// The URL for `url` sources.
        url: Option<String> ["-"],
        /// The local file for `dir` sources.
        source_path: Option<String> ["-"],
        /// Submitted video embedding.
        video_emb: Option<Vec<f32>> ["-"],
        /// Submitted audio embedding.
        audio_emb: Option<Vec<f32>> ["-"],
        /// Submitted description embedding.
        description_emb: Option<Vec<f32>> ["-"],
    }
}

crate::table! {
    /// The columns of an `embeddings` table that become a response.
    pub struct EmbeddedClipView = "embeddings-as-responses", version 1 {
        /// As in `clips`.
        source: String ["-"],
        /// As in `clips`.
        video_id: String ["-"],
        /// As in `clips`.
        url: Option<String> ["-"],
        /// As in `clips`.
        source_path: Option<String> ["-"],
        /// As in `clips`.
        query: Option<String> ["-"],
        /// As in `clips`.
        description: String ["-"],
        /// As in `clips`.
        views: i64 ["count"],
        /// As in `clips`.
        start_time: Option<i64> ["s"],
        /// As in `clips`.
        end_time: Option<i64> ["s"],
        /// As in `embeddings`.
        video_emb: Option<Vec<f32>> ["-"],
        /// As in `embeddings`.
        audio_emb: Option<Vec<f32>> ["-"],
        /// As in `embeddings`.
        description_emb: Option<Vec<f32>> ["-"],
        /// As in `embeddings`.
        status: Status ["-"],
    }
}

crate::table! {
    /// Every column of the responses, then these: the spot-check outcome of each video and the
    /// verdict of its whole answer (repeated on each of its rows).
    pub struct ValidatedColumns = "validated", version 1 {
        /// Position of the video in its answer.
        position: i64 ["-"],
        /// Passed the metadata check (5 ≤ end − start ≤ 120) and is among the first 8.
        kept: bool ["-"],
        /// `none`, `description` (description re-embedded only) or `full` (clip re-fetched and
        /// all three re-embedded).
        check: String ["-"],
        /// Cosine of the re-computed to the submitted video embedding.
        check_video_cos: Option<f64> ["-"],
        /// Cosine of the re-computed to the submitted audio embedding.
        check_audio_cos: Option<f64> ["-"],
        /// Cosine of the re-computed to the submitted description embedding.
        check_description_cos: Option<f64> ["-"],
        /// Whether this video's check passed (every cosine > 0.95); null when not checked.
        check_passed: Option<bool> ["-"],
        /// Why the check could not be full (the re-download's error), if so.
        check_note: Option<String> ["-"],
        /// The answer goes on to scoring.
        response_passed: bool ["-"],
        /// The answer's final score when validation already decides it: 0.005 (empty), −5
        /// (fake id, fake video, failed check); null when it goes on to scoring.
        response_score: Option<f64> ["-"],
        /// Why the answer was decided here.
        response_reason: Option<String> ["-"],
        /// `ok`; `skipped` for videos not kept; `failed` for a failed check.
        status: Status ["-"],
        /// `invalid_input` (metadata), `check_failed`, ...
        error_class: Option<ErrorClass> ["-"],
        /// Details.
        error: Option<String> ["-"],
    }
}

crate::table! {
    /// The columns of a `validated` table that `omega dedup` reads.
    pub struct DedupInput = "dedup-input", version 1 {
        /// As in `validated`.
        response_id: String ["-"],
        /// As in `validated`.
        video_id: String ["-"],
        /// As in `validated`.
        kept: bool ["-"],
        /// As in `validated`.
        response_passed: bool ["-"],
        /// As in `validated`.
        video_emb: Option<Vec<f32>> ["-"],
        /// As in `validated`.
        status: Status ["-"],
        /// As in `validated`.
        error_class: Option<ErrorClass> ["-"],
        /// As in `validated`.
        error: Option<String> ["-"],
    }
}

crate::table! {
    /// Every column of the `validated` table, then these: in-answer de-duplication and novelty
    /// against the index of accepted videos. Only kept videos of answers that passed
    /// validation are judged; the others pass through with their status.
    pub struct DedupColumns = "deduped", version 1 {
        /// Position of the later video of the same answer this one duplicates (video cosine >
        /// 0.95); the later copy is kept, as in the original.
        duplicate_of: Option<i64> ["-"],
        /// 1 − the largest video cosine to the later kept videos of the answer (1 for the last).
        local_novelty: Option<f64> ["-"],
        /// The nearest video in the index, and its cosine.
        nearest_id: Option<String> ["-"],
        /// Cosine to `nearest_id`.
        nearest_cosine: Option<f64> ["-"],
        /// 1 − `nearest_cosine`; 1 when the index holds nothing (the original said 0, B9); null
        /// without an index.
        global_novelty: Option<f64> ["-"],
        /// min(local, global) novelty of this video (paired by video, B4 fixed).
        novelty: Option<f64> ["-"],
        /// Novelty below 0.1.
        too_similar: bool ["-"],
        /// `ok`; `skipped` for duplicates and videos that are too similar, or passed through.
        status: Status ["-"],
        /// `duplicate`, `not_novel`, or the input's class.
        error_class: Option<ErrorClass> ["-"],
        /// Details.
        error: Option<String> ["-"],
    }
}

crate::table! {
    /// The columns `omega dedup --build-index` reads from any table with video embeddings.
    pub struct IndexInput = "index-input", version 1 {
        /// Id stored with the vector.
        video_id: String ["-"],
        /// The vector.
        video_emb: Option<Vec<f32>> ["-"],
        /// Only `ok` rows are indexed.
        status: Status ["-"],
    }
}

crate::table! {
    /// The columns of a `deduped` table that `omega score` reads.
    pub struct ScoreInput = "score-input", version 1 {
        /// As in `responses`.
        response_id: String ["-"],
        /// As in `responses`.
        miner_uid: Option<i64> ["-"],
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

crate::table! {
    /// Every column of the input shards, then these (`omega dedup --scope dataset`): whether
    /// the row is kept, and the earlier video it nearly duplicates.
    pub struct DatasetDedupColumns = "dataset-deduped", version 1 {
        /// The row is the first of its near-duplicates (novelty ≥ 0.1 against everything before it).
        keep: bool ["-"],
        /// The earlier video (in the index or earlier in the shards) this one nearly duplicates.
        near_duplicate_of: Option<String> ["-"],
        /// Cosine to `near_duplicate_of`.
        near_duplicate_cosine: Option<f64> ["-"],
    }
}
