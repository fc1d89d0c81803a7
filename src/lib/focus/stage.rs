//! `focus-score` over tables: every Focus video gets its five components, the combined score
//! and a decision, each in its own column (spec §6.2–6.3).
//!
//! A batch of rows goes through four steps: the duration gates (no model call for a video that
//! is rejected anyway); the LLM judges, all videos' requests in flight together up to
//! `--llm-concurrency`; the embeddings, one text-model call per kind and batched ImageBind calls
//! for the video segments; then, in row order, uniqueness and the decision. Uniqueness is taken
//! against the indexes plus the videos accepted earlier in the same run, so two copies of one
//! recording in one table are not both unique; a video already in an index by its id never
//! counts itself.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::formula::{rejection, Components, Formula};
use super::frames::sample_frames;
use super::judge::{task_overview, Evidence, Judges, Legitimacy, Verdict};
use crate::embed::{embed_items, EmbedOptions, MediaItem};
use crate::index::{ExactIndex, IndexError, VectorIndex};
use crate::llm::{LlmClient, LlmError};
use crate::model::{ImageBind, ModelError, SentenceModel};
use crate::outcome::{ErrorClass, Status};
use crate::report::Summary;
use crate::table::focus::{FocusScoreColumns, FocusVideoRow};
use crate::table::{ExtendingWriter, TableError, TableReader};
use crate::vector::{dot, unit};

#[derive(Debug, thiserror::Error)]
pub enum FocusError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("the Focus {kind} index: {source}")]
    Index {
        kind: &'static str,
        source: IndexError,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// What `focus-score` is asked to do.
#[derive(Debug, Clone)]
pub struct FocusOptions {
    pub formula: Formula,
    /// Videos focused for less are rejected without a model call.
    pub min_seconds: f64,
    /// Videos focused for longer are rejected without a model call.
    pub max_seconds: f64,
    /// Send frames of the recording to the judges (a vision model's endpoint).
    pub vision: bool,
    /// Frames per video with `vision`.
    pub frames: usize,
    /// Length of the segment whose ImageBind embedding stands for the video (the original's
    /// 120 s), at a start drawn from the video id (so a rerun picks the same one).
    pub segment_seconds: f64,
    /// LLM requests in flight.
    pub concurrency: usize,
    /// Add the accepted videos' embeddings to the indexes.
    pub insert: bool,
}

impl Default for FocusOptions {
    fn default() -> Self {
        FocusOptions {
            formula: Formula::Equal,
            min_seconds: 60.0,
            max_seconds: 5400.0,
            vision: false,
            frames: 4,
            segment_seconds: 120.0,
            concurrency: 4,
            insert: false,
        }
    }
}

/// Where text embeddings come from.
pub enum TextEmbedder<'a> {
    /// A local sentence model (`--text-model`).
    Local(&'a mut SentenceModel),
    /// An OpenAI-compatible `/v1/embeddings` endpoint (`--embeddings-url`).
    Api(&'a LlmClient),
}

/// The models and indexes one run uses.
pub struct FocusScorer<'a> {
    pub judges: Arc<Judges>,
    pub text: TextEmbedder<'a>,
    /// ImageBind for the video component (none: that component is null).
    pub imagebind: Option<&'a mut ImageBind>,
    /// Holds `task/`, `description/` and `video/`, one exact index each.
    pub index_dir: PathBuf,
    pub opts: FocusOptions,
}

/// One index and what this run accepted into it so far.
struct KindIndex {
    kind: &'static str,
    dir: PathBuf,
    index: Option<ExactIndex>,
    accepted: Vec<(String, Vec<f32>)>,
}

impl KindIndex {
    fn new(root: &Path, kind: &'static str) -> Self {
        KindIndex {
            kind,
            dir: root.join(kind),
            index: None,
            accepted: Vec::new(),
        }
    }

    fn err(&self) -> impl Fn(IndexError) -> FocusError + '_ {
        |source| FocusError::Index {
            kind: self.kind,
            source,
        }
    }

    /// The index, opened for vectors of `dim` values when first needed.
    fn open(&mut self, dim: usize) -> Result<&ExactIndex, FocusError> {
        if self.index.is_none() {
            let index = ExactIndex::open_with_dim(&self.dir, dim).map_err(self.err())?;
            self.index = Some(index);
        }
        Ok(self.index.as_ref().expect("opened above"))
    }

    /// 1 − the highest cosine (clamped to [0, 1]) of `v` to the index and to this run's
    /// accepted vectors, never counting `id` itself; 1 when there is nothing to compare with.
    fn uniqueness(&mut self, id: &str, v: &[f32]) -> Result<Option<f64>, FocusError> {
        let stored = self
            .open(v.len())?
            .nearest_except(v, id)
            .map_err(self.err())?;
        let q = unit(v);
        let this_run = self
            .accepted
            .iter()
            .filter(|(other, _)| other != id)
            .map(|(_, w)| dot(&q, w));
        let best = stored
            .map(|n| n.cosine)
            .into_iter()
            .chain(this_run)
            .fold(None, |a: Option<f32>, c| Some(a.map_or(c, |a| a.max(c))));
        Ok(match best {
            None => Some(1.0),
            Some(c) if c.is_nan() => None,
            Some(c) => Some(1.0 - f64::from(c).clamp(0.0, 1.0)),
        })
    }

    fn accept(&mut self, id: &str, v: &[f32]) {
        self.accepted.push((id.to_string(), unit(v)));
    }

    /// Writes this run's accepted vectors into the index; returns how many were new.
    fn commit(&mut self) -> Result<usize, FocusError> {
        let Some(dim) = self.accepted.first().map(|(_, v)| v.len()) else {
            return Ok(0);
        };
        let items = std::mem::take(&mut self.accepted);
        self.open(dim)?;
        let index = self.index.as_mut().expect("opened above");
        index.insert(&items).map_err(|source| FocusError::Index {
            kind: self.kind,
            source,
        })
    }
}

/// A video past the gates, on its way through the judges.
#[derive(Clone)]
struct Job {
    row: usize,
    id: String,
    overview: String,
    description: Option<String>,
    media: Option<String>,
    duration: f64,
    boost: f64,
}

type Failure = (ErrorClass, String);
/// A component's embedding: not wanted (`None`), or made, or why not.
type Vector = Option<Result<Vec<f32>, Failure>>;

/// What the judges said of one video.
#[derive(Default)]
struct Judged {
    /// The description used (the input's or the LLM's).
    description: Option<String>,
    task: Option<Verdict>,
    completion: Option<Verdict>,
    legitimacy: Option<Legitimacy>,
    /// Why components are null (each message names its component).
    errors: Vec<Failure>,
    /// Requests that were not answered from the cache.
    asked: usize,
}

impl Judged {
    /// The answer's value, counting a request that was not cached; a failure is noted.
    fn take<T>(&mut self, what: &str, r: Result<crate::llm::Answer<T>, LlmError>) -> Option<T> {
        match r {
            Ok(a) => {
                self.asked += usize::from(!a.cached);
                Some(a.value)
            }
            Err(e) => {
                // A failed request was sent (and retried) all the same.
                self.asked += 1;
                self.errors.push((e.class(), format!("{what}: {e}")));
                None
            }
        }
    }
}

/// Scores every row of the `focus-videos` table at `input` into `output`.
pub fn focus_score_table(
    input: &str,
    output: &str,
    scorer: &mut FocusScorer,
    progress: &indicatif::ProgressBar,
) -> Result<Summary, FocusError> {
    let mut reader = TableReader::<FocusVideoRow>::open(input)?;
    let mut writer = ExtendingWriter::<FocusScoreColumns>::create(output, reader.schema())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(FocusError::Runtime)?;
    let mut run = Run {
        indexes: ["task", "description", "video"].map(|k| KindIndex::new(&scorer.index_dir, k)),
        seen: HashSet::new(),
        asked: 0,
    };
    let mut summary = Summary::new("focus-score");
    let (mut ready, mut rejected) = (0, 0);
    while let Some(batch) = reader.next_batch() {
        let (raw, rows) = batch?;
        let out = scorer.score_rows(&runtime, &rows, &mut run)?;
        for c in &out {
            summary.add(c.status, c.error_class, None);
            match c.decision.as_deref() {
                Some("ready") => ready += 1,
                Some(_) => rejected += 1,
                None => {}
            }
            progress.inc(1);
        }
        writer.write(&raw, &out)?;
    }
    writer.finish()?;
    let mut inserted = 0;
    if scorer.opts.insert {
        for kind in &mut run.indexes {
            inserted += kind.commit()?;
        }
    }
    summary.set("ready", ready);
    summary.set("rejected", rejected);
    summary.set("llm_requests", run.asked);
    summary.set("inserted", inserted);
    Ok(summary)
}

/// What a run carries from batch to batch.
struct Run {
    /// Task, description and video, in the order of [`Components`]' uniqueness entries.
    indexes: [KindIndex; 3],
    seen: HashSet<String>,
    asked: usize,
}

impl FocusScorer<'_> {
    fn score_rows(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        rows: &[FocusVideoRow],
        run: &mut Run,
    ) -> Result<Vec<FocusScoreColumns>, FocusError> {
        let mut out: Vec<Option<FocusScoreColumns>> = Vec::with_capacity(rows.len());
        let mut jobs = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let first = run.seen.insert(row.video_id.clone());
            match self.gate(row, first) {
                Ok(job) => {
                    jobs.push(Job { row: i, ..job });
                    out.push(None);
                }
                Err(done) => out.push(Some(*done)),
            }
        }
        let judged = runtime.block_on(self.judge_all(&jobs));
        run.asked += judged.iter().map(|j| j.asked).sum::<usize>();
        let uses = self.opts.formula.uses();
        let overviews: Vec<Option<String>> = jobs
            .iter()
            .map(|j| uses[1].then(|| j.overview.clone()))
            .collect();
        let descriptions: Vec<Option<String>> = judged
            .iter()
            .map(|j| j.description.clone().filter(|_| uses[3]))
            .collect();
        let task_vectors = self.embed_texts(runtime, &overviews);
        let description_vectors = self.embed_texts(runtime, &descriptions);
        let video_vectors = self.embed_videos(&jobs, uses[4]);
        let vectors = task_vectors
            .into_iter()
            .zip(description_vectors)
            .zip(video_vectors)
            .map(|((t, d), v)| [t, d, v]);
        for ((job, judged), vectors) in jobs.iter().zip(judged).zip(vectors) {
            out[job.row] = Some(self.decide(job, judged, vectors, &mut run.indexes)?);
        }
        Ok(out
            .into_iter()
            .map(|c| c.expect("every row decided"))
            .collect())
    }

    /// The columns of a row before anything is known.
    fn blank(&self) -> FocusScoreColumns {
        FocusScoreColumns {
            focus_seconds: None,
            task_score: None,
            task_uniqueness: None,
            completion_score: None,
            description_uniqueness: None,
            video_uniqueness: None,
            description_used: None,
            legitimate: None,
            legitimacy_rationale: None,
            completion_rationale: None,
            focus_score: None,
            formula: self.opts.formula.name().into(),
            decision: None,
            rejection_reason: None,
            prompts: self.judges.prompt_versions().into(),
            llm_model: self.judges.llm.model().into(),
            status: Status::Ok,
            error_class: None,
            error: None,
        }
    }

    fn failed(&self, class: ErrorClass, message: String) -> FocusScoreColumns {
        FocusScoreColumns {
            status: Status::Failed,
            error_class: Some(class),
            error: Some(message),
            ..self.blank()
        }
    }

    /// The row's job, or its finished columns when it goes no further: a repeated id
    /// (skipped), unusable fields (failed), or a duration outside the gates (rejected).
    fn gate(&self, row: &FocusVideoRow, first: bool) -> Result<Job, Box<FocusScoreColumns>> {
        if !first {
            return Err(Box::new(FocusScoreColumns {
                status: Status::Skipped,
                error: Some(format!(
                    "video_id {} already appeared in this table",
                    row.video_id
                )),
                ..self.blank()
            }));
        }
        let boost = row.boost_multiplier.unwrap_or(1.0);
        if !(boost.is_finite() && boost >= 0.0) {
            return Err(Box::new(self.failed(
                ErrorClass::InvalidInput,
                format!("boost_multiplier {boost}: must be a number >= 0"),
            )));
        }
        let duration = match (row.duration_seconds, &row.media) {
            (Some(d), _) if d.is_finite() && d >= 0.0 => d,
            (Some(d), _) => {
                return Err(Box::new(self.failed(
                    ErrorClass::InvalidInput,
                    format!("duration_seconds {d}: must be a number >= 0"),
                )))
            }
            (None, Some(media)) => match crate::media::probe(Path::new(media)) {
                Ok(info) => info.duration_s.unwrap_or(0.0),
                Err(e) => return Err(Box::new(self.failed(e.class(), e.to_string()))),
            },
            (None, None) => {
                return Err(Box::new(self.failed(
                    ErrorClass::InvalidInput,
                    "no duration_seconds and no media to probe".into(),
                )))
            }
        };
        let gate = if duration < self.opts.min_seconds {
            Some(format!(
                "focused for {duration:.1} s, under the minimum of {} s",
                self.opts.min_seconds
            ))
        } else if duration > self.opts.max_seconds {
            Some(format!(
                "focused for {duration:.1} s, over the maximum of {} s",
                self.opts.max_seconds
            ))
        } else {
            None
        };
        if let Some(reason) = gate {
            return Err(Box::new(FocusScoreColumns {
                focus_seconds: Some(duration),
                decision: Some("rejected".into()),
                rejection_reason: Some(reason),
                ..self.blank()
            }));
        }
        Ok(Job {
            row: 0,
            id: row.video_id.clone(),
            overview: task_overview(&row.task_title, &row.task_description),
            description: row
                .detailed_description
                .clone()
                .filter(|d| !d.trim().is_empty()),
            media: row.media.clone(),
            duration,
            boost,
        })
    }

    /// Every job's judges, `concurrency` videos at a time.
    async fn judge_all(&self, jobs: &[Job]) -> Vec<Judged> {
        let permits = Arc::new(tokio::sync::Semaphore::new(self.opts.concurrency.max(1)));
        let mut set = tokio::task::JoinSet::new();
        for (i, job) in jobs.iter().enumerate() {
            let (judges, permits, job, opts) = (
                self.judges.clone(),
                permits.clone(),
                job.clone(),
                self.opts.clone(),
            );
            set.spawn(async move {
                let _permit = permits.acquire_owned().await;
                (i, judge_video(&judges, &job, &opts).await)
            });
        }
        let mut out: Vec<Option<Judged>> = jobs.iter().map(|_| None).collect();
        while let Some(done) = set.join_next().await {
            match done {
                Ok((i, judged)) => out[i] = Some(judged),
                Err(e) => tracing::error!("a judging task failed: {e}"),
            }
        }
        out.into_iter()
            .map(|j| {
                j.unwrap_or_else(|| Judged {
                    errors: vec![(ErrorClass::Internal, "the judging task panicked".into())],
                    ..Judged::default()
                })
            })
            .collect()
    }

    /// Text embeddings of the texts that are there, one call for all.
    fn embed_texts(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        texts: &[Option<String>],
    ) -> Vec<Vector> {
        let present: Vec<String> = texts.iter().flatten().cloned().collect();
        let made: Result<Vec<Vec<f32>>, Failure> = if present.is_empty() {
            Ok(Vec::new())
        } else {
            match &mut self.text {
                TextEmbedder::Local(model) => model
                    .embed(&present)
                    .map_err(|e: ModelError| (ErrorClass::ModelError, format!("text model: {e}"))),
                TextEmbedder::Api(client) => runtime
                    .block_on(client.embed(&present))
                    .map_err(|e| (e.class(), format!("embeddings: {e}"))),
            }
        };
        let mut made = made.map(Vec::into_iter);
        texts
            .iter()
            .map(|t| {
                t.as_ref()?;
                Some(match &mut made {
                    Ok(vectors) => Ok(vectors.next().expect("one vector per text")),
                    Err(f) => Err(f.clone()),
                })
            })
            .collect()
    }

    /// The ImageBind embedding of each job's segment (none without a model, media or need).
    fn embed_videos(&mut self, jobs: &[Job], wanted: bool) -> Vec<Vector> {
        let Some(model) = self.imagebind.as_deref_mut().filter(|_| wanted) else {
            return jobs.iter().map(|_| None).collect();
        };
        let scratch = std::env::temp_dir().join(format!("omega-focus-{}", std::process::id()));
        let mut out: Vec<Vector> = Vec::with_capacity(jobs.len());
        let mut items = Vec::new();
        for job in jobs {
            let Some(media) = &job.media else {
                out.push(None);
                continue;
            };
            match cut_segment(
                media,
                &job.id,
                job.duration,
                self.opts.segment_seconds,
                &scratch,
                items.len(),
            ) {
                Ok(path) => {
                    items.push(MediaItem {
                        id: job.id.clone(),
                        path,
                        // Only the video is wanted: no description, no text encoder run.
                        description: String::new(),
                    });
                    out.push(Some(Ok(Vec::new())));
                }
                Err(f) => out.push(Some(Err(f))),
            }
        }
        let mut embedded = embed_items(model, &items, &EmbedOptions::default()).into_iter();
        for slot in out.iter_mut() {
            if let Some(Ok(_)) = slot {
                let e = embedded.next().expect("one result per item");
                *slot = Some(e.video.ok_or_else(|| {
                    (
                        e.outcome.error_class.unwrap_or(ErrorClass::ModelError),
                        format!("video: {}", e.outcome.error.unwrap_or_default()),
                    )
                }));
            }
        }
        let _ = std::fs::remove_dir_all(&scratch);
        out
    }

    /// Components, uniqueness, score and decision of one judged video.
    fn decide(
        &self,
        job: &Job,
        mut judged: Judged,
        vectors: [Vector; 3],
        indexes: &mut [KindIndex; 3],
    ) -> Result<FocusScoreColumns, FocusError> {
        let mut uniqueness = [None; 3];
        for ((u, v), index) in uniqueness.iter_mut().zip(&vectors).zip(indexes.iter_mut()) {
            match v {
                Some(Ok(v)) => *u = index.uniqueness(&job.id, v)?,
                Some(Err(f)) => judged.errors.push(f.clone()),
                None => {}
            }
        }
        let components: Components = [
            judged.task.as_ref().map(|v| v.score),
            uniqueness[0],
            judged.completion.as_ref().map(|v| v.score),
            uniqueness[1],
            uniqueness[2],
        ];
        let notes = (!judged.errors.is_empty()).then(|| {
            judged
                .errors
                .iter()
                .map(|(_, m)| m.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        });
        let mut cols = FocusScoreColumns {
            focus_seconds: Some(job.duration),
            task_score: components[0],
            task_uniqueness: components[1],
            completion_score: components[2],
            description_uniqueness: components[3],
            video_uniqueness: components[4],
            description_used: judged.description.clone(),
            legitimate: judged.legitimacy.as_ref().map(|l| l.legitimate),
            legitimacy_rationale: judged.legitimacy.as_ref().map(|l| l.rationale.clone()),
            completion_rationale: judged.completion.as_ref().map(|v| v.rationale.clone()),
            error: notes,
            ..self.blank()
        };
        let Some(combined) = self.opts.formula.combine(&components, job.boost) else {
            // No failure behind the null: the input lacks what the formula needs.
            let class = judged
                .errors
                .first()
                .map_or(ErrorClass::InvalidInput, |(c, _)| *c);
            cols.status = Status::Failed;
            cols.error_class = Some(class);
            if cols.error.is_none() {
                cols.error = Some(format!(
                    "the {} formula needs components that are null",
                    self.opts.formula.name()
                ));
            }
            return Ok(cols);
        };
        let (score, reason) = match &judged.legitimacy {
            Some(l) if !l.legitimate => (0.0, Some(format!("not legitimate: {}", l.rationale))),
            _ => (
                combined,
                rejection(combined, cols.completion_rationale.as_deref()),
            ),
        };
        cols.focus_score = Some(score);
        cols.decision = Some(
            if reason.is_some() {
                "rejected"
            } else {
                "ready"
            }
            .into(),
        );
        cols.rejection_reason = reason;
        if cols.rejection_reason.is_none() {
            for (v, index) in vectors.iter().zip(indexes.iter_mut()) {
                if let Some(Ok(v)) = v {
                    index.accept(&job.id, v);
                }
            }
        }
        Ok(cols)
    }
}

/// The judges' answers for one video: the description first (from frames with `--llm-vision`
/// when the input has none), then the task, completion and legitimacy judges together.
async fn judge_video(judges: &Judges, job: &Job, opts: &FocusOptions) -> Judged {
    let mut judged = Judged::default();
    let uses = opts.formula.uses();
    let frames = if opts.vision {
        match &job.media {
            Some(media) => match sample_frames(media, job.duration, opts.frames).await {
                Ok(frames) => frames,
                Err(e) => {
                    judged
                        .errors
                        .push((ErrorClass::CorruptMedia, format!("frames: {e}")));
                    Vec::new()
                }
            },
            None => Vec::new(),
        }
    } else {
        Vec::new()
    };
    judged.description = job.description.clone();
    if judged.description.is_none() && !frames.is_empty() {
        let e = Evidence {
            overview: &job.overview,
            description: None,
            frames: &frames,
        };
        let answer = judges.description(&e).await;
        judged.description = judged.take("description", answer);
    }
    let e = Evidence {
        overview: &job.overview,
        description: judged.description.as_deref(),
        frames: &frames,
    };
    let seen = e.description.is_some() || !e.frames.is_empty();
    let (task, completion, legitimacy) = tokio::join!(
        async { uses[0].then_some(judges.task(&e).await) },
        async { seen.then_some(judges.completion(&e).await) },
        async {
            e.description
                .is_some()
                .then_some(judges.legitimacy(&e).await)
        },
    );
    if let Some(r) = task {
        judged.task = judged.take("task", r);
    }
    match completion {
        Some(r) => judged.completion = judged.take("completion", r),
        None => judged.errors.push((
            ErrorClass::InvalidInput,
            "completion: nothing shows the recording (no detailed_description; --llm-vision sends frames)".into(),
        )),
    }
    if let Some(r) = legitimacy {
        // An LLM error lets the video pass, as the original's check does.
        judged.legitimacy = judged.take("legitimacy", r);
    }
    judged
}

/// Cuts the segment that stands for the video: `segment` seconds from a start drawn from the
/// id in `[0, duration − segment]` (the original draws it at random on every run).
fn cut_segment(
    media: &str,
    id: &str,
    duration: f64,
    segment: f64,
    scratch: &Path,
    n: usize,
) -> Result<PathBuf, Failure> {
    let media_path = Path::new(media);
    let info = crate::media::probe(media_path).map_err(|e| (e.class(), format!("video: {e}")))?;
    let (container, ext) = crate::media::output_container(&info.container);
    std::fs::create_dir_all(scratch)
        .map_err(|e| (ErrorClass::Other, format!("{}: {e}", scratch.display())))?;
    let out = scratch.join(format!("{n}.{ext}"));
    let draw = crate::media::sha256_hex(id.as_bytes());
    let fraction = u64::from_str_radix(&draw[..8], 16).unwrap_or(0) as f64 / f64::from(u32::MAX);
    let start = fraction * (duration - segment).max(0.0);
    crate::media::cut(media_path, &out, container, start, segment)
        .map_err(|e| (e.class(), format!("video: {e}")))?;
    Ok(out)
}
