//! `omega focus buy`: a miner buys Focus videos on the marketplace.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use omega::chain::transfer::{format_tao, parse_tao};
use omega::market::buy::{buy, BuyOptions, Journal, MarketClient};

use super::args::{duration, SubtensorArgs, WalletArgs};
use super::Global;

/// The miner's side of the Focus marketplace.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: FocusCommand,
}

#[derive(clap::Subcommand)]
enum FocusCommand {
    Buy(BuyArgs),
}

/// Buy Focus videos: list the marketplace's offers, choose the best score per TAO within
/// --budget, reserve each (a request signed with the wallet's hotkey), pay it from the
/// wallet's coldkey (Balances.transfer_keep_alive, waiting for finalization), and have the
/// marketplace verify the transfer. Validators reward the miners who bought in the last 24 h.
///
/// Resumable: every step is written to --journal before the next begins, and a run first
/// finishes what the last one left. A transfer that may have been submitted before a crash is
/// looked for on the chain and never sent twice.
///
/// Examples:
///   omega focus buy --market http://focus.example:8090 --market.hotkey 5F… --budget 0.5 \
///       --wallet.name miner --wallet.hotkey default
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
struct BuyArgs {
    /// The marketplace's base URL.
    #[arg(long, value_name = "URL")]
    market: String,
    /// The marketplace's SS58 address (requests are signed to it).
    #[arg(long = "market.hotkey", value_name = "SS58")]
    market_hotkey: String,
    /// Most TAO to spend in this run.
    #[arg(long, value_parser = parse_tao, value_name = "TAO")]
    budget: u64,
    /// Most videos to buy in this run.
    #[arg(long, default_value_t = 10, value_name = "N")]
    max_videos: usize,
    /// The purchases journal.
    #[arg(long, default_value = "focus-purchases.json", value_name = "FILE")]
    journal: PathBuf,
    #[command(flatten)]
    wallet: WalletArgs,
    #[command(flatten)]
    subtensor: SubtensorArgs,
    /// Limit for each transfer's wait for finalization, seconds.
    #[arg(long = "wait-timeout", default_value = "120", value_parser = duration, value_name = "SECONDS")]
    wait_timeout: Duration,
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    match args.command {
        FocusCommand::Buy(args) => run_buy(args, global),
    }
}

fn run_buy(args: BuyArgs, global: &Global) -> anyhow::Result<()> {
    let location = args.wallet.location();
    let hotkey = location
        .hotkey()
        .context("the purchase requests are signed with the wallet's hotkey")?;
    let coldkey = location
        .coldkey()
        .context("the transfers are paid from the wallet's coldkey")?;
    let mut journal = Journal::open(&args.journal)?;
    let client = MarketClient::new(&args.market, &args.market_hotkey, hotkey);
    // The marketplace only accepts finalized transfers.
    let wait = omega::chain::submit::Wait {
        finalization: true,
        limit: args.wait_timeout,
    };
    let opts = BuyOptions {
        budget_rao: args.budget,
        max_videos: args.max_videos,
        wait,
        verify_attempts: 30,
    };
    let report = super::runtime()?.block_on(async {
        let chain = args.subtensor.connect().await?;
        anyhow::Ok(buy(&client, &chain, &coldkey, &mut journal, &opts).await?)
    })?;
    if global.json {
        super::print_stdout(&format!("{}\n", serde_json::to_string(&report)?))?;
    }
    if !global.quiet {
        eprintln!(
            "focus buy: {} bought for {} TAO, {} resumed, {} refused, {} unconfirmed (run again later)",
            report.bought.len(),
            format_tao(report.spent_rao),
            report.resumed,
            report.refused.len(),
            report.unconfirmed.len()
        );
        for (video, why) in &report.refused {
            eprintln!("  {video}: {why}");
        }
    }
    Ok(())
}
