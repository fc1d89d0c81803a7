//! `omega verify-transfer`: did this block pay this amount from this sender to this recipient?

use std::path::PathBuf;

use super::args::SubtensorArgs;
use super::{print_stdout, ExitWith, Global};

use omega::chain::transfer::{self, Expected, ReplayDb, Verdict};

/// Check a TAO transfer in a block, as the Focus marketplace must before it sells a video.
///
/// Looks for a Balances.Transfer event of a successful extrinsic in the block whose sender,
/// recipient and amount (in rao, exactly) match, and requires the block to be finalized and
/// canonical. With --replay-db the extrinsic (block hash and index) is recorded, and refused
/// the second time.
///
/// Exit codes: 0 verified; 10 not found; 11 the transfer extrinsic failed; 12 block not
/// finalized (retry later); 13 wrong amount; 14 wrong recipient; 15 already used;
/// 1 the node could not be asked; 2 bad arguments. --json prints {"verified": …, "reason": …}.
///
/// Example:
///   omega verify-transfer --block 0xabc… --from 5F… --to 5G… --amount 0.5 --replay-db used.txt
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The block the buyer named (0x + 64 hex digits).
    #[arg(long, value_name = "HASH")]
    block: String,
    /// The paying coldkey (SS58).
    #[arg(long, value_name = "SS58")]
    from: String,
    /// The recipient (SS58).
    #[arg(long, value_name = "SS58")]
    to: String,
    /// The amount in TAO (up to 9 decimals; compared in rao, exactly).
    #[arg(long, value_name = "TAO", value_parser = transfer::parse_tao)]
    amount: u64,
    /// File of extrinsics already used (created when missing).
    #[arg(long, value_name = "FILE")]
    replay_db: Option<PathBuf>,
    #[command(flatten)]
    subtensor: SubtensorArgs,
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let hash = super::block_hash(&args.block)?;
    let expected = Expected {
        from: super::account(&args.from, "--from")?,
        to: super::account(&args.to, "--to")?,
        rao: args.amount,
    };
    let replay = args.replay_db.as_deref().map(ReplayDb::new);
    let verdict = super::runtime()?.block_on(async {
        let chain = args.subtensor.connect().await?;
        anyhow::Ok(transfer::verify(&chain, hash, &expected, replay.as_ref()).await?)
    })?;
    if global.json {
        let mut json = serde_json::to_value(&verdict)?;
        json["verified"] = serde_json::Value::Bool(matches!(verdict, Verdict::Verified { .. }));
        print_stdout(&format!("{json}\n"))?;
    }
    match verdict {
        Verdict::Verified {
            block_number,
            extrinsic_index,
        } => {
            if !global.quiet && !global.json {
                print_stdout(&format!(
                    "verified: {} TAO in block {block_number}, extrinsic {extrinsic_index}\n",
                    transfer::format_tao(args.amount)
                ))?;
            }
            Ok(())
        }
        refused => Err(ExitWith {
            code: refused.exit_code(),
            message: describe(&refused),
        }
        .into()),
    }
}

fn describe(v: &Verdict) -> String {
    match v {
        Verdict::Verified { .. } => "verified".into(),
        Verdict::NotFound { detail } => format!("not found: {detail}"),
        Verdict::FailedExtrinsic {
            extrinsic_index,
            detail,
        } => format!("extrinsic {extrinsic_index} failed: {detail}"),
        Verdict::NotFinalized {
            block_number,
            finalized_number,
        } => {
            format!("block {block_number} is not finalized (finalized head {finalized_number}); retry in a minute")
        }
        Verdict::WrongAmount {
            extrinsic_index,
            expected_rao,
            found_rao,
        } => format!(
            "wrong amount in extrinsic {extrinsic_index}: {} TAO paid, {} TAO expected",
            transfer::format_tao(*found_rao),
            transfer::format_tao(*expected_rao)
        ),
        Verdict::WrongRecipient {
            extrinsic_index,
            expected,
            found,
        } => {
            format!("wrong recipient in extrinsic {extrinsic_index}: paid to {found}, expected {expected}")
        }
        Verdict::AlreadyUsed { extrinsic } => {
            format!("extrinsic {extrinsic} was already used for a purchase")
        }
    }
}
