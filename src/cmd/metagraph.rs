//! `omega metagraph`: a subnet's neurons at one block, as a table.

use std::time::Instant;

use super::args::{netuid, SubtensorArgs};
use super::{report, Global};

use omega::report::Summary;

/// Read a subnet's metagraph from the chain into a `metagraph` table.
///
/// One row per UID: hotkey, coldkey, stake (alpha, TAO and the total the SDK calls S),
/// validator permit, axon address, last update, incentive, dividends, trust, emission, active.
/// The block number and hash go into the file's metadata. `serve-miner` and `run-validator`
/// take such a file instead of a live chain (`--metagraph FILE`).
///
/// Examples:
///   omega metagraph --netuid 24 -o metagraph.parquet
///   omega metagraph --netuid 24 -o - | omega show -
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The subnet.
    #[arg(long, default_value = "24", value_parser = netuid)]
    netuid: u16,
    /// Output table (`-` = Arrow IPC stream on stdout).
    #[arg(short, long, default_value = "-")]
    output: String,
    /// Read at this block (0x hash) instead of the latest finalized block (needs an archive node for old blocks).
    #[arg(long, value_name = "HASH")]
    block: Option<String>,
    #[command(flatten)]
    subtensor: SubtensorArgs,
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let started = Instant::now();
    let block = args.block.as_deref().map(super::block_hash).transpose()?;
    let snapshot = super::runtime()?.block_on(async {
        let chain = args.subtensor.connect().await?;
        anyhow::Ok(omega::chain::metagraph::snapshot(&chain, args.netuid, block).await?)
    })?;
    let rows = omega::chain::metagraph::write(&snapshot, &args.output)?;
    let mut summary = Summary::new("metagraph");
    for _ in 0..rows {
        summary.add(omega::outcome::Status::Ok, None, None);
    }
    summary.set("block_number", snapshot.block_number);
    summary.set("block_hash", format!("{:?}", snapshot.block_hash));
    summary.finish(started.elapsed());
    report(&summary, global, args.output == "-")
}
