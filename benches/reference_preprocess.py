#!/usr/bin/env python3
"""The reference's preprocessing, with the reference's libraries, timed per video.

ImageBind's data.py cannot run with PyPI's pytorchvideo 0.1.5 (see the fixtures' README), so
this calls the same libraries directly, in the same way: decord 0.6.0 decodes every frame of
each 2 s window (pytorchvideo's get_clip), the first and last are kept, then torch /255,
interpolate (bilinear, align_corners=False), normalise, 3 crops; torchaudio.load, resample to
16 kHz, 3 clips, in-place mean subtraction, compliance.kaldi.fbank, pad, normalise.
Prints JSON: per file, the best of 3 timings of video and audio preprocessing.
Usage: python3 reference_preprocess.py THREADS FILE...
"""
import json, math, sys, time
from fractions import Fraction

import decord
import torch
import torchaudio

MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(3, 1, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(3, 1, 1, 1)


def windows(duration, clips, seconds=2):
    max_start = Fraction(max(duration - seconds, 0))
    step = max_start / max(clips - 1, 1)
    return [(step * k, step * k + seconds) for k in range(clips)]


def video(path):
    vr = decord.VideoReader(path, ctx=decord.cpu(0))
    fps, n = vr.get_avg_fps(), len(vr)
    out = []
    for start, end in windows(n / fps, 5):
        idx = [i for i in range(math.ceil(fps * start), math.ceil(fps * end)) if i < n]
        frames = torch.from_numpy(vr.get_batch(idx).asnumpy()).permute(3, 0, 1, 2).float()  # C,T,H,W
        frames = frames[:, [0, frames.shape[1] - 1]] / 255.0
        c, t, h, w = frames.shape
        size = (224, int(w / h * 224)) if h <= w else (int(h / w * 224), 224)
        frames = torch.nn.functional.interpolate(frames, size=size, mode="bilinear", align_corners=False)
        frames = (frames - MEAN) / STD
        h, w = frames.shape[-2:]
        for k in range(3):
            y = 0 if h <= w else [0, math.ceil((h - 224) / 2), h - 224][k]
            x = [0, math.ceil((w - 224) / 2), w - 224][k] if h <= w else 0
            out.append(frames[..., y:y + 224, x:x + 224])
    return torch.stack(out)


def audio(path):
    wav, sr = torchaudio.load(path)
    if sr != 16000:
        wav = torchaudio.functional.resample(wav, sr, 16000)
    out = []
    for start, end in windows(wav.shape[1] / 16000, 3):
        clip = wav[:, int(start * 16000):int(end * 16000)]
        clip -= clip.mean()
        fb = torchaudio.compliance.kaldi.fbank(clip, htk_compat=True, sample_frequency=16000, use_energy=False,
                                               window_type="hanning", num_mel_bins=128, dither=0.0,
                                               frame_length=25, frame_shift=10).transpose(0, 1)
        fb = torch.nn.functional.pad(fb, (0, max(0, 204 - fb.shape[1])))[:, :204]
        out.append(((fb - -4.268) / 9.138)[None])
    return torch.stack(out)


def best_of(n, f, path):
    """Best of n timings, as the Rust side measures; None when f fails (no audio stream)."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        try:
            f(path)
        except Exception:
            return None
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    torch.set_num_threads(int(sys.argv[1]))
    result = {}
    for path in sys.argv[2:]:
        result[path] = {"video_s": best_of(3, video, path), "audio_s": best_of(3, audio, path)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
