//! Focus videos (spec §6): screen recordings of task work, scored by LLM judges and vector
//! uniqueness, combined by one of the original's formulas.
//!
//! * [`formula`]: the combination rules and the rejection threshold.
//! * [`judge`]: the LLM judges (task, completion, detailed description, legitimacy).
//! * [`prompts`]: their prompt files, versioned per row.
//! * [`stage`]: `focus-score` over tables.

pub mod formula;
mod frames;
pub mod judge;
pub mod prompts;
pub mod stage;

pub use formula::Formula;
pub use stage::{focus_score_table, FocusError, FocusOptions, FocusScorer, TextEmbedder};
