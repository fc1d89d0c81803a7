//! The spool: rows wait here on disk until a committed shard holds them, and the journal says
//! which spooled parts are in which shard. Every step is a file written atomically or a rename,
//! so a kill at any point leaves a state the next run finishes from.
//!
//! ```text
//! SPOOL/spool.json            the target and layout this spool pushes to
//! SPOOL/incoming/NAME/        an input being spooled (dropped by the next run if killed)
//! SPOOL/pending/SEQ-KEY/part-NNNN.parquet   spooled rows (the `hub` table), oldest first
//! SPOOL/staging/SEQ.parquet   a shard built from parts, before and while it is committed
//! SPOOL/journal/SEQ.json      that shard: its path in the repo, its parts, planned|committed
//! SPOOL/quarantine/           parts that could not be read (reported, never pushed)
//! ```

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::shard::ShardFile;
use super::HubError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryState {
    Planned,
    Committed,
}

/// One shard: which parts it holds and whether its commit happened.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct JournalEntry {
    pub seq: u64,
    pub path_in_repo: String,
    /// Parts as `DIR/part-NNNN.parquet` relative to `pending/`.
    pub parts: Vec<String>,
    pub file: ShardFile,
    pub state: EntryState,
    /// The commit that added it (`found` when a rerun found it already on the target).
    pub commit: Option<String>,
}

/// What a spool was created for; a spool pushes to one target only.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SpoolConfig {
    pub target: String,
    pub layout: String,
}

pub struct Spool {
    root: PathBuf,
    _lock: std::fs::File,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> HubError + '_ {
    move |source| HubError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Spool {
    /// Opens (or creates) the spool at `root` for `config`; holds an exclusive lock so two
    /// pushers never share a spool.
    pub fn open(root: &Path, config: &SpoolConfig) -> Result<Spool, HubError> {
        for sub in ["incoming", "pending", "staging", "journal", "quarantine"] {
            std::fs::create_dir_all(root.join(sub)).map_err(io_err(root))?;
        }
        let lock_path = root.join("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor we own; released when the file is closed.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(HubError::Locked(root.to_path_buf()));
        }
        let cfg_path = root.join("spool.json");
        match std::fs::read(&cfg_path) {
            Ok(bytes) => {
                let found: SpoolConfig =
                    serde_json::from_slice(&bytes).map_err(|e| HubError::Corrupt {
                        path: cfg_path.clone(),
                        message: e.to_string(),
                    })?;
                if found != *config {
                    return Err(HubError::OtherTarget {
                        spool: root.to_path_buf(),
                        found: format!("{} ({} layout)", found.target, found.layout),
                        wanted: format!("{} ({} layout)", config.target, config.layout),
                    });
                }
            }
            Err(_) => crate::fsutil::write_atomic(
                &cfg_path,
                serde_json::to_string_pretty(config)
                    .expect("serialisable")
                    .as_bytes(),
            )
            .map_err(io_err(&cfg_path))?,
        }
        // An input whose spooling was interrupted is spooled again from the start.
        let incoming = root.join("incoming");
        std::fs::remove_dir_all(&incoming).map_err(io_err(&incoming))?;
        std::fs::create_dir_all(&incoming).map_err(io_err(&incoming))?;
        Ok(Spool {
            root: root.to_path_buf(),
            _lock: lock,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn dir(&self, sub: &str) -> PathBuf {
        self.root.join(sub)
    }

    /// Journal entries, oldest first.
    pub fn journal(&self) -> Result<Vec<JournalEntry>, HubError> {
        let mut entries = Vec::new();
        for path in sorted_children(&self.dir("journal"))? {
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(io_err(&path))?;
            let entry: JournalEntry =
                serde_json::from_slice(&bytes).map_err(|e| HubError::Corrupt {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            entries.push(entry);
        }
        Ok(entries)
    }

    pub fn write_entry(&self, entry: &JournalEntry) -> Result<(), HubError> {
        let path = self.dir("journal").join(format!("{:06}.json", entry.seq));
        let text = serde_json::to_string_pretty(entry).expect("serialisable");
        crate::fsutil::write_atomic(&path, text.as_bytes()).map_err(io_err(&path))
    }

    pub fn staging_file(&self, seq: u64) -> PathBuf {
        self.dir("staging").join(format!("{seq:06}.parquet"))
    }

    /// Whether an input with this key was spooled before (pending, pushed or quarantined).
    pub fn knows_key(&self, key: &str, journal: &[JournalEntry]) -> Result<bool, HubError> {
        let suffix = format!("-{key}");
        let in_dir = |sub: &str| -> Result<bool, HubError> {
            Ok(sorted_children(&self.dir(sub))?.iter().any(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().ends_with(&suffix))
            }))
        };
        let pushed = journal.iter().any(|e| {
            e.parts
                .iter()
                .any(|p| p.split('/').next().is_some_and(|d| d.ends_with(&suffix)))
        });
        Ok(pushed || in_dir("pending")? || in_dir("quarantine")?)
    }

    /// A fresh folder for the parts of one input; [`Spool::publish_incoming`] moves it to
    /// `pending/` when complete.
    pub fn incoming_dir(&self, key: &str) -> Result<PathBuf, HubError> {
        let dir = self.dir("incoming").join(key);
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(dir)
    }

    /// Makes a completely spooled input visible to flushes (one rename), under `key` (its
    /// content key, known once spooled, or its own name).
    pub fn publish_incoming(&self, name: &str, key: &str) -> Result<(), HubError> {
        let from = self.dir("incoming").join(name);
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        let to = self.dir("pending").join(format!("{stamp:017}-{key}"));
        std::fs::rename(&from, &to).map_err(io_err(&from))
    }

    /// Drops an input's folder in `incoming/` (an input found spooled before).
    pub fn drop_incoming(&self, name: &str) -> Result<(), HubError> {
        let dir = self.dir("incoming").join(name);
        std::fs::remove_dir_all(&dir).map_err(io_err(&dir))
    }

    /// Pending parts (relative to `pending/`) that no journal entry holds, oldest first.
    pub fn unplanned_parts(&self, journal: &[JournalEntry]) -> Result<Vec<String>, HubError> {
        let held: HashSet<&str> = journal
            .iter()
            .flat_map(|e| e.parts.iter().map(String::as_str))
            .collect();
        let mut parts = Vec::new();
        for dir in sorted_children(&self.dir("pending"))? {
            let dir_name = dir
                .file_name()
                .expect("child")
                .to_string_lossy()
                .into_owned();
            for part in sorted_children(&dir)? {
                let name = part.file_name().expect("child").to_string_lossy();
                if name.starts_with('.') || !name.ends_with(".parquet") {
                    continue;
                }
                let rel = format!("{dir_name}/{name}");
                if !held.contains(rel.as_str()) {
                    parts.push(rel);
                }
            }
        }
        Ok(parts)
    }

    pub fn part_path(&self, rel: &str) -> PathBuf {
        self.dir("pending").join(rel)
    }

    /// Moves an unreadable part aside so that it is reported once and never pushed.
    pub fn quarantine(&self, rel: &str) -> Result<PathBuf, HubError> {
        let from = self.part_path(rel);
        let to = self.dir("quarantine").join(rel.replace('/', "-"));
        std::fs::rename(&from, &to).map_err(io_err(&from))?;
        Ok(to)
    }

    /// Deletes the parts and staged file of committed entries (their rows are on the target).
    pub fn clean_committed(&self, journal: &[JournalEntry]) -> Result<(), HubError> {
        for entry in journal.iter().filter(|e| e.state == EntryState::Committed) {
            for part in &entry.parts {
                remove_if_present(&self.part_path(part))?;
            }
            remove_if_present(&self.staging_file(entry.seq))?;
        }
        remove_if_present(&self.dir("staging").join("README.md"))?;
        for dir in sorted_children(&self.dir("pending"))? {
            if std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_none()) {
                let _ = std::fs::remove_dir(&dir);
            }
        }
        Ok(())
    }
}

fn remove_if_present(path: &Path) -> Result<(), HubError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(path)(e)),
        _ => Ok(()),
    }
}

fn sorted_children(dir: &Path) -> Result<Vec<PathBuf>, HubError> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    out.sort();
    Ok(out)
}
