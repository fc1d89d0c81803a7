//! omega: the OMEGA Labs (Bittensor SN24) video data pipeline as a library.
//!
//! Each stage of the `omega` CLI is a thin layer over a function here, so the long-running
//! miner and validator loops call exactly the same code as the one-shot commands.
//!
//! * [`chain`]: the Bittensor chain layer (today: the SDK's weight processing).
//! * [`table`]: the stage tables (schemas declared once), Parquet / Arrow IPC I/O.
//! * [`ingest`]: yt-dlp driving, `search` sources, `clip`.
//! * [`media`]: FFmpeg probing, stream-copy cutting, hashing.
//! * [`outcome`], [`report`], [`progress`], [`fsutil`]: per-row outcomes, summaries,
//!   progress bars, atomic writes.

pub mod chain;
pub mod dedup;
pub mod embed;
pub mod focus;
pub mod fsutil;
pub mod hex;
pub mod hub;
pub mod imagebind;
pub mod index;
pub mod ingest;
pub mod isolate;
pub mod llm;
pub mod market;
pub mod media;
pub mod miner;
pub mod model;
pub mod net;
pub mod outcome;
pub mod progress;
pub mod report;
pub mod score;
pub mod shard;
pub mod signals;
pub mod table;
pub mod uid;
pub mod validate;
pub mod validator;
pub mod vector;
