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
