//! TAO transfers: sending one (`Balances.transfer_keep_alive`, for `omega focus buy`) and
//! verifying one from a block hash (`omega verify-transfer`, for the Focus marketplace).
//!
//! The original validator API walks the block's extrinsics, never reads events or finality and
//! compares amounts rounded to 5 decimals. omega reads the `Balances.Transfer` events (which
//! exist only for transfers that happened, whatever call or batch made them), compares amounts
//! in rao exactly, requires the block to be finalized and on the canonical chain, and records
//! each used extrinsic so it pays for one purchase only.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use subxt::events::Phase;
use subxt::ext::scale_decode::DecodeAsType;
use subxt::utils::{AccountId32, H256};
use subxt_signer::sr25519::Keypair;

use super::calls;
use super::submit::{self, Inclusion, Wait};
use super::{Chain, ChainError};

/// 1 TAO in rao.
pub const RAO_PER_TAO: u64 = 1_000_000_000;

/// A TAO amount (`1.5`, `0.000000001`) in rao, exactly: no float rounding.
pub fn parse_tao(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let bad = || format!("`{t}` is not a TAO amount (digits, at most 9 decimals)");
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty() && frac.is_empty() || frac.len() > 9 {
        return Err(bad());
    }
    if !whole
        .chars()
        .chain(frac.chars())
        .all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let frac_rao: u64 = format!("{frac:0<9}").parse().map_err(|_| bad())?;
    whole
        .checked_mul(RAO_PER_TAO)
        .and_then(|w| w.checked_add(frac_rao))
        .ok_or_else(|| format!("`{t}` TAO is more than the chain can hold"))
}

/// Rao as TAO text with all nine decimals trimmed of trailing zeros.
pub fn format_tao(rao: u64) -> String {
    let frac = format!("{:09}", rao % RAO_PER_TAO);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{}", rao / RAO_PER_TAO)
    } else {
        format!("{}.{frac}", rao / RAO_PER_TAO)
    }
}

/// Sends `rao` from the coldkey to `dest` and waits (for finalization when asked).
pub async fn send(
    chain: &Chain,
    coldkey: &Keypair,
    dest: AccountId32,
    rao: u64,
    wait: Wait,
) -> Result<Inclusion, ChainError> {
    let at = chain.at_latest().await?;
    submit::sign_and_watch(
        chain,
        &at,
        &calls::transfer_keep_alive(dest, rao),
        coldkey,
        wait,
    )
    .await
}

/// The transfer a purchase expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub from: AccountId32,
    pub to: AccountId32,
    pub rao: u64,
}

/// The answer of a verification; every variant but `Verified` is a refusal with its own exit
/// code in `omega verify-transfer`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Verdict {
    Verified {
        block_number: u64,
        extrinsic_index: u32,
    },
    NotFound {
        detail: String,
    },
    FailedExtrinsic {
        extrinsic_index: u32,
        detail: String,
    },
    NotFinalized {
        block_number: u64,
        finalized_number: u64,
    },
    WrongAmount {
        extrinsic_index: u32,
        expected_rao: u64,
        found_rao: u64,
    },
    WrongRecipient {
        extrinsic_index: u32,
        expected: String,
        found: String,
    },
    AlreadyUsed {
        extrinsic: String,
    },
}

impl Verdict {
    /// `omega verify-transfer`'s exit code: 0 verified, 10.. for each refusal.
    pub fn exit_code(&self) -> i32 {
        match self {
            Verdict::Verified { .. } => 0,
            Verdict::NotFound { .. } => 10,
            Verdict::FailedExtrinsic { .. } => 11,
            Verdict::NotFinalized { .. } => 12,
            Verdict::WrongAmount { .. } => 13,
            Verdict::WrongRecipient { .. } => 14,
            Verdict::AlreadyUsed { .. } => 15,
        }
    }
}

#[derive(Debug, Clone, DecodeAsType)]
#[decode_as_type(crate_path = "::subxt::ext::scale_decode")]
struct TransferEvent {
    from: AccountId32,
    to: AccountId32,
    amount: u64,
}

/// A transfer seen in the block: the event's fields and the extrinsic that emitted it.
#[derive(Debug, Clone)]
struct Seen {
    index: u32,
    from: AccountId32,
    to: AccountId32,
    rao: u64,
}

/// Checks the block `hash` for the expected transfer and, when verified, records it in
/// `replay` (refusing an extrinsic recorded before).
pub async fn verify(
    chain: &Chain,
    hash: H256,
    expected: &Expected,
    replay: Option<&ReplayDb>,
) -> Result<Verdict, ChainError> {
    let Some(number) = chain.block_number(hash).await? else {
        return Ok(Verdict::NotFound {
            detail: format!("the node does not know block {hash:?}"),
        });
    };
    let (finalized_number, _) = chain.finalized_head().await?;
    let canonical = chain.canonical_hash(number).await?;
    if number > finalized_number || canonical != Some(hash) {
        return Ok(Verdict::NotFinalized {
            block_number: number,
            finalized_number,
        });
    }
    let at = chain.at_hash(hash).await?;
    let events = super::client::timed(
        chain.timeout(),
        "reading the block's events",
        at.inner.events().fetch(),
    )
    .await?
    .map_err(|e| ChainError::rpc("reading the block's events", e))?;
    let mut transfers = Vec::new();
    let mut failed = Vec::new();
    for event in events.iter() {
        let event = event.map_err(|e| ChainError::rpc("decoding the block's events", e))?;
        let Phase::ApplyExtrinsic(index) = event.phase() else {
            continue;
        };
        match (event.pallet_name(), event.event_name()) {
            ("Balances", "Transfer") => {
                let t: TransferEvent = event
                    .decode_fields_unchecked_as()
                    .map_err(|e| ChainError::rpc("decoding Balances.Transfer", e))?;
                transfers.push(Seen {
                    index,
                    from: t.from,
                    to: t.to,
                    rao: t.amount,
                });
            }
            ("System", "ExtrinsicFailed") => failed.push(index),
            _ => {}
        }
    }
    match judge(expected, &transfers) {
        Verdict::Verified {
            extrinsic_index, ..
        } => record(replay, hash, number, extrinsic_index),
        not_found @ Verdict::NotFound { .. } => {
            match failed_transfer_from(&at, &failed, &expected.from).await? {
                Some(index) => Ok(Verdict::FailedExtrinsic {
                    extrinsic_index: index,
                    detail:
                        "a transfer from the sender in this block failed (System.ExtrinsicFailed)"
                            .into(),
                }),
                None => Ok(not_found.with_block(number)),
            }
        }
        other => Ok(other),
    }
}

impl Verdict {
    fn with_block(self, number: u64) -> Self {
        match self {
            Verdict::NotFound { detail } => Verdict::NotFound {
                detail: format!("{detail} (block {number})"),
            },
            other => other,
        }
    }
}

/// Compares the transfers of a block with the expected one: an exact match wins; otherwise a
/// transfer from the sender says what differs.
fn judge(expected: &Expected, transfers: &[Seen]) -> Verdict {
    if let Some(t) = transfers
        .iter()
        .find(|t| t.from == expected.from && t.to == expected.to && t.rao == expected.rao)
    {
        return Verdict::Verified {
            block_number: 0,
            extrinsic_index: t.index,
        };
    }
    let from_sender: Vec<&Seen> = transfers
        .iter()
        .filter(|t| t.from == expected.from)
        .collect();
    if let Some(t) = from_sender.iter().find(|t| t.to == expected.to) {
        return Verdict::WrongAmount {
            extrinsic_index: t.index,
            expected_rao: expected.rao,
            found_rao: t.rao,
        };
    }
    if let Some(t) = from_sender.first() {
        return Verdict::WrongRecipient {
            extrinsic_index: t.index,
            expected: expected.to.to_string(),
            found: t.to.to_string(),
        };
    }
    Verdict::NotFound {
        detail: format!("no transfer from {} in this block", expected.from),
    }
}

/// A failed extrinsic signed by `from` that called a Balances transfer.
async fn failed_transfer_from(
    at: &super::client::AtBlock,
    failed: &[u32],
    from: &AccountId32,
) -> Result<Option<u32>, ChainError> {
    if failed.is_empty() {
        return Ok(None);
    }
    let extrinsics = at
        .inner
        .extrinsics()
        .fetch()
        .await
        .map_err(|e| ChainError::rpc("reading the block's extrinsics", e))?;
    for ext in extrinsics.iter() {
        let ext = ext.map_err(|e| ChainError::rpc("decoding the block's extrinsics", e))?;
        let index = ext.index() as u32;
        let is_transfer =
            ext.pallet_name() == calls::BALANCES && ext.call_name().starts_with("transfer");
        // A signed address is `MultiAddress::Id` (variant 0) followed by the 32-byte account.
        let signer = ext.address_bytes().and_then(|a| a.get(1..33));
        if failed.contains(&index) && is_transfer && signer == Some(&from.0[..]) {
            return Ok(Some(index));
        }
    }
    Ok(None)
}

fn record(
    replay: Option<&ReplayDb>,
    hash: H256,
    number: u64,
    index: u32,
) -> Result<Verdict, ChainError> {
    let verified = Verdict::Verified {
        block_number: number,
        extrinsic_index: index,
    };
    let Some(db) = replay else {
        return Ok(verified);
    };
    let key = format!("{hash:?}-{index}");
    match db.claim(&key) {
        Ok(true) => Ok(verified),
        Ok(false) => Ok(Verdict::AlreadyUsed { extrinsic: key }),
        Err(e) => Err(ChainError::Protocol(format!(
            "replay database {}: {e}",
            db.path.display()
        ))),
    }
}

/// Extrinsics already paid for: one `BLOCKHASH-INDEX` line each, appended under an exclusive
/// lock and synced before the verdict is given, so two processes cannot both accept one
/// transfer and a crash cannot forget one.
#[derive(Debug, Clone)]
pub struct ReplayDb {
    path: PathBuf,
}

impl ReplayDb {
    pub fn new(path: &Path) -> Self {
        ReplayDb {
            path: path.to_path_buf(),
        }
    }

    /// Records `key`; false when it was recorded before.
    pub fn claim(&self, key: &str) -> std::io::Result<bool> {
        use std::os::fd::AsRawFd;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.path)?;
        // SAFETY: flock on a descriptor we own; released when the file closes.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let seen = std::io::BufReader::new(&file)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.trim() == key);
        if seen {
            return Ok(false);
        }
        writeln!(file, "{key}")?;
        file.sync_all()?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tao_amounts_are_exact_in_rao() {
        assert_eq!(parse_tao("1"), Ok(RAO_PER_TAO));
        assert_eq!(parse_tao("0.000000001"), Ok(1));
        assert_eq!(parse_tao("12.5"), Ok(12_500_000_000));
        assert_eq!(parse_tao(".25"), Ok(250_000_000));
        assert!(
            parse_tao("0.0000000001").is_err(),
            "10 decimals is below one rao"
        );
        assert!(parse_tao("-1").is_err());
        assert!(parse_tao("1e3").is_err());
        assert!(parse_tao("").is_err());
        assert!(parse_tao("99999999999999999999").is_err());
        assert_eq!(format_tao(12_500_000_000), "12.5");
        assert_eq!(format_tao(1), "0.000000001");
    }

    #[test]
    fn judge_names_what_differs() {
        let a = AccountId32([1; 32]);
        let b = AccountId32([2; 32]);
        let c = AccountId32([3; 32]);
        let want = Expected {
            from: a,
            to: b,
            rao: 5,
        };
        let seen = |index, to: &AccountId32, rao| Seen {
            index,
            from: a,
            to: *to,
            rao,
        };
        assert!(matches!(
            judge(&want, &[seen(2, &b, 5)]),
            Verdict::Verified {
                extrinsic_index: 2,
                ..
            }
        ));
        assert!(matches!(
            judge(&want, &[seen(1, &b, 4)]),
            Verdict::WrongAmount { found_rao: 4, .. }
        ));
        assert!(matches!(
            judge(&want, &[seen(1, &c, 5)]),
            Verdict::WrongRecipient { .. }
        ));
        assert!(matches!(judge(&want, &[]), Verdict::NotFound { .. }));
        let other = Seen {
            index: 0,
            from: c,
            to: b,
            rao: 5,
        };
        assert!(
            matches!(judge(&want, &[other]), Verdict::NotFound { .. }),
            "another sender's payment is not ours"
        );
    }

    #[test]
    fn replay_db_accepts_a_key_once() {
        let dir = std::env::temp_dir().join(format!("omega-replay-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = ReplayDb::new(&dir.join("used.txt"));
        assert!(db.claim("0xab-1").unwrap());
        assert!(!db.claim("0xab-1").unwrap());
        assert!(db.claim("0xab-2").unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
