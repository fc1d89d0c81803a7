//! `omega validate` on real clips and the stand-in model: an honest answer passes its own
//! full spot check; tampered embeddings, fake ids, empty answers, metadata bounds, blocked or
//! impossible re-downloads and seeded randomness behave as the original's validator.

use std::path::{Path, PathBuf};

use crate::common::*;
use omega::outcome::{ErrorClass, Status};
use omega::table::read_all;
use omega::table::responses::ResponseRow;
use omega::table::validated::ValidatedColumns;
use omega::table::TableWriter;

fn model() -> PathBuf {
    tiny_model()
}

/// search → clip → embed on a few real files; returns the embeddings table.
fn embedded(work: &Path) -> PathBuf {
    embedded_clips(
        work,
        &["bigbuckbunny.mp4", "movie-hello.mp4", "oa4_launch.webm"],
        "q",
    )
}

fn validate(input: &Path, work: &Path, extra: &[&str]) -> Vec<(ResponseRow, ValidatedColumns)> {
    let out = work.join("validated.parquet");
    run_ok(
        omega()
            .args(["validate", "-i"])
            .arg(input)
            .arg("-o")
            .arg(&out)
            .arg("--model")
            .arg(model())
            .arg("--media-dir")
            .arg(work.join("vmedia"))
            .args(extra)
            .arg("-q"),
    );
    let a: Vec<ResponseRow> = read_all(out.to_str().unwrap()).unwrap();
    let b: Vec<ValidatedColumns> = read_all(out.to_str().unwrap()).unwrap();
    a.into_iter().zip(b).collect()
}

fn write_responses(path: &Path, rows: &[ResponseRow]) {
    let mut w = TableWriter::<ResponseRow>::create(path.to_str().unwrap()).unwrap();
    w.write_rows(rows.iter().cloned()).unwrap();
    w.finish().unwrap();
}

/// The honest answer as a `responses` table (one answer).
fn honest(work: &Path) -> Vec<ResponseRow> {
    let e = embedded(work);
    validate(&e, work, &["--check", "none"])
        .into_iter()
        .map(|(r, _)| r)
        .collect()
}

#[test]
fn an_honest_answer_passes_a_full_check_and_a_tampered_one_gets_minus_five() {
    let work = scratch("validate-honest");
    let e = embedded(&work);
    let rows = validate(&e, &work, &["--check", "all"]);
    assert_eq!(rows.len(), 3);
    for (r, v) in &rows {
        assert_eq!(v.check, "full");
        assert!(
            v.check_video_cos.unwrap() > 0.9999 && v.check_audio_cos.unwrap() > 0.9999,
            "{}: {v:?}",
            r.video_id
        );
        assert_eq!(
            (v.check_passed, v.response_passed, v.status),
            (Some(true), true, Status::Ok)
        );
        assert_eq!(r.end_time - r.start_time, r.end_time, "clips from 0");
    }
    // Swap two videos' video embeddings: the re-computed ones disagree.
    let mut answer: Vec<ResponseRow> = rows.into_iter().map(|(r, _)| r).collect();
    let first = answer[0].video_emb.clone();
    answer[0].video_emb = answer[1].video_emb.clone();
    answer[1].video_emb = first;
    let tampered = work.join("tampered.parquet");
    write_responses(&tampered, &answer);
    let out = validate(&tampered, &work, &["--check", "all"]);
    assert_eq!(out[0].1.check_passed, Some(false));
    assert_eq!(
        (out[0].1.status, out[0].1.error_class),
        (Status::Failed, Some(ErrorClass::CheckFailed))
    );
    assert!(out
        .iter()
        .all(|(_, v)| !v.response_passed && v.response_score == Some(-5.0)));
}

#[test]
fn structural_rules_in_the_originals_order() {
    let work = scratch("validate-rules");
    let base = honest(&work);
    let answer = |id: &str, rows: Vec<ResponseRow>| -> Vec<ResponseRow> {
        rows.into_iter()
            .map(|mut r| {
                r.response_id = id.into();
                r
            })
            .collect()
    };
    // A: a YouTube id of 10 characters → −5 before any check.
    let mut fake = base[0].clone();
    fake.source = "youtube".into();
    fake.video_id = "abcdefghij".into();
    // B: empty answer (one placeholder row without a video).
    let mut empty = base[0].clone();
    empty.video_id = String::new();
    // C: lengths 3 s and 130 s are not kept; 10 valid videos → only the first 8 kept.
    let mut c = Vec::new();
    for (i, len) in [3i64, 130]
        .into_iter()
        .chain(std::iter::repeat_n(5, 10))
        .enumerate()
    {
        let mut r = base[i % base.len()].clone();
        r.start_time = 0;
        r.end_time = len;
        c.push(r);
    }
    let mut all = answer("A", vec![fake, base[1].clone()]);
    all.extend(answer("B", vec![empty]));
    all.extend(answer("C", c));
    let path = work.join("responses.parquet");
    write_responses(&path, &all);
    let out = validate(&path, &work, &["--check", "none"]);
    let of = |id: &str| {
        out.iter()
            .filter(|(r, _)| r.response_id == id)
            .collect::<Vec<_>>()
    };
    assert!(of("A").iter().all(|(_, v)| v.response_score == Some(-5.0)
        && v.response_reason
            .as_deref()
            .unwrap()
            .contains("fake video id")));
    assert!(of("B").iter().all(|(_, v)| v.response_score == Some(0.005)));
    let c: Vec<bool> = of("C").iter().map(|(_, v)| v.kept).collect();
    assert_eq!(
        c,
        [vec![false, false], vec![true; 8], vec![false; 2]].concat()
    );
    assert!(of("C")
        .iter()
        .all(|(_, v)| v.response_passed && v.response_score.is_none()));
    assert_eq!(of("C")[0].1.status, Status::Skipped);
}

#[test]
fn random_checks_are_seeded_and_description_only_at_probability_zero() {
    let work = scratch("validate-random");
    let base = honest(&work);
    let path = work.join("r.parquet");
    write_responses(&path, &base);
    let out = validate(&path, &work, &["--check-probability", "0", "--seed", "3"]);
    let checked: Vec<&ValidatedColumns> = out
        .iter()
        .map(|(_, v)| v)
        .filter(|v| v.check != "none")
        .collect();
    assert_eq!(checked.len(), 1, "one random video");
    assert_eq!(checked[0].check, "description");
    assert!(checked[0].check_description_cos.unwrap() > 0.9999);
    let again = validate(&path, &work, &["--check-probability", "0", "--seed", "3"]);
    assert_eq!(
        out.iter().map(|(_, v)| v.check.clone()).collect::<Vec<_>>(),
        again
            .iter()
            .map(|(_, v)| v.check.clone())
            .collect::<Vec<_>>()
    );
    let full = validate(&path, &work, &["--check-probability", "1", "--seed", "3"]);
    assert_eq!(
        full.iter().filter(|(_, v)| v.check == "full").count(),
        1,
        "one full check, the rest unchecked"
    );
}

#[test]
fn blocked_redownloads_fall_back_and_removed_videos_are_fake() {
    let work = scratch("validate-youtube");
    let base = honest(&work);
    let log = work.join("ytdlp.log");
    let mut rows = Vec::new();
    for (id, answer) in [("botcheck000", "blocked"), ("removed0000", "fake")] {
        let mut r = base[0].clone();
        r.response_id = answer.into();
        r.source = "youtube".into();
        r.video_id = id.into();
        rows.push(r);
    }
    let path = work.join("r.parquet");
    write_responses(&path, &rows);
    let fake = support("fake_ytdlp.py");
    let out = {
        let out_path = work.join("v.parquet");
        run_ok(
            omega()
                .env("FAKE_YTDLP_LOG", &log)
                .env("FAKE_YTDLP_SEARCH", fixture("ytsearch.json"))
                .env("FAKE_YTDLP_MEDIA", media("bigbuckbunny.mp4"))
                .args(["validate", "-i"])
                .arg(&path)
                .arg("-o")
                .arg(&out_path)
                .arg("--model")
                .arg(model())
                .args(["--check", "all", "--yt-dlp"])
                .arg(&fake)
                .arg("--media-dir")
                .arg(work.join("vm"))
                .arg("-q"),
        );
        let v: Vec<ValidatedColumns> = read_all(out_path.to_str().unwrap()).unwrap();
        v
    };
    assert_eq!(
        out[0].check, "description",
        "bot check: the description is checked instead"
    );
    assert!(out[0].check_note.as_deref().unwrap().contains("blocked"));
    assert!(out[0].response_passed);
    assert_eq!(out[1].response_score, Some(-5.0), "a removed video is fake");
    assert!(out[1]
        .response_reason
        .as_deref()
        .unwrap()
        .contains("fake video"));
}

#[test]
fn answers_must_be_contiguous() {
    let work = scratch("validate-contiguous");
    let base = honest(&work);
    let mut rows = Vec::new();
    for id in ["a", "b", "a"] {
        let mut r = base[0].clone();
        r.response_id = id.into();
        rows.push(r);
    }
    let path = work.join("r.parquet");
    write_responses(&path, &rows);
    let out = omega()
        .args(["validate", "-i"])
        .arg(&path)
        .args(["-o", "/dev/null", "--check", "none", "--model"])
        .arg(model())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("answer `a` are not contiguous"));
}

#[test]
fn malformed_embeddings_and_empty_tables_are_clear() {
    let work = scratch("validate-malformed");
    let base = honest(&work);
    let mut nan = base.clone();
    nan[1].audio_emb.as_mut().unwrap()[5] = f32::NAN;
    let mut inf = base.clone();
    for r in &mut inf {
        r.response_id = "inf".into();
    }
    inf[0].video_emb.as_mut().unwrap()[0] = f32::INFINITY;
    let path = work.join("r.parquet");
    write_responses(&path, &[nan, inf].concat());
    let out = validate(&path, &work, &["--check", "none"]);
    for (_, v) in &out {
        assert!(!v.response_passed && v.response_score.is_none());
        assert!(
            v.response_reason
                .as_deref()
                .unwrap()
                .contains("NaN or infinite"),
            "{v:?}"
        );
    }
    // An empty table is an empty result, not an error.
    let empty = work.join("empty.parquet");
    write_responses(&empty, &[]);
    assert!(validate(&empty, &work, &["--check", "none"]).is_empty());
}
