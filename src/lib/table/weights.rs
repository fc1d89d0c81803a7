//! The `weights` table, read by `omega set-weights`.

use crate::uid::Uid;

crate::table! {
    /// One row per miner: the raw weight a validator gives it. `omega set-weights` processes
    /// these as the Python SDK does (positive weights kept, `min_allowed_weights`,
    /// `max_weight_limit`) before sending u16 proportions. CSV with a header and JSON lines
    /// with the same two columns are read too.
    pub struct WeightRow = "weights", version 1 {
        /// The miner's UID on the subnet (0..=65535).
        uid: Uid ["-"],
        /// Its raw weight: finite and >= 0; any scale (only proportions matter).
        weight: f64 ["-"],
    }
}
