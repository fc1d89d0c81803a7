//! `omega embed`: ImageBind embeddings of clips (or local files) and of texts.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use omega::embed::{embed_table, embed_text_table, EmbedOptions};
use omega::imagebind::bpe::Truncation;

use super::args::{ImageBindArgs, ShardArg};
use super::{report, Global};

/// Compute ImageBind embeddings (video, audio, description; 1024-d each) of every row.
///
/// The input is a `clips` table, or a `candidates` table from `omega search --source dir`
/// (each file is embedded whole). Preprocessing reproduces the reference Python exactly (see
/// README, "Embeddings"); any audio codec is embedded, and --strict-reference fails the rows
/// that OMEGA's live validators would fail (non-AAC or missing audio). Rows keep their input
/// order; a file that fails is a `failed` row with an error class.
///
/// Models are never downloaded: --model is a directory with manifest.json, three ONNX
/// encoders and the CLIP BPE vocabulary (models/imagebind-tiny is a tiny stand-in for tests).
///
/// KEY (--shard): video_id.
///
/// Examples:
///   omega embed -i clips.parquet -o embeddings.parquet --model models/imagebind-huge
///   omega embed -i clips.parquet -o embeddings.parquet --model DIR --device cuda:0 --batch 16
///   omega embed --text "skateboarding tricks" --text "cooking pasta" -o queries.parquet --model DIR
///   omega embed -i clips/ -o embeddings/ --shard 0/4 --model DIR --device cuda
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The input table (`-` = stdin).
    #[arg(short, long, default_value = "-", conflicts_with_all = ["text", "texts"])]
    input: String,
    /// Output table (`-` = Arrow IPC stream on stdout).
    #[arg(short, long, default_value = "-")]
    output: String,
    #[command(flatten)]
    imagebind: ImageBindArgs,
    /// Embed this text instead of media (repeatable): writes a `text_embeddings` table.
    #[arg(long)]
    text: Vec<String>,
    /// Embed every line of FILE as a text.
    #[arg(long, value_name = "FILE")]
    texts: Option<PathBuf>,
    /// Videos per model call.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Threads of the model (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Decoder threads per video.
    #[arg(long, default_value_t = 1)]
    decode_threads: usize,
    /// Fail rows exactly where OMEGA's live validator pipeline fails (non-AAC or no audio).
    #[arg(long)]
    strict_reference: bool,
    /// Past 77 tokens: `fork` drops EOT like the live validators, `keep-eot` is upstream's fix.
    #[arg(long, value_enum, default_value = "fork")]
    truncation: Truncation,
    /// Write every row's model inputs as .npy files (ID.vision.npy, ID.audio.npy, ID.text.npy).
    #[arg(long, value_name = "DIR")]
    dump_inputs: Option<PathBuf>,
    #[command(flatten)]
    shard: ShardArg,
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let started = Instant::now();
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    if let Some(dir) = &args.dump_inputs {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let opts = EmbedOptions {
        batch: args.batch,
        strict_reference: args.strict_reference,
        truncation: args.truncation,
        decode_threads: args.decode_threads,
        dump_inputs: args.dump_inputs.clone(),
    };
    let mut texts = args.text.clone();
    if let Some(file) = &args.texts {
        let content =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        texts.extend(content.lines().map(str::to_owned));
    }
    if !texts.is_empty() && args.shard.shard.is_some() {
        bail!("--shard splits an input table; texts are embedded in one run");
    }
    let summary = args.shard.run("embed", &args.output, started, |output| {
        // The model loads only when the part is to be run (a complete part exits at once).
        let mut model = args.imagebind.load(args.threads)?;
        let mut summary = if !texts.is_empty() {
            embed_text_table(&texts, output, &mut model, &opts)?
        } else {
            // Rows done of rows total: a Parquet file's footer gives the total, a pipe does not.
            let total = args.shard.total_rows(&args.input);
            let bar = omega::progress::rows(total, "embed", global.quiet);
            let s = embed_table(
                &args.input,
                args.shard.shard,
                output,
                &mut model,
                &opts,
                &|n| bar.inc(n as u64),
            )?;
            bar.finish_and_clear();
            s
        };
        summary.set("model_id", model.manifest.model_id.clone());
        summary.set("batch", args.batch);
        Ok(summary)
    })?;
    report(&summary, global, args.output == "-")
}
