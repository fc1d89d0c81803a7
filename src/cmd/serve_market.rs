//! `omega serve-market`: the Focus marketplace's API and public dashboard.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use omega::market::server::{serve, ChainSource, Market, MarketOptions};
use omega::market::store::Store;

use super::args::SubtensorArgs;
use super::Global;

/// Serve the Focus marketplace: miners buy scored Focus videos with TAO, validators read
/// what each miner bought in the last 24 hours (spec §6.4), anyone sees the dashboard.
///
/// The original's routes and rules: GET /api/focus/get_list (videos for sale), POST
/// /api/focus/purchase (reserve: the answer names the owner's coldkey and the amount), POST
/// /api/focus/verify-purchase (the transfer's block hash), POST
/// /api/focus/revert-pending-purchase, GET /api/focus/miner_purchase_scores[/HK,HK]; the
/// price from score and duration ($80 per focused hour × score at $300/TAO, capped at
/// --max-focus-tao), the daily cap (90 % of --max-focus-tao), reservations that go back on
/// sale after --reservation-minutes, a 24 h ban after 5 failed purchases in a row.
///
/// Unlike the original: every state change must be signed by the miner's hotkey (btauth/1,
/// bound to --hotkey, fresh nonces) or is refused before any work; one miner at a time can
/// hold a video; the transfer is checked on the chain through its Balances.Transfer event,
/// its success, finality and exact amount, from the coldkey that owns the hotkey, and each
/// transfer pays for one purchase only; every change is one database transaction.
///
/// Storage: a SQLite file (default) or PostgreSQL (--db postgres://USER@HOST/DB), migrated
/// on start. GET / is the dashboard, GET /metrics Prometheus counters.
///
/// Examples:
///   omega serve-market --hotkey 5F… --list scored.parquet --max-focus-tao 2
///   omega serve-market --hotkey 5F… --db postgres://market@db/market --listen 0.0.0.0:8090 \
///       --subtensor.network finney --reservation-minutes 20
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The database: sqlite://FILE (created if missing) or postgres://USER@HOST:PORT/DB.
    #[arg(long, default_value = "sqlite://focus.db", value_name = "URL")]
    db: String,
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:8090", value_name = "ADDR")]
    listen: SocketAddr,
    /// The marketplace's SS58 address: miners' signed requests must name it as receiver.
    #[arg(long, value_name = "SS58")]
    hotkey: String,
    /// List the ready videos of these `focus-scored` tables (rows need an owner_coldkey);
    /// videos already known keep their state.
    #[arg(long, value_name = "FILE")]
    list: Vec<PathBuf>,
    /// The day's budget in TAO: prices are capped at it and sales stop at 90 % of it.
    #[arg(long, default_value_t = 2.0, value_name = "TAO")]
    max_focus_tao: f64,
    /// How long a reservation waits for its verified transfer (the original: 3, later 20).
    #[arg(long, default_value_t = 3.0, value_name = "MINUTES")]
    reservation_minutes: f64,
    /// Videos per get_list answer.
    #[arg(long, default_value_t = 10, value_name = "N")]
    list_limit: i64,
    /// Requests handled at once (more get 503).
    #[arg(long, default_value_t = 64, value_name = "N")]
    max_concurrent: usize,
    #[command(flatten)]
    subtensor: SubtensorArgs,
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let stop = omega::signals::stop_on_signals(omega::signals::Stdin::Keep);
    args.hotkey
        .parse::<subxt::utils::AccountId32>()
        .map_err(|_| anyhow::anyhow!("--hotkey {} is not an SS58 address", args.hotkey))?;
    if !(args.max_focus_tao > 0.0 && args.reservation_minutes > 0.0) {
        anyhow::bail!("--max-focus-tao and --reservation-minutes must be positive");
    }
    let runtime = super::runtime()?;
    let store = runtime
        .block_on(Store::open(&args.db))
        .with_context(|| format!("opening the marketplace's database {}", args.db))?;
    for table in &args.list {
        let path = table.to_string_lossy();
        let (listings, skipped) = omega::market::listings_from(&path, args.max_focus_tao)
            .with_context(|| format!("reading {path}"))?;
        let added = runtime.block_on(store.list_videos(&listings))?;
        if !global.quiet {
            eprintln!("omega serve-market: {path}: {added} videos listed, {} known already, {skipped} rows not listable (not ready, no owner_coldkey or no price)", listings.len() - added);
        }
    }
    let options = MarketOptions {
        me: args.hotkey.clone(),
        reservation: Duration::from_secs_f64(args.reservation_minutes * 60.0),
        cap_rao: omega::market::price::tao_to_rao(args.max_focus_tao),
        list_limit: args.list_limit.max(1),
        max_body_bytes: 16 * 1024,
        max_concurrent: args.max_concurrent,
        read_timeout: Duration::from_secs(10),
    };
    let market = Market::new(store, ChainSource::new(args.subtensor.options()), options);
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        if !global.quiet {
            eprintln!(
                "omega serve-market: http://{} (dashboard at /, metrics at /metrics)",
                listener.local_addr()?
            );
        }
        serve(market, listener, stop).await;
        anyhow::Ok(())
    })
}
