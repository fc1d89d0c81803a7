//! The `candidates` table, written by `omega search`.

use crate::outcome::{ErrorClass, Outcome, Status};

crate::table! {
    /// One row per video found by `omega search`: a YouTube search result, a URL, or a local
    /// media file. Rows that could not be used are kept with `status` and `error_class`.
    /// Columns follow the original's `VideoMetadata` / `YoutubeResult` where they apply.
    pub struct CandidateRow = "candidates", version 1 {
        /// Where the row comes from: `youtube`, `url` or `dir`.
        source: String ["-"],
        /// Stable id: the 11-character YouTube id; for `url`, `u` + 16 hex digits of the
        /// URL's sha256; for `dir`, the first 16 hex digits of the file's sha256.
        video_id: String ["-"],
        /// The page or media URL (YouTube watch URL for `youtube`); null for `dir`.
        url: Option<String> ["-"],
        /// The local file (absolute path) for `dir`; null otherwise.
        path: Option<String> ["-"],
        /// The search query or topic the row answers; null for `urls`/`dir` without `--query`.
        query: Option<String> ["-"],
        /// Position in the search results or input order (0-based).
        rank: i64 ["-"],
        /// Video title (file name without extension for `dir`).
        title: String ["-"],
        /// As the original miner builds it: title, plus "\n\n" + description when that is non-empty.
        description: String ["-"],
        /// View count; 0 when unknown (as the original).
        views: i64 ["count"],
        /// Duration of the source. For YouTube results without one, 300 as the original does.
        duration_s: Option<f64> ["s"],
        /// False when `duration_s` is a placeholder or absent rather than measured or reported.
        duration_known: bool ["-"],
        /// Full sha256 of the local file (`dir`); null otherwise.
        content_hash: Option<String> ["hex"],
        /// Size of the local file (`dir`); null otherwise.
        bytes: Option<i64> ["bytes"],
        /// Container format as FFmpeg names it (`dir`).
        container: Option<String> ["-"],
        /// Codec of the first video stream (`dir`); null when there is none.
        video_codec: Option<String> ["-"],
        /// Codec of the first audio stream (`dir`); null when there is none.
        audio_codec: Option<String> ["-"],
        /// Frame width (`dir`).
        width: Option<i64> ["px"],
        /// Frame height (`dir`).
        height: Option<i64> ["px"],
        /// Average frame rate (`dir`).
        fps: Option<f64> ["1/s"],
        /// Whether an audio stream exists (`dir`); null when not probed.
        has_audio: Option<bool> ["-"],
        /// `ok`, `failed` or `skipped`.
        status: Status ["-"],
        /// Why the row is not `ok` (`live`, `corrupt_media`, `invalid_input`, `search_failed`, ...).
        error_class: Option<ErrorClass> ["-"],
        /// The underlying message (yt-dlp's or FFmpeg's text).
        error: Option<String> ["-"],
    }
}

impl CandidateRow {
    /// A row with only identity fields set; media facts null, outcome ok.
    pub fn new(source: &str, video_id: impl Into<String>, rank: usize) -> Self {
        CandidateRow {
            source: source.to_string(),
            video_id: video_id.into(),
            url: None,
            path: None,
            query: None,
            rank: rank as i64,
            title: String::new(),
            description: String::new(),
            views: 0,
            duration_s: None,
            duration_known: false,
            content_hash: None,
            bytes: None,
            container: None,
            video_codec: None,
            audio_codec: None,
            width: None,
            height: None,
            fps: None,
            has_audio: None,
            status: Status::Ok,
            error_class: None,
            error: None,
        }
    }

    pub fn outcome(&self) -> Outcome {
        Outcome {
            status: self.status,
            error_class: self.error_class,
            error: self.error.clone(),
        }
    }

    pub fn set_outcome(&mut self, o: Outcome) {
        self.status = o.status;
        self.error_class = o.error_class;
        self.error = o.error;
    }
}

/// The original miner's description: title, plus "\n\n" + description when non-empty.
pub fn combined_description(title: &str, description: Option<&str>) -> String {
    match description.filter(|d| !d.is_empty()) {
        Some(d) => format!("{title}\n\n{d}"),
        None => title.to_string(),
    }
}
