//! The `validated` columns `omega validate` adds.

use crate::outcome::{ErrorClass, Status};

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
