//! The `hub` table: the rows `omega push-hf` publishes (the `omega-multimodal` dataset's 13
//! columns), and the columns it reads from a `scored` table.

use crate::outcome::Status;

crate::table! {
    /// One accepted video as published on the Hugging Face Hub: the 13 columns of
    /// `omegalabsinc/omega-multimodal` (see the original's `DatasetUploader`), so existing users
    /// read omega's shards unchanged. Embeddings are fixed-length lists (`datasets`:
    /// `List(Value("float32"), length=1024)`).
    pub struct HubRow = "hub", version 1 {
        /// A random uuid4 given to the row when it enters the spool (the original used the same
        /// id for the row's vectors in its vector database).
        video_id: String ["-"],
        /// The submitted video id (a YouTube id for YouTube sources).
        youtube_id: String ["-"],
        /// The submitted description.
        description: String ["-"],
        /// Submitted view count.
        views: i64 ["count"],
        /// Start of the clip in the video.
        start_time: i64 ["s"],
        /// End of the clip in the video.
        end_time: i64 ["s"],
        /// ImageBind video embedding.
        video_embed: Vec<f32> ["-"],
        /// ImageBind audio embedding.
        audio_embed: Vec<f32> ["-"],
        /// ImageBind text embedding of the description.
        description_embed: Vec<f32> ["-"],
        /// `description_relevance` of the `scored` table.
        description_relevance_score: f64 ["-"],
        /// `query_relevance` of the `scored` table.
        query_relevance_score: f64 ["-"],
        /// The query (topic) the video was found for.
        query: String ["-"],
        /// When the row entered the spool.
        submitted_at: i64 ["unix s"],
    }
}

crate::table! {
    /// The columns of a `scored` table that `omega push-hf` publishes; rows with status `ok`
    /// are the accepted videos.
    pub struct HubInput = "push-input", version 1 {
        /// As in `responses`.
        video_id: String ["-"],
        /// As in `responses`.
        description: String ["-"],
        /// As in `responses`.
        views: i64 ["count"],
        /// As in `responses`.
        start_time: i64 ["s"],
        /// As in `responses`.
        end_time: i64 ["s"],
        /// As in `responses`.
        query: String ["-"],
        /// As in `responses`.
        video_emb: Option<Vec<f32>> ["-"],
        /// As in `responses`.
        audio_emb: Option<Vec<f32>> ["-"],
        /// As in `responses`.
        description_emb: Option<Vec<f32>> ["-"],
        /// As in `scored`.
        description_relevance: Option<f64> ["-"],
        /// As in `scored`.
        query_relevance: Option<f64> ["-"],
        /// As in `scored`: only `ok` rows are published.
        status: Status ["-"],
    }
}
