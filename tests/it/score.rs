//! `omega score` on a real validated and de-duplicated answer: every component column is
//! consistent with the formulas, the answer score is the aggregate of its columns, answers
//! decided by validation keep their score, and --state updates the moving average.

use std::path::{Path, PathBuf};

use crate::common::*;
use omega::score::ema::MinerScores;
use omega::table::read_all;
use omega::table::responses::ResponseRow;
use omega::table::scored::ScoreColumns;
use omega::table::TableWriter;

fn model() -> PathBuf {
    tiny_model()
}

fn chain(work: &Path) -> Vec<ResponseRow> {
    let e = embedded_clips(
        work,
        &["bigbuckbunny.mp4", "movie-hello.mp4", "oa4_launch.webm"],
        "a rabbit in a forest",
    );
    validate_unchecked(&e, &work.join("v.parquet"));
    read_all(work.join("v.parquet").to_str().unwrap()).unwrap()
}

fn score(
    work: &Path,
    responses: &[ResponseRow],
    state: &Path,
    extra: &[&str],
) -> Vec<ScoreColumns> {
    let r = work.join("r.parquet");
    let mut w = TableWriter::<ResponseRow>::create(r.to_str().unwrap()).unwrap();
    w.write_rows(responses.iter().cloned()).unwrap();
    w.finish().unwrap();
    let p = |n: &str| work.join(n);
    run_ok(
        omega()
            .args(["validate", "--check", "none", "-i"])
            .arg(&r)
            .arg("-o")
            .arg(p("v2.parquet"))
            .arg("--model")
            .arg(model())
            .arg("-q"),
    );
    run_ok(
        omega()
            .args(["dedup", "-i"])
            .arg(p("v2.parquet"))
            .arg("-o")
            .arg(p("d.parquet"))
            .arg("-q"),
    );
    run_ok(
        omega()
            .args(["score", "-i"])
            .arg(p("d.parquet"))
            .arg("-o")
            .arg(p("s.parquet"))
            .arg("--model")
            .arg(model())
            .arg("--state")
            .arg(state)
            .args(extra)
            .arg("-q"),
    );
    read_all(p("s.parquet").to_str().unwrap()).unwrap()
}

#[test]
fn components_add_up_to_the_answer_score() {
    let work = scratch("score-chain");
    let mut rows = chain(&work);
    for r in &mut rows {
        r.miner_uid = Some(3);
        r.miner_hotkey = Some("5Hotkey".into());
    }
    // A second answer with a fake YouTube id: decided by validation at −5.
    let mut fake = rows[0].clone();
    fake.response_id = "fake".into();
    fake.miner_uid = Some(4);
    fake.source = "youtube".into();
    fake.video_id = "short".into();
    rows.push(fake);
    let state = work.join("state.json");
    // UIDs 3 and 4 answered; 7 was asked too and stayed silent.
    let out = score(&work, &rows, &state, &["--sampled-uids", "3,4,7"]);
    let honest: Vec<&ScoreColumns> = out[..3].iter().collect();
    let (mut d, mut q) = (0.0, 0.0);
    for c in &honest {
        assert!(c.scored);
        let u = c.unique_token_count.unwrap() as usize;
        let ls = omega::score::relevance::length_scaler(u, &Default::default());
        assert!((c.length_scaler.unwrap() - ls).abs() < 1e-12);
        let want_d = (0.65 * c.video_desc_cos.unwrap() + 0.35 * c.audio_desc_cos.unwrap()) * ls;
        assert!((c.description_relevance.unwrap() - want_d).abs() < 1e-9);
        let t = c.text_similarity.unwrap();
        assert!((0.0..=0.5).contains(&t));
        let want_q = (c.video_query_cos.unwrap() + c.audio_query_cos.unwrap() + t) / 3.0;
        assert!((c.query_relevance.unwrap() - want_q).abs() < 1e-9);
        d += want_d;
        q += want_q;
    }
    let want = ((0.7 * d + 1.3 * q) / 2.0 / 8.0).max(0.005);
    assert!(
        (honest[0].answer_score.unwrap() - want).abs() < 1e-9,
        "{:?} vs {want}",
        honest[0].answer_score
    );
    assert_eq!(out[3].answer_score, Some(-5.0));
    assert_eq!(out[3].answer_penalty, Some(-5.0));
    // The moving average: α = 0.3 from 0.
    let s = MinerScores::load(&state).unwrap();
    assert!((s.scores[3] - 0.3 * want).abs() < 1e-9);
    assert!((s.scores[4] - 0.3 * -5.0).abs() < 1e-9);
    assert_eq!(s.hotkeys[3], "5Hotkey");
    assert!(
        (s.scores[7] - 0.3 * 0.005).abs() < 1e-12,
        "a sampled non-responder moves toward 0.005"
    );
    assert_eq!(s.scores[5], 0.0, "not sampled, no answer: untouched");
}

#[test]
fn the_stuffing_classifier_drops_or_punishes() {
    let work = scratch("score-stuffing");
    let base = chain(&work);
    let classifier = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/test-stuffing-classifier");
    // The test classifier calls a text stuffed when it has more than 20 tokens (CLS and SEP
    // included), confidently so from about 23.
    let words = |n: usize| {
        (0..n)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let answer = |id: &str, descriptions: [String; 3]| -> Vec<ResponseRow> {
        base.iter()
            .zip(descriptions)
            .map(|(r, d)| {
                let mut r = r.clone();
                r.response_id = id.into();
                r.description = d;
                r
            })
            .collect()
    };
    let mut rows = answer(
        "clean",
        [
            "a big bunny".into(),
            "a man says hello".into(),
            "a rocket launch".into(),
        ],
    );
    // "w0 w1 …" tokenizes into about 2 tokens per word: 10 words ≈ 21–22 tokens → stuffed, unsure.
    rows.extend(answer(
        "dropped",
        ["a big bunny".into(), words(10), "a rocket launch".into()],
    ));
    rows.extend(answer(
        "punished",
        ["a big bunny".into(), words(40), "a rocket launch".into()],
    ));
    let cls = classifier.to_str().unwrap();
    let out = score(
        &work,
        &rows,
        &work.join("state.json"),
        &["--stuffing-model", cls],
    );
    let (clean, dropped, punished) = (&out[0..3], &out[3..6], &out[6..9]);
    assert!(clean
        .iter()
        .all(|c| c.stuffing_label.as_deref() == Some("1") && c.scored));
    assert_eq!(dropped[1].stuffing_label.as_deref(), Some("0"));
    assert!(
        dropped[1].stuffing_confidence.unwrap() <= 0.75,
        "{:?}",
        dropped[1].stuffing_confidence
    );
    assert!(
        !dropped[1].scored && dropped[0].scored && dropped[2].scored,
        "unsure stuffing drops the video"
    );
    assert!(dropped[0].answer_score.unwrap() > 0.0);
    assert!(punished
        .iter()
        .all(|c| c.answer_score == Some(-5.0)
            && c.answer_reason.as_deref().unwrap().contains("stuffed")));
}
