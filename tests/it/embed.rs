//! `omega embed` with the stand-in models on the real media set: outcomes per file, the
//! embeddings' shape and norms, determinism and batching, content sensitivity,
//! --strict-reference, --dump-inputs checked against Python ONNX Runtime as a real peer,
//! texts, empty descriptions, and a missing model.

use std::path::{Path, PathBuf};

use crate::common::*;
use omega::outcome::{ErrorClass, Status};
use omega::table::candidates::CandidateRow;
use omega::table::embeddings::{EmbedColumns, TextEmbeddingRow};
use omega::table::{read_all, TableWriter};
use omega::vector::cosine;

fn model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/imagebind-tiny")
}

/// The largest difference between two vectors of the same length.
fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "vectors of different lengths");
    a.iter()
        .zip(b)
        .map(|(p, q)| (p - q).abs())
        .fold(0f32, f32::max)
}

/// Searches a folder with the given media files and returns the candidates file.
fn candidates(work: &Path, files: &[&str]) -> PathBuf {
    let src = work.join("src");
    std::fs::create_dir_all(&src).unwrap();
    for f in files {
        std::fs::copy(media(f), src.join(f)).unwrap();
    }
    let out = work.join("candidates.parquet");
    run_ok(
        omega()
            .args(["search", "--source", "dir"])
            .arg(&src)
            .arg("-o")
            .arg(&out)
            .arg("--quiet"),
    );
    out
}

fn embed(input: &Path, output: &Path, extra: &[&str]) -> Vec<(CandidateRow, EmbedColumns)> {
    run_ok(
        omega()
            .arg("embed")
            .arg("-i")
            .arg(input)
            .arg("-o")
            .arg(output)
            .arg("--model")
            .arg(model())
            .args(extra)
            .arg("--quiet"),
    );
    let added: Vec<EmbedColumns> = read_all(output.to_str().unwrap()).unwrap();
    // The input's columns are kept in the output: read them back as candidates (but the
    // outcome columns, which `embed` replaced).
    let kept: Vec<CandidateRow> = read_all(output.to_str().unwrap()).unwrap();
    assert_eq!(kept.len(), added.len(), "one set of added columns per row");
    kept.into_iter().zip(added).collect()
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

#[test]
fn whole_files_embed_with_documented_outcomes() {
    let work = scratch("embed-all");
    let cands = candidates(&work, MEDIA);
    let rows = embed(&cands, &work.join("emb.parquet"), &[]);
    assert_eq!(rows.len(), MEDIA.len());
    for (c, e) in &rows {
        let name = c.title.as_str();
        assert_eq!(e.model_id, "omega/imagebind-tiny-standin");
        assert!(e.preprocess_version.starts_with("imagebind-ref-1"));
        match name {
            "bikes" | "cityCC0" => {
                assert_eq!(
                    (e.status, e.error_class),
                    (Status::Failed, Some(ErrorClass::NoAudioStream)),
                    "{name}"
                );
                assert!(
                    e.video_emb.is_some() && e.audio_emb.is_none() && e.description_emb.is_some()
                );
            }
            "its_a_game" => {
                assert_eq!(
                    (e.status, e.error_class),
                    (Status::Failed, Some(ErrorClass::NoVideoStream))
                );
                assert!(e.video_emb.is_none() && e.audio_emb.is_some());
            }
            _ => {
                assert_eq!(e.status, Status::Ok, "{name}: {:?}", e.error);
                let (v, a, d) = (
                    e.video_emb.as_ref().unwrap(),
                    e.audio_emb.as_ref().unwrap(),
                    e.description_emb.as_ref().unwrap(),
                );
                assert_eq!((v.len(), a.len(), d.len()), (1024, 1024, 1024));
                assert!(norm(v) <= 1.0 + 1e-5, "mean of unit vectors");
                assert!(norm(a) <= 20.0 + 1e-3, "mean of vectors of norm 20");
                assert!((norm(d) - 100.0).abs() < 1e-2, "one chunk of norm 100");
                assert_eq!(e.text_chunks, 1);
                assert_eq!(
                    e.embedded_audio_codec, c.audio_codec,
                    "{name}: any codec is embedded by default"
                );
            }
        }
    }
    // Content sensitivity: different videos are clearly apart.
    let videos: Vec<(&str, &Vec<f32>)> = rows
        .iter()
        .filter_map(|(c, e)| e.video_emb.as_ref().map(|v| (c.title.as_str(), v)))
        .collect();
    assert_eq!(
        videos.len(),
        MEDIA.len() - 1,
        "every file but its_a_game has video"
    );
    for (i, (na, a)) in videos.iter().enumerate() {
        for (nb, b) in &videos[i + 1..] {
            let same_footage = [*na, *nb]
                .iter()
                .all(|n| n.starts_with("b") && *n != "bikes");
            if !same_footage {
                assert!(cosine(a, b) < 0.95, "{na} vs {nb}: {}", cosine(a, b));
            }
        }
    }
    let bbb: Vec<&Vec<f32>> = rows
        .iter()
        .filter(|(c, _)| c.title.starts_with("b") && c.title != "bikes")
        .map(|(_, e)| e.video_emb.as_ref().unwrap())
        .collect();
    assert_eq!(bbb.len(), 2, "bigbuckbunny and bbb_vp9_opus");
    assert!(
        cosine(bbb[0], bbb[1]) > 0.95,
        "the same footage in H.264 and VP9 embeds alike"
    );
}

#[test]
fn deterministic_and_independent_of_batch_size() {
    let work = scratch("embed-batch");
    let cands = candidates(
        &work,
        &[
            "bigbuckbunny.mp4",
            "movie-hello.mp4",
            "oa4_launch.webm",
            "realshort.mp4",
            "cockatoo.mp4",
        ],
    );
    let a = embed(&cands, &work.join("a.parquet"), &["--batch", "4"]);
    let b = embed(&cands, &work.join("b.parquet"), &["--batch", "4"]);
    let c = embed(&cands, &work.join("c.parquet"), &["--batch", "1"]);
    assert_eq!(
        [a.len(), b.len(), c.len()],
        [5, 5, 5],
        "every row in every run"
    );
    assert_eq!(
        a.iter().map(|r| &r.1).collect::<Vec<_>>(),
        b.iter().map(|r| &r.1).collect::<Vec<_>>(),
        "same run, same bytes"
    );
    for ((ca, ea), (cc, ec)) in a.iter().zip(&c) {
        assert_eq!(ca.video_id, cc.video_id, "input order kept");
        for (x, y) in [
            (&ea.video_emb, &ec.video_emb),
            (&ea.audio_emb, &ec.audio_emb),
            (&ea.description_emb, &ec.description_emb),
        ] {
            let max = max_abs_diff(x.as_ref().unwrap(), y.as_ref().unwrap());
            assert!(max < 1e-5, "{}: batch 4 vs 1 differ by {max}", ca.title);
        }
    }
}

#[test]
fn strict_reference_fails_where_omegas_pipeline_fails() {
    let work = scratch("embed-strict");
    let cands = candidates(
        &work,
        &[
            "bigbuckbunny.mp4",
            "oa4_launch.webm",
            "cockatoo.mp4",
            "bbb_vp9_opus.webm",
            "bikes.mp4",
            "movie-hello.mp4",
        ],
    );
    let rows = embed(&cands, &work.join("emb.parquet"), &["--strict-reference"]);
    assert_eq!(rows.len(), 6);
    for (c, e) in rows {
        let want = match c.title.as_str() {
            "bigbuckbunny" | "movie-hello" => None,
            _ => Some(ErrorClass::ReferenceIncompatible),
        };
        assert_eq!(e.error_class, want, "{}: {:?}", c.title, e.error);
    }
}

#[test]
fn dumped_inputs_give_the_same_embeddings_in_python_onnxruntime() {
    let work = scratch("embed-dump");
    let cands = candidates(&work, &["bigbuckbunny.mp4", "oa4_launch.webm"]);
    let dump = work.join("inputs");
    let rows = embed(
        &cands,
        &work.join("emb.parquet"),
        &["--dump-inputs", dump.to_str().unwrap()],
    );
    assert_eq!(rows.len(), 2);
    // The dumped video tensor is exactly the preprocessed input (itself checked against the
    // reference in tests/imagebind_video.rs).
    let id = &rows[0].0.video_id;
    let (shape, data) = read_npy_f32(&dump.join(format!("{id}.vision.npy")));
    assert_eq!(shape, vec![15, 3, 2, 224, 224]);
    let direct =
        omega::imagebind::video::load_video(&media(&format!("{}.mp4", rows[0].0.title)), 1)
            .unwrap();
    assert_eq!(data, direct.tensor);
    // A real peer: Python's onnxruntime on the dumped tensors.
    let script = r#"
import json, sys, numpy as np, onnxruntime as ort
model, dump, ids = sys.argv[1], sys.argv[2], sys.argv[3:]
s = {k: ort.InferenceSession(f"{model}/{k}.onnx") for k in ("vision", "audio", "text")}
out = {}
for i in ids:
    v = np.load(f"{dump}/{i}.vision.npy")[None]
    a = np.load(f"{dump}/{i}.audio.npy")[None]
    t = np.load(f"{dump}/{i}.text.npy")
    out[i] = [s["vision"].run(None, {"vision": v})[0][0].tolist(), s["audio"].run(None, {"audio": a})[0][0].tolist(),
              s["text"].run(None, {"text": t})[0].mean(0).tolist()]
print(json.dumps(out))
"#;
    let ids: Vec<String> = rows.iter().map(|r| r.0.video_id.clone()).collect();
    let out = run_ok(
        std::process::Command::new(python())
            .args(["-c", script])
            .arg(model())
            .arg(&dump)
            .args(&ids),
    );
    let peer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for (c, e) in &rows {
        let p = &peer[&c.video_id];
        for (k, ours) in [
            (0, &e.video_emb),
            (1, &e.audio_emb),
            (2, &e.description_emb),
        ] {
            let theirs: Vec<f32> = p[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            let max = max_abs_diff(ours.as_ref().unwrap(), &theirs);
            assert!(max < 1e-4, "{} modality {k}: max |Δ| {max}", c.title);
        }
    }
}

#[test]
fn texts_and_empty_descriptions() {
    let work = scratch("embed-text");
    let out = work.join("texts.parquet");
    run_ok(
        omega()
            .args(["embed", "--text", "Big Buck Bunny", "--text", "", "-o"])
            .arg(&out)
            .arg("--model")
            .arg(model())
            .arg("--quiet"),
    );
    let texts: Vec<TextEmbeddingRow> = read_all(out.to_str().unwrap()).unwrap();
    assert_eq!(texts.len(), 2);
    assert_eq!(texts[0].status, Status::Ok);
    assert_eq!(
        (texts[1].status, texts[1].error_class),
        (Status::Failed, Some(ErrorClass::EmptyDescription))
    );
    assert!(texts[1].text_emb.is_none());

    // A media row whose description is the same text embeds to the same description vector;
    // an empty description is an error row, not a crash, and its media still embed.
    let mut a = CandidateRow::new("dir", "aaaaaaaaaaaaaaaa", 0);
    a.path = Some(media("bigbuckbunny.mp4").to_string_lossy().into_owned());
    a.description = "Big Buck Bunny".into();
    let mut b = a.clone();
    b.video_id = "bbbbbbbbbbbbbbbb".into();
    b.description = String::new();
    let cands = work.join("c.parquet");
    let mut w = TableWriter::<CandidateRow>::create(cands.to_str().unwrap()).unwrap();
    w.write_rows([a, b]).unwrap();
    w.finish().unwrap();
    let rows = embed(&cands, &work.join("emb.parquet"), &[]);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].1.description_emb, texts[0].text_emb);
    assert_eq!(
        (rows[1].1.status, rows[1].1.error_class),
        (Status::Failed, Some(ErrorClass::EmptyDescription))
    );
    assert!(rows[1].1.video_emb.is_some() && rows[1].1.description_emb.is_none());
}

/// A video whose AAC track goes from mono to 5.1 mid-stream, at 16 kHz: two MPEG-TS segments
/// made with the ffmpeg CLI, joined byte for byte (as a recording whose source changed).
fn channel_change_video(work: &Path) -> PathBuf {
    let segment = |channels: &str| {
        let out = work.join(format!("{channels}ch.ts"));
        let status = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi"])
            .args(["-i", "testsrc=size=64x48:rate=10:duration=3", "-f", "lavfi"])
            .args(["-i", "sine=frequency=440:sample_rate=16000:duration=3"])
            .args([
                "-ac",
                channels,
                "-ar",
                "16000",
                "-c:a",
                "aac",
                "-c:v",
                "mpeg2video",
            ])
            .arg(&out)
            .status()
            .expect("the ffmpeg CLI runs");
        assert!(
            status.success(),
            "ffmpeg made the {channels}-channel segment"
        );
        std::fs::read(out).unwrap()
    };
    let path = work.join("mono-then-5.1.ts");
    std::fs::write(&path, [segment("1"), segment("6")].concat()).unwrap();
    path
}

#[test]
fn a_channel_count_change_mid_stream_fails_that_row_only() {
    let work = scratch("embed-channels");
    let odd = channel_change_video(&work);
    let files = [media("realshort.mp4"), odd, media("cockatoo.mp4")];
    let rows = files.iter().enumerate().map(|(i, path)| {
        let mut row = CandidateRow::new("dir", format!("{i:016x}"), i);
        row.path = Some(path.to_string_lossy().into_owned());
        row.description = format!("video {i}");
        row
    });
    let cands = work.join("c.parquet");
    let mut w = TableWriter::<CandidateRow>::create(cands.to_str().unwrap()).unwrap();
    w.write_rows(rows).unwrap();
    w.finish().unwrap();
    // Batches of 2: the odd file's batch and the next one are both written.
    let rows = embed(&cands, &work.join("emb.parquet"), &["--batch", "2"]);
    assert_eq!(rows.len(), 3);
    for (c, e) in [&rows[0], &rows[2]] {
        assert_eq!(e.status, Status::Ok, "{}: {:?}", c.video_id, e.error);
    }
    let odd = &rows[1].1;
    assert_eq!(
        (odd.status, odd.error_class),
        (Status::Failed, Some(ErrorClass::CorruptMedia)),
        "{:?}",
        odd.error
    );
    let error = odd.error.as_deref().unwrap_or_default();
    assert!(
        error.contains("mono-then-5.1.ts") && error.contains("channels changes mid-stream"),
        "{error}"
    );
    assert!(
        odd.video_emb.is_some() && odd.audio_emb.is_none(),
        "the video still embeds"
    );
}

#[test]
fn a_missing_model_is_named_with_what_to_do() {
    let work = scratch("embed-missing");
    let out = omega()
        .args(["embed", "--text", "x", "-o"])
        .arg(work.join("t.parquet"))
        .arg("--model")
        .arg(work.join("nope"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nope/manifest.json") && err.contains("export_imagebind.py"),
        "{err}"
    );
}
