//! Video preprocessing exactly as ImageBind's `load_and_transform_video_data` (OMEGA's fork,
//! pytorchvideo @ 23bf970 with the decord decoder): 5 clips of 2 s, the first and last frame of
//! each, scaled to [0, 1], short side to 224 (bilinear, `align_corners=False`, no antialias),
//! CLIP mean/std, 3 crops of 224 → `[15, 3, 2, 224, 224]`, view = clip · 3 + crop.
//!
//! Facts of the reference reproduced here (see tests/fixtures/imagebind/README.md):
//! * decord's frame count is the stream's `nb_frames`, else the number of video packets; its
//!   frame rate is the average frame rate; the duration is `frames / fps`.
//! * clip k spans `[k · max(d − 2, 0) / 4, … + 2]` (pytorchvideo since 2022 divides by
//!   `clips − 1`; the SN24 spec's "/5" describes the older PyPI 0.1.5);
//! * its frames are `ceil(fps · start)` up to `min(ceil(fps · end), frames)`, exclusive;
//! * frame k is the k-th frame the decoder outputs; past the last one, the last one again;
//! * RGB comes from swscale's default conversion (bicubic flags) at the decoded size.

use std::path::Path;

use ffmpeg_next::format::Pixel;
use ffmpeg_next::media::Type;
use ffmpeg_next::software::scaling;
use ffmpeg_next::{codec, format, frame, Packet};
use rayon::prelude::*;

use crate::media::{init, MediaError};

pub const CLIP_SECONDS: f64 = 2.0;
pub const CLIPS: usize = 5;
pub const FRAMES_PER_CLIP: usize = 2;
pub const SIZE: usize = 224;
pub const CROPS: usize = 3;
pub const VIEWS: usize = CLIPS * CROPS;
/// Floats in one video input: `[15, 3, 2, 224, 224]`.
pub const VIDEO_INPUT_LEN: usize = VIEWS * 3 * FRAMES_PER_CLIP * SIZE * SIZE;
pub const MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
pub const STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];

/// What decord reports about a video.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecordInfo {
    pub fps: f64,
    pub num_frames: usize,
    pub width: usize,
    pub height: usize,
}

impl DecordInfo {
    pub fn duration(&self) -> f64 {
        self.num_frames as f64 / self.fps
    }
}

/// The frames chosen for one clip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipPlan {
    pub start_s: f64,
    pub end_s: f64,
    /// Frames decoded for the clip: `[first, end)`.
    pub decoded: (usize, usize),
    /// The two frames kept (first and last of the range).
    pub frames: [usize; 2],
}

/// `m · k / d` and `m · k / d + c` for a double `m` and an integer `c`, each rounded once, as
/// Python computes `float(Fraction(m) * k / d)` and `float(... + c)`. Exact here because `d` is
/// a power of two (4 video clips apart, 2 audio clips apart).
pub(crate) fn fraction_times(m: f64, k: usize, d: usize, c: f64) -> (f64, f64) {
    debug_assert!(d.is_power_of_two() && c.fract() == 0.0);
    let (mant, exp) = decompose(m);
    // The exact value is num · 2^shift; one rounding happens in the cast to f64.
    let num = i128::from(mant) * k as i128;
    let shift = exp - d.trailing_zeros() as i32;
    let exact = |n: i128| n as f64 * 2f64.powi(shift);
    let start = exact(num);
    let end = if (-60..=0).contains(&shift) {
        exact(num + ((c as i128) << -shift))
    } else {
        start + c
    };
    (start, end)
}

/// `x = mantissa · 2^exp` with an integer mantissa.
pub(crate) fn decompose(x: f64) -> (i64, i32) {
    if x == 0.0 {
        return (0, 0);
    }
    let bits = x.to_bits();
    let exp_bits = ((bits >> 52) & 0x7ff) as i32;
    let frac = (bits & ((1u64 << 52) - 1)) as i64;
    let (mant, exp) = if exp_bits == 0 {
        (frac, -1074)
    } else {
        (frac | (1 << 52), exp_bits - 1075)
    };
    (if x < 0.0 { -mant } else { mant }, exp)
}

/// The 5 clips of a video, with the frames decord would return for each.
pub fn clip_plan(info: &DecordInfo) -> Vec<ClipPlan> {
    let max_start = (info.duration() - CLIP_SECONDS).max(0.0);
    (0..CLIPS)
        .map(|k| {
            let (start_s, end_s) = fraction_times(max_start, k, CLIPS - 1, CLIP_SECONDS);
            let first = (info.fps * start_s).ceil() as usize;
            let end = ((info.fps * end_s).ceil() as usize).min(info.num_frames);
            let last = end.saturating_sub(1).max(first);
            ClipPlan {
                start_s,
                end_s,
                decoded: (first, end),
                frames: [first, last],
            }
        })
        .collect()
}

fn corrupt(path: &Path, e: impl std::fmt::Display) -> MediaError {
    MediaError::Corrupt {
        path: path.into(),
        message: e.to_string(),
    }
}

/// decord's view of the first video stream.
pub fn decord_info(path: &Path) -> Result<DecordInfo, MediaError> {
    Ok(open_video(path)?.info)
}

/// A video file read once, with probing: what decord reports, the stream's parameters for the
/// decoders, and the packet index for seeking (`None` when the stream cannot be seeked in).
/// Everything after it opens the file without probing, and only to decode.
struct OpenedVideo {
    stream: usize,
    info: DecordInfo,
    parameters: codec::Parameters,
    index: Option<PacketIndex>,
}

fn open_video(path: &Path) -> Result<OpenedVideo, MediaError> {
    init();
    let mut ictx = format::input(path).map_err(|e| corrupt(path, e))?;
    let video = ictx
        .streams()
        .best(Type::Video)
        .ok_or(MediaError::NoVideoStream { path: path.into() })?;
    let stream = video.index();
    let rate = video.avg_frame_rate();
    let fps = if rate.denominator() != 0 && rate.numerator() > 0 {
        f64::from(rate)
    } else {
        f64::from(video.rate())
    };
    // A copy: the stream's own parameters live only as long as the input.
    let parameters = video.parameters().clone();
    // SAFETY: the copy is a valid, owned AVCodecParameters.
    let (width, height) = unsafe {
        (
            (*parameters.as_ptr()).width as usize,
            (*parameters.as_ptr()).height as usize,
        )
    };
    let header_frames = usize::try_from(video.frames()).unwrap_or(0);
    let (packets, index) = packet_index(&mut ictx, stream);
    let num_frames = if header_frames > 0 {
        header_frames
    } else {
        packets
    };
    if num_frames == 0 || fps.is_nan() || fps <= 0.0 {
        return Err(corrupt(path, "no video frames"));
    }
    Ok(OpenedVideo {
        stream,
        info: DecordInfo {
            fps,
            num_frames,
            width,
            height,
        },
        parameters,
        index,
    })
}

/// An RGB24 frame, rows packed.
#[derive(Debug, Clone)]
pub struct RgbFrame {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

/// Decodes the frames at `indices`, converting only those to RGB24. Frame k is the frame whose
/// pts is the k-th smallest packet pts of the stream, as decord indexes frames; indices whose
/// frame never decodes (past the end, or discarded packets) get the last decoded frame.
///
/// Only the needed stretches are decoded: for each frame, from the last keyframe before it.
/// Streams that cannot be indexed that way (packets without pts, duplicate pts, a seek that
/// lands after the frame) are decoded from the start instead, which gives the same frames.
pub fn decode_frames(
    path: &Path,
    indices: &[usize],
    threads: usize,
) -> Result<Vec<RgbFrame>, MediaError> {
    decode_opened(path, &open_video(path)?, indices, threads)
}

fn decode_opened(
    path: &Path,
    video: &OpenedVideo,
    indices: &[usize],
    threads: usize,
) -> Result<Vec<RgbFrame>, MediaError> {
    match seek_and_decode(path, video, indices, threads)? {
        Some(frames) => Ok(frames),
        None => decode_sequential(path, indices, threads),
    }
}

type Opened = (format::context::Input, usize, ffmpeg_next::decoder::Video);

fn open_decoder(path: &Path, threads: usize) -> Result<Opened, MediaError> {
    init();
    let ictx = format::input(path).map_err(|e| corrupt(path, e))?;
    let stream = ictx
        .streams()
        .best(Type::Video)
        .ok_or(MediaError::NoVideoStream { path: path.into() })?;
    let index = stream.index();
    let decoder = video_decoder(path, stream.parameters(), threads)?;
    Ok((ictx, index, decoder))
}

/// A decoder with `threads` frame threads.
fn video_decoder(
    path: &Path,
    parameters: codec::Parameters,
    threads: usize,
) -> Result<ffmpeg_next::decoder::Video, MediaError> {
    let mut ctx =
        codec::context::Context::from_parameters(parameters).map_err(|e| corrupt(path, e))?;
    ctx.set_threading(codec::threading::Config {
        kind: codec::threading::Type::Frame,
        count: threads,
        ..Default::default()
    });
    ctx.decoder().video().map_err(|e| corrupt(path, e))
}

/// The video packets' timestamps: pts in presentation order, and the keyframes' (pts, dts).
struct PacketIndex {
    pts: Vec<i64>,
    keys: Vec<(i64, i64)>,
    /// H.264 SEI units of the stream's first packet, length prefixes included, to put before
    /// a later keyframe that a decoder starts from (see [`first_packet_sei`]).
    sei: Vec<u8>,
}

impl PacketIndex {
    /// The last keyframe (pts, dts) at or before `pts`.
    fn key_before(&self, pts: i64) -> Option<(i64, i64)> {
        self.keys
            .iter()
            .filter(|(p, _)| *p <= pts)
            .max_by_key(|(p, _)| *p)
            .copied()
    }
}

/// The NAL units of an H.264 packet in MP4/Matroska form (each behind a 4-byte length), with
/// their prefixes; `None` when the packet is not in that form (Annex B start codes).
fn length_prefixed_nals(data: &[u8]) -> Option<Vec<&[u8]>> {
    let (mut i, mut nals) = (0, Vec::new());
    while i < data.len() {
        let n = u32::from_be_bytes(data.get(i..i + 4)?.try_into().ok()?) as usize;
        if n == 0 || i + 4 + n > data.len() {
            return None;
        }
        nals.push(&data[i..i + 4 + n]);
        i += 4 + n;
    }
    Some(nals)
}

fn nal_type(nal: &[u8]) -> u8 {
    nal[4] & 0x1f
}

/// Whether an H.264 packet (length-prefixed NAL units, or Annex B start codes) holds an IDR
/// slice (NAL type 5).
fn h264_has_idr(data: &[u8]) -> bool {
    match length_prefixed_nals(data) {
        Some(nals) => nals.iter().any(|nal| nal_type(nal) == 5),
        None => data
            .windows(4)
            .any(|w| w[0] == 0 && w[1] == 0 && w[2] == 1 && w[3] & 0x1f == 5),
    }
}

/// The SEI units (NAL type 6) of an H.264 stream's first packet. x264 writes its version there,
/// and FFmpeg's decoder turns on its workarounds for older x264 builds (4:4:4 streams among
/// them, e.g. `cockatoo.mp4`) only after reading it: a decoder that starts at a later IDR frame
/// without it decodes that stream wrongly, with every frame flagged as concealed.
fn first_packet_sei(data: &[u8]) -> Vec<u8> {
    length_prefixed_nals(data)
        .unwrap_or_default()
        .into_iter()
        .filter(|nal| nal_type(nal) == 6)
        .flatten()
        .copied()
        .collect()
}

/// Counts the stream's packets and indexes them; the index is `None` when a packet has no pts.
/// Seek points are the keyframes, except that for H.264 only IDR frames count: a stream may
/// flag other I-frames as keyframes while later frames still refer past them, so decoding from
/// there would not give the decoder's sequential frames.
fn packet_index(ictx: &mut format::context::Input, stream: usize) -> (usize, Option<PacketIndex>) {
    let is_h264 = ictx
        .stream(stream)
        .is_some_and(|s| s.parameters().id() == codec::Id::H264);
    let (mut pts, mut keys, mut sei) = (Vec::new(), Vec::new(), Vec::new());
    let (mut packets, mut all_have_pts) = (0, true);
    let mut packet = Packet::empty();
    while packet.read(ictx).is_ok() {
        if packet.stream() != stream {
            continue;
        }
        packets += 1;
        let Some(p) = packet.pts() else {
            all_have_pts = false;
            continue;
        };
        if pts.is_empty() && is_h264 {
            sei = packet.data().map(first_packet_sei).unwrap_or_default();
        }
        pts.push(p);
        let first = keys.is_empty();
        if packet.is_key() && (first || !is_h264 || packet.data().is_some_and(h264_has_idr)) {
            keys.push((p, packet.dts().unwrap_or(p)));
        }
    }
    pts.sort_unstable();
    let unique = pts.windows(2).all(|w| w[0] < w[1]);
    let indexable = all_have_pts && unique && !keys.is_empty();
    (packets, indexable.then_some(PacketIndex { pts, keys, sei }))
}

/// Seeks the input to the keyframe with decode timestamp `dts` (or the one before).
fn seek_to(ictx: &mut format::context::Input, stream: usize, dts: i64) -> bool {
    // SAFETY: plain FFmpeg call on the open input; the stream index exists.
    let r = unsafe {
        ffmpeg_next::ffi::av_seek_frame(
            ictx.as_mut_ptr(),
            stream as i32,
            dts,
            ffmpeg_next::ffi::AVSEEK_FLAG_BACKWARD,
        )
    };
    r >= 0
}

/// Frames by keyframe seeking; `None` when the stream needs sequential decoding.
pub fn decode_seeking(
    path: &Path,
    indices: &[usize],
    threads: usize,
) -> Result<Option<Vec<RgbFrame>>, MediaError> {
    seek_and_decode(path, &open_video(path)?, indices, threads)
}

fn seek_and_decode(
    path: &Path,
    video: &OpenedVideo,
    indices: &[usize],
    threads: usize,
) -> Result<Option<Vec<RgbFrame>>, MediaError> {
    let (stream, Some(index)) = (video.stream, &video.index) else {
        return Ok(None);
    };
    let mut wanted: Vec<usize> = indices.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    // Frames after the same keyframe are decoded together; groups run on their own threads,
    // each with its own decoder, since clips far apart share nothing.
    let mut groups: Vec<((i64, i64), Vec<usize>)> = Vec::new();
    for &k in wanted.iter().filter(|&&k| k < index.pts.len()) {
        let Some(key) = index.key_before(index.pts[k]) else {
            return Ok(None);
        };
        match groups.last_mut() {
            Some((g, members)) if *g == key => members.push(k),
            _ => groups.push((key, vec![k])),
        }
    }
    // The longest stretch first: it bounds the time, and the shorter ones fill the cores
    // beside it.
    groups.sort_by_key(|((key_pts, _), members)| {
        let from = index.pts.partition_point(|p| p < key_pts);
        std::cmp::Reverse(members.last().map_or(0, |last| last.saturating_sub(from)))
    });
    let per_group = (threads / groups.len().max(1)).max(1);
    let opener = |parameters| GroupOpener {
        path,
        stream,
        parameters,
        threads: per_group,
    };
    let decoded: Vec<Option<Vec<(usize, RgbFrame)>>> = groups
        .into_iter()
        .map(|group| (group, opener(video.parameters.clone())))
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|(((_, key_dts), members), open)| decode_group(open, index, key_dts, &members))
        .collect::<Result<_, _>>()?;
    let mut found = std::collections::HashMap::new();
    for group in decoded {
        let Some(frames) = group else { return Ok(None) };
        found.extend(frames);
    }
    if wanted.iter().all(|k| found.contains_key(k)) {
        return Ok(Some(indices.iter().map(|k| found[k].clone()).collect()));
    }
    // Frames that never come out are the stream's last decoded frame, as in decord.
    let (mut ictx, _, mut decoder) = open_decoder(path, threads)?;
    let last = decode_last_frame(&mut ictx, stream, &mut decoder, index)
        .ok_or_else(|| corrupt(path, "no frame could be decoded"))?;
    let last = to_rgb(&last, &mut None).map_err(|e| corrupt(path, e))?;
    Ok(Some(
        indices
            .iter()
            .map(|k| found.get(k).unwrap_or(&last).clone())
            .collect(),
    ))
}

/// What a keyframe group needs to open its own input and decoder.
struct GroupOpener<'a> {
    path: &'a Path,
    stream: usize,
    /// The video stream's parameters from the one probed open.
    parameters: codec::Parameters,
    threads: usize,
}

impl GroupOpener<'_> {
    /// The input opened without probing its streams (`avformat_find_stream_info` decodes the
    /// first frames of every stream: 3–15 ms per open on the media set, opened once per group),
    /// and a decoder from the probed parameters, so that it decodes as the probed one would.
    /// Containers whose headers do not list the stream as probing found it (MPEG program
    /// streams list none) are opened with probing.
    fn open(self) -> Result<(format::context::Input, ffmpeg_next::decoder::Video), MediaError> {
        let codec_id = self.parameters.id();
        let ictx = match open_unprobed(self.path) {
            Some(i)
                if i.stream(self.stream)
                    .is_some_and(|s| s.parameters().id() == codec_id) =>
            {
                i
            }
            _ => format::input(self.path).map_err(|e| corrupt(self.path, e))?,
        };
        let decoder = video_decoder(self.path, self.parameters, self.threads)?;
        Ok((ictx, decoder))
    }
}

/// `avformat_open_input` alone; `None` when it fails.
fn open_unprobed(path: &Path) -> Option<format::context::Input> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut ps = std::ptr::null_mut();
    // SAFETY: on success FFmpeg allocates the context, which `Input` then owns and closes.
    unsafe {
        let opened = ffmpeg_next::ffi::avformat_open_input(
            &mut ps,
            c_path.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        (opened == 0).then(|| format::context::Input::wrap(ps))
    }
}

/// Decodes the frames `members` (all after the keyframe with decode time `key_dts`) from that
/// keyframe on. `None` when the seek lands after a wanted frame. Frames that never come out
/// (discarded packets) are left out.
fn decode_group(
    open: GroupOpener,
    index: &PacketIndex,
    key_dts: i64,
    members: &[usize],
) -> Result<Option<Vec<(usize, RgbFrame)>>, MediaError> {
    let (path, stream) = (open.path, open.stream);
    let (mut ictx, mut decoder) = open.open()?;
    if !seek_to(&mut ictx, stream, key_dts) {
        return Ok(None);
    }
    let targets: Vec<(usize, i64)> = members.iter().map(|&k| (k, index.pts[k])).collect();
    let (last_target, first_target) = (targets[targets.len() - 1].1, targets[0].1);
    let mut scaler: Option<scaling::Context> = None;
    let mut out = Vec::with_capacity(members.len());
    let (mut packet, mut decoded) = (Packet::empty(), frame::Video::empty());
    let mut first = true;
    let mut at_end = false;
    let mut started = false;
    loop {
        while decoder.receive_frame(&mut decoded).is_ok() {
            let Some(pts) = decoded.timestamp().or(decoded.pts()) else {
                continue;
            };
            if std::mem::take(&mut first) && pts > first_target {
                return Ok(None); // the seek landed after the frame
            }
            if decode_errors(&decoded) {
                // Decoding from this keyframe is not clean (e.g. parameter sets sent in-band
                // earlier in the stream): only sequential decoding gives the true frames.
                return Ok(None);
            }
            for &(k, _) in targets.iter().filter(|(_, t)| *t == pts) {
                out.push((
                    k,
                    to_rgb(&decoded, &mut scaler).map_err(|e| corrupt(path, e))?,
                ));
            }
            if pts >= last_target {
                return Ok(Some(out));
            }
        }
        if at_end {
            return Ok(Some(out));
        }
        match packet.read(&mut ictx) {
            Ok(()) if packet.stream() != stream => {}
            // The demuxer may seek to an earlier keyframe than asked (MP4 indexes by decode
            // times without the edit list's shift): its packets are not needed.
            Ok(()) if !started && packet.dts().is_some_and(|d| d < key_dts) => {}
            Ok(()) => {
                // Frames no other frame refers to (usually B-frames) are only decoded when
                // they are wanted: skipping them changes no other frame.
                let needed = packet
                    .pts()
                    .is_some_and(|p| targets.iter().any(|(_, t)| *t == p));
                set_skip_nonref(&mut decoder, !needed);
                if !std::mem::replace(&mut started, true) && key_dts != index.keys[0].1 {
                    let _ = decoder.send_packet(&with_prefix(&index.sei, &packet));
                } else {
                    let _ = decoder.send_packet(&packet);
                }
            }
            Err(ffmpeg_next::Error::Eof) => {
                let _ = decoder.send_eof();
                at_end = true;
            }
            Err(e) => return Err(corrupt(path, e)),
        }
    }
}

/// `packet` with `prefix` before its data (nothing else changed).
fn with_prefix(prefix: &[u8], packet: &Packet) -> Packet {
    if prefix.is_empty() {
        return packet.clone();
    }
    let data = packet.data().unwrap_or_default();
    let mut joined = Packet::copy(&[prefix, data].concat());
    joined.set_pts(packet.pts());
    joined.set_dts(packet.dts());
    joined.set_duration(packet.duration());
    joined.set_flags(packet.flags());
    joined.set_stream(packet.stream());
    joined
}

/// Whether the decoder reported errors or corruption in this frame.
// The cast is a no-op with Debian's FFmpeg 5.1 bindings, not with every FFmpeg's.
#[allow(clippy::unnecessary_cast)]
fn decode_errors(f: &frame::Video) -> bool {
    // SAFETY: reads two plain fields of a valid frame.
    unsafe {
        let ptr = f.as_ptr();
        (*ptr).decode_error_flags != 0
            || (*ptr).flags & ffmpeg_next::ffi::AV_FRAME_FLAG_CORRUPT as i32 != 0
    }
}

/// Lets the decoder drop non-reference frames (`skip_frame = NONREF`) or decode everything.
fn set_skip_nonref(decoder: &mut ffmpeg_next::decoder::Video, skip: bool) {
    use ffmpeg_next::ffi::AVDiscard;
    // SAFETY: a plain field of the open codec context; frame threads copy it per packet.
    unsafe {
        (*decoder.as_mut_ptr()).skip_frame = if skip {
            AVDiscard::AVDISCARD_NONREF
        } else {
            AVDiscard::AVDISCARD_DEFAULT
        };
    }
}

/// The last frame the decoder outputs, decoding from the last keyframe.
fn decode_last_frame(
    ictx: &mut format::context::Input,
    stream: usize,
    decoder: &mut ffmpeg_next::decoder::Video,
    index: &PacketIndex,
) -> Option<frame::Video> {
    let (_, key_dts) = *index.keys.iter().max_by_key(|(p, _)| *p)?;
    if !seek_to(ictx, stream, key_dts) {
        return None;
    }
    decoder.flush();
    set_skip_nonref(decoder, false);
    let (mut packet, mut decoded, mut last) = (Packet::empty(), frame::Video::empty(), None);
    loop {
        let reading = match packet.read(ictx) {
            Ok(()) if packet.stream() != stream => continue,
            Ok(()) => {
                let _ = decoder.send_packet(&packet);
                true
            }
            Err(_) => {
                let _ = decoder.send_eof();
                false
            }
        };
        while decoder.receive_frame(&mut decoded).is_ok() {
            last = Some(decoded.clone());
        }
        if !reading {
            return last;
        }
    }
}

/// Decodes from the start, frame k being the k-th frame output.
pub fn decode_sequential(
    path: &Path,
    indices: &[usize],
    threads: usize,
) -> Result<Vec<RgbFrame>, MediaError> {
    let (mut ictx, index, mut decoder) = open_decoder(path, threads)?;
    let wanted_max = indices.iter().copied().max().unwrap_or(0);
    let mut out: Vec<Option<RgbFrame>> = vec![None; indices.len()];
    let mut scaler: Option<scaling::Context> = None;
    let mut last: Option<frame::Video> = None;
    let mut count = 0usize;
    let mut decoded = frame::Video::empty();
    let mut take = |f: &frame::Video,
                    k: usize,
                    scaler: &mut Option<scaling::Context>|
     -> Result<(), MediaError> {
        if indices.contains(&k) {
            let rgb = to_rgb(f, scaler).map_err(|e| corrupt(path, e))?;
            for (slot, _) in out.iter_mut().zip(indices).filter(|(_, &i)| i == k) {
                *slot = Some(rgb.clone());
            }
        }
        Ok(())
    };
    let mut packet = Packet::empty();
    let mut eof = false;
    while count <= wanted_max {
        if !eof {
            match packet.read(&mut ictx) {
                Ok(()) if packet.stream() != index => continue,
                Ok(()) => {
                    // A damaged packet is skipped, as decoders (and decord) do.
                    let _ = decoder.send_packet(&packet);
                }
                Err(ffmpeg_next::Error::Eof) => {
                    eof = true;
                    let _ = decoder.send_eof();
                }
                Err(e) => return Err(corrupt(path, e)),
            }
        }
        let mut got_any = false;
        while decoder.receive_frame(&mut decoded).is_ok() {
            got_any = true;
            take(&decoded, count, &mut scaler)?;
            count += 1;
            last = Some(decoded.clone());
        }
        if eof && !got_any {
            break;
        }
    }
    let last = last.ok_or_else(|| corrupt(path, "no frame could be decoded"))?;
    let last_rgb = to_rgb(&last, &mut scaler).map_err(|e| corrupt(path, e))?;
    Ok(out
        .into_iter()
        .map(|f| f.unwrap_or_else(|| last_rgb.clone()))
        .collect())
}

fn to_rgb(
    f: &frame::Video,
    scaler: &mut Option<scaling::Context>,
) -> Result<RgbFrame, ffmpeg_next::Error> {
    let (w, h) = (f.width(), f.height());
    let fresh = scaler.as_ref().is_none_or(|s| {
        s.input().format != f.format() || s.input().width != w || s.input().height != h
    });
    if fresh {
        let mut ctx = scaling::Context::get(
            f.format(),
            w,
            h,
            Pixel::RGB24,
            w,
            h,
            scaling::Flags::BICUBIC,
        )?;
        apply_frame_colorspace(&mut ctx, f);
        *scaler = Some(ctx);
    }
    let mut rgb = frame::Video::empty();
    scaler.as_mut().expect("scaler set").run(f, &mut rgb)?;
    let (w, h) = (w as usize, h as usize);
    let stride = rgb_stride(&rgb, w, h).ok_or(ffmpeg_next::Error::InvalidData)?;
    let mut data = Vec::with_capacity(w * h * 3);
    for row in rgb.data(0).chunks(stride).take(h) {
        data.extend_from_slice(&row[..w * 3]);
    }
    Ok(RgbFrame {
        width: w,
        height: h,
        data,
    })
}

/// The row stride of an RGB24 frame of `w` x `h`, when its buffer holds all the rows: `None`
/// for an empty frame (an odd decoder output) instead of indexing past its data.
fn rgb_stride(rgb: &frame::Video, w: usize, h: usize) -> Option<usize> {
    if w == 0 || h == 0 || rgb.planes() == 0 {
        return None;
    }
    let stride = rgb.stride(0);
    let row = w * 3;
    (stride >= row && rgb.data(0).len() >= stride * (h - 1) + row).then_some(stride)
}

/// Uses the frame's tagged YUV matrix and range, as FFmpeg's `scale` filter does with its
/// default `in_color_matrix=auto` (a bare swscale context would assume BT.601, limited range,
/// and miss decord's bytes on BT.709-tagged phone videos).
// The casts are no-ops with Debian's FFmpeg 5.1 bindings, not with every FFmpeg's.
#[allow(clippy::unnecessary_cast)]
fn apply_frame_colorspace(ctx: &mut scaling::Context, f: &frame::Video) {
    use ffmpeg_next::ffi;
    // SAFETY: plain FFmpeg calls on a valid context and frame; the coefficient tables are
    // static arrays owned by libswscale.
    unsafe {
        let frame = f.as_ptr();
        let full_range = i32::from((*frame).color_range == ffi::AVColorRange::AVCOL_RANGE_JPEG);
        let table = ffi::sws_getCoefficients((*frame).colorspace as i32);
        let out_table = ffi::sws_getCoefficients(ffi::SWS_CS_DEFAULT as i32);
        ffi::sws_setColorspaceDetails(
            ctx.as_mut_ptr(),
            table,
            full_range,
            out_table,
            1,
            0,
            1 << 16,
            1 << 16,
        );
    }
}

/// The output size of pytorchvideo's `ShortSideScale(224)`: `(height, width)`.
pub fn short_side_size(height: usize, width: usize) -> (usize, usize) {
    if width < height {
        (
            ((height as f64 / width as f64) * SIZE as f64).floor() as usize,
            SIZE,
        )
    } else {
        (
            SIZE,
            ((width as f64 / height as f64) * SIZE as f64).floor() as usize,
        )
    }
}

/// Source index and weights of torch's bilinear `interpolate(align_corners=False)` along one
/// axis, computed in f32 as PyTorch's CPU kernel does.
fn linear_taps(input: usize, output: usize) -> Vec<(usize, usize, f32, f32)> {
    let scale = input as f32 / output as f32;
    (0..output)
        .map(|dst| {
            let src = (scale * (dst as f32 + 0.5) - 0.5).max(0.0);
            let i0 = src as usize;
            let i1 = if i0 < input - 1 { i0 + 1 } else { i0 };
            let l1 = src - i0 as f32;
            (i0, i1, 1.0 - l1, l1)
        })
        .collect()
}

/// One frame → `[3, H', W']` floats: /255, bilinear resize (short side 224), CLIP normalise.
///
/// Separable: each source row's horizontal pass (`wx0 · left + wx1 · right`) is computed once
/// and shared by the output rows that read it; torch's kernel computes the same products in the
/// same order (`wy0 · top + wy1 · bottom` of those), so the floats are the same.
pub fn resize_normalize(frame: &RgbFrame) -> (usize, usize, Vec<f32>) {
    let (oh, ow) = short_side_size(frame.height, frame.width);
    let ys = linear_taps(frame.height, oh);
    let xs = linear_taps(frame.width, ow);
    let horizontal = |y: usize, into: &mut Vec<f32>| {
        let row = &frame.data[y * frame.width * 3..(y + 1) * frame.width * 3];
        into.clear();
        for c in 0..3 {
            into.extend(xs.iter().map(|&(x0, x1, wx0, wx1)| {
                wx0 * (f32::from(row[x0 * 3 + c]) / 255.0)
                    + wx1 * (f32::from(row[x1 * 3 + c]) / 255.0)
            }));
        }
    };
    let mut out = vec![0f32; 3 * oh * ow];
    let (mut top, mut bottom) = (Vec::new(), Vec::new());
    let mut rows = (usize::MAX, usize::MAX);
    for (oy, &(y0, y1, wy0, wy1)) in ys.iter().enumerate() {
        if rows != (y0, y1) {
            if rows.1 == y0 {
                std::mem::swap(&mut top, &mut bottom);
            } else {
                horizontal(y0, &mut top);
            }
            horizontal(y1, &mut bottom);
            rows = (y0, y1);
        }
        for c in 0..3 {
            let (t, b) = (&top[c * ow..][..ow], &bottom[c * ow..][..ow]);
            let dst = &mut out[(c * oh + oy) * ow..][..ow];
            for ((d, &t), &b) in dst.iter_mut().zip(t).zip(b) {
                *d = (wy0 * t + wy1 * b - MEAN[c]) / STD[c];
            }
        }
    }
    (oh, ow, out)
}

/// Offsets `(y, x)` of pytorchvideo's `uniform_crop` for crop 0, 1, 2.
pub fn crop_offsets(height: usize, width: usize) -> [(usize, usize); CROPS] {
    let centre_y = (height - SIZE).div_ceil(2);
    let centre_x = (width - SIZE).div_ceil(2);
    if height > width {
        [
            (0, centre_x),
            (centre_y, centre_x),
            (height - SIZE, centre_x),
        ]
    } else {
        [
            (centre_y, 0),
            (centre_y, centre_x),
            (centre_y, width - SIZE),
        ]
    }
}

/// The model input of one video and how it was sampled.
pub struct VideoInput {
    pub info: DecordInfo,
    pub plan: Vec<ClipPlan>,
    /// `[15, 3, 2, 224, 224]`, row-major.
    pub tensor: Vec<f32>,
}

/// Decodes and preprocesses one video file.
pub fn load_video(path: &Path, threads: usize) -> Result<VideoInput, MediaError> {
    let video = open_video(path)?;
    let info = video.info;
    let plan = clip_plan(&info);
    let indices: Vec<usize> = plan.iter().flat_map(|c| c.frames).collect();
    // Clips of a short video share frames: each is decoded and scaled once.
    let mut unique = indices.clone();
    unique.sort_unstable();
    unique.dedup();
    let frames = decode_opened(path, &video, &unique, threads)?;
    let scaled: Vec<_> = frames.par_iter().map(resize_normalize).collect();
    let mut tensor = vec![0f32; VIDEO_INPUT_LEN];
    let plane = SIZE * SIZE;
    for (i, &k) in indices.iter().enumerate() {
        let (clip, t) = (i / FRAMES_PER_CLIP, i % FRAMES_PER_CLIP);
        let (h, w, scaled) = &scaled[unique.partition_point(|&u| u < k)];
        let (h, w) = (*h, *w);
        for (crop, (y0, x0)) in crop_offsets(h, w).into_iter().enumerate() {
            let view = clip * CROPS + crop;
            for c in 0..3 {
                let dst = ((view * 3 + c) * FRAMES_PER_CLIP + t) * plane;
                for y in 0..SIZE {
                    let src = c * h * w + (y0 + y) * w + x0;
                    tensor[dst + y * SIZE..dst + (y + 1) * SIZE]
                        .copy_from_slice(&scaled[src..src + SIZE]);
                }
            }
        }
    }
    Ok(VideoInput { info, plan, tensor })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_round_once() {
        // bigbuckbunny: d = 5.28, max start 3.2800000000000002, clips at k/4 of it.
        let m = 5.28f64 - 2.0;
        let starts: Vec<f64> = (0..5).map(|k| fraction_times(m, k, 4, 2.0).0).collect();
        assert_eq!(
            starts,
            vec![
                0.0,
                0.8200000000000001,
                1.6400000000000001,
                2.46,
                3.2800000000000002
            ]
        );
        assert_eq!(fraction_times(m, 1, 4, 2.0).1, 2.8200000000000003);
    }

    #[test]
    fn crops_and_sizes() {
        assert_eq!(short_side_size(720, 1280), (224, 398));
        assert_eq!(short_side_size(1280, 720), (398, 224));
        assert_eq!(crop_offsets(224, 398), [(0, 0), (0, 87), (0, 174)]);
    }

    /// torch's bilinear interpolation written out per output pixel (four source pixels each).
    fn resize_per_pixel(frame: &RgbFrame) -> Vec<f32> {
        let (oh, ow) = short_side_size(frame.height, frame.width);
        let (ys, xs) = (linear_taps(frame.height, oh), linear_taps(frame.width, ow));
        let px = |y: usize, x: usize, c: usize| {
            f32::from(frame.data[(y * frame.width + x) * 3 + c]) / 255.0
        };
        let mut out = Vec::with_capacity(3 * oh * ow);
        for c in 0..3 {
            for &(y0, y1, wy0, wy1) in &ys {
                for &(x0, x1, wx0, wx1) in &xs {
                    let top = wx0 * px(y0, x0, c) + wx1 * px(y0, x1, c);
                    let bottom = wx0 * px(y1, x0, c) + wx1 * px(y1, x1, c);
                    out.push((wy0 * top + wy1 * bottom - MEAN[c]) / STD[c]);
                }
            }
        }
        out
    }

    #[test]
    fn separable_scaling_gives_the_per_pixel_floats() {
        // Down- and upscaling, portrait and landscape, odd sizes: rows shared by consecutive
        // output rows (upscaling) and rows skipped (downscaling) both occur.
        for (width, height) in [(1920, 1080), (721, 1283), (300, 226), (160, 90), (97, 131)] {
            let data = (0..width * height * 3)
                .map(|i: usize| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect();
            let frame = RgbFrame {
                width,
                height,
                data,
            };
            let (oh, ow, got) = resize_normalize(&frame);
            assert_eq!((oh, ow), short_side_size(height, width));
            let want = resize_per_pixel(&frame);
            let same = got
                .iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same && got.len() == want.len(), "{width}x{height}");
        }
    }
}
