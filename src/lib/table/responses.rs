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
