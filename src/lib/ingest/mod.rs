//! Getting videos: searching for candidates (`search`) and cutting clips of them (`clip`).
//! The miner's loop and the validator's spot check call [`clip::clip_one`] directly.

pub mod clip;
pub mod ids;
pub mod search;
pub mod topics;
pub mod ytdlp;
