//! The `round-miners` table: what each sampled miner did in one validator round
//! (`rounds/miners-NNNNNNNN.parquet` of `omega run-validator`).

use crate::uid::Uid;

crate::table! {
    /// One row per miner a validator round sampled: its reply, its answer's score and its
    /// moving average after the round. The round's videos, with every score component, are in
    /// `rounds/round-NNNNNNNN.parquet` (a `scored` table); the weights set, if any, in
    /// `rounds/weights-NNNNNNNN.parquet` (a `weights` table).
    pub struct RoundMinerRow = "round-miners", version 1 {
        /// The validator's round number (1, 2, ...).
        round: i64 ["-"],
        /// The miner's UID.
        uid: Uid ["-"],
        /// Its hotkey (SS58).
        hotkey: String ["ss58"],
        /// The HTTP status of its reply (200 answered; 408 timeout; 503 unreachable; ...).
        reply_status: i64 ["-"],
        /// How long its reply took.
        reply_seconds: f64 ["s"],
        /// Videos in its answer (null: no answer, a non-responder).
        videos: Option<i64> ["count"],
        /// Its answer's score (null: no answer, or nothing judged).
        answer_score: Option<f64> ["-"],
        /// Why the answer got that score.
        answer_reason: Option<String> ["-"],
        /// Its moving average after the round.
        moving_average: f64 ["-"],
    }
}

impl RoundMinerRow {
    /// What the miner's answer came to: `scored`, `penalized` (a negative score), `unjudged`
    /// (no score) or `no_answer`.
    pub fn outcome(&self) -> &'static str {
        match (self.videos, self.answer_score) {
            (None, _) => "no_answer",
            (Some(_), None) => "unjudged",
            (Some(_), Some(s)) if s < 0.0 => "penalized",
            (Some(_), Some(_)) => "scored",
        }
    }
}

crate::table! {
    /// The columns `run-validator` reads back from a round's `scored` table.
    pub struct RoundAnswer = "round-answer", version 1 {
        /// As in `scored`.
        response_id: String ["-"],
        /// As in `scored`.
        miner_uid: Option<Uid> ["-"],
        /// As in `scored`.
        miner_hotkey: Option<String> ["-"],
        /// As in `scored`.
        video_id: String ["-"],
        /// As in `scored`.
        answer_score: Option<f64> ["-"],
        /// As in `scored`.
        answer_reason: Option<String> ["-"],
        /// As in `validated`: false when the spot check of this video failed.
        check_passed: Option<bool> ["-"],
        /// As in `scored`: `ok` rows are accepted.
        status: crate::outcome::Status ["-"],
    }
}
