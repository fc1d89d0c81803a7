//! `omega set-weights`: process raw weights as the Python SDK does and set them on the chain.

use std::path::PathBuf;

use anyhow::Context;

use super::args::{netuid, SubtensorArgs, WaitArgs, WalletArgs};
use super::{print_stdout, Global};

use omega::chain::set_weights::{self, Limits, Report, Sender};

/// Set a validator's weights on the chain, exactly as the Python SDK would.
///
/// The raw weights are processed as bittensor 9.10.1 does (`process_weights_for_netuid`, then
/// `convert_weights_and_uids_for_emit`: positive weights kept, uniform fallback,
/// min_allowed_weights, max_weight_limit, u16 with round-half-to-even). Before signing, the
/// chain's rules are checked (registration, validator permit, WeightsVersionKey, the rate
/// limit against LastUpdate); a refusal says which rule and when to try again. The call is the
/// one the node's runtime offers: set_mechanism_weights (mechanism 0), else set_weights; on
/// subnets with commit-reveal, the weights are encrypted to the drand round of their reveal and
/// sent as commit_timelocked_mechanism_weights (else commit_timelocked_weights).
///
/// Input (-i): Parquet with columns `uid` and `weight`, CSV with a header, JSON lines, or the
/// state file of `omega score --state` (UIDs are positions).
///
/// Examples:
///   omega set-weights -i weights.csv --netuid 24 --wallet.name validator --dry-run
///   omega set-weights -i state.json --netuid 24 --wallet.name v --wallet.hotkey h --json
///   omega set-weights -i weights.csv --offline --n 256 --min-allowed-weights 8 --max-weight-limit 455
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The raw weights (Parquet, CSV, JSON lines, or a score state file).
    #[arg(short, long, value_name = "FILE")]
    input: PathBuf,
    /// The subnet.
    #[arg(long, default_value = "24", value_parser = netuid)]
    netuid: u16,
    /// Version key to send (default: the subnet's WeightsVersionKey; 0 with --offline).
    #[arg(long)]
    version_key: Option<u64>,
    /// Print the processed weights, the decoded call and whether the chain would accept them
    /// now; send nothing (exit 0 either way).
    #[arg(long)]
    dry_run: bool,
    /// --dry-run: check the rules for this hotkey (SS58) instead of the wallet's.
    #[arg(long = "hotkey", value_name = "SS58", requires = "dry_run")]
    check_hotkey: Option<String>,
    /// No chain at all: process and encode with the subnet numbers below (implies --dry-run).
    #[arg(long, requires_all = ["n", "min_allowed_weights", "max_weight_limit"])]
    offline: bool,
    /// --offline: the subnet's number of UIDs (SubnetworkN).
    #[arg(long)]
    n: Option<u16>,
    /// --offline: MinAllowedWeights.
    #[arg(long)]
    min_allowed_weights: Option<u16>,
    /// --offline: MaxWeightsLimit as the chain stores it (u16; 65535 = no cap).
    #[arg(long)]
    max_weight_limit: Option<u16>,
    #[command(flatten)]
    subtensor: SubtensorArgs,
    #[command(flatten)]
    wallet: WalletArgs,
    #[command(flatten)]
    wait: WaitArgs,
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let raw = omega::chain::weights_file::read(&args.input)
        .context("fix the weights file (columns uid and weight, one row per miner)")?;
    let report = match (
        args.offline,
        args.n,
        args.min_allowed_weights,
        args.max_weight_limit,
    ) {
        (true, Some(n), Some(min_allowed_weights), Some(max_weights_limit)) => {
            let limits = Limits {
                n,
                min_allowed_weights,
                max_weights_limit,
            };
            set_weights::offline(args.netuid, &raw, limits, args.version_key.unwrap_or(0))?
        }
        _ => super::runtime()?.block_on(async {
            let location = args.wallet.location();
            let sender = match (&args.check_hotkey, args.dry_run) {
                (Some(ss58), _) => Sender::DryRun(super::account(ss58, "--hotkey")?),
                (None, true) => Sender::DryRunWallet(&location),
                (None, false) => Sender::Wallet(&location),
            };
            let chain = args.subtensor.connect().await?;
            let wait = args.wait.wait();
            anyhow::Ok(
                set_weights::online(&chain, args.netuid, &raw, sender, args.version_key, wait)
                    .await?,
            )
        })?,
    };
    show(&report, global)
}

fn show(report: &Report, global: &Global) -> anyhow::Result<()> {
    if global.json {
        return Ok(print_stdout(&format!(
            "{}\n",
            serde_json::to_string(report)?
        ))?);
    }
    let mut text = format!(
        "uids:        {:?}\nweights:     {:?}\nversion_key: {}\ncall:        {} (spec {})\n             {}\n             {}\n",
        report.uids, report.weights, report.version_key, report.call_name, report.spec_version, report.call_decoded, report.call
    );
    match &report.inclusion {
        Some(i) => text.push_str(&format!(
            "sent:        block {} {:?}, extrinsic {} ({})\n",
            i.block_number,
            i.block_hash,
            i.extrinsic_index,
            if i.finalized { "finalized" } else { "in block" }
        )),
        None => text.push_str("sent:        nothing (dry run)\n"),
    }
    if let Some(rules) = &report.rules {
        text.push_str(&format!(
            "rules:       at block {}: n {}, min_allowed_weights {}, max_weights_limit {}, version key {}, rate limit {} blocks, commit-reveal {}\n",
            report.block.unwrap_or_default(),
            rules.n,
            rules.min_allowed_weights,
            rules.max_weights_limit,
            rules.version_key,
            rules.rate_limit,
            rules.commit_reveal
        ));
    }
    if let Some(c) = &report.commitment {
        text.push_str(&format!(
            "commit:      timelocked to drand round {}, revealed at block {} (best block {})\n",
            c.reveal_round, c.reveal_block, c.best_block
        ));
    }
    if let Some(refusal) = &report.refusal {
        text.push_str(&format!("would fail:  {refusal}\n"));
    }
    if !global.quiet {
        print_stdout(&text)?;
    }
    Ok(())
}
