//! omega's integration tests, as one test crate (as ripgrep does): one binary links FFmpeg,
//! ONNX Runtime's API and the rest once, instead of once per file. Each module is one area.

mod common;

#[cfg(feature = "ann")]
mod ann;
mod chain;
mod clip_local;
mod dedup;
mod embed;
mod fake_node;
mod focus;
mod fuzz_readers;
mod hardening;
mod imagebind_audio;
mod imagebind_text;
mod imagebind_video;
mod market;
#[cfg(feature = "milvus")]
mod milvus;
mod miner;
mod postgres;
mod push_hf;
mod ray;
mod score;
mod shards;
mod tables;
mod text_model;
mod validate;
mod validator;
mod weights;
mod ytdlp_net;
