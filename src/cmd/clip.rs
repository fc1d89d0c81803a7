//! `omega clip`: cut a clip of every candidate and write the `clips` table.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use omega::ingest::clip::{clip_table, ClipOptions, DEFAULT_FORMAT, MAX_CLIP_S, MIN_CLIP_S};

use super::args::{duration, seconds, ShardArg, YtDlpArgs};
use super::{report, runtime, Global};

/// Cut a clip of every `ok` candidate and write the `clips` table.
///
/// YouTube and URL candidates: only the needed section is downloaded (yt-dlp
/// --download-sections, format `worst` by default as the original), with a per-video time limit
/// and exponential back-off after HTTP 429. Local files are cut directly. Every clip is cut with
/// stream copy (no re-encode), so it starts on a keyframe: `clip_start_s`/`clip_end_s` say where
/// it really lies. Clips are stored under --media-dir with deterministic names; a rerun reuses
/// finished clips. Rows that were not `ok` pass through unchanged.
///
/// KEY (--shard): video_id. Workers sharing --media-dir never cut the same clip.
///
/// Examples:
///   omega clip -i candidates.parquet -o clips.parquet --media-dir media/
///   omega clip -i candidates/ -o clips/ --shard 3/8 --media-dir /shared/media
///   omega search --source dir ~/videos | omega clip - -o clips.parquet --jobs 4
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The candidates table (`-` = stdin).
    #[arg(short, long, default_value = "-")]
    input: String,
    /// The candidates table, as a positional argument (same as -i).
    #[arg(value_name = "INPUT", conflicts_with = "input")]
    input_positional: Option<String>,
    /// Output table (`-` = Arrow IPC stream on stdout).
    #[arg(short, long, default_value = "-")]
    output: String,
    /// Folder for the clip files and their records.
    #[arg(long, default_value = "media")]
    media_dir: PathBuf,
    /// Start of the clip in the source, seconds (the original always uses 0).
    #[arg(long, default_value = "0", value_parser = seconds)]
    start: f64,
    /// Longest clip, seconds.
    #[arg(long, default_value_t = MAX_CLIP_S, value_parser = seconds)]
    max_seconds: f64,
    /// Shorter sources or clips are kept as `skipped` / `too_short` (the original's checks reject < 5 s).
    #[arg(long, default_value_t = MIN_CLIP_S, value_parser = seconds)]
    min_seconds: f64,
    /// yt-dlp format selector.
    #[arg(long, default_value = DEFAULT_FORMAT)]
    format: String,
    /// Time limit of one download attempt, seconds.
    #[arg(long, default_value = "120", value_parser = duration)]
    timeout: Duration,
    /// Extra attempts after HTTP 429 (rate limited).
    #[arg(long, default_value_t = 3)]
    retries: u32,
    /// First back-off after HTTP 429, milliseconds; doubled each time.
    #[arg(long, default_value_t = 2000)]
    backoff_ms: u64,
    /// Clips at a time (default: the number of cores).
    #[arg(short, long)]
    jobs: Option<usize>,
    #[command(flatten)]
    ytdlp: YtDlpArgs,
    #[command(flatten)]
    shard: ShardArg,
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let started = Instant::now();
    let opts = Arc::new(options(&args)?);
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let input = args.input_positional.as_deref().unwrap_or(&args.input);
    let summary = args.shard.run("clip", &args.output, started, |output| {
        let bar = omega::progress::rows(args.shard.total_rows(input), "clip", global.quiet);
        let summary = runtime()?
            .block_on(clip_table(
                input,
                args.shard.shard,
                output,
                opts,
                jobs,
                |row| {
                    bar.inc(1);
                    bar.set_message(row.video_id.clone());
                },
            ))
            .with_context(|| format!("clipping {input} into {output}"))?;
        bar.finish_and_clear();
        Ok(summary)
    })?;
    report(&summary, global, args.output == "-")
}

fn options(args: &Args) -> anyhow::Result<ClipOptions> {
    if !(args.max_seconds > 0.0 && args.min_seconds <= args.max_seconds) {
        bail!("need --min-seconds <= --max-seconds and --max-seconds > 0");
    }
    let mut opts = ClipOptions::new(args.media_dir.clone(), args.ytdlp.ytdlp());
    opts.start_s = args.start;
    opts.max_s = args.max_seconds;
    opts.min_s = args.min_seconds;
    opts.format = args.format.clone();
    opts.timeout = args.timeout;
    opts.retries = args.retries;
    opts.backoff = Duration::from_millis(args.backoff_ms);
    Ok(opts)
}
