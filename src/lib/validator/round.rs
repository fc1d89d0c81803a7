//! One validator round as a journal on disk: a round's folder (`work/round-NNNNNNNN/`) holds
//! what each phase produced, each file written atomically, so a round killed at any point
//! resumes at the first phase whose output is missing and never applies twice.
//!
//! Phases: `plan.json` (topic and sampled miners) → `responses.parquet` + `query.json` (the
//! answers; `query.json` last) → `validated.parquet` → `deduped.parquet` → `scored.parquet` →
//! commit. The commit's steps are each idempotent — the round table is rewritten, the spool
//! knows an input by its content hash, the index skips ids it holds — and the moving average
//! is applied only when the state's last applied round is older, in the same atomic write that
//! records the round; then the folder is removed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::dedup::{build_index, dedup_table, DedupError};
use crate::index::{ExactIndex, IndexError, Overlay, VectorIndex};
use crate::model::{ImageBind, SentenceModel, TextClassifier};
use crate::score::ema::MinerAnswer;
use crate::score::{score_table, ScoreConfig, ScoreError, Scorer};
use crate::signals::kill_point;
use crate::table::round_miners::{RoundAnswer, RoundMinerRow};
use crate::table::{TableError, TableReader, TableWriter};
use crate::uid::Uid;
use crate::validate::{validate_table, ValidateError, ValidateOptions};

use super::state::ValidatorState;

#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Journal { path: PathBuf, message: String },
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Validate(#[from] ValidateError),
    #[error(transparent)]
    Dedup(#[from] DedupError),
    #[error(transparent)]
    Score(#[from] ScoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Hub(#[from] crate::hub::HubError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RoundError + '_ {
    move |source| RoundError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A sampled miner.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sampled {
    pub uid: Uid,
    pub hotkey: String,
}

/// What a round asks, fixed before anyone is asked.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    pub round: u64,
    pub topic: String,
    pub sampled: Vec<Sampled>,
    pub started_unix: f64,
}

/// One miner's reply.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Reply {
    pub uid: Uid,
    pub status: u16,
    pub seconds: f64,
}

/// What the queries gave, besides the answers themselves (`responses.parquet`): each sampled
/// miner's reply status and time (who did not answer follows from the answers).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Queried {
    pub replies: Vec<Reply>,
}

/// The folder of the round in flight.
pub struct RoundDir {
    pub round: u64,
    pub dir: PathBuf,
}

impl RoundDir {
    pub fn new(work: &Path, round: u64) -> Self {
        RoundDir {
            round,
            dir: work.join(format!("round-{round:08}")),
        }
    }

    /// The round left in flight by a previous run, if any (at most one: rounds run in order).
    pub fn unfinished(work: &Path) -> Result<Option<RoundDir>, RoundError> {
        let entries = match std::fs::read_dir(work) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(work)(e)),
        };
        let mut rounds: Vec<u64> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.strip_prefix("round-")?.parse().ok())
            .collect();
        rounds.sort_unstable();
        Ok(rounds.first().map(|&r| RoundDir::new(work, r)))
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.path(name).is_file()
    }

    fn text(&self, name: &str) -> String {
        self.path(name).to_string_lossy().into_owned()
    }

    pub fn write_json<T: serde::Serialize>(&self, name: &str, value: &T) -> Result<(), RoundError> {
        let path = self.path(name);
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        crate::fsutil::save_json(&path, value).map_err(io(&path))
    }

    pub fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, RoundError> {
        let path = self.path(name);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        serde_json::from_slice(&bytes).map_err(|e| RoundError::Journal {
            path,
            message: format!("{e}; remove the round's folder to drop the round"),
        })
    }

    /// Drops the round (abandoned before it was judged, or committed).
    pub fn remove(&self) -> Result<(), RoundError> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&self.dir)(e)),
            _ => Ok(()),
        }
    }
}

/// The models and options that judge answers, loaded once.
pub struct Judges {
    pub imagebind: ImageBind,
    pub text: SentenceModel,
    pub stuffing: Option<TextClassifier>,
    pub validate: ValidateOptions,
}

impl Judges {
    fn cfg(&self) -> &ScoreConfig {
        &self.validate.cfg
    }
}

/// Seconds spent in each judging phase of a round (0 for a phase a resumed round skipped).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct PhaseSeconds {
    pub query: f64,
    pub validate: f64,
    pub dedup: f64,
    pub score: f64,
    pub commit: f64,
    pub weights: f64,
}

impl PhaseSeconds {
    /// Adds another round's seconds (a run's totals).
    pub fn add(&mut self, o: &PhaseSeconds) {
        self.query += o.query;
        self.validate += o.validate;
        self.dedup += o.dedup;
        self.score += o.score;
        self.commit += o.commit;
        self.weights += o.weights;
    }
}

/// Validates, de-duplicates and scores the round's answers, each phase skipped when its
/// output exists. The answers are judged against `index` plus what the round accepted so far
/// ([`Overlay`]); the index itself is only written by [`commit`].
pub fn judge(
    round: &RoundDir,
    judges: &mut Judges,
    index: &dyn VectorIndex,
    times: &mut PhaseSeconds,
) -> Result<(), RoundError> {
    if !round.has("validated.parquet") {
        let started = Instant::now();
        let mut opts = judges.validate.clone();
        // The spot checks' random choices are the round's, so a resumed round draws the same.
        opts.seed = Some(opts.seed.unwrap_or(0) ^ round.round);
        validate_table(
            &round.text("responses.parquet"),
            None,
            &round.text("validated.parquet"),
            &mut judges.imagebind,
            &opts,
        )?;
        times.validate = started.elapsed().as_secs_f64();
        kill_point("round-validated");
    }
    if !round.has("deduped.parquet") {
        let started = Instant::now();
        let scratch = round.path("overlay");
        let _ = std::fs::remove_dir_all(&scratch);
        let mut overlay = Overlay {
            base: index,
            top: Box::new(ExactIndex::open(&scratch)?),
        };
        dedup_table(
            &round.text("validated.parquet"),
            None,
            &round.text("deduped.parquet"),
            Some(&mut overlay),
            true,
            judges.cfg(),
        )?;
        times.dedup = started.elapsed().as_secs_f64();
        kill_point("round-deduped");
    }
    if !round.has("scored.parquet") {
        let started = Instant::now();
        let cfg = judges.cfg().clone();
        let mut scorer = Scorer::new(&mut judges.imagebind, &mut judges.text, cfg);
        scorer.stuffing = judges.stuffing.as_mut();
        score_table(
            &round.text("deduped.parquet"),
            None,
            &round.text("scored.parquet"),
            &mut scorer,
        )?;
        times.score = started.elapsed().as_secs_f64();
        kill_point("round-scored");
    }
    Ok(())
}

/// Where a committed round goes.
pub struct Sinks<'a> {
    pub rounds: &'a Path,
    pub state_path: &'a Path,
    /// Publishes the accepted rows of a scored table (the push-hf spool); idempotent per file.
    pub publish: &'a mut dyn FnMut(&str) -> Result<(), RoundError>,
}

/// What a committed round did.
#[derive(Debug, Clone, Default)]
pub struct Committed {
    pub answers: usize,
    pub accepted: usize,
    /// Videos whose spot check failed.
    pub check_failures: usize,
    pub indexed: usize,
    /// False when a previous run had applied the round already (resumed after that point).
    pub applied: bool,
    pub miners: Vec<RoundMinerRow>,
}

/// Commits a judged round: the round tables, the accepted rows to the spool and the index, the
/// moving averages (once), then drops the round's folder.
pub fn commit(
    round: &RoundDir,
    state: &mut ValidatorState,
    index: &mut dyn VectorIndex,
    cfg: &ScoreConfig,
    sinks: Sinks,
) -> Result<Committed, RoundError> {
    let plan: Plan = round.read_json("plan.json")?;
    let queried: Queried = round.read_json("query.json")?;
    let scored = round.text("scored.parquet");
    std::fs::create_dir_all(sinks.rounds).map_err(io(sinks.rounds))?;
    let table = sinks
        .rounds
        .join(format!("round-{:08}.parquet", round.round));
    let bytes =
        std::fs::read(round.path("scored.parquet")).map_err(io(&round.path("scored.parquet")))?;
    crate::fsutil::write_atomic(&table, &bytes).map_err(io(&table))?;
    (sinks.publish)(&scored)?;
    kill_point("round-published");
    let indexed = build_index(index, std::slice::from_ref(&scored))?;
    kill_point("round-indexed");
    let answers = read_answers(&scored)?;
    let applied = state.round < round.round;
    if applied {
        let sampled: Vec<Uid> = plan.sampled.iter().map(|s| s.uid).collect();
        let moving: Vec<MinerAnswer> = answers.iter().map(|a| a.answer.clone()).collect();
        state.youtube.record_round(&moving, &sampled, cfg);
        if round.has("focus.json") {
            let focus: super::focus::FocusRewards = round.read_json("focus.json")?;
            super::focus::apply(&mut state.focus, &focus);
        }
        state.round = round.round;
        state.save(sinks.state_path).map_err(io(sinks.state_path))?;
    }
    kill_point("round-applied");
    let miners = miner_rows(&plan, &queried, &answers, state);
    let path = sinks
        .rounds
        .join(format!("miners-{:08}.parquet", round.round));
    let mut writer = TableWriter::<RoundMinerRow>::create(&path.to_string_lossy())?;
    writer.write_rows(miners.iter().cloned())?;
    writer.finish()?;
    round.remove()?;
    Ok(Committed {
        answers: answers.len(),
        accepted: answers.iter().map(|a| a.accepted).sum(),
        check_failures: answers.iter().map(|a| a.check_failures).sum(),
        indexed,
        applied,
        miners,
    })
}

/// One answer of a scored table.
struct Answer {
    answer: MinerAnswer,
    videos: usize,
    accepted: usize,
    check_failures: usize,
    reason: Option<String>,
}

fn read_answers(scored: &str) -> Result<Vec<Answer>, RoundError> {
    let mut answers: Vec<(String, Answer)> = Vec::new();
    let mut reader = TableReader::<RoundAnswer>::open(scored)?;
    while let Some(rows) = reader.next_rows() {
        for r in rows? {
            let accepted = usize::from(r.status == crate::outcome::Status::Ok);
            let video = usize::from(!r.video_id.is_empty());
            let failed = usize::from(r.check_passed == Some(false));
            match answers.last_mut() {
                Some((id, a)) if *id == r.response_id => {
                    a.videos += video;
                    a.accepted += accepted;
                    a.check_failures += failed;
                }
                _ => answers.push((
                    r.response_id.clone(),
                    Answer {
                        answer: MinerAnswer {
                            uid: r.miner_uid,
                            hotkey: r.miner_hotkey,
                            score: r.answer_score,
                        },
                        videos: video,
                        accepted,
                        check_failures: failed,
                        reason: r.answer_reason,
                    },
                )),
            }
        }
    }
    Ok(answers.into_iter().map(|(_, a)| a).collect())
}

fn miner_rows(
    plan: &Plan,
    queried: &Queried,
    answers: &[Answer],
    state: &ValidatorState,
) -> Vec<RoundMinerRow> {
    plan.sampled
        .iter()
        .map(|s| {
            let reply = queried.replies.iter().find(|r| r.uid == s.uid);
            let answer = answers.iter().find(|a| a.answer.uid == Some(s.uid));
            RoundMinerRow {
                round: plan.round as i64,
                uid: s.uid,
                hotkey: s.hotkey.clone(),
                reply_status: reply.map_or(0, |r| i64::from(r.status)),
                reply_seconds: reply.map_or(0.0, |r| r.seconds),
                videos: answer.map(|a| a.videos as i64),
                answer_score: answer.and_then(|a| a.answer.score),
                answer_reason: answer.and_then(|a| a.reason.clone()),
                moving_average: state
                    .youtube
                    .scores
                    .get(usize::from(s.uid))
                    .copied()
                    .unwrap_or(0.0),
            }
        })
        .collect()
}
