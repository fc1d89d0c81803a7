//! Stream-copy cutting: the packets of the first video and first audio stream between a start
//! and an end are remuxed into a new file, without decoding. A copy cut can only start on a
//! video keyframe, so the clip starts at the last keyframe at or before the requested start,
//! and the [`CutReport`] says where it really starts and ends.
//!
//! # Preroll (edit lists)
//!
//! A source can hold packets that are decoded but never shown: an MP4 whose edit list starts
//! after its first keyframe, as `ffmpeg -ss X -c copy` (and so yt-dlp's `--download-sections`)
//! writes when X is not on a keyframe. FFmpeg hands those packets out flagged "discard", with
//! timestamps before the source's start. They are the decoder's preroll, not video: the clip's
//! shown start is never before the source's own start (so `start_s` is never negative).
//! - MP4 output: the preroll video packets are copied with negative timestamps, from which the
//!   MP4 muxer writes an edit list of its own, so the clip decodes from the keyframe yet shows
//!   exactly what the source shows, from its first shown instant.
//! - Other containers (Matroska has no edit lists): the clip starts at the first keyframe that
//!   is not preroll, and `start_s` says so.
//!
//! Audio always starts at its first packet at or after the shown start (so at most one audio
//! frame, about 21 ms, after the video); preroll audio is never copied.

use std::path::Path;

use ffmpeg_next::format::{self, context};
use ffmpeg_next::media::Type;
use ffmpeg_next::packet::Ref;
use ffmpeg_next::{codec, encoder, Error, Packet, Rational};

use super::probe::short_container_name;
use super::{init, MediaError};

/// Where the written clip really lies in the source's timeline.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CutReport {
    /// Start of the clip's shown video, seconds from the start of the source (a keyframe, or
    /// the source's first shown instant when that keyframe is hidden preroll); never negative.
    pub start_s: f64,
    /// End of the clip (end of its last packet), seconds from the start of the source.
    pub end_s: f64,
    /// Video packets written.
    pub video_packets: u64,
    /// Audio packets written.
    pub audio_packets: u64,
}

impl CutReport {
    pub fn duration_s(&self) -> f64 {
        self.end_s - self.start_s
    }
}

/// The container and file extension a clip of this source is written in: MP4 for MP4-family
/// sources, Matroska (which takes every codec FFmpeg can copy) for everything else.
pub fn output_container(source_container: &str) -> (&'static str, &'static str) {
    if short_container_name(source_container) == "mp4" {
        ("mp4", "mp4")
    } else {
        ("matroska", "mkv")
    }
}

fn corrupt(path: &Path, e: impl std::fmt::Display) -> MediaError {
    MediaError::Corrupt {
        path: path.into(),
        message: e.to_string(),
    }
}

/// A mapped input stream: where its packets go and the clock they are on.
struct Mapped {
    input_index: usize,
    output_index: usize,
    input_tb: Rational,
    is_video: bool,
}

fn seconds(ts: i64, tb: Rational) -> f64 {
    ts as f64 * f64::from(tb)
}

/// Cuts `[start_s, start_s + max_s)` of `input` (clamped to the source) into `output` with
/// stream copy, in the container named by `container` (`mp4` or `matroska`).
pub fn cut(
    input: &Path,
    output: &Path,
    container: &str,
    start_s: f64,
    max_s: f64,
) -> Result<CutReport, MediaError> {
    init();
    let mut ictx = format::input(input).map_err(|e| corrupt(input, e))?;
    // SAFETY: the format context is valid while `ictx` lives.
    let origin_us = unsafe { (*ictx.as_ptr()).start_time };
    let origin_s = if origin_us == ffmpeg_next::ffi::AV_NOPTS_VALUE {
        0.0
    } else {
        origin_us as f64 / 1e6
    };

    let video = ictx
        .streams()
        .best(Type::Video)
        .ok_or(MediaError::NoVideoStream { path: input.into() })?
        .index();
    let audio = ictx.streams().best(Type::Audio).map(|s| s.index());

    let write_err = |e: Error| MediaError::Write {
        path: output.into(),
        message: e.to_string(),
    };
    let mut octx = format::output_as(output, container).map_err(write_err)?;
    let mut mapped = Vec::new();
    for (n, idx) in std::iter::once(video).chain(audio).enumerate() {
        let ist = ictx.stream(idx).expect("stream index from best()");
        let mut ost = octx
            .add_stream(encoder::find(codec::Id::None))
            .map_err(write_err)?;
        ost.set_parameters(ist.parameters());
        ost.set_time_base(ist.time_base());
        // SAFETY: the new stream's codec parameters were just allocated by add_stream. A codec
        // tag from another container may be invalid in this one; 0 lets the muxer choose.
        unsafe { (*(*ost.as_mut_ptr()).codecpar).codec_tag = 0 };
        mapped.push(Mapped {
            input_index: idx,
            output_index: n,
            input_tb: ist.time_base(),
            is_video: idx == video,
        });
    }
    // Bit-exact muxing: no random track UIDs (Matroska/WebM) and no muxer version tag, so the
    // same cut of the same file is the same bytes (its content hash is stable across runs,
    // machines and the parts of a sharded run).
    // SAFETY: the format context was just allocated by output_as and is not written yet.
    unsafe { (*octx.as_mut_ptr()).flags |= ffmpeg_next::ffi::AVFMT_FLAG_BITEXACT };
    octx.write_header().map_err(write_err)?;
    let output_tbs: Vec<Rational> = octx.streams().map(|s| s.time_base()).collect();

    if start_s > 0.0 {
        let target = ((origin_s + start_s) * 1e6) as i64;
        ictx.seek(target, ..target)
            .map_err(|e| corrupt(input, format!("seek to {start_s} s: {e}")))?;
    }
    let span = Span {
        origin_s,
        max_s,
        hides_preroll: container == "mp4",
    };
    let report = copy_packets(&mut ictx, &mut octx, input, &mapped, &output_tbs, span)?;
    octx.write_trailer().map_err(write_err)?;
    let relative = |t: f64| round_us(t - origin_s);
    Ok(CutReport {
        start_s: relative(report.start_s),
        end_s: relative(report.end_s),
        ..report
    })
}

/// Seconds rounded to the microsecond (FFmpeg's AV_TIME_BASE), so float noise from mixing
/// time bases does not show up as -0.0000002 s; `+ 0.0` turns -0.0 into 0.0.
fn round_us(t: f64) -> f64 {
    (t * 1e6).round() / 1e6 + 0.0
}

/// What part of the source to copy.
#[derive(Debug, Clone, Copy)]
struct Span {
    /// The source's first shown instant, on its own clock.
    origin_s: f64,
    /// Longest clip to write.
    max_s: f64,
    /// The output container can hide preroll packets (MP4 edit lists).
    hides_preroll: bool,
}

/// Where a copy starts, on the source's clock: the keyframe the decoder starts from, and the
/// first instant shown (later than the keyframe only when the keyframe is hidden preroll).
#[derive(Debug, Clone, Copy)]
struct Start {
    decode_from: f64,
    shown_from: f64,
}

/// A packet the source decodes but does not show (before its edit list starts).
fn is_preroll(packet: &Packet, t: f64, origin_s: f64) -> bool {
    // SAFETY: `packet` wraps a valid AVPacket.
    let flags = unsafe { (*packet.as_ptr()).flags };
    flags & ffmpeg_next::ffi::AV_PKT_FLAG_DISCARD != 0 || t < origin_s - 1e-6
}

/// The start a video keyframe at `t` gives the clip, if the clip can start there.
fn start_at_keyframe(t: f64, preroll: bool, span: Span) -> Option<Start> {
    match (preroll, span.hides_preroll) {
        // `max`: a keyframe within float noise of the origin must not report -0.000001 s.
        (false, _) => Some(Start {
            decode_from: t,
            shown_from: t.max(span.origin_s),
        }),
        (true, true) => Some(Start {
            decode_from: t,
            shown_from: span.origin_s,
        }),
        (true, false) => None, // it would be shown: wait for a keyframe that is not preroll
    }
}

/// Copies packets from the first usable video keyframe read until `max_s` after the shown
/// start. Returns absolute times on the source's clock.
fn copy_packets(
    ictx: &mut context::Input,
    octx: &mut context::Output,
    input: &Path,
    mapped: &[Mapped],
    output_tbs: &[Rational],
    span: Span,
) -> Result<CutReport, MediaError> {
    // The clip starts at the first video keyframe read: after a seek to `start_abs` with
    // `max_ts = start_abs` that is the keyframe the demuxer landed on, at or before the start.
    let mut start: Option<Start> = None;
    let mut end = f64::MIN;
    let (mut video_packets, mut audio_packets) = (0u64, 0u64);
    let mut packet = Packet::empty();
    loop {
        match packet.read(ictx) {
            Ok(()) => {}
            Err(Error::Eof) => break,
            Err(e) => return Err(corrupt(input, format!("reading packets: {e}"))),
        }
        let Some(m) = mapped.iter().find(|m| m.input_index == packet.stream()) else {
            continue;
        };
        let Some(ts) = packet.pts().or(packet.dts()) else {
            continue;
        };
        let t = seconds(ts, m.input_tb);
        let preroll = is_preroll(&packet, t, span.origin_s);
        let s = match start {
            Some(s) => s,
            None if m.is_video && packet.is_key() => match start_at_keyframe(t, preroll, span) {
                Some(s) => *start.insert(s),
                None => continue,
            },
            None => continue,
        };
        // Video from the keyframe on (B-frames before it cannot decode; preroll after it is
        // needed to decode what is shown); audio only where it is shown.
        let keep_from = if m.is_video {
            s.decode_from
        } else {
            s.shown_from
        };
        if t < keep_from || (preroll && !m.is_video) {
            continue;
        }
        let packet_end = t + seconds(packet.duration(), m.input_tb);
        if packet_end > s.shown_from + span.max_s + 1e-6 {
            // The clip holds whole frames only, so it never runs past `max_s`.
            if m.is_video {
                break;
            }
            continue;
        }
        end = end.max(packet_end);
        write_shifted(&mut packet, m, s.shown_from, octx, output_tbs, input)?;
        if m.is_video {
            video_packets += 1;
        } else {
            audio_packets += 1;
        }
    }
    let start = start
        .ok_or_else(|| corrupt(input, "no video keyframe found"))?
        .shown_from;
    if video_packets == 0 {
        return Err(corrupt(input, "no video packets in the requested range"));
    }
    Ok(CutReport {
        start_s: start,
        end_s: end.max(start),
        video_packets,
        audio_packets,
    })
}

/// Writes `packet` with its timestamps moved so that `start` (source seconds) becomes 0;
/// preroll comes out negative, which the MP4 muxer hides behind an edit list.
fn write_shifted(
    packet: &mut Packet,
    m: &Mapped,
    start: f64,
    octx: &mut context::Output,
    output_tbs: &[Rational],
    input: &Path,
) -> Result<(), MediaError> {
    let shift = (start / f64::from(m.input_tb)).round() as i64;
    packet.set_pts(packet.pts().map(|v| v - shift));
    packet.set_dts(packet.dts().map(|v| v - shift));
    packet.rescale_ts(m.input_tb, output_tbs[m.output_index]);
    packet.set_stream(m.output_index);
    packet.set_position(-1);
    packet
        .write_interleaved(octx)
        .map_err(|e| MediaError::Write {
            path: input.into(),
            message: format!("writing packet: {e}"),
        })
}
