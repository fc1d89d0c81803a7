//! The validator's judgement end to end (`cargo bench --bench score`, run by benches/score.sh):
//! N answers of 8 videos (default 500) through `omega validate --check none`, `omega dedup`
//! (with `--index`, against an index of earlier answers, and `--insert`) and `omega score`, each
//! timed as the CLI a validator runs. Descriptions are 40–160 real words (the text model's
//! vocabulary); each video's embeddings are its description's ImageBind text embedding plus
//! noise, so honest answers pass the stuffing check and every video is fully scored.
//! Prints JSON: seconds and answers per second per stage, and the model calls per answer.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use omega::embed::embed_texts;
use omega::imagebind::bpe::Truncation;
use omega::model::{Device, ImageBind};
use omega::table::read_all;
use omega::table::responses::ResponseRow;
use omega::table::scored::ScoreColumns;
use omega::table::TableWriter;

const VIDEOS: usize = 8;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n: usize = env_or("OMEGA_BENCH_N", 500);
    let work = PathBuf::from(
        std::env::var("OMEGA_BENCH_DIR").unwrap_or_else(|_| "target/bench-score".into()),
    );
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let model_dir =
        std::env::var("OMEGA_BENCH_MODEL").unwrap_or_else(|_| "models/imagebind-tiny".into());
    let text_model =
        std::env::var("OMEGA_TEXT_MODEL").expect("OMEGA_TEXT_MODEL (source .cache/env)");
    let threads = rayon::current_num_threads();
    let mut model = ImageBind::load(Path::new(&model_dir), Device::Cpu, threads).unwrap();
    let words = vocabulary(Path::new(&text_model));
    let mut rng = fastrand::Rng::with_seed(7);
    // The index holds as many earlier answers as the run scores: dedup searches a real corpus.
    let earlier = answers(&mut model, &words, n, "earlier", &mut rng);
    let fresh = answers(&mut model, &words, n, "bench", &mut rng);
    let p = |name: &str| work.join(name);
    write(&p("earlier.parquet"), &earlier);
    write(&p("responses.parquet"), &fresh);

    let omega = env!("CARGO_BIN_EXE_omega");
    let stage = |args: &[&str], input: &str, output: &str| -> f64 {
        let t = Instant::now();
        run(Command::new(omega)
            .arg("-q")
            .args(args)
            .arg("-i")
            .arg(p(input))
            .arg("-o")
            .arg(p(output)));
        t.elapsed().as_secs_f64()
    };
    let model_arg = ["--model", model_dir.as_str()];
    // The index: the earlier answers, validated (only `ok` rows are indexed).
    let index = p("index");
    stage(
        &[&["validate", "--check", "none"][..], &model_arg].concat(),
        "earlier.parquet",
        "earlier-validated.parquet",
    );
    run(Command::new(omega)
        .args(["-q", "dedup", "--build-index"])
        .arg(&index)
        .arg(p("earlier-validated.parquet")));
    let validate = stage(
        &[&["validate", "--check", "none"][..], &model_arg].concat(),
        "responses.parquet",
        "validated.parquet",
    );
    let index_arg = index.to_str().unwrap();
    let dedup = stage(
        &["dedup", "--index", index_arg, "--insert"],
        "validated.parquet",
        "deduped.parquet",
    );
    let score = stage(
        &[
            &["score", "--text-model", text_model.as_str()][..],
            &model_arg,
        ]
        .concat(),
        "deduped.parquet",
        "scored.parquet",
    );

    let scored: Vec<ScoreColumns> = read_all(p("scored.parquet").to_str().unwrap()).unwrap();
    let fully_scored = scored.iter().filter(|c| c.scored).count();
    let chunk_texts: i64 = scored
        .iter()
        .filter_map(|c| c.chunks_total)
        .filter(|&c| c > 1)
        .sum();
    let rate = |s: f64| n as f64 / s;
    let out = serde_json::json!({
        "answers": n,
        "videos": n * VIDEOS,
        "index_vectors": n * VIDEOS,
        "threads": threads,
        "imagebind": model_dir,
        "text_model": text_model,
        "validate_s": validate, "validate_answers_per_s": rate(validate),
        "dedup_s": dedup, "dedup_answers_per_s": rate(dedup),
        "score_s": score, "score_answers_per_s": rate(score),
        "all_s": validate + dedup + score,
        "all_answers_per_s": rate(validate + dedup + score),
        "videos_fully_scored": fully_scored,
        // What `score` asks of the models per answer: ImageBind embeds the query once and the
        // 60-token chunks of each description; the text model the descriptions and the query
        // (each distinct text once).
        "imagebind_texts_per_answer": 1.0 + chunk_texts as f64 / n as f64,
        "text_model_texts_per_answer": VIDEOS + 1,
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Whole words of the text model's WordPiece vocabulary, in id order (frequent words first).
fn vocabulary(text_model: &Path) -> Vec<String> {
    let raw = std::fs::read(text_model.join("tokenizer.json")).expect("tokenizer.json");
    let json: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let mut vocab: Vec<(u64, &str)> = json["model"]["vocab"]
        .as_object()
        .expect("a WordPiece vocabulary")
        .iter()
        .filter(|(w, _)| w.len() >= 3 && w.chars().all(|c| c.is_ascii_lowercase()))
        .map(|(w, id)| (id.as_u64().unwrap(), w.as_str()))
        .collect();
    vocab.sort_unstable();
    vocab
        .iter()
        .take(8000)
        .map(|(_, w)| w.to_string())
        .collect()
}

fn answers(
    model: &mut ImageBind,
    words: &[String],
    n: usize,
    prefix: &str,
    rng: &mut fastrand::Rng,
) -> Vec<ResponseRow> {
    let mut phrase = |len: usize| -> String {
        (0..len)
            .map(|_| words[rng.usize(..words.len())].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut rows: Vec<ResponseRow> = (0..n * VIDEOS)
        .map(|i| {
            let query = phrase(3);
            ResponseRow {
                response_id: format!("{prefix}-{}", i / VIDEOS),
                miner_uid: Some((i / VIDEOS % 256) as u16),
                miner_hotkey: Some(format!("hotkey-{}", i / VIDEOS % 256)),
                query,
                video_id: format!("{:011}", i),
                description: phrase(40 + i * 37 % 121),
                views: 1000,
                start_time: 0,
                end_time: 60,
                source: "youtube".into(),
                url: None,
                source_path: None,
                video_emb: None,
                audio_emb: None,
                description_emb: None,
            }
        })
        .collect();
    // One query per answer, as a miner answers one query.
    for r in 1..rows.len() {
        if r % VIDEOS != 0 {
            rows[r].query = rows[r - 1].query.clone();
        }
    }
    let texts: Vec<String> = rows.iter().map(|r| r.description.clone()).collect();
    let embs = embed_texts(model, &texts, Truncation::Fork).unwrap();
    for (r, e) in rows.iter_mut().zip(embs) {
        let e = e.expect("every description embeds");
        r.video_emb = Some(noisy(&e, rng));
        r.audio_emb = Some(noisy(&e, rng));
        r.description_emb = Some(e);
    }
    rows
}

/// A unit vector near `e` (cosine about 0.9): a video that matches its description.
fn noisy(e: &[f32], rng: &mut fastrand::Rng) -> Vec<f32> {
    let norm = e.iter().map(|x| x * x).sum::<f32>().sqrt();
    let v: Vec<f32> = e
        .iter()
        .map(|x| x / norm + 0.015 * (rng.f32() - 0.5))
        .collect();
    let n2 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n2).collect()
}

fn write(path: &Path, rows: &[ResponseRow]) {
    let mut w = TableWriter::<ResponseRow>::create(path.to_str().unwrap()).unwrap();
    w.write_rows(rows.iter().cloned()).unwrap();
    w.finish().unwrap();
}

fn run(cmd: &mut Command) {
    let status = cmd.status().expect("omega runs");
    assert!(status.success(), "{cmd:?} failed");
}
