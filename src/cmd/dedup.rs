//! `omega dedup`: de-duplication and novelty, and the index of accepted videos.

use std::time::Instant;

use anyhow::{bail, Context};
use omega::dedup::{build_index, dedup_dataset, dedup_table};
use omega::index::{self, AnnParams, Backend};
use omega::report::Summary;
use omega::table::EMBEDDING_DIM;

use super::args::{ConfigArg, ShardArg, TableIo};
use super::{report, Global};

/// Drop duplicates within each answer and measure novelty against the videos already accepted.
///
/// In an answer, a video whose embedding has cosine > 0.95 with a later one is a duplicate (the
/// later copy is kept); local novelty = 1 − the largest cosine to later videos. With --index,
/// global novelty = 1 − the cosine to the nearest accepted video (1 when the index holds
/// nothing: the original said 0, bug B9); a video is too similar when min(local, global) < 0.1,
/// each video paired with its own numbers (the original misaligned them, bug B4).
///
/// The index (--index DIR) is exact: f16 unit vectors in a memory-mapped file, scanned on all
/// cores; inserts are crash-safe (an interrupted insert is dropped on the next open, and a
/// rerun adds exactly what is missing). --backend ivf adds inverted lists over the same files
/// (k-means centroids; each query scans its --ivf-probes nearest lists exactly): from 16 384
/// videos on, recall@1 0.99+ at 1.4-1.9x FAISS HNSW's queries per second at 1 M, built in
/// 1/11 of its time (BENCHMARKS.md). --index milvus://HOST:PORT/COLLECTION keeps it in a
/// Milvus collection shared by every worker and validator (`--features milvus` builds; see
/// README, "The novelty index in Milvus"): candidates come from Milvus, the cosine of each is
/// computed here on its stored vector, and inserts are idempotent there too.
/// --build-index LOCATION loads tables, or an embedded index folder, into any index.
///
/// KEY (--shard, --scope answer only): the answer (response_id). Against a shared --index the
/// parts only read it; --insert, --build-index and --scope dataset are global steps (each
/// decision depends on every earlier one), run once over all parts: `-i DIR` or TABLES may name
/// the folder of parts.
///
/// Examples:
///   omega dedup -i validated.parquet -o deduped.parquet --index index/ --insert
///   omega dedup --build-index index/ shard-0001.parquet shard-0002.parquet
///   omega dedup --build-index milvus://10.0.0.5:19530/omega_videos index/
///   omega dedup --scope dataset -o unique.parquet --drop-duplicates shard-*.parquet
///   omega dedup -i validated/ -o deduped/ --shard 2/8 --index index/
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    io: TableIo,
    /// The index of accepted videos (created if missing): a folder, or
    /// milvus://HOST:PORT/COLLECTION[?index=IVF_SQ8&nlist=4096&nprobe=64].
    #[arg(long, value_name = "LOCATION")]
    index: Option<String>,
    /// Index implementation: exact; ivf (inverted lists, each probed list scanned exactly: the
    /// fastest past ~100 k videos, BENCHMARKS.md); or ann (usearch HNSW + exact re-rank;
    /// `--features ann` builds).
    #[arg(long, value_enum, default_value = "exact")]
    backend: Backend,
    /// With --backend ivf: lists probed per query (of about 2·√N); more finds the true nearest
    /// more often and answers fewer queries per second.
    #[arg(long, value_name = "N", default_value_t = AnnParams::default().probes)]
    ivf_probes: usize,
    /// With --backend ann: the search-time expansion (ef) of the HNSW graph; higher finds the
    /// true nearest more often and answers fewer queries per second (BENCHMARKS.md).
    #[arg(long, value_name = "N", default_value_t = AnnParams::default().expansion_search)]
    ann_ef: usize,
    /// With --backend ann: graph candidates re-ranked exactly per query.
    #[arg(long, value_name = "N", default_value_t = AnnParams::default().rerank)]
    ann_rerank: usize,
    /// Add the novel videos of each answer to the index after judging it.
    #[arg(long, requires = "index")]
    insert: bool,
    /// Build (or extend) the index at LOCATION from tables with `video_id` and `video_emb` (or
    /// embedded index folders), then stop.
    #[arg(long, value_name = "LOCATION", conflicts_with_all = ["index", "insert"])]
    build_index: Option<String>,
    /// `answer` (each answer of a `validated` table) or `dataset` (near-duplicates across the
    /// shards given as TABLES, streaming; the first of each group is kept; a global step, run
    /// once over all shards).
    #[arg(long, value_enum, default_value = "answer")]
    scope: Scope,
    #[command(flatten)]
    config: ConfigArg,
    /// With --scope dataset: leave the rows that are not kept out of the output (counted).
    #[arg(long)]
    drop_duplicates: bool,
    /// Tables for --build-index or --scope dataset.
    tables: Vec<String>,
    #[command(flatten)]
    shard: ShardArg,
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let started = Instant::now();
    if args.ann_ef == 0 || args.ann_rerank == 0 || args.ivf_probes == 0 {
        bail!("--ann-ef, --ann-rerank and --ivf-probes must be at least 1");
    }
    let params = AnnParams {
        expansion_search: args.ann_ef,
        rerank: args.ann_rerank,
        probes: args.ivf_probes,
        ..AnnParams::default()
    };
    let open = |location: &str| {
        index::open_location(location, args.backend, params, EMBEDDING_DIM)
            .with_context(|| format!("opening the index {location}"))
    };
    if let Some(dir) = &args.build_index {
        if args.tables.is_empty() {
            bail!("--build-index needs tables: omega dedup --build-index DIR FILE...");
        }
        let mut index = open(dir)?;
        let added = build_index(index.as_mut(), &args.tables)?;
        let mut summary = Summary::new("dedup");
        summary.set("indexed_new", added);
        summary.set("index_size", index.len());
        summary.finish(started.elapsed());
        return report(&summary, global, false);
    }
    if args.shard.shard.is_some()
        && (args.insert || args.build_index.is_some() || args.scope == Scope::Dataset)
    {
        bail!(
            "--insert, --build-index and --scope dataset are global steps: run them once over \
             all the parts (omega dedup -i DIR ...), not with --shard"
        );
    }
    let cfg = args.config.load()?;
    if args.scope == Scope::Dataset {
        if args.tables.is_empty() {
            bail!("--scope dataset needs shards: omega dedup --scope dataset -o OUT SHARD...");
        }
        // Without --index, a scratch index holds the kept rows.
        let scratch = std::env::temp_dir().join(format!("omega-dedup-{}", std::process::id()));
        let scratch_location = scratch.to_string_lossy();
        let mut index = open(args.index.as_deref().unwrap_or(&scratch_location))?;
        let result = dedup_dataset(
            &args.tables,
            &args.io.output,
            index.as_mut(),
            args.drop_duplicates,
            &cfg,
        );
        if args.index.is_none() {
            let _ = std::fs::remove_dir_all(&scratch);
        }
        let mut summary = result?;
        summary.finish(started.elapsed());
        return report(&summary, global, args.io.output == "-");
    }
    let mut index = args.index.as_deref().map(open).transpose()?;
    let summary = args
        .shard
        .run("dedup", &args.io.output, started, |output| {
            let mut summary = dedup_table(
                &args.io.input,
                args.shard.shard,
                output,
                index.as_deref_mut(),
                args.insert,
                &cfg,
            )?;
            if let Some(i) = &index {
                summary.set("index_size", i.len());
            }
            Ok(summary)
        })?;
    report(&summary, global, args.io.output == "-")
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Scope {
    Answer,
    Dataset,
}
