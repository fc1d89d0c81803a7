//! `omega serve-miner`: answers `Videos` requests with clipped, embedded videos, through the
//! library's stages in process (search → clip → embed, the model loaded once).
//!
//! Topics are public and repeat, so answers are prepared ahead: every query asked (and every
//! topic of `--topics`) is searched, clipped and embedded in the background into a cache of
//! ready videos per query ([`cache`]). A request takes ready videos this validator has not been
//! sent before; if too few are ready, the rest are prepared while it waits, but never past its
//! budget: when the budget runs out the answer goes with what is ready.

pub mod cache;
pub mod gate;
pub mod serve;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::embed::{embed_items, EmbedOptions, MediaItem};
use crate::ingest::clip::{clip_rows, ClipOptions};
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
    preparing: Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
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
            preparing: Mutex::new(std::collections::HashMap::new()),
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
        chosen
    }

    fn budget_until(&self, deadline: Instant) -> Instant {
        let latest = deadline.checked_sub(SAFETY_MARGIN).unwrap_or(deadline);
        match self.cfg.budget {
            Some(b) => latest.min(Instant::now() + b),
            None => latest,
        }
    }

    /// Takes up to `wanted` ready videos for `query` that `caller` has not been sent (distinct
    /// by video id) and records them as sent, in one step: two concurrent requests from one
    /// validator never get the same video.
    fn take_ready(&self, query: &str, caller: &str, wanted: usize) -> Vec<VideoMetadata> {
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        let chosen: Vec<VideoMetadata> = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            let mut ids = HashSet::new();
            cache
                .ready(query)
                .filter(|v| !sent.contains(&(caller.to_string(), v.video_id.clone())))
                .filter(|v| ids.insert(v.video_id.clone()))
                .take(wanted)
                .cloned()
                .collect()
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

    /// Search → clip → embed for `query`; the videos that came through.
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
        let clips = clip_rows(fresh, Arc::new(self.cfg.clip.clone()), 2, |_| {}).await;
        let clips: Vec<ClipRow> = clips
            .into_iter()
            .filter(|c| c.status == Status::Ok && c.path.is_some())
            .collect();
        let model = self.model.clone();
        let tried: Vec<String> = clips.iter().map(|c| c.video_id.clone()).collect();
        let videos = tokio::task::spawn_blocking(move || embed_clips(&model, &clips))
            .await
            .unwrap_or_default();
        let made: HashSet<&str> = videos.iter().map(|v| v.video_id.as_str()).collect();
        let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        failed.extend(tried.into_iter().filter(|id| !made.contains(id.as_str())));
        drop(failed);
        videos.into_iter().take(wanted).collect()
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

/// Embeds clips (one model call for all) into answer entries; rows that failed are left out,
/// and each clip file is removed once embedded (validators fetch the video themselves).
fn embed_clips(model: &Mutex<ImageBind>, clips: &[ClipRow]) -> Vec<VideoMetadata> {
    let items: Vec<MediaItem> = clips
        .iter()
        .filter_map(|c| {
            Some(MediaItem {
                id: c.video_id.clone(),
                path: c.path.as_ref()?.into(),
                description: c.description.clone(),
            })
        })
        .collect();
    let embedded = {
        let mut model = model.lock().unwrap_or_else(|e| e.into_inner());
        embed_items(&mut model, &items, &EmbedOptions::default())
    };
    clips
        .iter()
        .zip(embedded)
        .filter_map(|(clip, e)| {
            let video = e.video.filter(|v| v.len() == EMBEDDING_DIM)?;
            let audio = e.audio.filter(|v| v.len() == EMBEDDING_DIM)?;
            let description = e.description.filter(|v| v.len() == EMBEDDING_DIM)?;
            if let Some(path) = &clip.path {
                let _ = std::fs::remove_file(path);
            }
            Some(VideoMetadata {
                video_id: clip.video_id.clone(),
                description: clip.description.clone(),
                views: clip.views,
                start_time: clip
                    .start_time
                    .unwrap_or_else(|| clip.clip_start_s.unwrap_or(0.0).floor() as i64),
                end_time: clip
                    .end_time
                    .unwrap_or_else(|| clip.clip_end_s.unwrap_or(0.0).ceil() as i64),
                video_emb: video,
                audio_emb: audio,
                description_emb: description,
            })
        })
        .collect()
}
