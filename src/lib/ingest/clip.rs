//! `omega clip`: for every `ok` candidate, get the needed section (yt-dlp for URLs, the file
//! itself for local media), cut it to at most `max_s` seconds with stream copy, and record
//! where the clip really lies. Clips are stored under deterministic names with a sidecar
//! record, both written atomically, so a rerun reuses every finished clip.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::ids::{check_url, youtube_url};
use super::ytdlp::{YtDlp, YtDlpError};
use crate::fsutil::{temp_path, write_atomic};
use crate::media::{self, sha256_hex, CutReport, MediaError, MediaInfo};
use crate::outcome::{ErrorClass, Outcome, Status};
use crate::table::candidates::CandidateRow;
use crate::table::clips::ClipRow;

/// The original's bounds on a submitted clip: 5 s ≤ end − start ≤ 120 s.
pub const MIN_CLIP_S: f64 = 5.0;
pub const MAX_CLIP_S: f64 = 120.0;
/// yt-dlp format the original downloads.
pub const DEFAULT_FORMAT: &str = "worst";

/// How to clip.
#[derive(Debug, Clone)]
pub struct ClipOptions {
    /// Where clips (and their `.json` records) are stored.
    pub media_dir: PathBuf,
    /// Requested start in the source (the original always uses 0).
    pub start_s: f64,
    /// Longest clip to write.
    pub max_s: f64,
    /// Shorter clips (or sources) are `skipped` with `too_short`.
    pub min_s: f64,
    /// yt-dlp format selector.
    pub format: String,
    pub ytdlp: YtDlp,
    /// Time limit of one download attempt.
    pub timeout: Duration,
    /// Extra attempts after an HTTP 429.
    pub retries: u32,
    /// First back-off after a 429; doubled each time.
    pub backoff: Duration,
    /// One lock per clip name: rows with the same id (duplicate files, repeated results) are
    /// made once; the others wait and reuse the clip.
    pub locks: ClipLocks,
}

/// Locks keyed by clip stem, shared by every task of a run.
#[derive(Debug, Clone, Default)]
pub struct ClipLocks(
    Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
);

impl ClipLocks {
    async fn lock(&self, stem: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self
            .0
            .lock()
            .expect("lock map not poisoned")
            .entry(stem.to_string())
            .or_default()
            .clone();
        lock.lock_owned().await
    }
}

impl ClipOptions {
    pub fn new(media_dir: PathBuf, ytdlp: YtDlp) -> Self {
        ClipOptions {
            media_dir,
            start_s: 0.0,
            max_s: MAX_CLIP_S,
            min_s: MIN_CLIP_S,
            format: DEFAULT_FORMAT.into(),
            ytdlp,
            timeout: Duration::from_secs(120),
            retries: 3,
            backoff: Duration::from_secs(2),
            locks: ClipLocks::default(),
        }
    }
}

/// What is stored next to a finished clip, so a rerun can reuse it without recomputing.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct ClipRecord {
    file: String,
    /// Where the clip lies in the source's timeline.
    cut: CutReport,
    media: MediaInfo,
    content_hash: String,
    attempts: u32,
}

/// Clips every row, `jobs` at a time; the result is in input order. `on_done` is called as
/// each row finishes (for progress). A row whose clipping panicked is `failed` / `internal`.
pub async fn clip_rows(
    rows: Vec<CandidateRow>,
    opts: Arc<ClipOptions>,
    jobs: usize,
    on_done: impl Fn(&ClipRow),
) -> Vec<ClipRow> {
    let work = |row: CandidateRow| {
        let opts = opts.clone();
        async move { clip_one(&row, &opts).await }
    };
    let recover = |row: &CandidateRow, message: String| {
        let mut clip = ClipRow::from_candidate(row);
        clip.set_outcome(Outcome::failed(ErrorClass::Internal, message));
        clip
    };
    crate::isolate::map_isolated(rows, jobs, work, recover, on_done).await
}

/// Clips one candidate. Never fails: problems become the row's status and error class.
pub async fn clip_one(candidate: &CandidateRow, opts: &ClipOptions) -> ClipRow {
    let mut row = ClipRow::from_candidate(candidate);
    if candidate.status != Status::Ok {
        return row; // passed through with the candidate's own outcome
    }
    if let Some(outcome) = too_short_source(candidate, opts) {
        row.set_outcome(outcome);
        return row;
    }
    match make_clip(candidate, opts).await {
        Ok((record, reused)) => fill_clip(&mut row, &record, reused, opts),
        Err((class, message, attempts)) => {
            row.attempts = attempts as i64;
            row.set_outcome(Outcome::failed(class, message));
        }
    }
    row
}

/// A source known to be too short for a clip of `min_s` from `start_s` is skipped unfetched.
fn too_short_source(c: &CandidateRow, opts: &ClipOptions) -> Option<Outcome> {
    let duration = c.duration_s.filter(|_| c.duration_known)?;
    let available = duration - opts.start_s;
    (available < opts.min_s).then(|| {
        Outcome::skipped(
            ErrorClass::TooShort,
            format!(
                "source is {duration:.2} s; a clip from {} s needs at least {} s",
                opts.start_s, opts.min_s
            ),
        )
    })
}

fn fill_clip(row: &mut ClipRow, rec: &ClipRecord, reused: bool, opts: &ClipOptions) {
    row.path = Some(rec.file.clone());
    row.content_hash = Some(rec.content_hash.clone());
    row.set_media(&rec.media);
    row.clip_start_s = Some(rec.cut.start_s);
    row.clip_end_s = Some(rec.cut.end_s);
    row.clip_duration_s = Some(rec.cut.duration_s());
    row.start_time = Some(rec.cut.start_s.floor() as i64);
    row.end_time = Some(rec.cut.end_s.round() as i64);
    row.attempts = if reused { 0 } else { rec.attempts as i64 };
    row.reused = reused;
    let duration = rec.cut.duration_s();
    let outcome = if duration + 1e-6 < opts.min_s {
        Outcome::skipped(
            ErrorClass::TooShort,
            format!("clip is {duration:.2} s, shorter than {} s", opts.min_s),
        )
    } else {
        Outcome::ok()
    };
    row.set_outcome(outcome);
}

type Failure = (ErrorClass, String, u32);

/// The deterministic file stem of a clip: everything that changes its bytes is in the name.
pub fn clip_stem(video_id: &str, opts: &ClipOptions, downloaded: bool) -> String {
    let ms = |s: f64| (s * 1000.0).round() as i64;
    let mut stem = format!("{video_id}_{}_{}", ms(opts.start_s), ms(opts.max_s));
    if downloaded && opts.format != DEFAULT_FORMAT {
        stem.push_str(&format!("_f{}", &sha256_hex(opts.format.as_bytes())[..8]));
    }
    stem
}

fn safe_file_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Where the media comes from: a local file, or a URL to download the section from.
enum Origin {
    Local(PathBuf),
    Remote(String),
}

fn origin(c: &CandidateRow) -> Result<Origin, String> {
    match c.source.as_str() {
        "dir" => c
            .path
            .clone()
            .map(|p| Origin::Local(PathBuf::from(p)))
            .ok_or_else(|| "no `path` for a dir row".into()),
        "youtube" => youtube_url(&c.video_id).map(Origin::Remote),
        "url" => {
            let url = c.url.clone().ok_or("no `url` for a url row")?;
            check_url(&url).map(|_| Origin::Remote(url))
        }
        other => Err(format!("unknown source `{other}`")),
    }
}

async fn make_clip(c: &CandidateRow, opts: &ClipOptions) -> Result<(ClipRecord, bool), Failure> {
    let invalid = |m: String| (ErrorClass::InvalidInput, m, 0);
    if !safe_file_id(&c.video_id) {
        return Err(invalid(format!(
            "video id `{}` cannot name a file",
            c.video_id.escape_debug()
        )));
    }
    let origin = origin(c).map_err(invalid)?;
    let stem = clip_stem(&c.video_id, opts, matches!(origin, Origin::Remote(_)));
    let record_path = opts.media_dir.join(format!("{stem}.json"));
    let _guard = opts.locks.lock(&stem).await;
    if let Some(record) = reusable(&record_path) {
        return Ok((record, true));
    }
    std::fs::create_dir_all(&opts.media_dir).map_err(|e| {
        (
            ErrorClass::Other,
            format!("{}: {e}", opts.media_dir.display()),
            0,
        )
    })?;
    let record = match origin {
        Origin::Local(path) => {
            let (opts, stem) = (opts.clone(), stem.clone());
            let (start, max) = (opts.start_s, opts.max_s);
            blocking(move || cut_to_clip(&path, &opts.media_dir, &stem, start, max, 0.0, 0)).await?
        }
        Origin::Remote(url) => download_and_cut(&url, c, opts, &stem).await?,
    };
    let json = serde_json::to_vec_pretty(&record).expect("record serialises");
    write_atomic(&record_path, &json).map_err(|e| {
        (
            ErrorClass::Other,
            format!("{}: {e}", record_path.display()),
            0,
        )
    })?;
    let tmp = temp_path(Path::new(&record.file));
    std::fs::rename(&tmp, &record.file)
        .map_err(|e| (ErrorClass::Other, format!("{}: {e}", record.file), 0))?;
    Ok((record, false))
}

/// A finished clip from an earlier run: its record parses and the file has the recorded size.
fn reusable(record_path: &Path) -> Option<ClipRecord> {
    let record: ClipRecord = serde_json::from_slice(&std::fs::read(record_path).ok()?).ok()?;
    let size = std::fs::metadata(&record.file).ok()?.len();
    (size == record.media.bytes).then_some(record)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| (ErrorClass::Other, format!("clip worker: {e}"), 0))?
}

/// Cuts `source` into `<media_dir>/<stem>.<ext>`, left under its temporary name until the
/// caller has written the record. `offset_s` is where `source` starts in the original video:
/// for a yt-dlp section, `--start`, where its edit list starts (hidden preroll before that is
/// never counted, see `media::cut`), so the recorded start is `--start` + a keyframe offset ≥ 0.
fn cut_to_clip(
    source: &Path,
    media_dir: &Path,
    stem: &str,
    start_s: f64,
    max_s: f64,
    offset_s: f64,
    attempts: u32,
) -> Result<ClipRecord, Failure> {
    let fail = |e: MediaError| (e.class(), e.to_string(), attempts);
    let info = media::probe(source).map_err(fail)?;
    if info.video.is_none() {
        return Err(fail(MediaError::NoVideoStream {
            path: source.into(),
        }));
    }
    // Whole seconds, as the original miner cuts (`int(duration)`): the clip then ends where
    // the `end_time` it reports says, and a validator that fetches [start_time, end_time]
    // again gets the same clip (a fractional tail would make honest answers fail, cf. B8).
    let max_s = match info.duration_s {
        Some(d) if d - start_s >= 1.0 => max_s.min((d - start_s).floor()),
        _ => max_s,
    };
    let (container, ext) = media::output_container(&info.container);
    let file = media_dir.join(format!("{stem}.{ext}"));
    let tmp = temp_path(&file);
    let cut = media::cut(source, &tmp, container, start_s, max_s).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(e)
    })?;
    let media = media::probe(&tmp).map_err(fail)?;
    let content_hash =
        media::sha256_file(&tmp).map_err(|e| (ErrorClass::Other, e.to_string(), attempts))?;
    let cut = CutReport {
        start_s: cut.start_s + offset_s,
        end_s: cut.end_s + offset_s,
        ..cut
    };
    Ok(ClipRecord {
        file: file.to_string_lossy().into_owned(),
        cut,
        media,
        content_hash,
        attempts,
    })
}

async fn download_and_cut(
    url: &str,
    c: &CandidateRow,
    opts: &ClipOptions,
    stem: &str,
) -> Result<ClipRecord, Failure> {
    let partial = opts.media_dir.join(".partial").join(stem);
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial)
        .map_err(|e| (ErrorClass::Other, format!("{}: {e}", partial.display()), 0))?;
    let mut end = opts.start_s + opts.max_s;
    if let Some(d) = c.duration_s.filter(|_| c.duration_known) {
        end = end.min(d);
    }
    let record = match download_with_retries(&opts.ytdlp, url, opts, end, &partial).await {
        Ok((file, attempts)) => {
            let (media_dir, stem) = (opts.media_dir.clone(), stem.to_string());
            let (max, offset) = (opts.max_s, opts.start_s);
            blocking(move || cut_to_clip(&file, &media_dir, &stem, 0.0, max, offset, attempts))
                .await
        }
        Err(failure) => Err(failure),
    };
    // The section download is only an intermediate: whatever happened, it goes.
    let _ = std::fs::remove_dir_all(&partial);
    record
}

/// Runs the section download, backing off exponentially after HTTP 429.
async fn download_with_retries(
    ytdlp: &YtDlp,
    url: &str,
    opts: &ClipOptions,
    end: f64,
    dir: &Path,
) -> Result<(PathBuf, u32), Failure> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match ytdlp
            .download_section(url, &opts.format, opts.start_s, end, dir, opts.timeout)
            .await
        {
            Ok(file) => return Ok((file, attempt)),
            Err(YtDlpError {
                class: ErrorClass::RateLimited,
                message,
            }) if attempt <= opts.retries => {
                let wait = opts.backoff * 2u32.pow(attempt - 1);
                tracing::info!(url, attempt, ?wait, "rate limited ({message}); backing off");
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err((e.class, e.message, attempt)),
        }
    }
}

/// Clips every row of the `candidates` table `input` into the `clips` table `output`, `jobs`
/// clips at a time, batch by batch (memory stays bounded by the batch size). `on_done` is
/// called as each row finishes (for progress).
pub async fn clip_table(
    input: &str,
    shard: Option<crate::shard::Shard>,
    output: &str,
    opts: Arc<ClipOptions>,
    jobs: usize,
    on_done: impl Fn(&ClipRow),
) -> Result<crate::report::Summary, crate::table::TableError> {
    use crate::table::{TableReader, TableWriter};
    let reader = TableReader::<CandidateRow>::open_shard(input, shard, crate::shard::BY_VIDEO)?;
    let mut writer = TableWriter::<ClipRow>::create(output)?;
    let mut summary = crate::report::Summary::new("clip");
    let mut reused = 0usize;
    for batch in reader {
        for row in clip_rows(batch?, opts.clone(), jobs, &on_done).await {
            let clip_bytes = row.bytes.filter(|_| row.path.is_some());
            summary.add(row.status, row.error_class, clip_bytes);
            reused += usize::from(row.reused);
            writer.push(row)?;
        }
    }
    writer.finish()?;
    summary.set("reused", reused);
    summary.set("jobs", jobs);
    Ok(summary)
}
