//! Decoding only the stretches of an audio track that the 3 clips need, with the samples the
//! whole-track decode would give there.
//!
//! The reference decodes the whole track; on a 120 s six-channel AAC track that is most of the
//! audio time. An AAC-LC track needs no decoding to know its length: every packet decodes to
//! the stream's frame size, less the priming and padding the container marks on the packets
//! (FFmpeg's skip-samples side data). The clip windows follow from that length; each window is
//! decoded from a few packets before it (the decoder's overlap state) and the packets' outputs
//! are written at their places in otherwise empty channels.
//!
//! Checked as it runs, else the caller decodes the whole track: every decoded packet gives the
//! number of samples the length was computed from, and the first packet of each window decodes
//! to the same samples from one more packet of preroll (decoder state that runs on further,
//! such as perceptual noise substitution's random generator, would differ).

use std::path::Path;

use ffmpeg_next::media::Type;
use ffmpeg_next::packet::Ref;
use ffmpeg_next::{codec, format, frame, Packet};

use super::audio::{append_frame, clip_ranges, merge_ranges, DecodedAudio, Resampler, SAMPLE_RATE};
use crate::media::init;

/// Packets decoded before a window's first packet: AAC's overlap state comes from the packet
/// before; one more for margin.
const PREROLL: usize = 2;

/// An AAC-LC track's packets, not decoded, and where each one's samples go.
struct Track {
    parameters: codec::Parameters,
    packets: Vec<Packet>,
    /// Samples each packet decodes to, and where they start in the track.
    samples: Vec<usize>,
    offsets: Vec<usize>,
    rate: usize,
    channels: usize,
}

impl Track {
    fn len(&self) -> usize {
        self.offsets
            .last()
            .zip(self.samples.last())
            .map_or(0, |(o, n)| o + n)
    }

    /// The packets whose samples overlap `[from, to)`: `first..=last`.
    fn packets_over(&self, from: usize, to: usize) -> (usize, usize) {
        let first = self
            .offsets
            .partition_point(|&o| o <= from)
            .saturating_sub(1);
        let last = self.offsets.partition_point(|&o| o < to).saturating_sub(1);
        (first, last.max(first))
    }
}

/// What the clip windows of an open input gave.
pub enum ClipWindows {
    /// The samples the clips need, every other sample zero.
    Decoded(DecodedAudio),
    /// Not an AAC-LC track; nothing was read, the input can still be decoded whole.
    NotAacLc,
    /// A check failed after packets were read: decode the file whole from a new open.
    Unchecked,
}

/// The samples of `path`'s first audio track that the clips need, every other sample zero;
/// `None` when the track is not one this can do exactly (the caller decodes all of it).
pub fn decode_clip_windows(path: &Path) -> Option<DecodedAudio> {
    init();
    match clip_windows(&mut format::input(path).ok()?) {
        ClipWindows::Decoded(windows) => Some(windows),
        ClipWindows::NotAacLc | ClipWindows::Unchecked => None,
    }
}

/// The clip windows of `input`'s first audio track, when it is one this can do exactly.
pub fn clip_windows(input: &mut format::context::Input) -> ClipWindows {
    let Some(stream) = aac_lc_stream(input) else {
        return ClipWindows::NotAacLc;
    };
    match read_track(input, stream).and_then(decode_windows) {
        Some(windows) => ClipWindows::Decoded(windows),
        None => ClipWindows::Unchecked,
    }
}

fn decode_windows(track: Track) -> Option<DecodedAudio> {
    let len = track.len();
    // Zeroed allocations are mapped lazily: pages no window writes cost nothing.
    let mut channels: Vec<Vec<f32>> = (0..track.channels).map(|_| vec![0f32; len]).collect();
    for (from, to) in source_windows(len, track.rate) {
        decode_window(&track, from, to, &mut channels)?;
    }
    Some(DecodedAudio {
        channels,
        sample_rate: track.rate,
        codec: "aac".into(),
    })
}

/// The best audio stream's facts when it is AAC-LC (the only kind taken: fixed frame size, no
/// state beyond the previous frame's overlap once noise substitution is ruled out by the
/// preroll check). Reads no packet.
fn aac_lc_stream(input: &format::context::Input) -> Option<AacStream> {
    let stream = input.streams().best(Type::Audio)?;
    let parameters = stream.parameters();
    // SAFETY: plain fields of the open stream's parameters.
    let (profile, frame_size, rate, channels) = unsafe {
        let p = parameters.as_ptr();
        (
            (*p).profile,
            (*p).frame_size,
            (*p).sample_rate,
            (*p).ch_layout.nb_channels,
        )
    };
    let aac_lc = parameters.id() == codec::Id::AAC && profile == 1; // FF_PROFILE_AAC_LOW
    (aac_lc && frame_size > 0 && rate > 0 && channels > 0).then(|| AacStream {
        index: stream.index(),
        parameters,
        frame_size: frame_size as usize,
        rate: rate as usize,
        channels: channels as usize,
    })
}

struct AacStream {
    index: usize,
    parameters: codec::Parameters,
    frame_size: usize,
    rate: usize,
    channels: usize,
}

/// Demuxes the AAC-LC stream's packets and counts the samples each one decodes to.
fn read_track(ictx: &mut format::context::Input, stream: AacStream) -> Option<Track> {
    let AacStream {
        index,
        parameters,
        frame_size,
        rate,
        channels,
    } = stream;
    let (mut packets, mut samples, mut offsets) = (Vec::new(), Vec::new(), Vec::new());
    let mut packet = Packet::empty();
    let mut at = 0usize;
    loop {
        match packet.read(ictx) {
            Ok(()) if packet.stream() != index => {}
            Ok(()) => {
                let (skip, discard) = skip_samples(&packet);
                let n = frame_size.saturating_sub(skip + discard);
                offsets.push(at);
                samples.push(n);
                at += n;
                packets.push(packet.clone());
            }
            Err(ffmpeg_next::Error::Eof) => break,
            Err(_) => return None,
        }
    }
    (at > 0).then_some(Track {
        parameters,
        packets,
        samples,
        offsets,
        rate,
        channels,
    })
}

/// The samples FFmpeg's decoder drops from the start and end of a packet's frame.
// The cast is a no-op with Debian's FFmpeg 5.1 bindings (size_t), not with FFmpeg 7's (int).
#[allow(clippy::unnecessary_cast)]
fn skip_samples(packet: &Packet) -> (usize, usize) {
    use ffmpeg_next::ffi;
    let mut size = 0;
    // SAFETY: reads the side data of a valid packet; the pointer lives as long as the packet.
    let data = unsafe {
        ffi::av_packet_get_side_data(
            packet.as_ptr(),
            ffi::AVPacketSideDataType::AV_PKT_DATA_SKIP_SAMPLES,
            &mut size,
        )
    };
    if data.is_null() || size < 10 {
        return (0, 0);
    }
    // SAFETY: `size` bytes at `data` belong to the packet.
    let side = unsafe { std::slice::from_raw_parts(data, size as usize) };
    let le = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    (le(&side[..4]), le(&side[4..8]))
}

/// The source-rate sample ranges the clips read, the resampler's kernel reach included.
fn source_windows(len: usize, rate: usize) -> Vec<(usize, usize)> {
    let resampler = (rate != SAMPLE_RATE).then(|| Resampler::new(rate, SAMPLE_RATE));
    let total = resampler.as_ref().map_or(len, |r| r.output_len(len));
    let windows: Vec<(usize, usize)> = clip_ranges(total)
        .into_iter()
        .filter(|(s, e)| s < e)
        .map(|(s, e)| match &resampler {
            Some(r) => r.input_reach(s, e),
            None => (s, e),
        })
        .map(|(s, e)| (s.min(len), e.min(len)))
        .collect();
    merge_ranges(&windows)
}

/// Decodes the packets over `[from, to)` into `channels`; `None` when a check fails.
fn decode_window(track: &Track, from: usize, to: usize, channels: &mut [Vec<f32>]) -> Option<()> {
    let (first, last) = track.packets_over(from, to);
    let start = first.saturating_sub(PREROLL);
    let outputs = decode_packets(track, start, last)?;
    if start > 0 {
        // One more packet of preroll must give the window's first packet the same samples.
        let check = decode_packets(track, start - 1, first)?;
        if check.last()? != &outputs[first - start] {
            return None;
        }
    }
    for (k, samples) in (start..=last).zip(outputs).skip(first - start) {
        for (out, ch) in channels.iter_mut().zip(samples) {
            out[track.offsets[k]..track.offsets[k] + ch.len()].copy_from_slice(&ch);
        }
    }
    Some(())
}

/// The samples (per channel) of packets `first..=last`, decoded from `first` by a new decoder;
/// `None` unless each packet decodes to the samples its place in the track was computed from.
fn decode_packets(track: &Track, first: usize, last: usize) -> Option<Vec<Vec<Vec<f32>>>> {
    let ctx = codec::context::Context::from_parameters(track.parameters.clone()).ok()?;
    let mut decoder = ctx.decoder().audio().ok()?;
    let mut decoded = frame::Audio::empty();
    let mut outputs = Vec::with_capacity(last + 1 - first);
    for k in first..=last {
        decoder.send_packet(&track.packets[k]).ok()?;
        let mut samples: Vec<Vec<f32>> = Vec::new();
        while decoder.receive_frame(&mut decoded).is_ok() {
            if decoded.rate() as usize != track.rate {
                return None;
            }
            append_frame(&decoded, &mut samples).ok()?;
        }
        let n = samples.first().map_or(0, Vec::len);
        let shape_ok = samples.is_empty() || samples.len() == track.channels;
        if n != track.samples[k] || !shape_ok {
            return None;
        }
        samples.resize(track.channels, vec![0.0; n]);
        outputs.push(samples);
    }
    Some(outputs)
}
