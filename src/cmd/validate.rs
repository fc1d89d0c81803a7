//! `omega validate`: the validator's checks of every answer.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::args::{duration, probability, ConfigArg, ImageBindArgs, ShardArg, TableIo, YtDlpArgs};
use super::{report, Global};

use omega::embed::EmbedOptions;
use omega::ingest::clip::ClipOptions;
use omega::validate::{validate_table, CheckMode, ValidateOptions};

/// Check every answer as an SN24 validator does, keeping every number for audit.
///
/// Per answer, in the original's order: empty → 0.005; a YouTube id not of 11 characters → −5;
/// keep videos with 5 ≤ end − start ≤ 120, at most 8; the spot check: with probability 0.1 the
/// submitted section is fetched again (through `clip`, 10 s limit) and re-embedded, and all
/// three cosines must exceed 0.95 — otherwise (or when the re-download is blocked) the
/// description alone is re-embedded and checked. A fake video or a failed check → −5.
///
/// Input: a `responses` table, or an `embeddings` table (one answer per query: a curator's
/// own clips, re-fetched from their source for the check).
///
/// KEY (--shard): the answer (response_id; query for an embeddings table). With --seed, an
/// answer's random choices depend on the seed and the answer alone, so parts decide as one run.
///
/// Examples:
///   omega validate -i responses.parquet -o validated.parquet --model DIR --seed 7
///   omega validate -i embeddings.parquet -o validated.parquet --model DIR --check all
///   omega validate -i responses/ -o validated/ --shard 1/4 --model DIR --seed 7
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    io: TableIo,
    #[command(flatten)]
    imagebind: ImageBindArgs,
    #[command(flatten)]
    config: ConfigArg,
    /// Which answers get the full spot check: `random` (the original: with probability
    /// --check-probability), `all` or `none`.
    #[arg(long, value_enum, default_value = "random")]
    check: Check,
    /// Probability of a full spot check per answer (random mode); default: the config's
    /// `check_probability` (0.1).
    #[arg(long, value_parser = probability)]
    check_probability: Option<f64>,
    /// Seed of the random choices (reproducible runs).
    #[arg(long)]
    seed: Option<u64>,
    /// Folder for re-downloaded sections.
    #[arg(long, default_value = "media/validate")]
    media_dir: PathBuf,
    /// Time limit of one re-download, seconds (the original: 10).
    #[arg(long, default_value = "10", value_parser = duration)]
    timeout: Duration,
    #[command(flatten)]
    ytdlp: YtDlpArgs,
    #[command(flatten)]
    shard: ShardArg,
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let started = Instant::now();
    let cfg = args.config.load()?;
    let check = match args.check {
        Check::Random => CheckMode::Random(args.check_probability.unwrap_or(cfg.check_probability)),
        Check::All => CheckMode::All,
        Check::None => CheckMode::None,
    };
    let mut clip = ClipOptions::new(args.media_dir.clone(), args.ytdlp.ytdlp());
    clip.timeout = args.timeout;
    clip.retries = 0;
    let opts = ValidateOptions {
        cfg,
        check,
        clip,
        embed: EmbedOptions::default(),
        seed: args.seed,
    };
    let summary = args
        .shard
        .run("validate", &args.io.output, started, |output| {
            // The model loads only when the part is to be run (a complete part exits at once).
            let mut model = args.imagebind.load(None)?;
            Ok(validate_table(
                &args.io.input,
                args.shard.shard,
                output,
                &mut model,
                &opts,
            )?)
        })?;
    report(&summary, global, args.io.output == "-")
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Check {
    Random,
    All,
    None,
}
