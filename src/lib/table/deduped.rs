//! The `deduped` columns `omega dedup` adds, and the columns it reads from a `validated`
//! table (`DedupInput`) or any table with video embeddings (`IndexInput`, for `--build-index`).

use crate::outcome::{ErrorClass, Status};

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
