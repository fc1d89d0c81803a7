//! Video preprocessing against the reference fixtures (tests/fixtures/imagebind/video): decord's
//! frame count and rate, clip windows and frame indices exactly; decoded RGB bytes exactly;
//! tensor values and per-view statistics within 1e-4. cityCC0.mpg is a known decord divergence
//! (the README's fact 8): its plan is exact, its pixels only close.

use crate::common;

use omega::imagebind::video::{self, clip_plan, decode_frames, decord_info, load_video};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/imagebind/video/{name}.summary.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn f64s(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(f64s).collect(),
        x => vec![x.as_f64().unwrap()],
    }
}

/// Clip windows as the reference computed them (`results.json`; the summaries' copies of
/// these were rounded on the way).
fn windows(name: &str) -> (Vec<f64>, Vec<f64>) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/imagebind/results.json"
    );
    let r: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let clips = r[name]["video"]["clips"].as_array().unwrap();
    clips
        .iter()
        .map(|c| {
            (
                c["start_sec"].as_f64().unwrap(),
                c["end_sec"].as_f64().unwrap(),
            )
        })
        .unzip()
}

fn usizes(v: &Value) -> Vec<usize> {
    let mut out = Vec::new();
    flatten(v, &mut out);
    out
}

fn flatten(v: &Value, out: &mut Vec<usize>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| flatten(x, out)),
        x => out.push(x.as_u64().unwrap() as usize),
    }
}

const FILES: &[&str] = &[
    "bigbuckbunny.mp4",
    "bikes.mp4",
    "VID_20191220_170832.mp4",
    "movie-hello.mp4",
    "oa4_launch.webm",
    "cockatoo.mp4",
    "realshort.mp4",
    "bbb_vp9_opus.webm",
    "cityCC0.mpg",
];

#[test]
fn decord_facts_and_clip_plans_are_exact() {
    for name in FILES {
        let z = fixture(name);
        let info = decord_info(&common::media(name)).unwrap();
        assert_eq!(info.fps, z["fps"].as_f64().unwrap(), "{name} fps");
        assert_eq!(
            info.num_frames as u64,
            z["num_frames"].as_u64().unwrap(),
            "{name} frames"
        );
        assert_eq!(
            info.duration(),
            z["duration"].as_f64().unwrap(),
            "{name} duration"
        );
        assert_eq!(
            vec![info.height, info.width],
            usizes(&z["frame_hw"]),
            "{name} size"
        );
        let plan = clip_plan(&info);
        let starts: Vec<f64> = plan.iter().map(|c| c.start_s).collect();
        let ends: Vec<f64> = plan.iter().map(|c| c.end_s).collect();
        let (want_starts, want_ends) = windows(name);
        assert_eq!(starts, want_starts, "{name} clip starts");
        assert_eq!(ends, want_ends, "{name} clip ends");
        let decoded: Vec<usize> = plan
            .iter()
            .flat_map(|c| [c.decoded.0, c.decoded.1])
            .collect();
        let want: Vec<usize> = usizes(&z["decoded_start"])
            .into_iter()
            .zip(usizes(&z["decoded_end"]))
            .flat_map(|(a, b)| [a, b])
            .collect();
        assert_eq!(decoded, want, "{name} decoded ranges");
        let frames: Vec<usize> = plan.iter().flat_map(|c| c.frames).collect();
        assert_eq!(frames, usizes(&z["frame_index"]), "{name} frame indices");
    }
}

#[test]
fn decoded_rgb_bytes_are_exact() {
    for name in FILES.iter().filter(|n| **n != "cityCC0.mpg") {
        let z = fixture(name);
        let info = decord_info(&common::media(name)).unwrap();
        let indices: Vec<usize> = clip_plan(&info).iter().flat_map(|c| c.frames).collect();
        let frames = decode_frames(&common::media(name), &indices, 2).unwrap();
        let pos = usizes(&z["frame_sample_pos"]);
        let want = usizes(&z["frame_sample_value"]);
        let got: Vec<usize> = frames
            .iter()
            .flat_map(|f| pos.iter().map(|&p| f.data[p] as usize))
            .collect();
        let wrong = got.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(
            wrong,
            0,
            "{name}: {wrong} of {} sampled bytes differ",
            want.len()
        );
    }
}

#[test]
fn tensors_match_within_1e_4() {
    for name in FILES {
        let z = fixture(name);
        let input = load_video(&common::media(name), 2).unwrap();
        assert_eq!(input.tensor.len(), video::VIDEO_INPUT_LEN);
        let idx = usizes(&z["sample_index"]);
        let want = f64s(&z["sample_value"]);
        let sample_err = idx
            .iter()
            .zip(&want)
            .map(|(&i, &w)| (input.tensor[i] as f64 - w).abs())
            .fold(0.0, f64::max);
        // Per view, channel and frame: mean and population std over the 224×224 pixels.
        let plane = video::SIZE * video::SIZE;
        let (mut mean_err, mut std_err) = (0f64, 0f64);
        for (n, ((m, s), chunk)) in f64s(&z["mean"])
            .into_iter()
            .zip(f64s(&z["std"]))
            .zip(input.tensor.chunks(plane))
            .enumerate()
        {
            let mean = chunk.iter().map(|&v| v as f64).sum::<f64>() / plane as f64;
            let var = chunk
                .iter()
                .map(|&v| (v as f64 - mean).powi(2))
                .sum::<f64>()
                / plane as f64;
            mean_err = mean_err.max((mean - m).abs());
            std_err = std_err.max((var.sqrt() - s).abs());
            assert!(n < 90);
        }
        eprintln!(
            "{name}: max |Δ| sample {sample_err:.2e}, mean {mean_err:.2e}, std {std_err:.2e}"
        );
        if *name == "cityCC0.mpg" {
            // decord decodes this MPEG-2 program stream about 12 frames off (fixture README fact 8):
            // omega decodes frame k as FFmpeg does; the distance is reported above.
            // Not a target: only check the tensor is sane.
            assert!(
                input.tensor.iter().all(|v| v.is_finite() && v.abs() < 3.0),
                "{name}"
            );
        } else {
            assert!(
                sample_err <= 1e-4 && mean_err <= 1e-4 && std_err <= 1e-4,
                "{name}"
            );
        }
    }
}

#[test]
fn audio_only_file_has_no_video_stream() {
    let err = load_video(&common::media("its_a_game.mkv"), 1)
        .err()
        .unwrap();
    assert!(
        matches!(err, omega::media::MediaError::NoVideoStream { .. }),
        "{err}"
    );
}

#[test]
fn seeking_decode_gives_the_sequential_frames() {
    use omega::imagebind::video::{decode_seeking, decode_sequential};
    let mut seeked = Vec::new();
    for name in FILES {
        let path = common::media(name);
        let info = decord_info(&path).unwrap();
        let indices: Vec<usize> = clip_plan(&info).iter().flat_map(|c| c.frames).collect();
        let sequential = decode_sequential(&path, &indices, 1).unwrap();
        if let Some(frames) = decode_seeking(&path, &indices, 1).unwrap() {
            seeked.push(*name);
            for (k, (a, b)) in frames.iter().zip(&sequential).enumerate() {
                assert!(
                    a.data == b.data,
                    "{name}: frame {} differs between seeking and sequential decoding",
                    indices[k]
                );
            }
        }
    }
    eprintln!("decoded by seeking: {seeked:?}");
    // cockatoo.mp4 (x264 4:4:4) decodes from a later IDR frame only when the decoder is given
    // the x264 version SEI of the first packet first; its MP4 index also seeks one keyframe
    // early, whose packets are skipped.
    for name in [
        "cockatoo.mp4",
        "bigbuckbunny.mp4",
        "movie-hello.mp4",
        "oa4_launch.webm",
        "bbb_vp9_opus.webm",
    ] {
        assert!(
            seeked.contains(&name),
            "{name} should be decoded by seeking"
        );
    }
}
