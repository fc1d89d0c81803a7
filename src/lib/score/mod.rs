//! The validator's judgement as pure functions (SN24 spec §4.2–4.3, constants §8): relevance,
//! length scaling, the aggregate score, in-batch de-duplication and novelty, the
//! extraneous-chunk stuffing verdict, and the per-miner moving average. The `validate`,
//! `dedup` and `score` stages and the validator loop are built on these.
//!
//! Bugs of the original fixed here (each with a test): local and global novelty are paired by
//! item, not by position after filtering (B4); an empty index means "novel", not "duplicate"
//! (B9); the moving averages of different reward kinds never share storage (B15).

pub mod config;
pub mod ema;
pub mod novelty;
pub mod relevance;
mod stage;

pub use config::ScoreConfig;
pub use stage::{score_table, ScoreError, Scorer};
