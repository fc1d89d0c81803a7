//! `omega validate`: the validator's checks of one answer, in the original's order (spec §4.2
//! steps 1–6): empty answer → 0.005; a YouTube id not of 11 characters → −5; keep videos with
//! 5 ≤ end − start ≤ 120, at most 8; the spot check (re-fetch the submitted section through
//! the `clip` stage, re-embed it through the `embed` library, require cosine > 0.95 on video,
//! audio and description; a validator IP block falls back to the description alone; a video
//! proven fake, or a failed check → −5).

mod stage;

pub use stage::{validate_table, ValidateError};

use std::path::PathBuf;

use crate::embed::{embed_items, embed_texts, EmbedOptions, MediaItem};
use crate::ingest::clip::{clip_one, ClipOptions};
use crate::model::ImageBind;
use crate::outcome::{ErrorClass, Status};
use crate::score::ScoreConfig;
use crate::table::candidates::CandidateRow;
use crate::table::responses::ResponseRow;
use crate::table::validated::ValidatedColumns;
use crate::vector::cosine;

/// Which videos are re-checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CheckMode {
    /// As the original: with this probability a full check of one random video (trying the
    /// videos in random order until one downloads), else a description check of one.
    Random(f64),
    /// A full check of every kept video (curators).
    All,
    /// No check.
    None,
}

/// How to validate.
#[derive(Clone)]
pub struct ValidateOptions {
    pub cfg: ScoreConfig,
    pub check: CheckMode,
    /// How re-downloads are made (the original: 10 s, through the proxy).
    pub clip: ClipOptions,
    pub embed: EmbedOptions,
    pub seed: Option<u64>,
}

/// The verdict of one answer.
#[derive(Debug, Clone, PartialEq)]
struct Verdict {
    passed: bool,
    score: Option<f64>,
    reason: Option<String>,
}

impl Verdict {
    fn pass() -> Self {
        Verdict {
            passed: true,
            score: None,
            reason: None,
        }
    }
    fn decided(score: f64, reason: impl Into<String>) -> Self {
        Verdict {
            passed: false,
            score: Some(score),
            reason: Some(reason.into()),
        }
    }
}

/// The outcome of re-checking one video.
#[derive(Debug, Clone, Default)]
struct Check {
    kind: &'static str,
    cos: [Option<f64>; 3],
    passed: Option<bool>,
    note: Option<String>,
}

/// Validates one answer (its rows in order) and returns the added columns of each row.
pub fn validate_response(
    rows: &[ResponseRow],
    model: &mut ImageBind,
    opts: &ValidateOptions,
    rng: &mut fastrand::Rng,
    rt: &tokio::runtime::Runtime,
) -> Vec<ValidatedColumns> {
    let cfg = &opts.cfg;
    let mut checks: Vec<Check> = vec![
        Check {
            kind: "none",
            ..Default::default()
        };
        rows.len()
    ];
    let kept = kept_videos(rows, cfg);
    let verdict = if rows.iter().all(|r| r.video_id.is_empty()) {
        Verdict::decided(cfg.min_score, "empty answer")
    } else if let Some(bad) = rows
        .iter()
        .find(|r| r.source == "youtube" && r.video_id.chars().count() != 11)
    {
        Verdict::decided(
            cfg.fake_video_punishment,
            format!("fake video id `{}` (not 11 characters)", bad.video_id),
        )
    } else if let Some((r, what)) = kept
        .iter()
        .map(|&i| &rows[i])
        .find_map(|r| malformed(r).map(|w| (r, w)))
    {
        Verdict {
            passed: false,
            score: None,
            reason: Some(format!(
                "video `{}`: {what}: the answer cannot be scored",
                r.video_id
            )),
        }
    } else if kept.is_empty() {
        Verdict::decided(cfg.min_score, "no video passed the metadata check")
    } else {
        spot_check(rows, &kept, &mut checks, model, opts, rng, rt)
    };
    rows.iter()
        .enumerate()
        .map(|(i, _)| {
            let c = &checks[i];
            let is_kept = kept.contains(&i);
            let (status, class, error) = if !is_kept {
                (
                    Status::Skipped,
                    Some(ErrorClass::InvalidInput),
                    Some("not kept: 5 ≤ end − start ≤ 120 and the first 8 only".to_string()),
                )
            } else if c.passed == Some(false) {
                (
                    Status::Failed,
                    Some(ErrorClass::CheckFailed),
                    c.note.clone(),
                )
            } else {
                (Status::Ok, None, None)
            };
            ValidatedColumns {
                position: i as i64,
                kept: is_kept,
                check: c.kind.to_string(),
                check_video_cos: c.cos[0],
                check_audio_cos: c.cos[1],
                check_description_cos: c.cos[2],
                check_passed: c.passed,
                check_note: c.note.clone(),
                response_passed: verdict.passed,
                response_score: verdict.score,
                response_reason: verdict.reason.clone(),
                status,
                error_class: class,
                error,
            }
        })
        .collect()
}

/// What is wrong with a video's submitted embeddings, if anything (the original raised and
/// skipped the miner for the round; omega says why).
fn malformed(r: &ResponseRow) -> Option<&'static str> {
    let embs = [&r.video_emb, &r.audio_emb, &r.description_emb];
    if embs.iter().any(|e| e.is_none()) {
        Some("an embedding is missing")
    } else if embs
        .iter()
        .flat_map(|e| e.iter().flatten())
        .any(|x| !x.is_finite())
    {
        Some("an embedding holds NaN or infinite values")
    } else {
        None
    }
}

/// Indices of the videos that pass the metadata check, at most `num_videos`.
fn kept_videos(rows: &[ResponseRow], cfg: &ScoreConfig) -> Vec<usize> {
    rows.iter()
        .enumerate()
        .filter(|(_, r)| {
            let len = r.clip_length_s().map_or(f64::NAN, |l| l as f64);
            !r.video_id.is_empty() && cfg.min_video_length <= len && len <= cfg.max_video_length
        })
        .map(|(i, _)| i)
        .take(cfg.num_videos)
        .collect()
}

fn spot_check(
    rows: &[ResponseRow],
    kept: &[usize],
    checks: &mut [Check],
    model: &mut ImageBind,
    opts: &ValidateOptions,
    rng: &mut fastrand::Rng,
    rt: &tokio::runtime::Runtime,
) -> Verdict {
    let full = match opts.check {
        CheckMode::None => return Verdict::pass(),
        CheckMode::All => kept.to_vec(),
        CheckMode::Random(p) if rng.f64() < p => {
            let mut order = kept.to_vec();
            rng.shuffle(&mut order);
            order
        }
        CheckMode::Random(_) => {
            let i = kept[rng.usize(..kept.len())];
            checks[i] = description_check(&rows[i], model, opts);
            return verdict_of(&checks[i], &rows[i], opts);
        }
    };
    let all = opts.check == CheckMode::All;
    for (n, &i) in full.iter().enumerate() {
        let last = n + 1 == full.len();
        match refetch(&rows[i], opts, rt) {
            Ok(path) => checks[i] = full_check(&rows[i], path, model, opts),
            Err((ErrorClass::Unavailable | ErrorClass::InvalidInput, msg)) => {
                checks[i] = Check {
                    kind: "full",
                    passed: Some(false),
                    note: Some(format!("video is fake: {msg}")),
                    ..Default::default()
                };
                return Verdict::decided(
                    opts.cfg.fake_video_punishment,
                    format!("fake video `{}`", rows[i].video_id),
                );
            }
            // A validator-side block (bot check, 403, 429): the description alone is checked.
            Err((ErrorClass::BotCheck | ErrorClass::Forbidden | ErrorClass::RateLimited, msg)) => {
                checks[i] = description_check(&rows[i], model, opts);
                checks[i].note = Some(format!(
                    "re-download blocked ({msg}): description checked only"
                ));
            }
            // Timeouts and other failures: the next video is tried; the last one falls back.
            Err((_, msg)) if all || last => {
                checks[i] = description_check(&rows[i], model, opts);
                checks[i].note = Some(format!(
                    "re-download failed ({msg}): description checked only"
                ));
            }
            Err(_) => continue,
        }
        let v = verdict_of(&checks[i], &rows[i], opts);
        if !v.passed || !all {
            return v;
        }
    }
    Verdict::pass()
}

fn verdict_of(check: &Check, row: &ResponseRow, opts: &ValidateOptions) -> Verdict {
    if check.passed == Some(false) {
        Verdict::decided(
            opts.cfg.fake_video_punishment,
            format!("spot check failed on `{}`", row.video_id),
        )
    } else {
        Verdict::pass()
    }
}

/// Fetches the submitted section again through the `clip` stage.
fn refetch(
    row: &ResponseRow,
    opts: &ValidateOptions,
    rt: &tokio::runtime::Runtime,
) -> Result<PathBuf, (ErrorClass, String)> {
    let mut candidate = CandidateRow::new(&row.source, row.video_id.clone(), 0);
    candidate.url = row.url.clone();
    candidate.path = row.source_path.clone();
    let length = row.clip_length_s().filter(|&l| l > 0);
    let (Some(length), true) = (length, row.start_time >= 0) else {
        let (start, end) = (row.start_time, row.end_time);
        return Err((
            ErrorClass::InvalidInput,
            format!("no such section: {start}..{end} s"),
        ));
    };
    let mut clip = opts.clip.clone();
    clip.start_s = row.start_time as f64;
    clip.max_s = length as f64;
    clip.min_s = 0.0;
    let out = rt.block_on(clip_one(&candidate, &clip));
    match (out.status, out.path) {
        (Status::Ok, Some(path)) => Ok(path.into()),
        _ => Err((
            out.error_class.unwrap_or(ErrorClass::Other),
            out.error.unwrap_or_default(),
        )),
    }
}

fn passes(cos: &[Option<f64>], cfg: &ScoreConfig) -> bool {
    cos.iter().flatten().all(|&c| c > cfg.similarity_threshold) && cos.iter().any(Option::is_some)
}

fn full_check(
    row: &ResponseRow,
    path: PathBuf,
    model: &mut ImageBind,
    opts: &ValidateOptions,
) -> Check {
    let item = MediaItem {
        id: row.video_id.clone(),
        path,
        description: row.description.clone(),
    };
    let e = embed_items(model, &[item], &opts.embed).remove(0);
    let pair = |new: &Option<Vec<f32>>, old: &Option<Vec<f32>>| match (new, old) {
        (Some(a), Some(b)) => Some(f64::from(cosine(a, b))),
        _ => None,
    };
    let cos = [
        pair(&e.video, &row.video_emb),
        pair(&e.audio, &row.audio_emb),
        pair(&e.description, &row.description_emb),
    ];
    let complete = cos.iter().all(Option::is_some);
    let passed = complete && passes(&cos, &opts.cfg);
    let note = (!complete).then(|| {
        format!(
            "re-embedding incomplete: {}",
            e.outcome.error.unwrap_or_default()
        )
    });
    Check {
        kind: "full",
        cos,
        passed: Some(passed),
        note,
    }
}

fn description_check(row: &ResponseRow, model: &mut ImageBind, opts: &ValidateOptions) -> Check {
    let new = embed_texts(
        model,
        std::slice::from_ref(&row.description),
        opts.embed.truncation,
    )
    .ok()
    .and_then(|mut v| v.remove(0));
    let cos = match (&new, &row.description_emb) {
        (Some(a), Some(b)) => Some(f64::from(cosine(a, b))),
        _ => None,
    };
    let cos = [None, None, cos];
    Check {
        kind: "description",
        passed: Some(passes(&cos, &opts.cfg)),
        cos,
        note: None,
    }
}
