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

/// Opens `path` and reads its stream facts (no decoding).
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
