//! `omega search`: find candidate videos and write the `candidates` table.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use omega::ingest::search::{search_table, SearchOptions, SearchSource};
use omega::ingest::topics::{pick_topics, read_topics, Pick};

use super::args::{duration, ShardArg, YtDlpArgs};
use super::{report, runtime, Global};

/// Find candidate videos and write the `candidates` table.
///
/// Sources:
///   youtube  `yt-dlp --flat-playlist ytsearchN:QUERY` with N = ceil(1.5 × --n); live entries
///            are kept as `skipped`/`live`, a missing duration becomes 300 s (as the original).
///   urls     INPUT is a file of URLs (one per line): anything yt-dlp supports, or direct media.
///   dir      INPUT is a folder: every media file under it, probed with FFmpeg; id = content hash.
///
/// KEY (--shard): the query or topic (youtube), the URL (urls), the path under the folder (dir).
///
/// Examples:
///   omega search --query "skateboarding tricks" --n 8 -o candidates.parquet
///   omega search --topics topics.txt --pick all --n 4 -o candidates.parquet
///   omega search --source urls urls.txt -o candidates.parquet
///   omega search --source dir ~/videos | omega clip - -o clips.parquet
///   omega search --topics topics.txt --pick all --shard 0/16 -o candidates/
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Where candidates come from.
    #[arg(long, value_enum, default_value = "youtube")]
    source: Source,
    /// The URL list (--source urls) or folder (--source dir).
    input: Option<PathBuf>,
    /// The search query (YouTube); recorded in the `query` column for every source.
    #[arg(long, conflicts_with = "topics")]
    query: Option<String>,
    /// File of topics, one per line (blank lines and # comments ignored).
    #[arg(long, value_name = "FILE")]
    topics: Option<PathBuf>,
    /// With --topics: search one random topic or all of them.
    #[arg(long, value_enum, default_value = "random")]
    pick: Pick,
    /// Seed for --pick random (reproducible runs).
    #[arg(long)]
    seed: Option<u64>,
    /// Videos wanted per query (YouTube is asked for ceil(1.5 × n) results).
    #[arg(long, default_value_t = 8)]
    n: usize,
    /// Time limit of one yt-dlp run, in seconds.
    #[arg(long, default_value = "60", value_parser = duration)]
    timeout: Duration,
    /// yt-dlp runs at a time (urls, topics).
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    #[command(flatten)]
    ytdlp: YtDlpArgs,
    /// Output table (`-` = Arrow IPC stream on stdout).
    #[arg(short, long, default_value = "-")]
    output: String,
    #[command(flatten)]
    shard: ShardArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Source {
    Youtube,
    Urls,
    Dir,
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let started = Instant::now();
    let source = source(&args)?;
    let opts = SearchOptions {
        ytdlp: args.ytdlp.ytdlp(),
        timeout: args.timeout,
        concurrency: args.concurrency,
    };
    let summary = args.shard.run("search", &args.output, started, |output| {
        runtime()?
            .block_on(search_table(
                &source,
                args.shard.shard,
                args.query.as_deref(),
                &opts,
                output,
            ))
            .context("searching for candidates")
    })?;
    report(&summary, global, args.output == "-")
}

fn source(args: &Args) -> anyhow::Result<SearchSource> {
    Ok(match args.source {
        Source::Dir => SearchSource::Dir {
            root: args
                .input
                .clone()
                .context("--source dir needs a folder: omega search --source dir PATH")?,
        },
        Source::Urls => SearchSource::Urls {
            file: args
                .input
                .clone()
                .context("--source urls needs a file of URLs: omega search --source urls FILE")?,
        },
        Source::Youtube => SearchSource::Youtube {
            queries: queries(args)?,
            wanted: args.n,
        },
    })
}

fn queries(args: &Args) -> anyhow::Result<Vec<String>> {
    if let Some(q) = &args.query {
        if q.trim().is_empty() {
            bail!("--query is empty");
        }
        return Ok(vec![q.clone()]);
    }
    let Some(file) = &args.topics else {
        bail!("give --query TEXT or --topics FILE")
    };
    let topics =
        read_topics(file).with_context(|| format!("reading topics from {}", file.display()))?;
    if topics.is_empty() {
        bail!(
            "{}: no topics (one per line; blank lines and # comments are ignored)",
            file.display()
        );
    }
    if args.shard.shard.is_some() && args.pick == Pick::Random && args.seed.is_none() {
        bail!("--shard with --pick random needs --seed: every part must draw the same topics");
    }
    Ok(pick_topics(topics, args.pick, args.seed))
}
