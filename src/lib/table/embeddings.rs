//! The `embeddings` table (written by `omega embed`) and the `text_embeddings` table
//! (`omega embed --text`).

use crate::outcome::{ErrorClass, Status};

crate::table! {
    /// Every column of the input table (`clips`, or `candidates` from `omega search --source
    /// dir`, whose files are embedded whole), in the same order, then these columns; the
    /// input's `status`, `error_class` and `error` are replaced by the embedding outcome
    /// (rows that were not `ok` keep theirs). Embeddings are ImageBind's: video = mean of 15
    /// L2-normalised views, audio = mean of 3 clips (L2-normalised × 20), description = mean
    /// of the chunk embeddings (OMEGA v2 chunking). Compare them by cosine.
    pub struct EmbedColumns = "embeddings", version 1 {
        /// Video embedding; null when the video could not be embedded.
        video_emb: Option<Vec<f32>> ["-"],
        /// Audio embedding; null when there is no usable audio.
        audio_emb: Option<Vec<f32>> ["-"],
        /// Description embedding (mean over chunks); null for an empty description.
        description_emb: Option<Vec<f32>> ["-"],
        /// Text chunks the description was split into (OMEGA v2, ≤ 74 BPE tokens each).
        text_chunks: i64 ["count"],
        /// Unique BPE tokens of the description, as the validator's length scaling counts them.
        unique_token_count: i64 ["count"],
        /// Codec of the audio that was embedded (null without audio).
        embedded_audio_codec: Option<String> ["-"],
        /// `model_id` of the model directory's manifest.
        model_id: String ["-"],
        /// `model_version` of the manifest.
        model_version: String ["-"],
        /// Version of omega's preprocessing (changes when tensors would change).
        preprocess_version: String ["-"],
        /// `ok`, `failed` or `skipped`.
        status: Status ["-"],
        /// `no_audio_stream`, `no_video_stream`, `corrupt_media`, `empty_description`,
        /// `reference_incompatible` (--strict-reference), `model_error`, `internal` (omega failed on
        /// this row; the message says how), or the input's class.
        error_class: Option<ErrorClass> ["-"],
        /// The underlying message.
        error: Option<String> ["-"],
    }
}

crate::table! {
    /// One row per text given to `omega embed --text` / `--texts`: query or topic embeddings
    /// for scoring, computed exactly as descriptions are (OMEGA v2 chunks, mean).
    pub struct TextEmbeddingRow = "text_embeddings", version 1 {
        /// The text as given.
        text: String ["-"],
        /// Its embedding; null for an empty text.
        text_emb: Option<Vec<f32>> ["-"],
        /// Chunks the text was split into.
        text_chunks: i64 ["count"],
        /// Unique BPE tokens, as the validator counts them.
        unique_token_count: i64 ["count"],
        /// `model_id` of the manifest.
        model_id: String ["-"],
        /// `model_version` of the manifest.
        model_version: String ["-"],
        /// Version of omega's preprocessing.
        preprocess_version: String ["-"],
        /// `ok` or `failed`.
        status: Status ["-"],
        /// `empty_description` for an empty text, `model_error`.
        error_class: Option<ErrorClass> ["-"],
        /// The underlying message.
        error: Option<String> ["-"],
    }
}

crate::table! {
    /// The columns `omega embed` reads from its input (`clips` or `candidates`).
    pub struct EmbedInput = "embed-input", version 1 {
        /// Row id.
        video_id: String ["-"],
        /// The media file to embed.
        path: Option<String> ["-"],
        /// The description to embed.
        description: String ["-"],
        /// The input row's outcome.
        status: Status ["-"],
        /// The input row's error class.
        error_class: Option<ErrorClass> ["-"],
        /// The input row's message.
        error: Option<String> ["-"],
    }
}
