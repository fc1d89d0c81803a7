//! `omega serve-miner`: answers `Videos` requests with clipped, embedded videos, through the
//! library's stages in process (search → clip → embed, the model loaded once).
//!
//! Topics are public and repeat, so answers are prepared ahead: every query asked (and every
//! topic of `--topics`) is searched, clipped and embedded in the background into a cache of
//! ready videos per query ([`cache`]). A request takes ready videos this validator has not been
//! sent before; if too few are ready, the rest are prepared while it waits, but never past its
//! budget: when the budget runs out the answer goes with what is ready.

pub mod cache;
pub mod describe;
pub mod gate;
pub mod segment;
pub mod serve;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::embed::{embed_items, EmbedOptions, MediaItem};
use crate::ingest::clip::{clip_one, ClipOptions};
use crate::ingest::search::{search_dir, search_urls, search_youtube, SearchOptions};
use crate::model::ImageBind;
use crate::net::metrics::Metrics;
use crate::net::synapse::{VideoMetadata, Videos, EMBEDDING_DIM};
use crate::outcome::Status;
use crate::table::candidates::CandidateRow;
use crate::table::clips::ClipRow;

use cache::Cache;

/// Where videos come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// YouTube search (yt-dlp), as the original miner.
    Youtube,
    /// A file of URLs (any site yt-dlp reads, or direct media URLs).
    Urls(PathBuf),
    /// A local folder of media files.
    Dir(PathBuf),
}

/// How the miner works.
#[derive(Debug, Clone)]
pub struct MinerConfig {
    pub source: Source,
    pub search: SearchOptions,
    pub clip: ClipOptions,
    /// Where the cache and the record of sent videos live.
    pub state_dir: PathBuf,
    /// The disk budget of the cache, bytes.
    pub cache_bytes: u64,
    /// The most an answer may take (None: the request's timeout less [`SAFETY_MARGIN`]).
    pub budget: Option<Duration>,
    /// Ready videos to keep per query.
    pub per_query: usize,
}

/// Time kept back from a request's timeout for sending the answer.
pub const SAFETY_MARGIN: Duration = Duration::from_secs(2);

pub struct Miner {
    cfg: MinerConfig,
    model: Arc<Mutex<ImageBind>>,
    cache: Mutex<Cache>,
    /// (validator hotkey, video id) pairs already sent.
    sent: Mutex<HashSet<(String, String)>>,
    /// One preparation per query at a time: concurrent requests for a query wait for the one
    /// under way instead of repeating it.
    preparing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Videos that could not be clipped or embedded: not tried again in this run.
    failed: Mutex<HashSet<String>>,
    pub metrics: Arc<Metrics>,
}

impl Miner {
    pub fn open(
        cfg: MinerConfig,
        model: ImageBind,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Arc<Self>> {
        std::fs::create_dir_all(&cfg.state_dir)?;
        let cache = Cache::open(&cfg.state_dir.join("cache.jsonl"), cfg.cache_bytes)?;
        let sent = cache::read_sent(&cfg.state_dir.join("sent.jsonl"))?;
        Ok(Arc::new(Miner {
            cfg,
            model: Arc::new(Mutex::new(model)),
            cache: Mutex::new(cache),
            sent: Mutex::new(sent),
            preparing: Mutex::new(HashMap::new()),
            failed: Mutex::new(HashSet::new()),
            metrics,
        }))
    }

    /// The answer to one request from `caller`, ready before `deadline`.
    pub async fn answer(
        self: Arc<Self>,
        request: Videos,
        caller: String,
        deadline: Instant,
    ) -> Vec<VideoMetadata> {
        let wanted = request.wanted();
        let budget = self.budget_until(deadline);
        let query = request.query.trim().to_string();
        let mut chosen = self.take_ready(&query, &caller, wanted);
        let from_cache = chosen.len();
        if chosen.len() < wanted {
            let limit = budget.saturating_duration_since(Instant::now());
            // The preparation runs as its own task: if the budget ends first, it still fills
            // the cache for the next request.
            let preparation = tokio::spawn(self.clone().prepare_once(query.clone(), wanted));
            let _ = tokio::time::timeout(limit, preparation).await;
            let more = self.take_ready(&query, &caller, wanted - chosen.len());
            chosen.extend(more);
        } else {
            self.clone().refill_in_background(query.clone());
        }
        for _ in 0..from_cache {
            self.metrics.cache(true);
        }
        for _ in from_cache..chosen.len() {
            self.metrics.cache(false);
        }
        misbehave(chosen)
    }

    fn budget_until(&self, deadline: Instant) -> Instant {
        let latest = deadline.checked_sub(SAFETY_MARGIN).unwrap_or(deadline);
        match self.cfg.budget {
            Some(b) => latest.min(Instant::now() + b),
            None => latest,
        }
    }

    /// Takes up to `wanted` ready videos for `query` that `caller` has not been sent (no two
    /// with one id or near-duplicate content) and records them as sent, in one step: two concurrent requests from one
    /// validator never get the same video.
    fn take_ready(&self, query: &str, caller: &str, wanted: usize) -> Vec<VideoMetadata> {
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        let chosen: Vec<VideoMetadata> = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            let mut picked: Vec<VideoMetadata> = Vec::new();
            for v in cache.ready(query) {
                if picked.len() == wanted {
                    break;
                }
                let unsent = !sent.contains(&(caller.to_string(), v.video_id.clone()));
                if unsent && !near_duplicate(v, &picked) {
                    picked.push(v.clone());
                }
            }
            picked
        };
        let fresh: Vec<(String, String)> = chosen
            .iter()
            .map(|v| (caller.to_string(), v.video_id.clone()))
            .collect();
        if let Err(e) = cache::append_sent(&self.cfg.state_dir.join("sent.jsonl"), &fresh) {
            tracing::warn!("cannot record sent videos: {e}");
        }
        sent.extend(fresh);
        chosen
    }

    fn cache_put(&self, query: &str, videos: Vec<VideoMetadata>) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = cache.add(query, videos) {
            tracing::warn!("cannot grow the answer cache: {e}");
        }
    }

    /// Prepares `query` in the background unless enough is ready.
    pub fn refill_in_background(self: Arc<Self>, query: String) {
        let ready = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .ready(&query)
            .count();
        if ready >= self.cfg.per_query {
            return;
        }
        let wanted = self.cfg.per_query;
        tokio::spawn(self.prepare_once(query, wanted));
    }

    /// Prepares `query` into the cache, unless a preparation of it is under way: then waits for
    /// that one instead (a burst of requests for one query costs one preparation).
    async fn prepare_once(self: Arc<Self>, query: String, wanted: usize) {
        let lock = self
            .preparing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(query.trim().to_lowercase())
            .or_default()
            .clone();
        let Ok(_turn) = lock.try_lock() else {
            let _ = lock.lock().await;
            return;
        };
        let fresh = self.clone().prepare(query.clone(), wanted).await;
        self.cache_put(&query, fresh);
    }

    /// Search → clip → embed for `query`; the videos that came through. A long video is clipped
    /// at several windows and the one nearest the query is kept ([`segment`]).
    pub async fn prepare(self: Arc<Self>, query: String, wanted: usize) -> Vec<VideoMetadata> {
        let candidates = self.search(&query, wanted).await;
        let fresh: Vec<CandidateRow> = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            candidates
                .into_iter()
                .filter(|c| {
                    c.status == Status::Ok
                        && !cache.has(&query, &c.video_id)
                        && !self.has_failed(&c.video_id)
                })
                .take(crate::ingest::search::results_for(wanted))
                .collect()
        };
        let tried: Vec<String> = fresh.iter().map(|c| c.video_id.clone()).collect();
        let clips = self.clip_windows(fresh).await;
        let captions = self.captions(&clips).await;
        let model = self.model.clone();
        let videos =
            tokio::task::spawn_blocking(move || embed_windows(&model, &query, &clips, &captions))
                .await
                .unwrap_or_default();
        let made: HashSet<&str> = videos.iter().map(|v| v.video_id.as_str()).collect();
        let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        failed.extend(tried.into_iter().filter(|id| !made.contains(id.as_str())));
        drop(failed);
        videos.into_iter().take(wanted).collect()
    }

    /// The captions (a WebVTT file) of each downloaded video among `clips`, fetched once per
    /// video; local files carry their own subtitle tracks.
    async fn captions(&self, clips: &[ClipRow]) -> HashMap<String, PathBuf> {
        let mut out = HashMap::new();
        for clip in clips.iter().filter(|c| c.source_path.is_none()) {
            let Some(url) = &clip.url else { continue };
            if out.contains_key(&clip.video_id) {
                continue;
            }
            let dir = self.cfg.state_dir.join("captions").join(&clip.video_id);
            if std::fs::create_dir_all(&dir).is_err() {
                continue;
            }
            match self
                .cfg
                .search
                .ytdlp
                .captions(url, &dir, self.cfg.search.timeout)
                .await
            {
                Ok(Some(file)) => {
                    out.insert(clip.video_id.clone(), file);
                }
                Ok(None) => {}
                Err(e) => tracing::debug!(video = %clip.video_id, "no captions: {e}"),
            }
        }
        out
    }

    /// Every candidate window of every candidate, clipped (two at a time); the clips that worked.
    async fn clip_windows(&self, candidates: Vec<CandidateRow>) -> Vec<ClipRow> {
        let jobs: Vec<(CandidateRow, f64)> = candidates
            .into_iter()
            .flat_map(|c| {
                let duration = c.duration_s.filter(|_| c.duration_known);
                segment::window_starts(duration)
                    .into_iter()
                    .map(move |start| (c.clone(), start))
            })
            .collect();
        let base = Arc::new(self.cfg.clip.clone());
        let work = move |(candidate, start): (CandidateRow, f64)| {
            let mut opts = (*base).clone();
            opts.start_s = start;
            async move { clip_one(&candidate, &opts).await }
        };
        let recover = |(candidate, _): &(CandidateRow, f64), message: String| {
            let mut row = ClipRow::from_candidate(candidate);
            row.set_outcome(crate::outcome::Outcome::failed(
                crate::outcome::ErrorClass::Internal,
                message,
            ));
            row
        };
        let clips = crate::isolate::map_isolated(jobs, 2, work, recover, |_| {}).await;
        clips
            .into_iter()
            .filter(|c| c.status == Status::Ok && c.path.is_some())
            .collect()
    }

    fn has_failed(&self, video_id: &str) -> bool {
        self.failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(video_id)
    }

    async fn search(&self, query: &str, wanted: usize) -> Vec<CandidateRow> {
        match &self.cfg.source {
            Source::Youtube => search_youtube(&self.cfg.search, query, wanted).await,
            Source::Urls(path) => match crate::ingest::search::read_url_list(path) {
                Ok(urls) => search_urls(&self.cfg.search, urls, Some(query.to_string())).await,
                Err(e) => {
                    tracing::warn!("{}: {e}", path.display());
                    Vec::new()
                }
            },
            Source::Dir(root) => {
                let (root, query) = (root.clone(), query.to_string());
                tokio::task::spawn_blocking(move || {
                    search_dir(&root, Some(&query)).map(|(rows, _)| rows)
                })
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default()
            }
        }
    }

    /// Writes what must survive a restart (the cache is appended as it grows; this compacts it).
    pub fn persist(&self) -> std::io::Result<()> {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .compact()
    }

    pub fn state_dir(&self) -> &Path {
        &self.cfg.state_dir
    }
}

/// Embeds every window clip (one model call for all), keeps per video the window nearest the
/// query, and removes the clip files (validators fetch the video themselves). Descriptions get
/// the subtitles shown during their window ([`describe::enrich`]).
/// Test-only misbehaviour for the validator's network tests, in debug builds only (a release
/// build has no way to be told to cheat): `OMEGA_TEST_MINER=tamper` negates every video
/// embedding (a spot check must catch it); `OMEGA_TEST_MINER=lag` sends each answer one request
/// late (the first answer is empty), so a validator sees videos it was already sent by others.
#[cfg(debug_assertions)]
fn misbehave(mut chosen: Vec<VideoMetadata>) -> Vec<VideoMetadata> {
    static PREVIOUS: Mutex<Vec<VideoMetadata>> = Mutex::new(Vec::new());
    match std::env::var("OMEGA_TEST_MINER").as_deref() {
        Ok("tamper") => {
            for v in &mut chosen {
                v.video_emb.iter_mut().for_each(|x| *x = -*x);
            }
            chosen
        }
        Ok("lag") => std::mem::replace(
            &mut *PREVIOUS.lock().unwrap_or_else(|e| e.into_inner()),
            chosen,
        ),
        _ => chosen,
    }
}

#[cfg(not(debug_assertions))]
fn misbehave(chosen: Vec<VideoMetadata>) -> Vec<VideoMetadata> {
    chosen
}

fn embed_windows(
    model: &Mutex<ImageBind>,
    query: &str,
    clips: &[ClipRow],
    captions: &HashMap<String, PathBuf>,
) -> Vec<VideoMetadata> {
    let mut model = model.lock().unwrap_or_else(|e| e.into_inner());
    let items: Vec<MediaItem> = clips
        .iter()
        .filter_map(|c| {
            let description =
                describe::enrich(&model.bpe, &c.description, &window_cues(c, captions));
            Some(MediaItem {
                id: c.video_id.clone(),
                path: c.path.as_ref()?.into(),
                description,
            })
        })
        .collect();
    let embedded = embed_items(&mut model, &items, &EmbedOptions::default());
    let query_emb = crate::embed::embed_texts(
        &mut model,
        &[query.to_string()],
        crate::imagebind::bpe::Truncation::Fork,
    )
    .ok()
    .and_then(|mut v| v.pop().flatten());
    drop(model);
    for clip in clips {
        if let Some(path) = &clip.path {
            let _ = std::fs::remove_file(path);
        }
    }
    let windows: Vec<VideoMetadata> = clips
        .iter()
        .zip(items)
        .zip(embedded)
        .filter_map(|((clip, item), e)| answer_entry(clip, item.description, e))
        .collect();
    nearest_per_video(windows, query_emb.as_deref())
}

/// Whether `v` repeats a picked video: the same id, or video embeddings above the validator's
/// in-answer duplicate threshold (the original's 0.95, `dedup`'s `duplicate_threshold`).
fn near_duplicate(v: &VideoMetadata, picked: &[VideoMetadata]) -> bool {
    let threshold = crate::score::ScoreConfig::default().duplicate_threshold;
    picked.iter().any(|p| {
        p.video_id == v.video_id
            || f64::from(crate::vector::cosine(&p.video_emb, &v.video_emb)) > threshold
    })
}

/// The subtitle cues of a clip's window: from the local source file's subtitle track, or
/// from the captions fetched for a downloaded video (the section starts at the window's start).
fn window_cues(clip: &ClipRow, captions: &HashMap<String, PathBuf>) -> Vec<String> {
    let (Some(start), Some(end)) = (clip.clip_start_s, clip.clip_end_s) else {
        return Vec::new();
    };
    let file = match (&clip.source_path, captions.get(&clip.video_id)) {
        (Some(source), _) => PathBuf::from(source),
        (None, Some(vtt)) => vtt.clone(),
        (None, None) => return Vec::new(),
    };
    crate::media::subtitles::cues(&file, start, end).unwrap_or_default()
}

fn answer_entry(
    clip: &ClipRow,
    description: String,
    e: crate::embed::Embedded,
) -> Option<VideoMetadata> {
    let full = |v: Option<Vec<f32>>| v.filter(|v| v.len() == EMBEDDING_DIM);
    Some(VideoMetadata {
        video_id: clip.video_id.clone(),
        description,
        views: clip.views,
        start_time: clip
            .start_time
            .unwrap_or_else(|| clip.clip_start_s.unwrap_or(0.0).floor() as i64),
        end_time: clip
            .end_time
            .unwrap_or_else(|| clip.clip_end_s.unwrap_or(0.0).ceil() as i64),
        video_emb: full(e.video)?,
        audio_emb: full(e.audio)?,
        description_emb: full(e.description)?,
    })
}

/// One entry per video, in first-seen order: the window whose video embedding is nearest the
/// query (the first window when the query could not be embedded).
fn nearest_per_video(windows: Vec<VideoMetadata>, query: Option<&[f32]>) -> Vec<VideoMetadata> {
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, Vec<VideoMetadata>> = HashMap::new();
    for w in windows {
        if !groups.contains_key(&w.video_id) {
            order.push(w.video_id.clone());
        }
        groups.entry(w.video_id.clone()).or_default().push(w);
    }
    order
        .into_iter()
        .filter_map(|id| {
            let mut group = groups.remove(&id)?;
            let pick = match query {
                Some(q) => {
                    let embs: Vec<&[f32]> = group.iter().map(|w| w.video_emb.as_slice()).collect();
                    segment::nearest(q, &embs).unwrap_or(0)
                }
                None => 0,
            };
            Some(group.swap_remove(pick))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(id: &str, emb: [f32; 2]) -> VideoMetadata {
        VideoMetadata {
            video_id: id.into(),
            description: String::new(),
            views: 0,
            start_time: 0,
            end_time: 1,
            video_emb: emb.to_vec(),
            audio_emb: vec![],
            description_emb: vec![],
        }
    }

    #[test]
    fn near_duplicates_are_not_sent_together() {
        let picked = [video("a", [1.0, 0.0])];
        assert!(near_duplicate(&video("a", [0.0, 1.0]), &picked), "same id");
        assert!(
            near_duplicate(&video("b", [1.0, 0.01]), &picked),
            "cosine above 0.95"
        );
        assert!(!near_duplicate(&video("c", [0.6, 0.8]), &picked));
    }

    #[test]
    fn each_video_keeps_its_window_nearest_the_query() {
        let mut w = vec![
            video("a", [0.0, 1.0]),
            video("b", [1.0, 0.0]),
            video("a", [0.9, 0.1]),
        ];
        w[2].start_time = 60;
        let kept = nearest_per_video(w.clone(), Some(&[1.0, 0.0]));
        assert_eq!(
            kept.iter()
                .map(|v| (v.video_id.as_str(), v.start_time))
                .collect::<Vec<_>>(),
            [("a", 60), ("b", 0)]
        );
        let first = nearest_per_video(w, None);
        assert_eq!(
            first[0].start_time, 0,
            "without a query embedding the first window"
        );
    }
}
