//! `omega run-validator`: an SN24 validator, as a loop over the library's stages.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use omega::hub::remote::RetryPolicy;
use omega::hub::{Layout, PushOptions};
use omega::index::{self, AnnParams, Backend};
use omega::table::EMBEDDING_DIM;
use omega::validate::{CheckMode, ValidateOptions};
use omega::validator::round::Judges;
use omega::validator::run::{Neurons, Publisher, Topics, Validator, ValidatorConfig};

use super::args::{
    duration, netuid, probability, ImageBindArgs, SubtensorArgs, WaitArgs, WalletArgs, YtDlpArgs,
};
use super::push_hf::{model_provenance, Destination};
use super::Global;

/// Validate SN24: every round, ask a sample of miners about a topic, judge their answers, keep
/// a moving average per miner, set weights every epoch and publish the accepted videos.
///
/// A round: pick a topic (--topics, a file or a URL; blank lines ignored); sample
/// --neuron.sample_size serving miners (not validators above --neuron.vpermit_tao_limit, not
/// itself); ask them through the dendrite (--neuron.timeout); validate (a spot check through
/// yt-dlp + ImageBind with --check-probability), de-duplicate against the index of every
/// accepted video and score every answer in process; apply the round to the moving averages;
/// spool the accepted rows for the Hub (committed at --flush-at rows and on shutdown).
/// Weights from the moving averages go to the chain every --neuron.epoch_length blocks
/// (commit-reveal when the subnet has it on).
///
/// Crash-safe: every round is a journal under DATA/work/ and is committed as a unit; a kill at
/// any point, then a restart, finishes the round without losing an accepted row or counting the
/// round twice. SIGINT/SIGTERM: the round in flight is left for the next start (or dropped if
/// its miners were still being asked), the spool is committed, exit 0.
///
/// DATA (--data-dir; default ~/.bittensor/miners/WALLET/HOTKEY/netuid24/validator):
///   state.json   moving averages, last round applied, weights history (atomic)
///   index/       novelty index of every accepted video
///   spool/       accepted rows not yet on the Hub
///   work/        the round in flight
///   rounds/      round-N.parquet (every answer and video with every score component, a
///                `scored` table), miners-N.parquet (`round-miners`), weights-N.parquet
///                (`weights`: what was set, with the outcome in the file's metadata)
///
/// --config FILE: a JSON object of this command's flags by their long names (e.g.
/// {"netuid": 24, "wallet.name": "v", "neuron.sample_size": 10, "to": "dataset/"}), and the
/// scoring constants under "score" (as the stages' --config); flags on the command line win.
///
/// Without a chain: --metagraph FILE (an `omega metagraph` table) and --dry-run-weights;
/// weights are then computed and recorded after every round.
///
/// Examples:
///   omega run-validator --wallet.name validator --wallet.hotkey default --topics topics.txt \
///       --model DIR --text-model DIR --repo my-org/omega-videos --metrics-port 9101
///   omega run-validator --metagraph metagraph.parquet --dry-run-weights --rounds 3 \
///       --topics topics.txt --model DIR --text-model DIR --to dataset/
#[derive(clap::Args)]
#[command(verbatim_doc_comment, args_override_self = true)]
pub struct Args {
    /// The subnet.
    #[arg(long, default_value = "24", value_parser = netuid)]
    netuid: u16,
    #[command(flatten)]
    wallet: WalletArgs,
    #[command(flatten)]
    subtensor: SubtensorArgs,
    /// A JSON file holding any of these flags (the scoring constants under "score").
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Topics: a file, or an http(s) URL of a text/CSV file (one topic per line; re-read hourly).
    #[arg(long, value_name = "FILE|URL")]
    topics: String,
    /// Where the state, index, spool, round journal and round tables live.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The original's logging directory (the default --data-dir is under it).
    #[arg(
        long = "logging.logging_dir",
        default_value = "~/.bittensor/miners",
        value_name = "DIR"
    )]
    logging_dir: PathBuf,
    /// Log at debug level (as -vv).
    #[arg(long = "logging.debug")]
    logging_debug: bool,
    /// Stop after N rounds (cron, tests).
    #[arg(long, value_name = "N")]
    rounds: Option<u64>,
    /// Blocks between metagraph syncs and between weights.
    #[arg(
        long = "neuron.epoch_length",
        default_value = "100",
        value_name = "BLOCKS"
    )]
    epoch_length: u64,
    /// Miners asked per round.
    #[arg(long = "neuron.sample_size", default_value = "10", value_name = "N")]
    sample_size: usize,
    /// Neurons with a validator permit and more stake than this are not asked.
    #[arg(
        long = "neuron.vpermit_tao_limit",
        default_value = "4096",
        value_name = "TAO"
    )]
    vpermit_tao_limit: f64,
    /// Seconds miners have to answer (the original hard-codes 120).
    #[arg(long = "neuron.timeout", default_value = "120", value_parser = duration, value_name = "SECONDS")]
    neuron_timeout: Duration,
    /// An `omega metagraph` table instead of reading the chain.
    #[arg(long, value_name = "FILE")]
    metagraph: Option<PathBuf>,
    /// Compute and record weights, send none (with no chain: after every round).
    #[arg(long)]
    dry_run_weights: bool,
    /// The Focus marketplace to read purchases from each round (`omega serve-market`, or the
    /// original's validator API); without it YouTube answers decide all the weight.
    #[arg(long, value_name = "URL")]
    focus_url: Option<String>,
    /// The Focus purchases' share of the weights (the seed README's 2.5 %; the network's
    /// latest code uses 1.0).
    #[arg(long, default_value_t = 0.025, value_name = "SHARE", value_parser = super::args::probability)]
    focus_share: f64,
    /// era: per sampled miner the moving average of Σ max(score, 0.005) over its purchases of
    /// the last 24 h; head: every UID's share of the TAO paid in the last 24 h, overwritten
    /// each round.
    #[arg(long, value_enum, default_value = "era")]
    focus_formula: omega::validator::focus::FocusFormula,
    /// Without a chain: the subnet's MinAllowedWeights for the weight processing.
    #[arg(
        long = "weights.min_allowed_weights",
        default_value = "1",
        value_name = "N"
    )]
    min_allowed_weights: u16,
    /// Without a chain: the subnet's MaxWeightsLimit (u16: 65535 = no cap).
    #[arg(
        long = "weights.max_weight_limit",
        default_value = "65535",
        value_name = "U16"
    )]
    max_weight_limit: u16,
    /// The version key sent with weights (default: the subnet's WeightsVersionKey).
    #[arg(long, value_name = "N")]
    version_key: Option<u64>,
    /// Probability of a full spot check of one video per answer (default: the config's, 0.1).
    #[arg(long, value_parser = probability)]
    check_probability: Option<f64>,
    /// Seed of the topic, sample and spot-check choices (each round draws from seed and round).
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    imagebind: ImageBindArgs,
    /// The sentence model of the text similarity (gte-large in the live network).
    #[arg(long, env = "OMEGA_TEXT_MODEL", value_name = "DIR")]
    text_model: PathBuf,
    /// The stuffing classifier (without one that check is skipped).
    #[arg(long, env = "OMEGA_STUFFING_MODEL", value_name = "DIR")]
    stuffing_model: Option<PathBuf>,
    /// The novelty index backend: exact; ivf (inverted lists over the same files, for large
    /// indexes); ann (usearch HNSW, `--features ann` builds).
    #[arg(long = "index.backend", value_enum, default_value = "exact")]
    backend: Backend,
    /// The novelty index: a folder (default DATA_DIR/index), or a Milvus collection shared by
    /// several validators, milvus://HOST:PORT/COLLECTION (`--features milvus` builds).
    #[arg(long = "index", value_name = "LOCATION")]
    index: Option<String>,
    /// Publish accepted rows to this Hugging Face dataset (ORG/NAME).
    #[arg(
        long,
        value_name = "ORG/NAME",
        conflicts_with = "to",
        required_unless_present = "to"
    )]
    repo: Option<String>,
    /// Publish accepted rows to a local copy of a dataset repository instead.
    #[arg(long, value_name = "DIR")]
    to: Option<PathBuf>,
    /// Commit to the Hub when this many accepted rows are spooled (and on shutdown).
    #[arg(long, default_value = "1024", value_name = "N")]
    flush_at: usize,
    #[arg(long, value_enum, default_value = "omega")]
    layout: Layout,
    /// The Hub endpoint (a mirror).
    #[arg(long, env = "HF_ENDPOINT", value_name = "URL")]
    endpoint: Option<String>,
    /// Serve Prometheus metrics on this port (GET /metrics).
    #[arg(long, value_name = "PORT")]
    metrics_port: Option<u16>,
    /// Where re-downloads for spot checks go.
    #[arg(long, value_name = "DIR")]
    media_dir: Option<PathBuf>,
    #[command(flatten)]
    ytdlp: YtDlpArgs,
    #[command(flatten)]
    wait: WaitArgs,
}

impl Args {
    pub fn logging_debug(&self) -> bool {
        self.logging_debug
    }
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let started = Instant::now();
    let stop = omega::signals::stop_on_signals(omega::signals::Stdin::Keep);
    let data = args
        .data_dir
        .clone()
        .unwrap_or_else(|| default_data_dir(&args));
    std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
    let cfg = score_config(args.config.as_deref())?;
    let location = args.wallet.location();
    let hotkey = location
        .hotkey()
        .context("the validator signs its requests with the wallet's hotkey")?;
    let me = omega::net::auth::address(&hotkey);
    let dendrite = omega::net::dendrite::Dendrite::new(
        hotkey,
        "127.0.0.1",
        omega::net::dendrite::AuthScheme::Legacy,
    );
    let neurons = match &args.metagraph {
        Some(path) => Neurons::File(
            omega::chain::metagraph::read(&path.to_string_lossy())
                .context("fix the --metagraph file (write one with omega metagraph)")?
                .rows,
        ),
        None => Neurons::Chain {
            options: args.subtensor.options(),
            chain: None,
            rows: Vec::new(),
            synced_at: None,
        },
    };
    let judges = judges(&args, &data, cfg.clone())?;
    let index_location = match &args.index {
        Some(location) => location.clone(),
        None => data.join("index").to_string_lossy().into_owned(),
    };
    let index = index::open_location(
        &index_location,
        args.backend,
        AnnParams::default(),
        EMBEDDING_DIM,
    )
    .with_context(|| format!("opening the index {index_location}"))?;
    let validator_cfg = ValidatorConfig {
        netuid: args.netuid,
        data_dir: data.clone(),
        sample_size: args.sample_size,
        vpermit_tao_limit: args.vpermit_tao_limit,
        timeout: args.neuron_timeout,
        num_videos: cfg.num_videos as i64,
        epoch_length: args.epoch_length.max(1),
        rounds: args.rounds,
        seed: args.seed,
        dry_run_weights: args.dry_run_weights || args.metagraph.is_some(),
        offline_limits: (args.min_allowed_weights, args.max_weight_limit),
        version_key: args.version_key,
        wait: args.wait.wait(),
        focus: args
            .focus_url
            .clone()
            .map(|url| omega::validator::focus::FocusConfig {
                url,
                share: args.focus_share,
                formula: args.focus_formula,
                timeout: Duration::from_secs(10),
            }),
    };
    let mut validator = Validator::open(
        validator_cfg,
        judges,
        dendrite,
        location,
        me.clone(),
        topics(&args.topics),
        neurons,
        index,
        publisher(&args, &data)?,
    )?;
    if let Some(port) = args.metrics_port {
        let addr = SocketAddr::from(([0, 0, 0, 0], port));
        let listener = validator
            .runtime()
            .block_on(tokio::net::TcpListener::bind(addr))
            .with_context(|| format!("binding the metrics port {port}"))?;
        let metrics = validator.metrics.clone();
        validator
            .runtime()
            .spawn(omega::net::metrics::serve(metrics, listener, stop));
    }
    if !global.quiet {
        eprintln!("omega validator {me}: data in {}", data.display());
    }
    let report = validator.run(stop)?;
    if global.json {
        let mut v = serde_json::to_value(&report)?;
        v["stage"] = "run-validator".into();
        v["seconds"] = started.elapsed().as_secs_f64().into();
        super::print_stdout(&format!("{v}\n"))?;
    }
    if !global.quiet {
        eprintln!(
            "run-validator: {} rounds, {} answers, {} videos accepted, {} rows waiting in the spool ({:.1}s)",
            report.rounds,
            report.answers,
            report.accepted,
            report.rows_pending,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn judges(args: &Args, data: &Path, cfg: omega::score::ScoreConfig) -> anyhow::Result<Judges> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let imagebind = args.imagebind.load(None)?;
    let text = omega::model::SentenceModel::load(&args.text_model, cores)
        .with_context(|| format!("loading {}", args.text_model.display()))?;
    let stuffing = match &args.stuffing_model {
        Some(dir) => Some(
            omega::model::TextClassifier::load(dir, cores)
                .with_context(|| format!("loading {}", dir.display()))?,
        ),
        None => None,
    };
    let media = args.media_dir.clone().unwrap_or_else(|| data.join("media"));
    let mut clip = omega::ingest::clip::ClipOptions::new(media, args.ytdlp.ytdlp());
    // The original's VIDEO_DOWNLOAD_TIMEOUT, one attempt.
    clip.timeout = Duration::from_secs(10);
    clip.retries = 0;
    let check = CheckMode::Random(args.check_probability.unwrap_or(cfg.check_probability));
    Ok(Judges {
        imagebind,
        text,
        stuffing,
        validate: ValidateOptions {
            cfg,
            check,
            clip,
            embed: omega::embed::EmbedOptions::default(),
            seed: args.seed,
        },
    })
}

fn publisher(args: &Args, data: &Path) -> anyhow::Result<Publisher> {
    let destination = Destination {
        repo: args.repo.as_deref(),
        to: args.to.as_deref(),
        spool: Some(data.join("spool")),
        endpoint: args.endpoint.as_deref(),
        layout: args.layout,
    };
    let (target, spool, _) = destination.open(RetryPolicy::default())?;
    Ok(Publisher {
        spool,
        target,
        opts: PushOptions {
            layout: args.layout,
            shard_rows: 8192,
            flush_at: Some(args.flush_at.max(1)),
            dry_run: false,
            files_per_commit: 50,
            provenance: model_provenance(&args.imagebind.model)?,
        },
    })
}

fn topics(text: &str) -> Topics {
    if text.starts_with("http://") || text.starts_with("https://") {
        Topics::Url(text.to_string())
    } else {
        Topics::File(PathBuf::from(text))
    }
}

/// The original's state folder: LOGGING_DIR/WALLET/HOTKEY/netuidN/validator.
fn default_data_dir(args: &Args) -> PathBuf {
    let root = omega::chain::wallet::expand_home(&args.logging_dir);
    root.join(&args.wallet.name)
        .join(&args.wallet.hotkey)
        .join(format!("netuid{}", args.netuid))
        .join("validator")
}

/// The scoring constants: the "score" object of the --config file.
fn score_config(config: Option<&Path>) -> anyhow::Result<omega::score::ScoreConfig> {
    let Some(path) = config else {
        return Ok(Default::default());
    };
    let object = read_config(path)?;
    match object.get("score") {
        None => Ok(Default::default()),
        Some(score) => serde_json::from_value(score.clone()).with_context(|| {
            format!(
                "{}: `score`: not scoring constants (see omega score --help)",
                path.display()
            )
        }),
    }
}

fn read_config(path: &Path) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    match serde_json::from_str(&text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => bail!("{}: a JSON object of flags is expected", path.display()),
        Err(e) => bail!("{}: not JSON: {e}", path.display()),
    }
}

/// `omega run-validator --config FILE ...`: the file's flags are put before the command line's,
/// which win (`args_override_self`). Keys are the flags' long names; unknown keys are refused
/// with the file and key named.
pub fn expand_config(argv: Vec<OsString>, known: &[String]) -> anyhow::Result<Vec<OsString>> {
    let Some(at) = argv.iter().position(|a| a == "run-validator") else {
        return Ok(argv);
    };
    let mut path = None;
    for (i, a) in argv.iter().enumerate().skip(at + 1) {
        let text = a.to_string_lossy();
        if let Some(p) = text.strip_prefix("--config=") {
            path = Some(PathBuf::from(p));
        } else if text == "--config" {
            path = argv.get(i + 1).map(PathBuf::from);
        }
    }
    let Some(path) = path else { return Ok(argv) };
    let mut flags: Vec<OsString> = Vec::new();
    for (key, value) in read_config(&path)? {
        if key == "score" || key == "config" {
            continue;
        }
        if !known.contains(&key) {
            bail!(
                "{}: `{key}` is not a flag of omega run-validator (see --help)",
                path.display()
            );
        }
        let flag = OsString::from(format!("--{key}"));
        let values = match value {
            serde_json::Value::Array(items) => items,
            other => vec![other],
        };
        for v in values {
            match v {
                serde_json::Value::Bool(true) => flags.push(flag.clone()),
                serde_json::Value::Bool(false) | serde_json::Value::Null => {}
                serde_json::Value::String(s) => flags.extend([flag.clone(), s.into()]),
                serde_json::Value::Number(n) => flags.extend([flag.clone(), n.to_string().into()]),
                other => bail!("{}: `{key}`: {other} is not a flag value", path.display()),
            }
        }
    }
    let mut out = argv[..=at].to_vec();
    out.extend(flags);
    out.extend_from_slice(&argv[at + 1..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_flags_come_first_so_the_command_line_wins() {
        let dir = std::env::temp_dir().join(format!("omega-rv-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("v.json");
        std::fs::write(
            &path,
            r#"{"netuid": 3, "dry-run-weights": true, "index.backend": "exact", "score": {"min_score": 0.01}}"#,
        )
        .unwrap();
        let known: Vec<String> = ["netuid", "dry-run-weights", "index.backend", "config"]
            .map(String::from)
            .to_vec();
        let argv = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let path_text = path.to_string_lossy().into_owned();
        let out = expand_config(
            argv(&[
                "omega",
                "run-validator",
                "--config",
                &path_text,
                "--netuid",
                "24",
            ]),
            &known,
        )
        .unwrap();
        assert_eq!(
            out,
            argv(&[
                "omega",
                "run-validator",
                "--dry-run-weights",
                "--index.backend",
                "exact",
                "--netuid",
                "3",
                "--config",
                &path_text,
                "--netuid",
                "24"
            ])
        );
        assert_eq!(score_config(Some(&path)).unwrap().min_score, 0.01);
        std::fs::write(&path, r#"{"neuron.sample_sise": 3}"#).unwrap();
        let e = expand_config(
            argv(&["omega", "run-validator", "--config", &path_text]),
            &known,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("v.json") && e.contains("neuron.sample_sise"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
