//! Audio preprocessing exactly as ImageBind's `load_and_transform_audio_data`: decode every
//! channel to f32 (torchaudio's FFmpeg backend), resample to 16 kHz with torchaudio's
//! windowed-sinc kernel, cut 3 clips of 2 s, subtract each clip's mean *in place* (later
//! overlapping clips see the shifted samples — the reference's quirk), Kaldi fbank of channel 0
//! (128 mel bins, 25/10 ms, Hanning, preemphasis 0.97, DC removal, 512-point FFT, log power),
//! pad or cut to 204 frames, normalise with mean −4.268 and std 9.138 → `[3, 1, 128, 204]`.
//!
//! The resampler and fbank are written here because their exact arithmetic (kernel formula,
//! edge padding, output length, mel triangle formula) is what has to match; the FFT itself
//! comes from `realfft`. Only the samples the clips need are resampled.

use std::path::Path;
use std::sync::OnceLock;

use ffmpeg_next::format::sample::Type as Layout;
use ffmpeg_next::format::Sample;
use ffmpeg_next::media::Type;
use ffmpeg_next::{codec, format, frame, Packet};
use realfft::RealFftPlanner;

use super::video::decompose;
use crate::media::{init, MediaError};

pub const SAMPLE_RATE: usize = 16_000;
pub const CLIPS: usize = 3;
pub const CLIP_SECONDS: f64 = 2.0;
pub const MEL_BINS: usize = 128;
pub const TARGET_FRAMES: usize = 204;
pub const NORM_MEAN: f32 = -4.268;
pub const NORM_STD: f32 = 9.138;
/// Floats in one audio input: `[3, 1, 128, 204]`.
pub const AUDIO_INPUT_LEN: usize = CLIPS * MEL_BINS * TARGET_FRAMES;
const FRAME_LEN: usize = 400; // 25 ms at 16 kHz
const FRAME_SHIFT: usize = 160; // 10 ms
const FFT_LEN: usize = 512;

/// Every channel of an audio stream, as float samples.
#[derive(Debug, Clone)]
pub struct DecodedAudio {
    pub channels: Vec<Vec<f32>>,
    pub sample_rate: usize,
    pub codec: String,
}

/// Why audio could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("{0}: no audio stream")]
    NoAudioStream(String),
    #[error(transparent)]
    Media(#[from] MediaError),
}

fn corrupt(path: &Path, e: impl std::fmt::Display) -> MediaError {
    MediaError::Corrupt {
        path: path.into(),
        message: e.to_string(),
    }
}

/// Decodes the first audio stream (all frames, encoder priming included, as torchaudio).
pub fn decode_audio(path: &Path) -> Result<DecodedAudio, AudioError> {
    init();
    decode_input(path, format::input(path).map_err(|e| corrupt(path, e))?)
}

/// Decodes the first audio stream of `path`, opened as `ictx` and not read yet.
fn decode_input(path: &Path, mut ictx: format::context::Input) -> Result<DecodedAudio, AudioError> {
    let stream = ictx
        .streams()
        .best(Type::Audio)
        .ok_or_else(|| AudioError::NoAudioStream(path.display().to_string()))?;
    let index = stream.index();
    let ctx = codec::context::Context::from_parameters(stream.parameters())
        .map_err(|e| corrupt(path, e))?;
    let mut decoder = ctx.decoder().audio().map_err(|e| corrupt(path, e))?;
    let codec = decoder.id().name().to_string();
    let mut channels: Vec<Vec<f32>> = Vec::new();
    let mut sample_rate = decoder.rate() as usize;
    let mut decoded = frame::Audio::empty();
    let mut packet = Packet::empty();
    let mut drain = |decoder: &mut ffmpeg_next::decoder::Audio,
                     channels: &mut Vec<Vec<f32>>,
                     rate: &mut usize| {
        while decoder.receive_frame(&mut decoded).is_ok() {
            *rate = decoded.rate() as usize;
            append_frame(&decoded, channels).map_err(|m| corrupt(path, m))?;
        }
        Ok::<(), MediaError>(())
    };
    loop {
        match packet.read(&mut ictx) {
            Ok(()) if packet.stream() != index => continue,
            Ok(()) => {
                let _ = decoder.send_packet(&packet);
                drain(&mut decoder, &mut channels, &mut sample_rate)?;
            }
            Err(ffmpeg_next::Error::Eof) => break,
            Err(e) => return Err(corrupt(path, e).into()),
        }
    }
    let _ = decoder.send_eof();
    drain(&mut decoder, &mut channels, &mut sample_rate)?;
    if channels.first().is_none_or(Vec::is_empty) || sample_rate == 0 {
        return Err(corrupt(path, "no audio samples could be decoded").into());
    }
    Ok(DecodedAudio {
        channels,
        sample_rate,
        codec,
    })
}

/// The sample format as (index into the converters below, planar).
fn sample_format(format: Sample) -> Option<(usize, bool)> {
    Some(match format {
        Sample::U8(l) => (0, l == Layout::Planar),
        Sample::I16(l) => (1, l == Layout::Planar),
        Sample::I32(l) => (2, l == Layout::Planar),
        Sample::I64(l) => (3, l == Layout::Planar),
        Sample::F32(l) => (4, l == Layout::Planar),
        Sample::F64(l) => (5, l == Layout::Planar),
        Sample::None => return None,
    })
}

/// Checks that a frame has the channel count of the frames before it and the bytes its
/// samples need, so that reading it cannot index out of bounds. A channel count that changes
/// mid-stream (a mono segment followed by a 5.1 one) is refused, as the reference's FFmpeg
/// filter graph refuses it; mixing them would leave the channels of unequal length.
fn check_frame(
    f: &frame::Audio,
    known_channels: usize,
    width: usize,
    planar: bool,
) -> Result<(), String> {
    let (n_ch, n) = (f.channels() as usize, f.samples());
    if known_channels != 0 && known_channels != n_ch {
        return Err(format!(
            "the number of audio channels changes mid-stream, from {known_channels} to {n_ch}"
        ));
    }
    let (planes, plane_bytes) = if planar {
        (n_ch, n * width)
    } else {
        (1, n * n_ch * width)
    };
    // Every plane is `linesize[0]` bytes long, so checking the first one checks them all.
    if f.planes() < planes || f.data(0).len() < plane_bytes {
        return Err(format!(
            "a decoded audio frame holds fewer bytes than its {n} samples of {n_ch} channels need"
        ));
    }
    Ok(())
}

/// Appends one decoded frame, converted to f32 the way FFmpeg's `aformat=flt` would.
pub(super) fn append_frame(f: &frame::Audio, channels: &mut Vec<Vec<f32>>) -> Result<(), String> {
    let (n_ch, n) = (f.channels() as usize, f.samples());
    if n == 0 || n_ch == 0 {
        return Ok(()); // nothing to read (e.g. a flush frame)
    }
    let Some((format, planar)) = sample_format(f.format()) else {
        return Ok(());
    };
    let width = [1, 2, 4, 8, 4, 8][format];
    check_frame(f, channels.len(), width, planar)?;
    if channels.is_empty() {
        channels.resize(n_ch, Vec::new());
    }
    let value = |b: &[u8]| -> f32 {
        match format {
            0 => (f32::from(b[0]) - 128.0) / 128.0,
            1 => f32::from(i16::from_ne_bytes([b[0], b[1]])) / 32768.0,
            2 => (i32::from_ne_bytes(b[..4].try_into().unwrap()) as f64 / 2147483648.0) as f32,
            3 => (i64::from_ne_bytes(b[..8].try_into().unwrap()) as f64 / 2f64.powi(63)) as f32,
            4 => f32::from_ne_bytes(b[..4].try_into().unwrap()),
            _ => f64::from_ne_bytes(b[..8].try_into().unwrap()) as f32,
        }
    };
    if format == 4 {
        // Float samples, what AAC, Vorbis, Opus and MP3 decoders output: copy straight.
        let floats = |plane: usize| -> Vec<f32> {
            f.data(plane)
                .chunks_exact(4)
                .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        };
        if planar {
            for (c, out) in channels.iter_mut().enumerate().take(n_ch) {
                out.extend_from_slice(&floats(c)[..n]);
            }
        } else {
            let all = floats(0);
            for (c, out) in channels.iter_mut().enumerate().take(n_ch) {
                out.extend(all[..n * n_ch].iter().skip(c).step_by(n_ch));
            }
        }
        return Ok(());
    }
    for (c, out) in channels.iter_mut().enumerate().take(n_ch) {
        if planar {
            let data = f.data(c);
            out.extend((0..n).map(|i| value(&data[i * width..])));
        } else {
            let data = f.data(0);
            out.extend((0..n).map(|i| value(&data[(i * n_ch + c) * width..])));
        }
    }
    Ok(())
}

/// torchaudio's `_get_sinc_resample_kernel` (`sinc_interp_hann`, lowpass width 6, rolloff
/// 0.99), in f32 as torch computes it for an f32 waveform.
pub struct Resampler {
    orig: usize,
    new: usize,
    width: usize,
    taps: usize,
    kernels: Vec<f32>,
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl Resampler {
    pub fn new(from: usize, to: usize) -> Self {
        let g = gcd(from, to);
        let (orig, new) = (from / g, to / g);
        let lowpass = 6.0f64;
        let base_freq = orig.min(new) as f64 * 0.99;
        let width = (lowpass * orig as f64 / base_freq).ceil() as usize;
        let taps = 2 * width + orig;
        let idx: Vec<f32> = (0..taps)
            .map(|j| (j as f32 - width as f32) / orig as f32)
            .collect();
        let (base32, scale32) = (base_freq as f32, (base_freq / orig as f64) as f32);
        let mut kernels = Vec::with_capacity(new * taps);
        for phase in 0..new {
            let offset = -(phase as f32) / new as f32;
            for &i in &idx {
                let t = ((offset + i) * base32).clamp(-6.0, 6.0);
                let window = (t * std::f32::consts::PI / 6.0 / 2.0).cos().powi(2);
                let t = t * std::f32::consts::PI;
                let sinc = if t == 0.0 { 1.0 } else { t.sin() / t };
                kernels.push(sinc * (window * scale32));
            }
        }
        Resampler {
            orig,
            new,
            width,
            taps,
            kernels,
        }
    }

    /// `ceil(new · len / orig)`, torchaudio's output length.
    pub fn output_len(&self, input_len: usize) -> usize {
        (self.new as f64 * input_len as f64 / self.orig as f64).ceil() as usize
    }

    /// The input samples `[first, end)` that output samples `[from, to)` read.
    pub fn input_reach(&self, from: usize, to: usize) -> (usize, usize) {
        let start = |n: usize| ((n / self.new) * self.orig) as isize - self.width as isize;
        let first = start(from).max(0) as usize;
        let end = (start(to.max(from + 1) - 1) + self.taps as isize).max(0) as usize;
        (first, end)
    }

    /// Output samples `[from, to)` of resampling `x`.
    pub fn resample_range(&self, x: &[f32], from: usize, to: usize) -> Vec<f32> {
        (from..to)
            .map(|n| {
                let (block, phase) = (n / self.new, n % self.new);
                let kernel = &self.kernels[phase * self.taps..(phase + 1) * self.taps];
                let start = (block * self.orig) as isize - self.width as isize;
                let mut acc = 0f64;
                for (k, &w) in kernel.iter().enumerate() {
                    let p = start + k as isize;
                    if p >= 0 && (p as usize) < x.len() {
                        acc += f64::from(w) * f64::from(x[p as usize]);
                    }
                }
                acc as f32
            })
            .collect()
    }
}

/// The sample range `[start, end)` at 16 kHz of clip k, as `int(Fraction · 16000)`.
pub fn clip_ranges(total: usize) -> Vec<(usize, usize)> {
    let duration = total as f64 / SAMPLE_RATE as f64;
    let max_start = (duration - CLIP_SECONDS).max(0.0);
    (0..CLIPS)
        .map(|k| {
            let (s, e) = exact_sample_bounds(max_start, k);
            (s.min(total), e.min(total))
        })
        .collect()
}

/// `int(start · 16000)` and `int((start + 2) · 16000)` for `start = Fraction(m) · k / 2`,
/// computed exactly in integers (`start` is a dyadic rational: m's mantissa over a power of 2).
fn exact_sample_bounds(m: f64, k: usize) -> (usize, usize) {
    let (mant, exp) = decompose(m);
    let shift = exp - (CLIPS - 1).trailing_zeros() as i32;
    let scaled = i128::from(mant) * k as i128 * SAMPLE_RATE as i128; // start · 16000 = scaled · 2^shift
    let start = if shift >= 0 {
        scaled << shift
    } else {
        scaled >> -shift
    }; // floor for non-negative
    let start = start as usize;
    (start, start + CLIP_SECONDS as usize * SAMPLE_RATE)
}

struct Fbank {
    window: Vec<f32>,
    /// Per mel bin: first FFT bin and weights.
    mel: Vec<(usize, Vec<f32>)>,
}

fn fbank_tables() -> &'static Fbank {
    static TABLES: OnceLock<Fbank> = OnceLock::new();
    TABLES.get_or_init(|| {
        let n = FRAME_LEN;
        let window = (0..n)
            .map(|i| {
                (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / (n - 1) as f64).cos()) as f32
            })
            .collect();
        // torchaudio.compliance.kaldi.get_mel_banks, in f32 like torch's default dtype.
        let mel_scalar = |f: f64| 1127.0 * (1.0 + f / 700.0).ln();
        let (low, high) = (mel_scalar(20.0), mel_scalar(SAMPLE_RATE as f64 / 2.0));
        let delta = (high - low) / (MEL_BINS + 1) as f64;
        let (low32, delta32) = (low as f32, delta as f32);
        let fft_bin_width = SAMPLE_RATE as f32 / FFT_LEN as f32;
        let mels: Vec<f32> = (0..FFT_LEN / 2)
            .map(|k| 1127.0 * (1.0 + fft_bin_width * k as f32 / 700.0).ln())
            .collect();
        let mel = (0..MEL_BINS)
            .map(|b| {
                let left = low32 + b as f32 * delta32;
                let center = low32 + (b as f32 + 1.0) * delta32;
                let right = low32 + (b as f32 + 2.0) * delta32;
                let weights: Vec<f32> = mels
                    .iter()
                    .map(|&m| {
                        let up = (m - left) / (center - left);
                        let down = (right - m) / (right - center);
                        up.min(down).max(0.0)
                    })
                    .collect();
                let first = weights.iter().position(|&w| w > 0.0).unwrap_or(0);
                let last = weights
                    .iter()
                    .rposition(|&w| w > 0.0)
                    .map_or(first, |l| l + 1);
                (first, weights[first..last].to_vec())
            })
            .collect();
        Fbank { window, mel }
    })
}

/// Kaldi fbank of one channel → `[frames][128]` log mel energies.
fn fbank(samples: &[f32]) -> Vec<[f32; MEL_BINS]> {
    if samples.len() < FRAME_LEN {
        return Vec::new();
    }
    let tables = fbank_tables();
    let frames = 1 + (samples.len() - FRAME_LEN) / FRAME_SHIFT;
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(FFT_LEN);
    let mut input = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    let mut power = vec![0f32; FFT_LEN / 2 + 1];
    (0..frames)
        .map(|f| {
            let frame = &samples[f * FRAME_SHIFT..f * FRAME_SHIFT + FRAME_LEN];
            let mean = (frame.iter().map(|&v| f64::from(v)).sum::<f64>() / FRAME_LEN as f64) as f32;
            let dc: Vec<f32> = frame.iter().map(|&v| v - mean).collect();
            input.fill(0.0);
            for i in 0..FRAME_LEN {
                let prev = dc[i.saturating_sub(1)];
                input[i] = f64::from((dc[i] - 0.97 * prev) * tables.window[i]);
            }
            fft.process(&mut input, &mut spectrum)
                .expect("fixed FFT sizes");
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr() as f32;
            }
            let mut out = [0f32; MEL_BINS];
            for (o, (first, weights)) in out.iter_mut().zip(&tables.mel) {
                let e: f32 = weights
                    .iter()
                    .zip(&power[*first..])
                    .map(|(w, p)| w * p)
                    .sum();
                *o = e.max(f32::EPSILON).ln();
            }
            out
        })
        .collect()
}

/// The model input of one audio track and how it was sampled.
pub struct AudioInput {
    /// `[3, 1, 128, 204]`, row-major.
    pub tensor: Vec<f32>,
    /// Samples at 16 kHz.
    pub samples_16k: usize,
    pub clip_ranges: Vec<(usize, usize)>,
    pub fbank_frames: Vec<usize>,
    pub codec: String,
}

/// Preprocesses decoded audio into the model input.
pub fn audio_input(audio: &DecodedAudio) -> AudioInput {
    let resampler =
        (audio.sample_rate != SAMPLE_RATE).then(|| Resampler::new(audio.sample_rate, SAMPLE_RATE));
    let total = resampler.as_ref().map_or(audio.channels[0].len(), |r| {
        r.output_len(audio.channels[0].len())
    });
    let ranges = clip_ranges(total);
    // Only the samples the clips cover are resampled. Overlapping clips share one buffer, so
    // that the in-place mean subtraction of one clip is seen by the clips that overlap it.
    let mut segments: Vec<(usize, Vec<Vec<f32>>)> = merge_ranges(&ranges)
        .into_iter()
        .map(|(lo, hi)| {
            let channels = audio
                .channels
                .iter()
                .map(|ch| match &resampler {
                    Some(r) => r.resample_range(ch, lo, hi),
                    None => ch[lo..hi].to_vec(),
                })
                .collect();
            (lo, channels)
        })
        .collect();
    let mut tensor = vec![0f32; AUDIO_INPUT_LEN];
    let mut fbank_frames = Vec::with_capacity(CLIPS);
    for (k, &(s, e)) in ranges.iter().enumerate() {
        let (lo, buffer) = segments
            .iter_mut()
            .rfind(|(lo, _)| *lo <= s)
            .expect("every clip lies in a segment");
        let (s, e) = (s - *lo, e - *lo);
        let count = (e - s) * buffer.len();
        let mean = (buffer
            .iter()
            .map(|ch| ch[s..e].iter().map(|&v| f64::from(v)).sum::<f64>())
            .sum::<f64>()
            / count.max(1) as f64) as f32;
        for ch in buffer.iter_mut() {
            ch[s..e].iter_mut().for_each(|v| *v -= mean);
        }
        let bank = fbank(&buffer[0][s..e]);
        fbank_frames.push(bank.len());
        let clip = &mut tensor[k * MEL_BINS * TARGET_FRAMES..(k + 1) * MEL_BINS * TARGET_FRAMES];
        for m in 0..MEL_BINS {
            for t in 0..TARGET_FRAMES {
                let v = bank.get(t).map_or(0.0, |row| row[m]);
                clip[m * TARGET_FRAMES + t] = (v - NORM_MEAN) / NORM_STD;
            }
        }
    }
    AudioInput {
        tensor,
        samples_16k: total,
        clip_ranges: ranges,
        fbank_frames,
        codec: audio.codec.clone(),
    }
}

/// Sorted, merged sample ranges (overlapping or touching ranges become one).
pub(super) fn merge_ranges(ranges: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut sorted = ranges.to_vec();
    sorted.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (s, e) in sorted {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// Decodes and preprocesses the audio of one file: only the clip windows where the track
/// allows it exactly ([`super::audio_windows`]), else the whole track.
pub fn load_audio(path: &Path) -> Result<AudioInput, AudioError> {
    use super::audio_windows::{clip_windows, ClipWindows};
    init();
    let mut input = format::input(path).map_err(|e| corrupt(path, e))?;
    let decoded = match clip_windows(&mut input) {
        ClipWindows::Decoded(windows) => windows,
        // Nothing read yet: the same open input is decoded whole (one probe per file).
        ClipWindows::NotAacLc => decode_input(path, input)?,
        ClipWindows::Unchecked => decode_audio(path)?,
    };
    Ok(audio_input(&decoded))
}
