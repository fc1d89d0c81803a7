//! The miner's answer cache: ready videos per query, appended to a JSON-lines file as they are
//! prepared (a crash loses nothing written), bounded by a disk budget (the oldest entries go
//! first), and the record of which validator was sent which video.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use crate::net::synapse::VideoMetadata;

/// The key of a query: trimmed and lower-cased.
fn key(query: &str) -> String {
    query.trim().to_lowercase()
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Entry {
    query: String,
    video: VideoMetadata,
}

pub struct Cache {
    path: PathBuf,
    budget: u64,
    /// Entries in arrival order, with their size on disk.
    entries: VecDeque<(String, VideoMetadata, u64)>,
    by_query: HashMap<String, Vec<usize>>,
    bytes: u64,
    /// Index of `entries[0]` in the arrival sequence (entries are evicted from the front).
    first: usize,
}

impl Cache {
    /// Loads the cache file (lines that do not parse — a write cut by a crash — are skipped).
    pub fn open(path: &Path, budget: u64) -> std::io::Result<Self> {
        let mut cache = Cache {
            path: path.to_path_buf(),
            budget,
            entries: VecDeque::new(),
            by_query: HashMap::new(),
            bytes: 0,
            first: 0,
        };
        if let Ok(file) = std::fs::File::open(path) {
            for line in std::io::BufReader::new(file).lines() {
                let line = line?;
                if let Ok(entry) = serde_json::from_str::<Entry>(&line) {
                    cache.push(entry.query, entry.video, line.len() as u64 + 1);
                }
            }
        }
        cache.evict();
        Ok(cache)
    }

    fn push(&mut self, query: String, video: VideoMetadata, size: u64) {
        let index = self.first + self.entries.len();
        self.by_query.entry(query.clone()).or_default().push(index);
        self.entries.push_back((query, video, size));
        self.bytes += size;
    }

    /// Adds prepared videos for `query` (appending them to the file first).
    pub fn add(&mut self, query: &str, videos: Vec<VideoMetadata>) -> std::io::Result<()> {
        if videos.is_empty() {
            return Ok(());
        }
        let query = key(query);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        for video in videos {
            let line = serde_json::to_string(&Entry {
                query: query.clone(),
                video: video.clone(),
            })
            .map_err(std::io::Error::other)?;
            writeln!(file, "{line}")?;
            self.push(query.clone(), video, line.len() as u64 + 1);
        }
        file.sync_data()?;
        self.evict();
        Ok(())
    }

    /// Drops the oldest entries until the cache fits its budget.
    fn evict(&mut self) {
        while self.bytes > self.budget {
            let Some((query, _, size)) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= size;
            if let Some(list) = self.by_query.get_mut(&query) {
                list.retain(|&i| i != self.first);
            }
            self.first += 1;
        }
    }

    /// The ready videos for `query`, newest first.
    pub fn ready<'a>(&'a self, query: &str) -> impl Iterator<Item = &'a VideoMetadata> + 'a {
        let list = self
            .by_query
            .get(&key(query))
            .map(Vec::as_slice)
            .unwrap_or_default();
        list.iter()
            .rev()
            .filter_map(move |&i| self.entries.get(i - self.first).map(|(_, v, _)| v))
    }

    pub fn has(&self, query: &str, video_id: &str) -> bool {
        self.ready(query).any(|v| v.video_id == video_id)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Rewrites the file with only the entries kept (atomically).
    pub fn compact(&self) -> std::io::Result<()> {
        let mut text = String::new();
        for (query, video, _) in &self.entries {
            let line = serde_json::to_string(&Entry {
                query: query.clone(),
                video: video.clone(),
            })
            .map_err(std::io::Error::other)?;
            text.push_str(&line);
            text.push('\n');
        }
        crate::fsutil::write_atomic(&self.path, text.as_bytes())
    }
}

/// The (validator, video) pairs recorded in `path`.
pub fn read_sent(path: &Path) -> std::io::Result<HashSet<(String, String)>> {
    let Ok(file) = std::fs::File::open(path) else {
        return Ok(HashSet::new());
    };
    let mut out = HashSet::new();
    for line in std::io::BufReader::new(file).lines() {
        if let Ok((caller, video)) = serde_json::from_str::<(String, String)>(&line?) {
            out.insert((caller, video));
        }
    }
    Ok(out)
}

pub fn append_sent(path: &Path, pairs: &[(String, String)]) -> std::io::Result<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    for pair in pairs {
        writeln!(
            file,
            "{}",
            serde_json::to_string(pair).map_err(std::io::Error::other)?
        )?;
    }
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(id: &str) -> VideoMetadata {
        VideoMetadata {
            video_id: id.into(),
            description: "d".into(),
            views: 1,
            start_time: 0,
            end_time: 10,
            video_emb: vec![0.5; 4],
            audio_emb: vec![0.5; 4],
            description_emb: vec![0.5; 4],
        }
    }

    #[test]
    fn the_cache_survives_a_restart_and_keeps_to_its_budget() {
        let dir = std::env::temp_dir().join(format!("omega-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cache.jsonl");
        let mut cache = Cache::open(&path, 10_000).unwrap();
        cache.add("Cats ", vec![video("a"), video("b")]).unwrap();
        cache.add("dogs", vec![video("c")]).unwrap();
        let ids = |c: &Cache, q: &str| c.ready(q).map(|v| v.video_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&cache, "cats"), ["b", "a"]);
        let reopened = Cache::open(&path, 10_000).unwrap();
        assert_eq!(ids(&reopened, "CATS"), ["b", "a"]);
        // A budget of about two entries keeps the two newest.
        let per_entry = reopened.bytes() / 3;
        let small = Cache::open(&path, per_entry * 2 + 1).unwrap();
        assert_eq!(ids(&small, "cats"), ["b"]);
        assert_eq!(ids(&small, "dogs"), ["c"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
