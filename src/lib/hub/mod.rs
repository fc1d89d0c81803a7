//! `omega push-hf`: publishing accepted rows to a Hugging Face dataset, losslessly.
//!
//! Rows first go into a local [`spool`] (Parquet parts on disk), then into shards (Parquet for
//! the Hub: zstd, bounded row groups, page index) that are committed together with an updated
//! dataset [`card`], many files per commit. A journal records which parts are in which shard and
//! whether its commit happened, so a rerun after any failure or kill pushes exactly what is
//! missing: a shard planned but not known to be committed is looked up on the target first.
//! Unlike the original (bug B20), no row is ever dropped: a failed upload leaves the rows in the
//! spool, and the buffer has no size limit but the disk.

pub mod accept;
pub mod card;
pub mod ids;
pub mod remote;
pub mod shard;
pub mod spool;

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::signals::kill_point;
use crate::table::hub::{HubInput, HubRow};
use crate::table::{Table, TableError, TableReader};
use card::{CardFacts, Provenance};
use remote::{CommitFile, Target};
use shard::{ShardFile, ShardWriter};
use spool::{EntryState, JournalEntry, Spool};

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Shard(#[from] shard::ShardError),
    #[error("{path}: unreadable ({message})")]
    Corrupt { path: PathBuf, message: String },
    #[error("the spool {0} is in use by another omega push-hf (one pusher per spool)")]
    Locked(PathBuf),
    #[error(
        "the spool {spool} belongs to {found}, not {wanted}; give this push its own --spool DIR"
    )]
    OtherTarget {
        spool: PathBuf,
        found: String,
        wanted: String,
    },
    #[error("`{0}` is not a dataset id: use ORG/NAME")]
    BadRepoId(String),
    #[error("{what}: {message}")]
    Hub { what: String, message: String },
}

/// Where files go in the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// The original's: `default/train/{ULID mod 1000:03}/{ULID}.parquet`.
    Omega,
    /// `data/train-NNNNN-of-NNNNN.parquet` (the second number: shards after that push).
    Shards,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::Omega => "omega",
            Layout::Shards => "shards",
        }
    }

    /// The `data_files` pattern of the card.
    pub fn data_files(self) -> &'static str {
        match self {
            Layout::Omega => "default/train/*/*.parquet",
            Layout::Shards => "data/train-*.parquet",
        }
    }

    fn path(self, index: u64, total: u64) -> String {
        match self {
            Layout::Omega => ids::omega_layout_path(ids::new_ulid()),
            Layout::Shards => format!("data/train-{index:05}-of-{total:05}.parquet"),
        }
    }
}

/// How a push runs.
#[derive(Debug, Clone)]
pub struct PushOptions {
    pub layout: Layout,
    /// Rows per shard file at most.
    pub shard_rows: usize,
    /// Accumulate mode: commit only when this many rows wait (or when stopped by a signal).
    pub flush_at: Option<usize>,
    /// Show what would be committed; write nothing.
    pub dry_run: bool,
    /// Shard files per commit at most (the Hub allows 128 commits per hour; many files per
    /// commit keep a large push far below that).
    pub files_per_commit: usize,
    pub provenance: Provenance,
}

/// Rows per spool part of a stream at most: a stream publishes each part as it fills, so
/// that accumulate mode commits while the stream goes on.
const STREAM_PART_ROWS: usize = 2048;

impl PushOptions {
    /// Rows per spool part of `input`. A file's parts are whole shards, written in the shard
    /// format: a part that fills a shard alone becomes that shard by a hard link, so its bytes
    /// are written once. Parts are packed whole into shards, so none is larger than a shard.
    fn part_size(&self, input: &str) -> usize {
        let rows = if input == "-" {
            STREAM_PART_ROWS
        } else {
            self.shard_rows
        };
        rows.min(self.shard_rows).max(1)
    }
}

/// What a push did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct PushReport {
    pub inputs_spooled: usize,
    pub inputs_already_spooled: usize,
    pub rows_spooled: usize,
    /// Input rows whose status is not `ok` (not accepted: not published, by design).
    pub rows_not_accepted: usize,
    /// `ok` rows that cannot be published (a missing embedding or score): file, row, field.
    pub rows_unpublishable: Vec<String>,
    /// Spool parts that could not be read, moved to `quarantine/`.
    pub quarantined: Vec<String>,
    pub shards_committed: usize,
    pub rows_committed: usize,
    pub bytes_committed: u64,
    /// Shards a rerun found already on the target (committed before a crash).
    pub shards_recovered: usize,
    pub commits: Vec<String>,
    /// Rows still waiting in the spool.
    pub rows_pending: usize,
    pub stopped_by_signal: bool,
    /// With --dry-run: the files that would be committed, with their rows.
    pub would_commit: Vec<(String, usize)>,
}

/// Spools `inputs` (paths, or `-` for an Arrow IPC stream on stdin) and commits what the
/// options say. `stop` is set by SIGINT/SIGTERM: spooling stops and everything spooled is
/// committed.
pub fn push(
    spool: &Spool,
    target: &dyn Target,
    inputs: &[String],
    opts: &PushOptions,
    stop: &AtomicBool,
) -> Result<PushReport, HubError> {
    let mut report = PushReport::default();
    if opts.dry_run {
        return dry_run(spool, inputs, opts, stop, report);
    }
    for input in inputs {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        ingest(spool, input, opts, stop, &mut report, &mut |report| {
            maybe_flush(spool, target, opts, stop, report)
        })?;
    }
    report.stopped_by_signal = stop.load(Ordering::SeqCst);
    maybe_flush(spool, target, opts, stop, &mut report)?;
    report.rows_pending = pending_rows(spool, &spool.journal()?)?;
    Ok(report)
}

fn maybe_flush(
    spool: &Spool,
    target: &dyn Target,
    opts: &PushOptions,
    stop: &AtomicBool,
    report: &mut PushReport,
) -> Result<(), HubError> {
    let due = match opts.flush_at {
        None => true,
        Some(n) => stop.load(Ordering::SeqCst) || pending_rows(spool, &spool.journal()?)? >= n,
    };
    if due {
        flush(spool, target, opts, report)?;
    }
    Ok(())
}

/// Rows in parts that wait for a commit (planned or not).
fn pending_rows(spool: &Spool, journal: &[JournalEntry]) -> Result<usize, HubError> {
    let planned: usize = journal
        .iter()
        .filter(|e| e.state == EntryState::Planned)
        .map(|e| e.file.rows)
        .sum();
    let mut unplanned = 0;
    for part in spool.unplanned_parts(journal)? {
        unplanned += part_rows(&spool.part_path(&part)).unwrap_or(0);
    }
    Ok(planned + unplanned)
}

fn part_rows(path: &std::path::Path) -> Result<usize, String> {
    part_facts(path, None).map(|(rows, _)| rows)
}

/// A part's rows, and whether it is already a shard of `schema` (the hub table's columns and
/// the same metadata: written by the shard writer with this push's provenance).
fn part_facts(
    path: &std::path::Path,
    schema: Option<&arrow_schema::SchemaRef>,
) -> Result<(usize, bool), String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| e.to_string())?;
    let rows = builder.metadata().file_metadata().num_rows() as usize;
    let found = builder.schema();
    let is_shard = schema.is_some_and(|s| {
        let mut metadata = found.metadata().clone();
        metadata.remove("ARROW:schema");
        found.fields() == s.fields() && metadata == *s.metadata()
    });
    Ok((rows, is_shard))
}

/// The identity of an input: its content hash (so pushing the same file twice adds nothing),
/// for a folder of tables the hash of its files' hashes, or a fresh id per part for a stream.
fn input_key(input: &str) -> Result<Option<String>, HubError> {
    if input == "-" {
        return Ok(None);
    }
    let path = std::path::Path::new(input);
    let hash_of = |file: &std::path::Path| {
        crate::media::sha256_file(file).map_err(|source| HubError::Io {
            path: file.to_path_buf(),
            source,
        })
    };
    let hash = if path.is_dir() {
        let mut listing = String::new();
        for file in crate::table::part_files(path)? {
            let name = file.file_name().unwrap_or_default().to_string_lossy();
            listing.push_str(&format!("{name} {}\n", hash_of(&file)?));
        }
        crate::hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(listing.as_bytes()))
    } else {
        hash_of(path)?
    };
    Ok(Some(hash[..24].to_string()))
}

/// Whether an input with this key was spooled before (then it is counted and skipped).
fn spooled_before(
    spool: &Spool,
    input: &str,
    key: Option<&str>,
    journal: &[JournalEntry],
    report: &mut PushReport,
) -> Result<bool, HubError> {
    let Some(key) = key else { return Ok(false) };
    let known = spool.knows_key(key, journal)?;
    if known {
        tracing::info!("{input}: spooled before, skipped");
        report.inputs_already_spooled += 1;
    }
    Ok(known)
}

/// Reads `input` and hands each batch of publishable rows (the hub table's columns, as
/// `schema`) to `each`; rows that are not accepted or not publishable are counted in `report`.
/// A stream (`-`) cut short by `stop` ends early, keeping what was read.
fn for_each_accepted(
    input: &str,
    schema: &arrow_schema::SchemaRef,
    stop: &AtomicBool,
    report: &mut PushReport,
    mut each: impl FnMut(RecordBatch, &mut PushReport) -> Result<ControlFlow<()>, HubError>,
) -> Result<(), HubError> {
    let stream = input == "-";
    let now = ids::unix_now();
    let mut reader = TableReader::<HubInput>::open(input)?;
    let positions = reader.positions().to_vec();
    while let Some(next) = reader.next_raw() {
        let (batch, offset) = match next {
            Err(_) if stream && stop.load(Ordering::SeqCst) => break,
            other => other?,
        };
        let accepted =
            accept::accept(&batch, &positions, schema, now).map_err(|(column, row, message)| {
                TableError::BadValue {
                    path: reader.path().to_path_buf(),
                    row: offset + row,
                    column,
                    message,
                }
            })?;
        report.rows_not_accepted += accepted.not_accepted;
        for (row, field) in accepted.unpublishable {
            report.rows_unpublishable.push(format!(
                "{input}: row {}: `{field}` is missing; the row is not published",
                offset + row
            ));
        }
        if accepted.batch.num_rows() > 0 && each(accepted.batch, report)?.is_break() {
            break;
        }
        if stream && stop.load(Ordering::SeqCst) {
            break;
        }
    }
    Ok(())
}

/// Reads one input's accepted rows into spool parts. A file is published to the spool whole
/// (one rename) when read to its end; a stream publishes every part as it fills, and calls
/// `after_part` so that accumulate mode can commit while the stream goes on.
fn ingest(
    spool: &Spool,
    input: &str,
    opts: &PushOptions,
    stop: &AtomicBool,
    report: &mut PushReport,
    after_part: &mut dyn FnMut(&mut PushReport) -> Result<(), HubError>,
) -> Result<(), HubError> {
    let is_stream = input == "-";
    let mut content_key = ContentKey::start(input);
    let counted_before = (report.rows_not_accepted, report.rows_unpublishable.len());
    let stream_key = || format!("stream{}", ids::ulid_text(ids::new_ulid()));
    let mut key = stream_key();
    let (mut dir, mut part_no) = (spool.incoming_dir(&key)?, 0usize);
    let (schema, part_size) = (shard_schema(&opts.provenance), opts.part_size(input));
    let mut part: Option<ShardWriter> = None;
    let mut finishing = Finishing::default();
    let (mut known, mut spooled) = (false, 0);
    for_each_accepted(input, &schema, stop, report, |batch, report| {
        if content_key.known_before(spool, input, report, false)? {
            known = true;
            return Ok(ControlFlow::Break(()));
        }
        let mut offset = 0;
        while offset < batch.num_rows() {
            let writer = match &mut part {
                Some(writer) => writer,
                None => part.insert(ShardWriter::create(
                    &dir.join(format!("part-{part_no:04}.parquet")),
                    schema.clone(),
                )?),
            };
            let take = (part_size - writer.rows()).min(batch.num_rows() - offset);
            writer.write(&batch.slice(offset, take))?;
            offset += take;
            if writer.rows() < part_size {
                continue;
            }
            let writer = part.take().expect("a part is open");
            part_no += 1;
            if !is_stream {
                // A file is published whole at its end: the part finishes while the next fills.
                spooled += finishing.start(writer)?;
            } else {
                report.rows_spooled += writer.finish()?.rows;
                spool.publish_incoming(&key, &key)?;
                kill_point("spooled");
                after_part(report)?;
                key = stream_key();
                (dir, part_no) = (spool.incoming_dir(&key)?, 0);
            }
        }
        Ok(ControlFlow::Continue(()))
    })?;
    if let Some(writer) = part {
        spooled += finishing.start(writer)?;
        part_no += 1;
    }
    spooled += finishing.wait(0)?;
    if known || content_key.known_before(spool, input, report, true)? {
        // Read for nothing: what this read counted is not reported twice.
        report.rows_not_accepted = counted_before.0;
        report.rows_unpublishable.truncate(counted_before.1);
        return spool.drop_incoming(&key);
    }
    if part_no > 0 || !is_stream {
        let published = content_key
            .key
            .clone()
            .flatten()
            .unwrap_or_else(|| key.clone());
        spool.publish_incoming(&key, &published)?;
        kill_point("spooled");
    }
    report.rows_spooled += spooled;
    report.inputs_spooled += 1;
    Ok(())
}

/// A file input's content key (see [`input_key`]), hashed on its own thread while the file
/// is spooled: hashing a large input first would keep a core idle. A file found spooled
/// before is dropped as soon as its hash is known.
struct ContentKey {
    job: Option<std::thread::JoinHandle<Result<Option<String>, HubError>>>,
    /// The key once hashed (`None` inside for a stream).
    key: Option<Option<String>>,
}

impl ContentKey {
    fn start(input: &str) -> ContentKey {
        let input = input.to_string();
        ContentKey {
            job: Some(std::thread::spawn(move || input_key(&input))),
            key: None,
        }
    }

    /// Whether the input was spooled before: once its hash is known (waiting for it when
    /// `wait`), checked once; `false` until then.
    fn known_before(
        &mut self,
        spool: &Spool,
        input: &str,
        report: &mut PushReport,
        wait: bool,
    ) -> Result<bool, HubError> {
        let Some(job) = self.job.take_if(|job| wait || job.is_finished()) else {
            return Ok(false);
        };
        let key = job.join().map_err(|payload| HubError::Corrupt {
            path: input.into(),
            message: format!(
                "hashing it panicked: {}",
                crate::isolate::panic_text(payload.as_ref())
            ),
        })??;
        let known = spooled_before(spool, input, key.as_deref(), &spool.journal()?, report)?;
        self.key = Some(key);
        Ok(known)
    }
}

/// Spool parts finishing on their own threads (the last row group and the footer), so that
/// reading the next part does not wait for them; at most [`Finishing::AT_ONCE`] at a time
/// bounds the memory (a row group each).
#[derive(Default)]
struct Finishing {
    parts:
        std::collections::VecDeque<std::thread::JoinHandle<Result<ShardFile, shard::ShardError>>>,
}

impl Finishing {
    const AT_ONCE: usize = 2;

    /// Returns the rows of the parts that finished meanwhile.
    fn start(&mut self, writer: ShardWriter) -> Result<usize, HubError> {
        let rows = self.wait(Self::AT_ONCE - 1)?;
        self.parts
            .push_back(std::thread::spawn(move || writer.finish()));
        Ok(rows)
    }

    /// Waits until at most `left` parts are finishing; returns the rows of those that did.
    fn wait(&mut self, left: usize) -> Result<usize, HubError> {
        let mut rows = 0;
        while self.parts.len() > left {
            let job = self.parts.pop_front().expect("non-empty");
            let file = job.join().map_err(|payload| HubError::Corrupt {
                path: "spool part".into(),
                message: format!(
                    "its writer panicked: {}",
                    crate::isolate::panic_text(payload.as_ref())
                ),
            })??;
            rows += file.rows;
        }
        Ok(rows)
    }
}

/// The Arrow schema of published files: the hub table's, plus the embeddings' provenance.
fn shard_schema(p: &Provenance) -> arrow_schema::SchemaRef {
    let base = HubRow::schema();
    let mut meta = base.metadata().clone();
    meta.insert("omega.embedding_model".to_string(), p.model_id.clone());
    meta.insert(
        "omega.embedding_model_version".to_string(),
        p.model_version.clone(),
    );
    meta.insert(
        "omega.preprocess_version".to_string(),
        p.preprocess_version.clone(),
    );
    Arc::new(arrow_schema::Schema::new_with_metadata(
        base.fields().clone(),
        meta,
    ))
}

/// Record batches of a spool part, checked against the hub table's columns.
fn read_part(
    path: &std::path::Path,
    schema: &arrow_schema::SchemaRef,
) -> Result<Vec<RecordBatch>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        let same = batch.schema().fields().len() == schema.fields().len()
            && batch
                .schema()
                .fields()
                .iter()
                .zip(schema.fields())
                .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
        if !same {
            return Err("its columns are not the hub table's".into());
        }
        if batch.columns().iter().any(|c| c.null_count() > 0) {
            return Err("it holds nulls".into());
        }
        out.push(
            RecordBatch::try_new(schema.clone(), batch.columns().to_vec())
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(out)
}

/// Packs parts, in order, into shards of at most `shard_rows` rows.
fn pack(parts: Vec<(String, usize)>, shard_rows: usize) -> Vec<Vec<(String, usize)>> {
    let mut shards: Vec<Vec<(String, usize)>> = Vec::new();
    let mut rows = 0;
    for (part, n) in parts {
        if shards.is_empty() || rows + n > shard_rows {
            shards.push(Vec::new());
            rows = 0;
        }
        rows += n;
        shards.last_mut().expect("pushed").push((part, n));
    }
    shards
}

/// Commits everything spooled: finishes what an earlier run left, plans shards from the
/// unplanned parts, and commits the planned ones with the card.
pub fn flush(
    spool: &Spool,
    target: &dyn Target,
    opts: &PushOptions,
    report: &mut PushReport,
) -> Result<(), HubError> {
    let mut journal = spool.journal()?;
    for entry in journal
        .iter_mut()
        .filter(|e| e.state == EntryState::Planned)
    {
        if target.has_file(&entry.path_in_repo)? {
            entry.state = EntryState::Committed;
            entry.commit = Some("found".into());
            spool.write_entry(entry)?;
            report.shards_recovered += 1;
        }
    }
    spool.clean_committed(&journal)?;
    plan(spool, opts, &mut journal, report)?;
    let planned: Vec<usize> = (0..journal.len())
        .filter(|&i| journal[i].state == EntryState::Planned)
        .collect();
    for chunk in planned.chunks(opts.files_per_commit.max(1)) {
        commit_chunk(spool, target, opts, &mut journal, chunk, report)?;
    }
    spool.clean_committed(&journal)
}

/// Builds staged shards and their `planned` journal entries from the unplanned parts; an
/// unreadable part is quarantined and the rest planned without it.
fn plan(
    spool: &Spool,
    opts: &PushOptions,
    journal: &mut Vec<JournalEntry>,
    report: &mut PushReport,
) -> Result<(), HubError> {
    let schema = shard_schema(&opts.provenance);
    'replan: loop {
        let mut parts = Vec::new();
        let mut is_shard = std::collections::HashSet::new();
        for part in spool.unplanned_parts(journal)? {
            match part_facts(&spool.part_path(&part), Some(&schema)) {
                Ok((n, shard)) => {
                    if shard {
                        is_shard.insert(part.clone());
                    }
                    parts.push((part, n));
                }
                Err(message) => quarantine(spool, &part, &message, report)?,
            }
        }
        let groups = pack(parts, opts.shard_rows);
        let total = journal.len() as u64 + groups.len() as u64;
        for group in groups {
            let seq = journal.last().map_or(0, |e| e.seq + 1);
            let staged = spool.staging_file(seq);
            let file = match group.as_slice() {
                [(part, rows)] if is_shard.contains(part) => {
                    link_part(&spool.part_path(part), &staged, *rows)?
                }
                _ => {
                    let mut batches = Vec::new();
                    for (part, _) in &group {
                        match read_part(&spool.part_path(part), &schema) {
                            Ok(b) => batches.extend(b),
                            Err(message) => {
                                quarantine(spool, part, &message, report)?;
                                continue 'replan;
                            }
                        }
                    }
                    shard::write_shard(&staged, batches, schema.clone())?
                }
            };
            kill_point("staged");
            let entry = JournalEntry {
                seq,
                path_in_repo: opts.layout.path(seq, total),
                parts: group.into_iter().map(|(p, _)| p).collect(),
                file,
                state: EntryState::Planned,
                commit: None,
            };
            spool.write_entry(&entry)?;
            kill_point("planned");
            journal.push(entry);
        }
        return Ok(());
    }
}

/// Stages a part that is a whole shard already: a hard link (a copy where the file system has
/// none), so the rows are not written again.
fn link_part(
    part: &std::path::Path,
    staged: &std::path::Path,
    rows: usize,
) -> Result<ShardFile, HubError> {
    let io = |source| HubError::Io {
        path: staged.to_path_buf(),
        source,
    };
    crate::fsutil::link_or_copy_atomic(part, staged).map_err(io)?;
    let bytes = std::fs::metadata(staged).map_err(io)?.len();
    Ok(ShardFile { rows, bytes })
}

fn quarantine(
    spool: &Spool,
    part: &str,
    message: &str,
    report: &mut PushReport,
) -> Result<(), HubError> {
    let moved = spool.quarantine(part)?;
    let line = format!(
        "{}: unreadable spool part ({message}); moved to {}, not pushed",
        spool.part_path(part).display(),
        moved.display()
    );
    tracing::error!("{line}");
    report.quarantined.push(line);
    Ok(())
}

/// One commit: the chunk's staged shards and the card counting every committed row.
fn commit_chunk(
    spool: &Spool,
    target: &dyn Target,
    opts: &PushOptions,
    journal: &mut [JournalEntry],
    chunk: &[usize],
    report: &mut PushReport,
) -> Result<(), HubError> {
    let counted = journal
        .iter()
        .enumerate()
        .filter(|(i, e)| e.state == EntryState::Committed || chunk.contains(i));
    let (mut rows, mut bytes, mut files) = (0u64, 0u64, 0usize);
    for (_, e) in counted {
        rows += e.file.rows as u64;
        bytes += e.file.bytes;
        files += 1;
    }
    let card = card::dataset_card(&CardFacts {
        layout: opts.layout,
        rows,
        bytes,
        files,
        provenance: opts.provenance.clone(),
    });
    let card_path = spool.dir("staging").join("README.md");
    crate::fsutil::write_atomic(&card_path, card.as_bytes()).map_err(|source| HubError::Io {
        path: card_path.clone(),
        source,
    })?;
    let mut commit_files: Vec<CommitFile> = chunk
        .iter()
        .map(|&i| CommitFile {
            path_in_repo: journal[i].path_in_repo.clone(),
            local: spool.staging_file(journal[i].seq),
        })
        .collect();
    commit_files.push(CommitFile {
        path_in_repo: "README.md".into(),
        local: card_path,
    });
    let chunk_rows: usize = chunk.iter().map(|&i| journal[i].file.rows).sum();
    let message = format!(
        "omega push-hf: {} rows in {} files",
        chunk_rows,
        chunk.len()
    );
    let commit = target.commit(&commit_files, &message)?;
    kill_point("uploaded");
    for &i in chunk {
        let entry = &mut journal[i];
        entry.state = EntryState::Committed;
        entry.commit = Some(commit.clone());
        spool.write_entry(entry)?;
        report.shards_committed += 1;
        report.rows_committed += entry.file.rows;
        report.bytes_committed += entry.file.bytes;
    }
    kill_point("committed");
    report.commits.push(commit);
    Ok(())
}

/// What a push would commit: the planned shards, then the spooled and input rows as they
/// would be packed. Reads the inputs; writes nothing.
fn dry_run(
    spool: &Spool,
    inputs: &[String],
    opts: &PushOptions,
    stop: &AtomicBool,
    mut report: PushReport,
) -> Result<PushReport, HubError> {
    let journal = spool.journal()?;
    for e in journal.iter().filter(|e| e.state == EntryState::Planned) {
        report
            .would_commit
            .push((e.path_in_repo.clone(), e.file.rows));
    }
    let mut parts = Vec::new();
    for part in spool.unplanned_parts(&journal)? {
        parts.push((
            part.clone(),
            part_rows(&spool.part_path(&part)).unwrap_or(0),
        ));
    }
    for input in inputs {
        let key = input_key(input)?;
        if spooled_before(spool, input, key.as_deref(), &journal, &mut report)? {
            continue;
        }
        let (mut accepted, part_size) = (0, opts.part_size(input));
        let schema = shard_schema(&opts.provenance);
        for_each_accepted(input, &schema, stop, &mut report, |batch, _| {
            accepted += batch.num_rows();
            Ok(ControlFlow::Continue(()))
        })?;
        for start in (0..accepted).step_by(part_size) {
            let n = (accepted - start).min(part_size);
            parts.push((format!("{input}@{start}"), n));
        }
    }
    let groups = pack(parts, opts.shard_rows);
    let total = journal.len() as u64 + groups.len() as u64;
    for (k, group) in groups.iter().enumerate() {
        let path = opts.layout.path(journal.len() as u64 + k as u64, total);
        report
            .would_commit
            .push((path, group.iter().map(|(_, n)| n).sum()));
    }
    report.would_commit.push(("README.md".into(), 0));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_keeps_order_and_bounds() {
        let parts = vec![
            ("a".into(), 3),
            ("b".into(), 3),
            ("c".into(), 5),
            ("d".into(), 1),
        ];
        let shards = pack(parts, 6);
        let names: Vec<Vec<&str>> = shards
            .iter()
            .map(|s| s.iter().map(|(p, _)| p.as_str()).collect())
            .collect();
        assert_eq!(names, vec![vec!["a", "b"], vec!["c", "d"]]);
        assert!(pack(Vec::new(), 6).is_empty());
    }
}
