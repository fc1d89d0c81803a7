//! Arguments and value parsers shared by the subcommands: every command parses seconds, UIDs
//! and the common option groups the same way.

use std::path::PathBuf;
use std::time::Duration;

/// The longest time limit a flag takes: a day. Anything longer is a typo, and values beyond
/// what `Duration` holds (`inf`) would panic.
const MAX_SECONDS: f64 = 86_400.0;

/// A number of seconds (a time limit, a position in a video): finite, ≥ 0, at most a day.
pub fn seconds(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !v.is_finite() || !(0.0..=MAX_SECONDS).contains(&v) {
        return Err(format!(
            "{text} seconds: expected a finite number from 0 to {MAX_SECONDS} (a day)"
        ));
    }
    Ok(v)
}

/// A time limit in seconds, as a `Duration`.
pub fn duration(text: &str) -> Result<Duration, String> {
    seconds(text).map(Duration::from_secs_f64)
}

/// A miner UID: 0..=65535 (u16 on the chain).
pub fn uid(text: &str) -> Result<omega::uid::Uid, String> {
    omega::uid::parse_uid(text).map_err(|e| e.to_string())
}

/// A probability: 0 to 1.
pub fn probability(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("{text}: expected a probability from 0 to 1"));
    }
    Ok(v)
}

/// The input and output of a stage that extends a table.
#[derive(clap::Args, Clone)]
pub struct TableIo {
    /// The input table (`-` = stdin).
    #[arg(short, long, default_value = "-")]
    pub input: String,
    /// Output table (`-` = Arrow IPC stream on stdout).
    #[arg(short, long, default_value = "-")]
    pub output: String,
}

/// The scoring constants a stage uses (thresholds, lengths, weights).
#[derive(clap::Args, Clone)]
pub struct ConfigArg {
    /// Scoring constants as JSON (ScoreConfig; unknown keys are refused). The same file is
    /// taken by `validate`, `dedup` and `score`. Default: the original's values.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl ConfigArg {
    pub fn load(&self) -> anyhow::Result<omega::score::ScoreConfig> {
        use anyhow::Context;
        match &self.config {
            Some(path) => omega::score::ScoreConfig::load(path)
                .context("fix the config file, or leave --config out for the original's values"),
            None => Ok(omega::score::ScoreConfig::default()),
        }
    }
}

/// The ImageBind model a stage loads, and where it runs.
#[derive(clap::Args, Clone)]
pub struct ImageBindArgs {
    /// ImageBind model directory (manifest.json + ONNX encoders + BPE vocabulary).
    #[arg(long, env = "OMEGA_MODEL", value_name = "DIR")]
    pub model: PathBuf,
    /// cpu, cuda or cuda:N (needs an ONNX Runtime with the CUDA provider).
    #[arg(long, default_value = "cpu")]
    pub device: omega::model::Device,
}

impl ImageBindArgs {
    /// Loads the model with `threads` threads (all cores when `None`).
    pub fn load(&self, threads: Option<usize>) -> anyhow::Result<omega::model::ImageBind> {
        use anyhow::Context;
        let threads =
            threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        omega::model::ImageBind::load(&self.model, self.device, threads)
            .with_context(|| format!("loading the model in {}", self.model.display()))
    }
}

/// Arguments shared by the stages that run yt-dlp.
#[derive(clap::Args, Clone)]
pub struct YtDlpArgs {
    /// The yt-dlp program (default: $OMEGA_YT_DLP, then `yt-dlp` on PATH, then `python3 -m yt_dlp`).
    #[arg(long = "yt-dlp", value_name = "PATH")]
    pub yt_dlp: Option<PathBuf>,
    /// Proxy URL for yt-dlp (e.g. socks5://127.0.0.1:1080).
    #[arg(long)]
    pub proxy: Option<String>,
    /// Netscape cookies file for yt-dlp (helps against YouTube's bot check).
    #[arg(long, value_name = "FILE")]
    pub cookies: Option<PathBuf>,
}

impl YtDlpArgs {
    pub fn ytdlp(&self) -> omega::ingest::ytdlp::YtDlp {
        let mut y = omega::ingest::ytdlp::YtDlp::locate(self.yt_dlp.as_deref());
        y.proxy = self.proxy.clone();
        y.cookies = self.cookies.clone();
        y
    }
}

/// Where the chain is, as bittensor users write it.
#[derive(clap::Args, Clone)]
pub struct SubtensorArgs {
    /// finney (main network), test or local (ws://127.0.0.1:9944).
    #[arg(
        long = "subtensor.network",
        env = "BT_SUBTENSOR_NETWORK",
        value_enum,
        default_value = "finney"
    )]
    pub network: omega::chain::Network,
    /// A node's websocket address (ws:// or wss://); overrides --subtensor.network.
    #[arg(
        long = "subtensor.chain_endpoint",
        env = "BT_SUBTENSOR_CHAIN_ENDPOINT",
        value_name = "URL"
    )]
    pub chain_endpoint: Option<String>,
    /// Limit for each request to the node, seconds.
    #[arg(long = "subtensor.timeout", default_value = "30", value_parser = duration, value_name = "SECONDS")]
    pub timeout: Duration,
}

impl SubtensorArgs {
    pub fn options(&self) -> omega::chain::ConnectOptions {
        let mut o = omega::chain::ConnectOptions::new(self.network, self.chain_endpoint.as_deref());
        o.request_timeout = self.timeout;
        o
    }

    /// Connects (with retries); the error says which endpoint and what to check.
    pub async fn connect(&self) -> anyhow::Result<omega::chain::Chain> {
        Ok(omega::chain::Chain::connect(&self.options()).await?)
    }
}

/// A bittensor wallet, as `btcli` lays it out.
#[derive(clap::Args, Clone)]
pub struct WalletArgs {
    /// The wallet's name (a folder under --wallet.path).
    #[arg(
        long = "wallet.name",
        env = "BT_WALLET_NAME",
        default_value = "default",
        value_name = "NAME"
    )]
    pub name: String,
    /// The hotkey's name (a file under NAME/hotkeys/).
    #[arg(
        long = "wallet.hotkey",
        env = "BT_WALLET_HOTKEY",
        default_value = "default",
        value_name = "NAME"
    )]
    pub hotkey: String,
    /// The wallets' folder.
    #[arg(
        long = "wallet.path",
        env = "BT_WALLET_PATH",
        default_value = "~/.bittensor/wallets",
        value_name = "DIR"
    )]
    pub path: PathBuf,
}

impl WalletArgs {
    pub fn location(&self) -> omega::chain::wallet::WalletLocation {
        omega::chain::wallet::WalletLocation::new(&self.path, &self.name, &self.hotkey)
    }
}

/// Waiting for a transaction.
#[derive(clap::Args, Clone)]
pub struct WaitArgs {
    /// Wait until the block is finalized (about 2 blocks more), not just included.
    #[arg(long = "wait-for-finalization")]
    pub finalization: bool,
    /// Limit for the whole wait, seconds.
    #[arg(long = "wait-timeout", default_value = "120", value_parser = duration, value_name = "SECONDS")]
    pub limit: Duration,
}

impl WaitArgs {
    pub fn wait(&self) -> omega::chain::submit::Wait {
        omega::chain::submit::Wait {
            finalization: self.finalization,
            limit: self.limit,
        }
    }
}

/// A subnet number.
pub fn netuid(text: &str) -> Result<u16, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a subnet number (0..=65535)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_finite_non_negative_and_bounded() {
        assert_eq!(seconds("2.5"), Ok(2.5));
        assert_eq!(seconds("0"), Ok(0.0));
        for bad in ["-1", "nan", "NaN", "inf", "-inf", "1e300", "86401", "x", ""] {
            assert!(seconds(bad).is_err(), "{bad}");
            assert!(duration(bad).is_err(), "{bad}");
        }
        assert_eq!(duration("1.5"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn uids_and_probabilities() {
        assert_eq!(uid("17"), Ok(17));
        assert!(uid("18446744073709551615").is_err());
        assert!(uid("65536").is_err());
        assert_eq!(probability("0.1"), Ok(0.1));
        assert!(probability("1.5").is_err());
        assert!(probability("nan").is_err());
    }
}

/// `--shard I/N`: run a stage on one part of its input (see [`omega::shard`]).
#[derive(clap::Args, Clone)]
pub struct ShardArg {
    /// Process only part I of N (I from 0) of the input, split by a hash of each row's key
    /// (see KEY above), and write it into the folder -o as part-IIIII-of-NNNNN.parquet, then
    /// its completion marker part-IIIII-of-NNNNN.stats.json (rows by status and error class,
    /// bytes, seconds). A part whose marker exists is not run again, so rerunning a killed job
    /// finishes only what is missing. Every stage reads such a folder (-i DIR) as the union of
    /// its parts, once all N are complete.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<omega::shard::Shard>,
}

impl ShardArg {
    /// Runs `stage` on the whole input into `output`, or on part `--shard` into the folder
    /// `output` (skipped when that part is complete), and returns its finished summary.
    pub fn run(
        &self,
        name: &'static str,
        output: &str,
        started: std::time::Instant,
        stage: impl FnOnce(&str) -> anyhow::Result<omega::report::Summary>,
    ) -> anyhow::Result<omega::report::Summary> {
        use anyhow::Context;
        let Some(shard) = self.shard else {
            let mut summary = stage(output)?;
            summary.finish(started.elapsed());
            return Ok(summary);
        };
        if output == "-" {
            anyhow::bail!("--shard writes a folder of parts: give it with -o DIR");
        }
        std::fs::create_dir_all(output).with_context(|| format!("creating the folder {output}"))?;
        let part = omega::shard::PartOutput::new(output, shard);
        let table = part.table().to_string_lossy().into_owned();
        let mut summary = if part.is_done() {
            let mut skipped = omega::report::Summary::new(name);
            skipped.set("already_complete", true);
            skipped
        } else {
            let mut summary = stage(&table)?;
            summary.finish(started.elapsed());
            part.complete(&summary)
                .with_context(|| format!("writing {}", part.marker().display()))?;
            summary
        };
        summary.set("shard", shard.to_string());
        summary.set("output", table);
        summary.finish(started.elapsed());
        Ok(summary)
    }

    /// The progress bar's total: the input's rows, unknown for one part of it.
    pub fn total_rows(&self, input: &str) -> Option<u64> {
        self.shard
            .is_none()
            .then(|| omega::table::total_rows(input))
            .flatten()
    }
}
