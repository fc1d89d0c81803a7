//! The `dataset-deduped` columns of `omega dedup --scope dataset`.

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
