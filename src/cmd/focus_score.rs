//! `omega focus-score`: the five Focus components, the combined score and the decision.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use omega::focus::judge::Judges;
use omega::focus::prompts::Prompts;
use omega::focus::{focus_score_table, FocusOptions, FocusScorer, Formula, TextEmbedder};
use omega::llm::{LlmClient, LlmConfig};
use omega::model::SentenceModel;

use super::args::TableIo;
use super::{report, Global};

/// Score Focus videos (screen recordings of task work) as the OMEGA Focus backend does, with
/// open models and any OpenAI-compatible endpoint instead of Gemini, OpenAI and Pinecone.
///
/// Input: a `focus-videos` table (`omega schema focus-videos`). Output: the same rows with
/// the five components, the combined score and the decision (`omega schema focus-scored`):
///   task_score              an LLM rates the task itself
///   completion_score        an LLM rates how well the recording completes it, from the
///                           detailed description (and frames with --llm-vision)
///   task_uniqueness         1 − cosine of the task overview to the task index
///   description_uniqueness  1 − cosine of the detailed description to the description index
///   video_uniqueness        1 − ImageBind cosine of a 120 s segment to the video index
/// combined by --formula; below 0.1 the video is rejected with the reason. A legitimacy
/// check (exploits: AI chat doing the work, idle screens) sets the score to 0 when it fails.
/// Durations outside --min-seconds..--max-seconds are rejected without a model call.
///
/// The LLM: --llm-url is the API's base URL (…/v1), the key comes from OMEGA_LLM_API_KEY.
/// Answers are asked for as JSON with a schema and checked (numbers clamped to [0, 1]);
/// accepted answers are cached by request in --llm-cache, so a rerun costs no request.
/// Prompts are files (prompts/focus/*.md, built in; --prompts DIR to replace them), and
/// every row records the versions that judged it.
///
/// Examples:
///   omega focus-score -i focus.parquet -o scored.parquet --index focus-index \
///       --llm-url http://127.0.0.1:8080/v1 --llm-model smollm2 --text-model DIR --model DIR
///   omega focus-score -i focus.parquet -o scored.parquet --index focus-index --insert \
///       --llm-url https://api.openai.com/v1 --llm-model gpt-4o-mini --llm-vision \
///       --embeddings-url https://api.openai.com/v1 --embeddings-model text-embedding-3-large
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    io: TableIo,
    /// Directory of the uniqueness indexes (task/, description/, video/; created if missing).
    #[arg(long, value_name = "DIR")]
    index: PathBuf,
    /// Add the accepted videos to the indexes (after the whole table is scored).
    #[arg(long)]
    insert: bool,
    /// How the components combine: equal (the README's geometric mean), weighted, clamped,
    /// skip-null, boosted (the original's later variants, in order) or head (completion ×
    /// boost, the network's latest code).
    #[arg(long, value_enum, default_value = "equal")]
    formula: Formula,
    /// Shorter focus sessions are rejected (the original's latest code: 60).
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    min_seconds: f64,
    /// Longer focus sessions are rejected (the original: 5400).
    #[arg(long, default_value_t = 5400.0, value_name = "SECONDS")]
    max_seconds: f64,
    /// The OpenAI-compatible API's base URL (e.g. http://127.0.0.1:8080/v1).
    #[arg(long, env = "OMEGA_LLM_URL", value_name = "URL")]
    llm_url: String,
    /// The model to ask.
    #[arg(long, env = "OMEGA_LLM_MODEL", value_name = "NAME")]
    llm_model: String,
    /// Send frames of the recording (image parts) to the judges: for vision models. Without a
    /// detailed_description the description is then written by the model from the frames.
    #[arg(long)]
    llm_vision: bool,
    /// Frames per video with --llm-vision.
    #[arg(long, default_value_t = 4, value_name = "N")]
    llm_frames: usize,
    /// Seconds per LLM request before it is retried.
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    llm_timeout: u64,
    /// Retries of a failed request (timeouts, connection errors, 429, 5xx, answers that do not
    /// fit the schema), waiting 1 s, 2 s, 4 s, ...
    #[arg(long, default_value_t = 3, value_name = "N")]
    llm_retries: u32,
    /// Videos judged at once (each sends up to three requests together).
    #[arg(long, default_value_t = 4, value_name = "N")]
    llm_concurrency: usize,
    /// Most tokens per answer (the schemas bound every string, so answers stay well under).
    #[arg(long, default_value_t = 1024, value_name = "N")]
    llm_max_tokens: u32,
    /// Where accepted answers are kept (default: ~/.cache/omega/llm).
    #[arg(long, value_name = "DIR")]
    llm_cache: Option<PathBuf>,
    /// Ask every question again (no cache).
    #[arg(long)]
    no_llm_cache: bool,
    /// Prompt files replacing the built-in ones (task.md, completion.md, description.md,
    /// legitimacy.md).
    #[arg(long, value_name = "DIR")]
    prompts: Option<PathBuf>,
    /// Text model for the task and description embeddings (text_model.json + ONNX +
    /// tokenizer.json).
    #[arg(
        long,
        env = "OMEGA_TEXT_MODEL",
        value_name = "DIR",
        conflicts_with = "embeddings_url"
    )]
    text_model: Option<PathBuf>,
    /// Instead of --text-model (this wins when both are given): an OpenAI-compatible
    /// /v1/embeddings endpoint's base URL (key from OMEGA_LLM_API_KEY).
    #[arg(long, value_name = "URL", requires = "embeddings_model")]
    embeddings_url: Option<String>,
    /// The embedding model to ask at --embeddings-url.
    #[arg(long, value_name = "NAME")]
    embeddings_model: Option<String>,
    /// ImageBind model directory for the video component (without it that component is null;
    /// the skip-null, boosted and head formulas go on without it).
    #[arg(long, env = "OMEGA_MODEL", value_name = "DIR")]
    model: Option<PathBuf>,
}

fn llm_config(args: &Args, url: &str, model: &str) -> LlmConfig {
    let mut cfg = LlmConfig::new(url, model);
    cfg.api_key = std::env::var("OMEGA_LLM_API_KEY")
        .ok()
        .filter(|k| !k.is_empty());
    cfg.timeout = Duration::from_secs(args.llm_timeout);
    cfg.retries = args.llm_retries;
    cfg.max_tokens = args.llm_max_tokens;
    cfg.cache = if args.no_llm_cache {
        None
    } else {
        args.llm_cache
            .clone()
            .or_else(omega::llm::default_cache_dir)
    };
    cfg
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let started = Instant::now();
    let prompts = match &args.prompts {
        Some(dir) => Prompts::load(dir)?,
        None => Prompts::built_in(),
    };
    let llm = LlmClient::new(llm_config(&args, &args.llm_url, &args.llm_model))?;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut local_text;
    let api_text;
    let text = match (&args.embeddings_url, &args.embeddings_model, &args.text_model) {
        (Some(url), Some(model), _) => {
            api_text = LlmClient::new(llm_config(&args, url, model))?;
            TextEmbedder::Api(&api_text)
        }
        (_, _, Some(dir)) => {
            local_text = SentenceModel::load(dir, cores)
                .with_context(|| format!("loading {}", dir.display()))?;
            TextEmbedder::Local(&mut local_text)
        }
        _ => anyhow::bail!(
            "no text embeddings: give --text-model DIR (or OMEGA_TEXT_MODEL), or --embeddings-url with --embeddings-model"
        ),
    };
    let mut imagebind = match &args.model {
        Some(dir) => Some(
            omega::model::ImageBind::load(dir, omega::model::Device::Cpu, cores)
                .with_context(|| format!("loading the model in {}", dir.display()))?,
        ),
        None => None,
    };
    let mut scorer = FocusScorer {
        judges: Arc::new(Judges::new(llm, prompts)),
        text,
        imagebind: imagebind.as_mut(),
        index_dir: args.index.clone(),
        opts: FocusOptions {
            formula: args.formula,
            min_seconds: args.min_seconds,
            max_seconds: args.max_seconds,
            vision: args.llm_vision,
            frames: args.llm_frames.max(1),
            concurrency: args.llm_concurrency.max(1),
            insert: args.insert,
            ..FocusOptions::default()
        },
    };
    let bar = omega::progress::rows(
        omega::table::total_rows(&args.io.input),
        "focus-score",
        global.quiet,
    );
    let mut summary = focus_score_table(&args.io.input, &args.io.output, &mut scorer, &bar)
        .with_context(|| format!("scoring {}", args.io.input))?;
    bar.finish_and_clear();
    summary.set("formula", args.formula.name());
    summary.set("llm_model", args.llm_model.clone());
    summary.finish(started.elapsed());
    report(&summary, global, args.io.output == "-")
}
