//! ImageBind's preprocessing, reproduced exactly as the reference Python computes it (the
//! OMEGA ImageBind fork's `data.py`, pytorchvideo, torchaudio, CLIP's tokenizer), so that
//! embeddings computed by omega match what SN24 validators recompute.
//!
//! * [`clean`], [`bpe`], [`chunk`]: text (cleaning, CLIP BPE, OMEGA's v2 chunking).
//! * [`audio`]: decoding, resampling, clip sampling, Kaldi fbank; [`audio_windows`]: decoding
//!   only the clip windows of an AAC-LC track.
//! * [`video`]: clip sampling, decoding, resizing, normalising, cropping.

pub mod audio;
pub mod audio_windows;
pub mod bpe;
pub mod chunk;
pub mod clean;
pub mod video;
