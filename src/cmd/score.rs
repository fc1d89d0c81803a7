//! `omega score`: relevance, richness and stuffing, every component a column.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use omega::model::{ImageBind, SentenceModel, TextClassifier};
use omega::score::ema::MinerScores;
use omega::score::{score_table, Scorer};
use omega::uid::Uid;

use super::args::{uid, ConfigArg, ImageBindArgs, ShardArg, TableIo};
use super::{report, Global};

/// Score every answer as SN24 validators do (spec §4.2 steps 11–14), keeping each number.
///
/// Per video: cos(video, description), cos(audio, description), cos(video, query),
/// cos(audio, query) with the query embedded by ImageBind, the text similarity
/// T = min(0.5, cos²) of description and query from the text model, the unique-token length
/// scaler, description relevance (0.65 · video + 0.35 · audio, scaled) and query relevance
/// ((video + audio + T) / 3). The extraneous-chunk stuffing check (60-token chunks) may punish
/// the answer (−5). Answer score = (0.7 Σ description + 1.3 Σ query) / 2 / 8, at least 0.005;
/// answers decided by validation keep that score. All constants come from --config (JSON)
/// with the original's values as defaults.
///
/// The classifier stuffing check runs with --stuffing-model (label != clean with confidence
/// > 0.75 → −5; less confident → the video is dropped).
///
/// KEY (--shard): the answer (response_id). --state (the moving average per miner) is global:
/// give it to one run over the whole input, not to the parts.
///
/// Examples:
///   omega score -i deduped.parquet -o scored.parquet --model DIR
///   omega score -i deduped.parquet -o scored.parquet --model DIR --state state.json
///   omega score -i deduped.parquet -o scored.parquet --model DIR --state state.json \
///       --sampled-uids 3,17,42
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    io: TableIo,
    #[command(flatten)]
    imagebind: ImageBindArgs,
    /// Text similarity model directory (text_model.json + ONNX + tokenizer.json).
    #[arg(long, env = "OMEGA_TEXT_MODEL", value_name = "DIR")]
    text_model: PathBuf,
    #[command(flatten)]
    config: ConfigArg,
    /// Stuffing classifier directory (classifier.json + ONNX + tokenizer.json), e.g. an ONNX
    /// export of jondurbin/unstuffer-v0.2. Without it that check is skipped, with one notice.
    #[arg(long, env = "OMEGA_STUFFING_MODEL", value_name = "DIR")]
    stuffing_model: Option<PathBuf>,
    /// Per-miner moving-average state to update (JSON, written atomically).
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// The UIDs this round queried (comma-separated). Those with no answer in the input move
    /// toward the no-response minimum (0.005), as the original's non-responders do.
    #[arg(long, value_name = "UIDS", value_delimiter = ',', requires = "state", value_parser = uid)]
    sampled_uids: Vec<Uid>,
    #[command(flatten)]
    shard: ShardArg,
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let started = Instant::now();
    if args.shard.shard.is_some() && args.state.is_some() {
        anyhow::bail!(
            "--state is global (one moving average per miner): score the parts with --shard \
             and without --state, then update the state once over the whole input"
        );
    }
    let cfg = args.config.load()?;
    let summary = args
        .shard
        .run("score", &args.io.output, started, |output| {
            // Models load only when the part is to be run (a complete part exits at once).
            let (mut imagebind, mut text, mut classifier) = load_models(&args, global.quiet)?;
            let mut scorer = Scorer::new(&mut imagebind, &mut text, cfg.clone());
            scorer.stuffing = classifier.as_mut();
            let (mut summary, answers) =
                score_table(&args.io.input, args.shard.shard, output, &mut scorer)?;
            if let Some(path) = &args.state {
                let mut state = MinerScores::load(path)?;
                let round = state.record_round(&answers, &args.sampled_uids, &cfg);
                state
                    .save(path)
                    .with_context(|| format!("writing {}", path.display()))?;
                summary.set("miners_updated", round.responders);
                summary.set("non_responders", round.non_responders.len());
            }
            Ok(summary)
        })?;
    report(&summary, global, args.io.output == "-")
}

/// ImageBind, the text model and the stuffing classifier when one is given.
fn load_models(
    args: &Args,
    quiet: bool,
) -> anyhow::Result<(ImageBind, SentenceModel, Option<TextClassifier>)> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let imagebind = args.imagebind.load(None)?;
    let text = SentenceModel::load(&args.text_model, cores)
        .with_context(|| format!("loading {}", args.text_model.display()))?;
    let classifier = match &args.stuffing_model {
        Some(dir) => Some(
            TextClassifier::load(dir, cores)
                .with_context(|| format!("loading {}", dir.display()))?,
        ),
        None => {
            if !quiet {
                eprintln!("omega score: notice: no --stuffing-model: the classifier stuffing check is skipped (the extraneous-chunk check runs)");
            }
            None
        }
    };
    Ok((imagebind, text, classifier))
}
