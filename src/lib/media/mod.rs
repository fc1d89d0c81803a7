//! Media files through FFmpeg (ffmpeg-next over the system's libav*): probing, stream-copy
//! cutting and content hashing. Every function takes a path and returns typed errors that the
//! stages turn into per-row error classes.

mod cut;
mod hash;
mod probe;
pub mod subtitles;

pub use cut::{cut, output_container, CutReport};
pub use hash::{sha256_file, sha256_hex};
pub use probe::{probe, AudioInfo, MediaInfo, VideoInfo};

use std::path::PathBuf;
use std::sync::Once;

use crate::outcome::ErrorClass;

/// Why a media operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{path}: cannot read as media: {message}")]
    Corrupt { path: PathBuf, message: String },
    /// The index (an MP4's `moov` at the front) promises more than the file holds: a download
    /// or copy that stopped early.
    #[error(
        "{path}: truncated: its data ends at {data_end_s:.2} s of the {declared} its index \
         declares ({bytes} of {needed} bytes present)",
        declared = declared_s.map_or("length".to_string(), |d| format!("{d:.2} s"))
    )]
    Truncated {
        path: PathBuf,
        /// Where the last complete data ends, seconds from the start.
        data_end_s: f64,
        /// The duration the file's header declares.
        declared_s: Option<f64>,
        bytes: u64,
        /// Bytes the index needs.
        needed: u64,
    },
    #[error("{path}: no video stream")]
    NoVideoStream { path: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: cannot write the clip: {message}")]
    Write { path: PathBuf, message: String },
}

impl MediaError {
    /// The per-row error class this failure maps to.
    pub fn class(&self) -> ErrorClass {
        match self {
            MediaError::Corrupt { .. } | MediaError::Truncated { .. } => ErrorClass::CorruptMedia,
            MediaError::NoVideoStream { .. } => ErrorClass::NoVideoStream,
            MediaError::Io { .. } | MediaError::Write { .. } => ErrorClass::Other,
        }
    }
}

/// Initialises FFmpeg once per process and silences its own logging: omega reports FFmpeg's
/// failures through its return codes, per row, instead of FFmpeg's stderr chatter.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        ffmpeg_next::init().expect("FFmpeg initialises");
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Quiet);
    });
}
