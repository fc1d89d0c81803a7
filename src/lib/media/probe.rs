//! What a media file holds: container, streams, duration.

use std::path::Path;

use ffmpeg_next::format;
use ffmpeg_next::media::Type;

use super::{init, MediaError};

/// Facts about a media file, as omega's tables record them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MediaInfo {
    /// FFmpeg's short container name (`mov,mp4,m4a,3gp,3g2,mj2` → `mp4`, `matroska,webm` → `matroska`).
    pub container: String,
    pub duration_s: Option<f64>,
    pub bytes: u64,
    pub video: Option<VideoInfo>,
    pub audio: Option<AudioInfo>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VideoInfo {
    pub codec: String,
    pub width: u32,
    pub height: u32,
    pub fps: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AudioInfo {
    pub codec: String,
    pub channels: u32,
    pub sample_rate: u32,
}

/// The first of FFmpeg's comma-separated demuxer names, with the MP4 family called `mp4`.
pub(super) fn short_container_name(name: &str) -> String {
    if name.starts_with("mov,mp4") {
        "mp4".into()
    } else {
        name.split(',').next().unwrap_or(name).to_string()
    }
}

/// Opens `path` and reads its stream facts (no decoding). A file whose index promises data
/// past its end (a truncated MP4 with `moov` at the front) is [`MediaError::Truncated`].
pub fn probe(path: &Path) -> Result<MediaInfo, MediaError> {
    init();
    let bytes = std::fs::metadata(path)
        .map_err(|e| MediaError::Io {
            path: path.into(),
            source: e,
        })?
        .len();
    let ictx = format::input(path).map_err(|e| MediaError::Corrupt {
        path: path.into(),
        message: e.to_string(),
    })?;
    let duration = ictx.duration();
    let duration_s =
        (duration > 0).then(|| duration as f64 / f64::from(ffmpeg_next::ffi::AV_TIME_BASE));
    if let Some(missing) = missing_data(&ictx, bytes) {
        return Err(MediaError::Truncated {
            path: path.into(),
            data_end_s: missing.data_end_s,
            declared_s: duration_s,
            bytes,
            needed: missing.needed,
        });
    }
    let video = ictx.streams().best(Type::Video).map(|s| {
        let par = s.parameters();
        // SAFETY: `par` wraps the stream's valid AVCodecParameters for the life of `ictx`.
        let (width, height) =
            unsafe { ((*par.as_ptr()).width as u32, (*par.as_ptr()).height as u32) };
        let rate = s.avg_frame_rate();
        let fps = (rate.denominator() != 0 && rate.numerator() > 0).then(|| f64::from(rate));
        VideoInfo {
            codec: par.id().name().to_string(),
            width,
            height,
            fps,
        }
    });
    let audio = ictx.streams().best(Type::Audio).map(|s| {
        let par = s.parameters();
        // SAFETY: as above.
        let (channels, sample_rate) = unsafe {
            (
                (*par.as_ptr()).ch_layout.nb_channels as u32,
                (*par.as_ptr()).sample_rate as u32,
            )
        };
        AudioInfo {
            codec: par.id().name().to_string(),
            channels,
            sample_rate,
        }
    });
    if video.is_none() && audio.is_none() {
        return Err(MediaError::Corrupt {
            path: path.into(),
            message: "no audio or video stream".into(),
        });
    }
    Ok(MediaInfo {
        container: short_container_name(ictx.format().name()),
        duration_s,
        bytes,
        video,
        audio,
    })
}

/// Data an index promises beyond the end of the file.
struct MissingData {
    /// Start of the earliest indexed packet that is not (wholly) in the file, seconds from
    /// the file's start.
    data_end_s: f64,
    /// Bytes the file would need to hold every indexed packet.
    needed: u64,
}

/// Checks the index the demuxer already read (an MP4's sample tables, a Matroska's cues)
/// against the file size, so a truncated file is caught without reading its data. Demuxers
/// without an up-front index (MPEG-TS, ...) have nothing to check here.
fn missing_data(ictx: &format::context::Input, bytes: u64) -> Option<MissingData> {
    // SAFETY: the format context is valid while `ictx` lives.
    let origin = unsafe { (*ictx.as_ptr()).start_time };
    let origin_s = if origin == ffmpeg_next::ffi::AV_NOPTS_VALUE {
        0.0
    } else {
        origin as f64 / f64::from(ffmpeg_next::ffi::AV_TIME_BASE)
    };
    let mut needed = 0u64;
    let mut data_end_s: Option<f64> = None;
    for stream in ictx.streams() {
        let tb = f64::from(stream.time_base());
        for (pos, size, ts) in index_entries(&stream) {
            let entry_end = pos.saturating_add(size);
            needed = needed.max(entry_end);
            if entry_end > bytes {
                let t = (ts as f64 * tb - origin_s).max(0.0);
                data_end_s = Some(data_end_s.map_or(t, |d| d.min(t)));
            }
        }
    }
    data_end_s.map(|data_end_s| MissingData { data_end_s, needed })
}

/// `(byte position, size, timestamp)` of a stream's index entries that have a position.
fn index_entries(stream: &ffmpeg_next::Stream) -> Vec<(u64, u64, i64)> {
    // SAFETY: `st` is a valid stream of an open input; these accessors only read its index
    // (the `*mut` is the C signature's, nothing is written) and return null past the end.
    unsafe {
        let st = stream.as_ptr() as *mut ffmpeg_next::ffi::AVStream;
        let n = ffmpeg_next::ffi::avformat_index_get_entries_count(st);
        (0..n)
            .map(|i| ffmpeg_next::ffi::avformat_index_get_entry(st, i))
            .take_while(|e| !e.is_null())
            .filter(|&e| (*e).pos >= 0)
            .map(|e| ((*e).pos as u64, (*e).size().max(0) as u64, (*e).timestamp))
            .collect()
    }
}
