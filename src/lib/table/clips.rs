//! The `clips` table, written by `omega clip`.

use crate::media::MediaInfo;
use crate::outcome::{ErrorClass, Outcome, Status};
use crate::table::candidates::CandidateRow;

crate::table! {
    /// One row per candidate given to `omega clip`, in input order. For `ok` rows, `path` is a
    /// clip of at most `--max-seconds`, cut with stream copy (no re-encode), and the clip
    /// columns say where it really starts and ends: a stream-copy cut starts on a keyframe.
    /// Candidates that were not `ok` are passed through with their status and error.
    pub struct ClipRow = "clips", version 1 {
        /// As in `candidates`.
        source: String ["-"],
        /// As in `candidates`.
        video_id: String ["-"],
        /// As in `candidates`.
        url: Option<String> ["-"],
        /// The candidate's local file (`dir` source).
        source_path: Option<String> ["-"],
        /// As in `candidates`.
        query: Option<String> ["-"],
        /// As in `candidates`.
        rank: i64 ["-"],
        /// As in `candidates`.
        title: String ["-"],
        /// As in `candidates`: title + "\n\n" + description.
        description: String ["-"],
        /// As in `candidates`.
        views: i64 ["count"],
        /// The candidate's `duration_s`.
        source_duration_s: Option<f64> ["s"],
        /// The start a miner reports in `VideoMetadata.start_time`: `clip_start_s` rounded down.
        start_time: Option<i64> ["s"],
        /// The end a miner reports in `VideoMetadata.end_time`: `clip_end_s` rounded (clips
        /// are cut to whole seconds, the original's `int(duration)` for a clip from 0).
        end_time: Option<i64> ["s"],
        /// True start of the clip in the source's timeline (the keyframe the cut snapped to).
        clip_start_s: Option<f64> ["s"],
        /// True end of the clip in the source's timeline.
        clip_end_s: Option<f64> ["s"],
        /// Duration of the clip file written.
        clip_duration_s: Option<f64> ["s"],
        /// The clip file (absolute path), named `<video_id>_<start ms>_<max ms>[_f<format hash>].<ext>`.
        path: Option<String> ["-"],
        /// sha256 of the clip file.
        content_hash: Option<String> ["hex"],
        /// Size of the clip file.
        bytes: Option<i64> ["bytes"],
        /// Container of the clip (`mp4` for MP4-family sources, `matroska` otherwise).
        container: Option<String> ["-"],
        /// Video codec (copied from the source).
        video_codec: Option<String> ["-"],
        /// Audio codec (copied from the source); null when the source has no audio.
        audio_codec: Option<String> ["-"],
        /// Frame width.
        width: Option<i64> ["px"],
        /// Frame height.
        height: Option<i64> ["px"],
        /// Average frame rate.
        fps: Option<f64> ["1/s"],
        /// Whether the clip has an audio stream.
        has_audio: Option<bool> ["-"],
        /// yt-dlp runs used (0 for local files and reused clips).
        attempts: i64 ["count"],
        /// True when the clip was found finished from an earlier run and reused.
        reused: bool ["-"],
        /// `ok`, `failed` or `skipped`.
        status: Status ["-"],
        /// Why the row is not `ok`: `bot_check`, `rate_limited`, `forbidden`, `unavailable`,
        /// `live`, `timeout`, `no_video_stream`, `corrupt_media`, `too_short`, `invalid_input`,
        /// `internal`, `other`, ...
        error_class: Option<ErrorClass> ["-"],
        /// The underlying message (yt-dlp's or FFmpeg's text).
        error: Option<String> ["-"],
    }
}

/// Both tables carry the same media columns; one place fills them.
macro_rules! set_media_columns {
    ($row:expr, $m:expr) => {{
        let (row, m): (&mut _, &MediaInfo) = ($row, $m);
        row.container = Some(m.container.clone());
        row.video_codec = m.video.as_ref().map(|v| v.codec.clone());
        row.width = m.video.as_ref().map(|v| v.width as i64);
        row.height = m.video.as_ref().map(|v| v.height as i64);
        row.fps = m.video.as_ref().and_then(|v| v.fps);
        row.audio_codec = m.audio.as_ref().map(|a| a.codec.clone());
        row.has_audio = Some(m.audio.is_some());
        row.bytes = Some(m.bytes as i64);
    }};
}

impl ClipRow {
    /// A row carrying the candidate's identity, no clip yet, and the candidate's outcome.
    pub fn from_candidate(c: &CandidateRow) -> Self {
        ClipRow {
            source: c.source.clone(),
            video_id: c.video_id.clone(),
            url: c.url.clone(),
            source_path: c.path.clone(),
            query: c.query.clone(),
            rank: c.rank,
            title: c.title.clone(),
            description: c.description.clone(),
            views: c.views,
            source_duration_s: c.duration_s,
            start_time: None,
            end_time: None,
            clip_start_s: None,
            clip_end_s: None,
            clip_duration_s: None,
            path: None,
            content_hash: None,
            bytes: None,
            container: None,
            video_codec: None,
            audio_codec: None,
            width: None,
            height: None,
            fps: None,
            has_audio: None,
            attempts: 0,
            reused: false,
            status: c.status,
            error_class: c.error_class,
            error: c.error.clone(),
        }
    }

    pub fn set_outcome(&mut self, o: Outcome) {
        self.status = o.status;
        self.error_class = o.error_class;
        self.error = o.error;
    }

    /// Fills the media columns from a probe of the clip file.
    pub fn set_media(&mut self, m: &MediaInfo) {
        set_media_columns!(self, m);
    }
}

impl CandidateRow {
    /// Fills the media columns from a probe of the local file.
    pub fn set_media(&mut self, m: &MediaInfo) {
        set_media_columns!(self, m);
        self.duration_s = m.duration_s;
        self.duration_known = m.duration_s.is_some();
    }
}
