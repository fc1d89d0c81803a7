//! The `responses` table (miners' answers, one row per submitted video) and the `embeddings`
//! columns `omega validate` reads to make responses of a curator's own clips.

use crate::outcome::Status;

crate::table! {
    /// One row per submitted video of a miner's answer (the original's `VideoMetadata`, with
    /// the answer it belongs to). `omega validate` also makes these from an `embeddings`
    /// table (`--group-by query`: one answer per query), so a curator can judge their own clips.
    pub struct ResponseRow = "responses", version 1 {
        /// The answer this video belongs to.
        response_id: String ["-"],
        /// The miner's UID (0..=65535, u16 on the chain); null for a curator's own data.
        miner_uid: Option<crate::uid::Uid> ["-"],
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

impl ResponseRow {
    /// `end_time − start_time`, or `None` when a peer's numbers overflow (such a video fails
    /// the metadata check instead of crashing the validator).
    pub fn clip_length_s(&self) -> Option<i64> {
        self.end_time.checked_sub(self.start_time)
    }
}
