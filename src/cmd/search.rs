//! `omega search`: find candidate videos and write the `candidates` table.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use omega::ingest::search::{self, SearchOptions};
use omega::ingest::topics::{pick_topics, read_topics, Pick};
use omega::report::Summary;
use omega::table::candidates::CandidateRow;
use omega::table::TableWriter;

use super::{report, runtime, Global, YtDlpArgs};

/// Find candidate videos and write the `candidates` table.
///
/// Sources:
///   youtube  `yt-dlp --flat-playlist ytsearchN:QUERY` with N = ceil(1.5 × --n); live entries
///            are kept as `skipped`/`live`, a missing duration becomes 300 s (as the original).
///   urls     INPUT is a file of URLs (one per line): anything yt-dlp supports, or direct media.
///   dir      INPUT is a folder: every media file under it, probed with FFmpeg; id = content hash.
///
/// Examples:
///   omega search --query "skateboarding tricks" --n 8 -o candidates.parquet
///   omega search --topics topics.txt --pick all --n 4 -o candidates.parquet
///   omega search --source urls urls.txt -o candidates.parquet
///   omega search --source dir ~/videos | omega clip - -o clips.parquet
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
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
    /// yt-dlp runs at a time (urls, topics).
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    #[command(flatten)]
    ytdlp: YtDlpArgs,
    /// Output table (`-` = Arrow IPC stream on stdout).
    #[arg(short, long, default_value = "-")]
    output: String,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Source {
    Youtube,
    Urls,
    Dir,
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut summary = Summary::new("search");
    let rows = match args.source {
        Source::Dir => {
            let dir = args
                .input
                .as_ref()
                .context("--source dir needs a folder: omega search --source dir PATH")?;
            let (rows, others) = search::search_dir(dir, args.query.as_deref())
                .with_context(|| format!("reading the folder {}", dir.display()))?;
            summary.set("ignored_files", others);
            rows
        }
        Source::Urls => {
            let file = args
                .input
                .as_ref()
                .context("--source urls needs a file of URLs: omega search --source urls FILE")?;
            let urls = search::read_url_list(file)
                .with_context(|| format!("reading {}", file.display()))?;
            runtime()?.block_on(search::search_urls(
                &options(&args),
                urls,
                args.query.clone(),
            ))
        }
        Source::Youtube => {
            let queries = queries(&args)?;
            let opts = options(&args);
            runtime()?.block_on(async {
                let mut rows = Vec::new();
                for q in &queries {
                    rows.extend(search::search_youtube(&opts, q, args.n).await);
                }
                rows
            })
        }
    };
    write(&args.output, rows, &mut summary)?;
    summary.finish(started.elapsed());
    report(&summary, global, args.output == "-")
}

fn options(args: &Args) -> SearchOptions {
    SearchOptions {
        ytdlp: args.ytdlp.ytdlp(),
        timeout: Duration::from_secs_f64(args.timeout),
        concurrency: args.concurrency,
    }
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
    Ok(pick_topics(topics, args.pick, args.seed))
}

fn write(output: &str, rows: Vec<CandidateRow>, summary: &mut Summary) -> anyhow::Result<()> {
    let mut writer = TableWriter::<CandidateRow>::create(output)?;
    for row in rows {
        summary.add(row.status, row.error_class, row.bytes);
        writer.push(row)?;
    }
    writer.finish()?;
    Ok(())
}
