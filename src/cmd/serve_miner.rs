//! `omega serve-miner`: an SN24 miner answering validators' `Videos` requests.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use super::args::{
    duration, netuid, ImageBindArgs, SubtensorArgs, WaitArgs, WalletArgs, YtDlpArgs,
};
use super::Global;

use omega::chain::axon::{Endpoint, Served};
use omega::miner::gate::{BlacklistRules, MetagraphGate};
use omega::miner::serve::{self as serving, ServeOptions};
use omega::miner::{Miner, MinerConfig, Source};

/// Serve SN24 validators: answer `Videos(query, num_videos)` with clipped, embedded videos.
///
/// Speaks bittensor's axon protocol (SDK 8.5–10.x headers and signatures, and SDK 11's
/// btauth/1). Every request is checked before any work, in the SDK's order: blacklist (SN24's:
/// registered hotkey, optional validator permit, minimum stake), signature and nonce, a
/// per-hotkey rate limit, then a queue ordered by stake. Answers come from a cache prepared
/// ahead per query (search → clip → embed in process, the model loaded once); a request is
/// never answered past its timeout: when the budget runs out it goes with what is ready.
///
/// With --no-serve-axon and either --metagraph FILE or --blacklist.allow_non_registered,
/// the miner contacts no chain at all.
///
/// Examples:
///   omega serve-miner --wallet.name miner --wallet.hotkey default --model DIR --axon.port 8091
///   omega serve-miner --source dir --source-path ~/videos --model DIR --no-serve-axon \
///       --metagraph metagraph.parquet --metrics-port 9100
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The subnet.
    #[arg(long, default_value = "24", value_parser = netuid)]
    netuid: u16,
    #[command(flatten)]
    wallet: WalletArgs,
    #[command(flatten)]
    subtensor: SubtensorArgs,
    /// Port the axon listens on.
    #[arg(long = "axon.port", default_value = "8091")]
    axon_port: u16,
    /// Address to bind.
    #[arg(long = "axon.ip", default_value = "0.0.0.0")]
    axon_ip: IpAddr,
    /// The public address validators reach, announced on the chain (default: --axon.ip).
    #[arg(long = "axon.external_ip")]
    external_ip: Option<IpAddr>,
    /// Answer hotkeys that are not registered on the subnet.
    #[arg(long = "blacklist.allow_non_registered")]
    allow_non_registered: bool,
    /// Answer only hotkeys with a validator permit.
    #[arg(long = "blacklist.force_validator_permit")]
    force_validator_permit: bool,
    /// Answer only hotkeys with at least this stake (the metagraph's total stake).
    #[arg(long = "blacklist.validator_min_stake", default_value = "10240")]
    validator_min_stake: f64,
    #[command(flatten)]
    imagebind: ImageBindArgs,
    /// Where videos come from: youtube (search), urls (a file of URLs) or dir (a folder).
    #[arg(long, value_enum, default_value = "youtube")]
    source: SourceKind,
    /// The URL file (urls) or the folder (dir).
    #[arg(long, value_name = "PATH")]
    source_path: Option<PathBuf>,
    /// Folder for clips and the miner's state (cache, sent videos).
    #[arg(long, default_value = "media/miner")]
    media_dir: PathBuf,
    /// Disk budget of the answer cache, GB.
    #[arg(long, default_value = "2")]
    cache_gb: f64,
    /// The most an answer may take, seconds (default: the request's timeout less 2 s).
    #[arg(long, value_parser = duration)]
    budget: Option<Duration>,
    /// Ready videos to keep per query.
    #[arg(long, default_value = "16")]
    per_query: usize,
    /// Queries (one per line) to prepare before anyone asks.
    #[arg(long, value_name = "FILE")]
    topics: Option<PathBuf>,
    /// Read the metagraph from an `omega metagraph` table instead of the chain.
    #[arg(long, value_name = "FILE")]
    metagraph: Option<PathBuf>,
    /// Do not announce the axon on the chain.
    #[arg(long)]
    no_serve_axon: bool,
    /// Serve Prometheus metrics on this port (GET /metrics).
    #[arg(long)]
    metrics_port: Option<u16>,
    /// Requests answered at once (others wait, highest stake first).
    #[arg(long, default_value = "8")]
    max_concurrent: usize,
    /// Requests per validator hotkey per minute.
    #[arg(long, default_value = "120")]
    rate_limit: u32,
    #[command(flatten)]
    ytdlp: YtDlpArgs,
    #[command(flatten)]
    wait: WaitArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SourceKind {
    Youtube,
    Urls,
    Dir,
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let stop = omega::signals::stop_on_signals(omega::signals::Stdin::Keep);
    let hotkey = args
        .wallet
        .location()
        .hotkey()
        .context("the miner signs its answers with the wallet's hotkey")?;
    let source = match (args.source, &args.source_path) {
        (SourceKind::Youtube, _) => Source::Youtube,
        (SourceKind::Urls, Some(p)) => Source::Urls(p.clone()),
        (SourceKind::Dir, Some(p)) => Source::Dir(p.clone()),
        _ => anyhow::bail!("--source urls and --source dir need --source-path"),
    };
    let topics = match &args.topics {
        Some(path) => omega::ingest::search::read_url_list(path)
            .with_context(|| format!("reading {}", path.display()))?,
        None => Vec::new(),
    };
    let rules = BlacklistRules {
        allow_non_registered: args.allow_non_registered,
        force_validator_permit: args.force_validator_permit,
        validator_min_stake: args.validator_min_stake,
    };
    let external_ip = args.external_ip.unwrap_or(args.axon_ip);
    let runtime = super::runtime()?;
    let rows = runtime.block_on(metagraph_rows(&args))?;
    if !args.no_serve_axon {
        runtime.block_on(announce(&args, &hotkey, external_ip))?;
    }
    let model = args.imagebind.load(None)?;
    let ytdlp = args.ytdlp.ytdlp();
    let cfg = MinerConfig {
        source,
        search: omega::ingest::search::SearchOptions {
            ytdlp: ytdlp.clone(),
            timeout: Duration::from_secs(60),
            concurrency: 4,
        },
        clip: omega::ingest::clip::ClipOptions::new(args.media_dir.join("clips"), ytdlp),
        state_dir: args.media_dir.join("state"),
        cache_bytes: (args.cache_gb.max(0.0) * 1e9) as u64,
        budget: args.budget,
        per_query: args.per_query.max(1),
    };
    let metrics = std::sync::Arc::new(omega::net::metrics::Metrics::default());
    let miner = Miner::open(cfg, model, metrics).context("opening the miner's state")?;
    let opts = ServeOptions {
        bind: SocketAddr::new(args.axon_ip, args.axon_port),
        external_ip: external_ip.to_string(),
        metrics: args.metrics_port.map(|p| SocketAddr::new(args.axon_ip, p)),
        limits: omega::net::axon::Limits {
            max_concurrent: args.max_concurrent,
            per_hotkey_per_minute: args.rate_limit,
            ..Default::default()
        },
        topics,
    };
    let gate = Box::new(MetagraphGate::new(rules, &rows));
    let quiet = global.quiet;
    let me = omega::net::auth::address(&hotkey);
    runtime.block_on(serving::run(miner, hotkey, gate, opts, stop, |axon, metrics| {
        if !quiet {
            eprintln!("omega miner {me}: axon on {axon} (announced as {external_ip}); {} metagraph neurons", rows.len());
            if let Some(m) = metrics {
                eprintln!("metrics: http://{m}/metrics");
            }
        }
    }))?;
    Ok(())
}

/// The neurons the blacklist checks: from a file, from the chain, or none when the miner
/// serves unregistered callers and talks to no chain.
async fn metagraph_rows(args: &Args) -> anyhow::Result<Vec<omega::table::metagraph::MetagraphRow>> {
    if let Some(path) = &args.metagraph {
        let snapshot = omega::chain::metagraph::read(&path.to_string_lossy())?;
        return Ok(snapshot.rows);
    }
    if args.allow_non_registered && args.no_serve_axon {
        return Ok(Vec::new());
    }
    let chain = args.subtensor.connect().await?;
    Ok(omega::chain::metagraph::snapshot(&chain, args.netuid, None)
        .await?
        .rows)
}

async fn announce(
    args: &Args,
    hotkey: &subxt_signer::sr25519::Keypair,
    ip: IpAddr,
) -> anyhow::Result<()> {
    let chain = args.subtensor.connect().await?;
    let endpoint = Endpoint {
        ip,
        port: args.axon_port,
        protocol: 4,
        version: omega::net::synapse::SDK_VERSION as u32,
    };
    match omega::chain::axon::serve_axon(&chain, hotkey, args.netuid, &endpoint, args.wait.wait())
        .await?
    {
        Served::Unchanged => tracing::info!("the chain already has this axon"),
        Served::Announced { inclusion } => {
            tracing::info!(block = inclusion.block_number, "axon announced")
        }
    }
    Ok(())
}
