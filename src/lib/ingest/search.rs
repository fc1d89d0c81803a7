//! `omega search`: candidate videos from YouTube search, a list of URLs, or a local folder.
//! Every source yields `candidates` rows; whatever could not be used is kept as a row with a
//! status and an error class, never dropped.

use crate::shard::Shard;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rayon::prelude::*;
use serde_json::Value;

use super::ids::{check_url, is_youtube_id, url_id, youtube_url};
use super::ytdlp::{YtDlp, YtDlpError};
use crate::media::{probe, sha256_file};
use crate::outcome::{ErrorClass, Outcome};
use crate::table::candidates::{combined_description, CandidateRow};

/// Duration the original assumes for a search result without one.
pub const MISSING_DURATION_S: f64 = 300.0;

/// File extensions `--source dir` treats as media.
pub const MEDIA_EXTENSIONS: &[&str] = &[
    "mp4", "m4v", "mov", "mkv", "webm", "avi", "mpg", "mpeg", "ts", "m2ts", "mts", "flv", "wmv",
    "3gp", "ogv",
];

/// Options shared by the network sources.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    pub ytdlp: YtDlp,
    /// Time limit of one yt-dlp run.
    pub timeout: Duration,
    /// yt-dlp runs at a time (`urls`).
    pub concurrency: usize,
}

/// Results to ask YouTube for when `wanted` videos are needed: ceil(1.5 × wanted), as the
/// original asks for 12 to keep 8.
pub fn results_for(wanted: usize) -> usize {
    (wanted * 3).div_ceil(2)
}

/// Searches YouTube for `query`; one row per result, or one failed row when the search fails.
pub async fn search_youtube(opts: &SearchOptions, query: &str, wanted: usize) -> Vec<CandidateRow> {
    match opts
        .ytdlp
        .search(query, results_for(wanted), opts.timeout)
        .await
    {
        Ok(json) => youtube_rows(&json, query),
        Err(e) => vec![failed_search_row("youtube", Some(query), 0, e)],
    }
}

/// Rows from `yt-dlp --flat-playlist --dump-single-json ytsearchN:...` output.
pub fn youtube_rows(json: &Value, query: &str) -> Vec<CandidateRow> {
    let entries = json
        .get("entries")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    // yt-dlp puts `null` where an entry failed to extract; there is nothing to keep of those.
    entries
        .iter()
        .filter(|e| e.is_object())
        .enumerate()
        .map(|(rank, entry)| {
            let id = entry.get("id").and_then(Value::as_str).unwrap_or_default();
            let mut row = CandidateRow::new("youtube", id, rank);
            row.query = Some(query.to_string());
            apply_info(&mut row, entry, Some(MISSING_DURATION_S));
            match youtube_url(id) {
                Ok(url) => row.url = Some(url),
                Err(msg) => row.set_outcome(Outcome::failed(ErrorClass::InvalidInput, msg)),
            }
            row
        })
        .collect()
}

/// Title, description, views, duration and liveness from a yt-dlp info dict.
fn apply_info(row: &mut CandidateRow, info: &Value, missing_duration: Option<f64>) {
    let title = info
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or_default();
    row.title = title.to_string();
    row.description = combined_description(title, info.get("description").and_then(Value::as_str));
    row.views = info.get("view_count").and_then(Value::as_i64).unwrap_or(0);
    let duration = info
        .get("duration")
        .and_then(Value::as_f64)
        .filter(|d| *d > 0.0);
    row.duration_known = duration.is_some();
    row.duration_s = duration.or(missing_duration);
    let live_status = info
        .get("live_status")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let is_live = info
        .get("is_live")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if is_live || matches!(live_status, "is_live" | "is_upcoming") {
        let what = if live_status == "is_upcoming" {
            "an upcoming live stream"
        } else {
            "a live stream"
        };
        row.set_outcome(Outcome::skipped(
            ErrorClass::Live,
            format!("{what}: nothing to clip"),
        ));
    }
}

fn failed_search_row(
    source: &str,
    query: Option<&str>,
    rank: usize,
    e: YtDlpError,
) -> CandidateRow {
    let mut row = CandidateRow::new(source, "", rank);
    row.query = query.map(str::to_owned);
    let class = if e.class == ErrorClass::Other {
        ErrorClass::SearchFailed
    } else {
        e.class
    };
    row.set_outcome(Outcome::failed(class, e.message));
    row
}

/// Metadata for each URL (yt-dlp's extractors, or the generic one for direct media URLs),
/// `concurrency` at a time, in input order.
pub async fn search_urls(
    opts: &SearchOptions,
    urls: Vec<String>,
    query: Option<String>,
) -> Vec<CandidateRow> {
    search_ranked_urls(opts, urls.into_iter().enumerate().collect(), query).await
}

/// [`search_urls`] over URLs with their ranks (their lines in the whole list).
async fn search_ranked_urls(
    opts: &SearchOptions,
    ranked: Vec<(usize, String)>,
    query: Option<String>,
) -> Vec<CandidateRow> {
    let work = |(rank, url): (usize, String)| {
        let (opts, query) = (opts.clone(), query.clone());
        async move { url_row(&opts, url, query, rank).await }
    };
    let recover = |(rank, url): &(usize, String), message: String| {
        let mut row = CandidateRow::new("url", url_id(url), *rank);
        row.url = Some(url.clone());
        row.query = query.clone();
        row.set_outcome(Outcome::failed(ErrorClass::Internal, message));
        row
    };
    crate::isolate::map_isolated(ranked, opts.concurrency, work, recover, |_| {}).await
}

async fn url_row(
    opts: &SearchOptions,
    url: String,
    query: Option<String>,
    rank: usize,
) -> CandidateRow {
    let mut row = CandidateRow::new("url", url_id(&url), rank);
    row.query = query;
    row.url = Some(url.clone());
    if let Err(msg) = check_url(&url) {
        row.set_outcome(Outcome::failed(ErrorClass::InvalidInput, msg));
        return row;
    }
    match opts.ytdlp.info(&url, opts.timeout).await {
        Ok(info) => {
            let youtube_id = info
                .get("id")
                .and_then(Value::as_str)
                .filter(|id| is_youtube_id(id));
            let is_youtube = info.get("extractor_key").and_then(Value::as_str) == Some("Youtube");
            if let (true, Some(id)) = (is_youtube, youtube_id) {
                row.video_id = id.to_string();
            }
            apply_info(&mut row, &info, None);
            if row.title.is_empty() {
                row.title = url.rsplit('/').next().unwrap_or_default().to_string();
                row.description = row.title.clone();
            }
        }
        Err(e) => row.set_outcome(Outcome::failed(e.class, e.message)),
    }
    row
}

/// Reads a URL list: one URL per line, blank lines and `#` comments ignored.
pub fn read_url_list(path: &Path) -> std::io::Result<Vec<String>> {
    Ok(super::topics::parse_topics(&std::fs::read_to_string(path)?))
}

/// Media files under `root` (recursively, sorted by path) and the number of other files seen.
pub fn media_files(root: &Path) -> std::io::Result<(Vec<PathBuf>, usize)> {
    let mut files = Vec::new();
    let mut others = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if has_media_extension(&path) {
                files.push(path);
            } else {
                others += 1;
            }
        }
    }
    files.sort();
    Ok((files, others))
}

fn has_media_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| MEDIA_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// One row per media file under `root`, probed with FFmpeg and hashed, on all cores.
pub fn search_dir(root: &Path, query: Option<&str>) -> std::io::Result<(Vec<CandidateRow>, usize)> {
    search_dir_part(root, query, None)
}

/// [`search_dir`] keeping only the files of `shard` (by their path under `root`, so the same
/// folder splits the same wherever it is mounted); ranks stay those of the whole folder.
fn search_dir_part(
    root: &Path,
    query: Option<&str>,
    shard: Option<Shard>,
) -> std::io::Result<(Vec<CandidateRow>, usize)> {
    let root = root.canonicalize()?;
    let (files, others) = media_files(&root)?;
    let mine = |path: &Path| {
        let key = path.strip_prefix(&root).unwrap_or(path).to_string_lossy();
        shard.is_none_or(|s| s.contains(&key))
    };
    let rows = files
        .par_iter()
        .enumerate()
        .filter(|(_, path)| mine(path))
        .map(|(rank, path)| file_row(path, query, rank))
        .collect();
    Ok((rows, others))
}

fn file_row(path: &Path, query: Option<&str>, rank: usize) -> CandidateRow {
    let mut row = CandidateRow::new("dir", "", rank);
    row.path = Some(path.to_string_lossy().into_owned());
    row.query = query.map(str::to_owned);
    row.title = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    row.description = row.title.clone();
    match sha256_file(path) {
        Ok(hash) => {
            row.video_id = hash[..16].to_string();
            row.content_hash = Some(hash);
        }
        Err(e) => {
            row.set_outcome(Outcome::failed(
                ErrorClass::Other,
                format!("{}: {e}", path.display()),
            ));
            return row;
        }
    }
    match probe(path) {
        Ok(info) => row.set_media(&info),
        Err(e) => {
            row.bytes = path.metadata().ok().map(|m| m.len() as i64);
            row.set_outcome(Outcome::failed(e.class(), e.to_string()));
        }
    }
    row
}

/// Where `search_table` takes its candidates from.
#[derive(Debug, Clone)]
pub enum SearchSource {
    /// YouTube searches, one per query, `wanted` videos each.
    Youtube { queries: Vec<String>, wanted: usize },
    /// A file of URLs, one per line.
    Urls { file: PathBuf },
    /// Every media file under a folder.
    Dir { root: PathBuf },
}

/// Why a search could not run at all (single rows that fail are kept as failed rows).
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Table(#[from] crate::table::TableError),
}

/// Searches `source` and writes the `candidates` table to `output`; `query` is recorded on
/// every row (YouTube rows carry their own query). With `shard`, only its queries, URLs or files
/// (by path under the folder) are searched; ranks stay those of the whole list.
pub async fn search_table(
    source: &SearchSource,
    shard: Option<Shard>,
    query: Option<&str>,
    opts: &SearchOptions,
    output: &str,
) -> Result<crate::report::Summary, SearchError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SearchError::Io { path, source }
    };
    let mut summary = crate::report::Summary::new("search");
    let rows = match source {
        SearchSource::Dir { root } => {
            let (rows, others) = search_dir_part(root, query, shard).map_err(io(root))?;
            summary.set("ignored_files", others);
            rows
        }
        SearchSource::Urls { file } => {
            let urls = read_url_list(file).map_err(io(file))?;
            let ranked = urls
                .into_iter()
                .enumerate()
                .filter(|(_, url)| shard.is_none_or(|s| s.contains(url)))
                .collect();
            search_ranked_urls(opts, ranked, query.map(str::to_owned)).await
        }
        SearchSource::Youtube { queries, wanted } => {
            let mut rows = Vec::new();
            for q in queries
                .iter()
                .filter(|q| shard.is_none_or(|s| s.contains(q)))
            {
                rows.extend(search_youtube(opts, q, *wanted).await);
            }
            rows
        }
    };
    let mut writer = crate::table::TableWriter::<CandidateRow>::create(output)?;
    for row in rows {
        summary.add(row.status, row.error_class, row.bytes);
        writer.push(row)?;
    }
    writer.finish()?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_for_one_and_a_half_times_the_wanted_count() {
        assert_eq!(results_for(8), 12);
        assert_eq!(results_for(1), 2);
        assert_eq!(results_for(3), 5);
    }

    #[test]
    fn rows_from_search_json() {
        let json: Value = serde_json::json!({"entries": [
            {"id": "aaaaaaaaaaa", "title": "T1", "description": "D1", "duration": 61.0, "view_count": 5},
            null,
            {"id": "bbbbbbbbbbb", "title": "T2", "description": null, "live_status": "is_live"},
            {"id": "ccccccccccc", "title": "T3", "description": ""},
            {"id": "--exec=x", "title": "bad"}
        ]});
        let rows = youtube_rows(&json, "q");
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].description, "T1\n\nD1");
        assert_eq!(rows[0].duration_s, Some(61.0));
        assert!(rows[0].duration_known);
        assert_eq!(rows[1].error_class, Some(ErrorClass::Live));
        assert_eq!(rows[2].description, "T3");
        assert_eq!(rows[2].duration_s, Some(MISSING_DURATION_S));
        assert!(!rows[2].duration_known);
        assert_eq!(rows[3].error_class, Some(ErrorClass::InvalidInput));
        assert_eq!(rows[3].url, None);
        assert_eq!(
            rows.iter().map(|r| r.rank).collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
    }
}
