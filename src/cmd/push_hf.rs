//! `omega push-hf`: publish accepted rows as a Hugging Face dataset, lossless and resumable.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use omega::hub::card::Provenance;
use omega::hub::remote::{HubRepo, LocalDir, RetryPolicy, Target};
use omega::hub::spool::{Spool, SpoolConfig};
use omega::hub::{push, Layout, PushOptions, PushReport};
use omega::signals::{stop_flag, stop_on_signals, Stdin};

use super::Global;

/// Publish the accepted rows (status ok) of `scored` tables to a Hugging Face dataset.
///
/// Rows go first into a local spool (Parquet parts on disk); shards are then built from the
/// spool (zstd, row groups under 100 MB, page index) and committed to the repository together
/// with a README.md dataset card (configs + dataset_info), many files per commit. A journal in
/// the spool records which rows are in which shard and whether its commit happened, so a rerun
/// after a failure or a kill pushes exactly what is missing, never a row twice; pushing the
/// same input file again adds nothing. Retries: 429 and 5xx with exponential backoff and jitter;
/// a commit conflict (412/409) re-reads the branch head and commits again.
///
/// Token: HF_TOKEN, else HF_TOKEN_PATH, else $HF_HOME/token (`huggingface-cli login`).
/// Endpoint: --endpoint, else HF_ENDPOINT, else https://huggingface.co.
///
/// Accumulate mode (validators): with --flush-at N rows are only spooled until N wait, and
/// SIGINT/SIGTERM commits what is spooled before exiting. With `-i -` (an Arrow IPC stream on
/// stdin) the stream is spooled part by part and committed every N rows.
///
/// A global step (one spool, one dataset card): it takes no --shard; run it once over all the
/// parts of a sharded `score` (`-i scored/` reads the folder, once every part is complete).
///
/// Examples:
///   omega push-hf -i scored.parquet --to dataset/
///   omega push-hf -i scored-*.parquet --repo my-org/omega-videos --layout shards
///   omega score ... -o - | omega push-hf -i - --repo my-org/videos --flush-at 1024
///   omega push-hf -i scored.parquet --repo my-org/videos --dry-run
///   omega push-hf -i scored/ --repo my-org/videos          # the parts of `score --shard I/N`
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Input tables (`scored`); `-` = an Arrow IPC stream on stdin. None: only commit what the
    /// spool holds.
    #[arg(short, long, num_args = 1..)]
    input: Vec<String>,
    /// The dataset repository on the Hub (ORG/NAME; it must exist).
    #[arg(
        long,
        value_name = "ORG/NAME",
        conflicts_with = "to",
        required_unless_present = "to"
    )]
    repo: Option<String>,
    /// Write a local copy of the dataset repository instead (for curators and tests).
    #[arg(long, value_name = "DIR")]
    to: Option<PathBuf>,
    /// File layout in the repository: omega = the original's
    /// default/train/{bucket:03}/{ULID}.parquet; shards = data/train-NNNNN-of-NNNNN.parquet.
    #[arg(long, value_enum, default_value = "omega")]
    layout: Layout,
    /// The spool (default: DIR/.omega-spool with --to; ~/.cache/omega/push-hf/ORG--NAME).
    #[arg(long, value_name = "DIR")]
    spool: Option<PathBuf>,
    /// Accumulate: commit only when at least N rows wait in the spool (or on SIGINT/SIGTERM).
    #[arg(long, value_name = "N")]
    flush_at: Option<usize>,
    /// Rows per shard file at most (about 12 KB per row).
    #[arg(long, default_value_t = 8192, value_name = "N")]
    shard_rows: usize,
    /// Shard files per commit at most.
    #[arg(long, default_value_t = 50, value_name = "N")]
    files_per_commit: usize,
    /// Show what would be committed; spool and upload nothing.
    #[arg(long)]
    dry_run: bool,
    /// The Hub endpoint (a mirror).
    #[arg(long, env = "HF_ENDPOINT", value_name = "URL")]
    endpoint: Option<String>,
    /// Attempts per Hub call before giving up (the rows stay spooled).
    #[arg(long, default_value_t = 8, value_name = "N")]
    retries: u32,
    /// First retry delay in milliseconds (doubles each attempt, with jitter).
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    retry_delay_ms: u64,
    /// The embedding model's directory: its manifest's model_id and model_version go into the
    /// card and the files' metadata.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["model_id", "model_version"])]
    model: Option<PathBuf>,
    /// The embedding model's id, when there is no --model.
    #[arg(long, default_value = "imagebind_huge")]
    model_id: String,
    /// The embedding model's version, when there is no --model.
    #[arg(long, default_value = "omegalabsinc/ImageBind e2bfdec")]
    model_version: String,
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let started = Instant::now();
    let provenance = provenance(&args)?;
    let retry = RetryPolicy {
        attempts: args.retries.max(1),
        base_delay: Duration::from_millis(args.retry_delay_ms),
        ..RetryPolicy::default()
    };
    let destination = Destination {
        repo: args.repo.as_deref(),
        to: args.to.as_deref(),
        spool: args.spool.clone(),
        endpoint: args.endpoint.as_deref(),
        layout: args.layout,
    };
    let (target, spool, spool_dir) = destination.open(retry)?;
    let stop = match args.flush_at {
        Some(_) => stop_on_signals(Stdin::EndOnSignal),
        None => stop_flag(),
    };
    let opts = PushOptions {
        layout: args.layout,
        shard_rows: args.shard_rows.max(1),
        flush_at: args.flush_at,
        dry_run: args.dry_run,
        files_per_commit: args.files_per_commit,
        provenance,
    };
    let report = push(&spool, target.as_ref(), &args.input, &opts, stop).with_context(|| {
        format!(
            "pushing to {} (the spool {} keeps every row; rerun to resume)",
            target.id(),
            spool_dir.display()
        )
    })?;
    print_report(&report, &spool_dir, &target.id(), started.elapsed(), global)?;
    if !report.quarantined.is_empty() {
        bail!(
            "{} spool part(s) could not be read and were not pushed (see above); everything else was",
            report.quarantined.len()
        );
    }
    Ok(())
}

/// Where accepted rows go: a Hub repository or a local folder, through a spool.
pub struct Destination<'a> {
    pub repo: Option<&'a str>,
    pub to: Option<&'a std::path::Path>,
    /// The spool (None: next to the local folder, or under the cache for a repository).
    pub spool: Option<PathBuf>,
    pub endpoint: Option<&'a str>,
    pub layout: Layout,
}

impl Destination<'_> {
    pub fn open(&self, retry: RetryPolicy) -> anyhow::Result<(Box<dyn Target>, Spool, PathBuf)> {
        let (target, spool_dir): (Box<dyn Target>, PathBuf) = match (self.repo, self.to) {
            (Some(repo), _) => (
                Box::new(HubRepo::new(repo, self.endpoint, None, retry)?),
                self.spool.clone().unwrap_or_else(|| default_spool(repo)),
            ),
            (None, Some(dir)) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                let dir = dir.canonicalize()?;
                let spool = self
                    .spool
                    .clone()
                    .unwrap_or_else(|| dir.join(".omega-spool"));
                (Box::new(LocalDir { dir }), spool)
            }
            (None, None) => bail!("say where to push: --repo ORG/NAME or --to DIR"),
        };
        let config = SpoolConfig {
            target: target.id(),
            layout: self.layout.name().into(),
        };
        let spool = Spool::open(&spool_dir, &config)
            .with_context(|| format!("opening the spool {}", spool_dir.display()))?;
        Ok((target, spool, spool_dir))
    }
}

fn provenance(args: &Args) -> anyhow::Result<Provenance> {
    match &args.model {
        Some(dir) => model_provenance(dir),
        None => Ok(Provenance {
            model_id: args.model_id.clone(),
            model_version: args.model_version.clone(),
            preprocess_version: omega::embed::PREPROCESS_VERSION.into(),
        }),
    }
}

/// The provenance the dataset card records: the embedding model's manifest.
pub fn model_provenance(dir: &std::path::Path) -> anyhow::Result<Provenance> {
    let m = omega::model::Manifest::load(dir)?;
    let (model_id, model_version) = (m.model_id, m.model_version);
    Ok(Provenance {
        model_id,
        model_version,
        preprocess_version: omega::embed::PREPROCESS_VERSION.into(),
    })
}

fn default_spool(repo: &str) -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("."));
    cache.join("omega/push-hf").join(repo.replace('/', "--"))
}

fn print_report(
    r: &PushReport,
    spool: &std::path::Path,
    target: &str,
    elapsed: Duration,
    global: &Global,
) -> anyhow::Result<()> {
    if global.json {
        let mut v = serde_json::to_value(r)?;
        v["stage"] = "push-hf".into();
        v["target"] = target.into();
        v["spool"] = spool.display().to_string().into();
        v["seconds"] = elapsed.as_secs_f64().into();
        super::print_stdout(&format!("{v}\n"))?;
    }
    for line in r.rows_unpublishable.iter().chain(&r.quarantined) {
        eprintln!("warning: {line}");
    }
    if global.quiet {
        return Ok(());
    }
    for (path, rows) in &r.would_commit {
        eprintln!("would commit {path} ({rows} rows)");
    }
    eprintln!(
        "push-hf: {} rows spooled ({} not accepted, {} unpublishable; {} inputs already spooled), \
         {} rows in {} shards committed in {} commits ({:.1} MB, {} recovered), {} rows waiting in {}; {:.1} s",
        r.rows_spooled,
        r.rows_not_accepted,
        r.rows_unpublishable.len(),
        r.inputs_already_spooled,
        r.rows_committed,
        r.shards_committed,
        r.commits.len(),
        r.bytes_committed as f64 / 1e6,
        r.shards_recovered,
        r.rows_pending,
        spool.display(),
        elapsed.as_secs_f64()
    );
    Ok(())
}
