//! `omega set-weights`: the SDK's weight processing, the chain's rules checked before anything
//! is signed (each refusal names the rule and when to try again), the call the connected
//! runtime offers, and the submission.

use std::sync::Arc;

use subxt::utils::AccountId32;
use subxt::Metadata;
use subxt_signer::sr25519::Keypair;

use super::calls::{
    self, Call, CommitTimelockedMechanismWeights, CommitTimelockedWeights, SetMechanismWeights,
    SetWeights,
};
use super::submit::{Inclusion, Wait};
use super::subnet::{Standing, WeightRules};
use super::timelock::{self, TimelockError};
use super::wallet::{WalletError, WalletLocation};
use super::weights::{self, WeightsError};
use super::weights_file::RawWeights;
use super::{metadata, subnet, Chain, ChainError};
use crate::uid::Uid;

/// Weights as the SDK sends them: uids with u16 proportions, zeros dropped.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Emitted {
    pub uids: Vec<Uid>,
    pub weights: Vec<u16>,
}

/// The subnet numbers weight processing needs (from the chain, or flags with `--offline`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub n: u16,
    pub min_allowed_weights: u16,
    pub max_weights_limit: u16,
}

impl From<&WeightRules> for Limits {
    fn from(r: &WeightRules) -> Self {
        Limits {
            n: r.n,
            min_allowed_weights: r.min_allowed_weights,
            max_weights_limit: r.max_weights_limit,
        }
    }
}

/// `process_weights_for_netuid` then `convert_weights_and_uids_for_emit`, as OMEGA's validator
/// calls them (SDK 9.10.1, numpy path).
pub fn process(uids: &[Uid], raw: &[f32], limits: Limits) -> Result<Emitted, WeightsError> {
    let max_weight_limit = f64::from(limits.max_weights_limit) / f64::from(u16::MAX);
    let (kept, normalized) = weights::process_weights(
        uids,
        raw,
        usize::from(limits.n),
        u64::from(limits.min_allowed_weights),
        max_weight_limit,
        0,
    )?;
    let (uids, weights) = weights::convert_weights_and_uids_for_emit(&kept, &normalized)?;
    Ok(Emitted { uids, weights })
}

/// Why the chain would refuse the weights: checked before signing, so the user learns the rule
/// (and when to retry) instead of paying a round trip for an opaque dispatch error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("hotkey {hotkey} is not registered on subnet {netuid}: register it first (btcli subnet register)")]
    NotRegistered { hotkey: String, netuid: u16 },
    #[error("uid {uid} has no validator permit on subnet {netuid}: permits go to the top validators by stake at each epoch; only a weight on itself is allowed without one")]
    NoPermit { uid: Uid, netuid: u16 },
    #[error("version key {ours} is below the subnet's WeightsVersionKey {required}: upgrade the validator (or pass --version-key {required} if you are sure)")]
    VersionKey { ours: u64, required: u64 },
    #[error("rate limited: uid {uid} set weights at block {last_update} and subnet {netuid} allows once every {limit} blocks; retry at block {retry_at} ({blocks_left} blocks, about {} min)", blocks_left * 12 / 60)]
    RateLimited {
        uid: Uid,
        netuid: u16,
        last_update: u64,
        limit: u64,
        retry_at: u64,
        blocks_left: u64,
    },
    #[error("the timelocked commit would be {bytes} bytes and the chain takes at most {MAX_COMMIT_BYTES}: send fewer weights (about 1200 fit)")]
    CommitTooLarge { bytes: usize },
    #[error("uid {uid} is not on subnet {netuid}, which has {n} uids")]
    UnknownUid { uid: Uid, netuid: u16, n: u16 },
    #[error(
        "{count} weights, but subnet {netuid} requires at least {required} (MinAllowedWeights)"
    )]
    TooFewWeights {
        count: usize,
        required: u16,
        netuid: u16,
    },
}

/// Checks the rules of `../shared/spec/bittensor.md` 1.3 that the client can see.
pub fn check(
    rules: &WeightRules,
    hotkey: &AccountId32,
    standing: &Standing,
    emitted: &Emitted,
    version_key: u64,
    block: u64,
) -> Result<(), Refusal> {
    let netuid = rules.netuid;
    let Some(uid) = standing.uid else {
        return Err(Refusal::NotRegistered {
            hotkey: hotkey.to_string(),
            netuid,
        });
    };
    let self_weight = emitted.uids == [uid];
    if rules.version_key != 0 && version_key < rules.version_key {
        return Err(Refusal::VersionKey {
            ours: version_key,
            required: rules.version_key,
        });
    }
    let since = block.saturating_sub(standing.last_update);
    if standing.last_update != 0 && since < rules.rate_limit {
        let retry_at = standing.last_update + rules.rate_limit;
        return Err(Refusal::RateLimited {
            uid,
            netuid,
            last_update: standing.last_update,
            limit: rules.rate_limit,
            retry_at,
            blocks_left: retry_at - block,
        });
    }
    if !standing.validator_permit && !self_weight {
        return Err(Refusal::NoPermit { uid, netuid });
    }
    if let Some(&bad) = emitted.uids.iter().find(|&&u| u >= rules.n) {
        return Err(Refusal::UnknownUid {
            uid: bad,
            netuid,
            n: rules.n,
        });
    }
    let required = rules.min_allowed_weights.min(rules.n);
    if !self_weight && emitted.uids.len() < usize::from(required) {
        return Err(Refusal::TooFewWeights {
            count: emitted.uids.len(),
            required,
            netuid,
        });
    }
    Ok(())
}

/// The call that carries the weights: direct (`set_mechanism_weights` with mechanism 0 as SDK
/// 9.12+ send, or `set_weights` on runtimes without mechanisms) or, on commit-reveal subnets, a
/// timelocked commit (`commit_timelocked_mechanism_weights`, else `commit_timelocked_weights`).
pub enum WeightsCall {
    Mechanism(Call<SetMechanismWeights>),
    Plain(Call<SetWeights>),
    CommitMechanism(Call<CommitTimelockedMechanismWeights>),
    Commit(Call<CommitTimelockedWeights>),
}

/// Runs `$body` with `$c` bound to whichever call `$call` holds.
macro_rules! on_call {
    ($call:expr, $c:ident => $body:expr) => {
        match $call {
            WeightsCall::Mechanism($c) => $body,
            WeightsCall::Plain($c) => $body,
            WeightsCall::CommitMechanism($c) => $body,
            WeightsCall::Commit($c) => $body,
        }
    };
}

impl WeightsCall {
    pub fn for_runtime(node: &Metadata, netuid: u16, emitted: &Emitted, version_key: u64) -> Self {
        let (dests, weights) = (emitted.uids.clone(), emitted.weights.clone());
        if metadata::has_call(node, calls::SUBTENSOR, "set_mechanism_weights") {
            let mecid = 0;
            let args = SetMechanismWeights {
                netuid,
                mecid,
                dests,
                weights,
                version_key,
            };
            WeightsCall::Mechanism(calls::set_mechanism_weights(args))
        } else {
            WeightsCall::Plain(calls::set_weights(SetWeights {
                netuid,
                dests,
                weights,
                version_key,
            }))
        }
    }

    /// The timelocked commit of `commit` (a ciphertext for `reveal_round`).
    pub fn commit_for_runtime(
        node: &Metadata,
        netuid: u16,
        commit: Vec<u8>,
        reveal_round: u64,
        version: u16,
    ) -> Self {
        let commit_reveal_version = version;
        if metadata::has_call(
            node,
            calls::SUBTENSOR,
            "commit_timelocked_mechanism_weights",
        ) {
            let mecid = 0;
            let args = CommitTimelockedMechanismWeights {
                netuid,
                mecid,
                commit,
                reveal_round,
                commit_reveal_version,
            };
            WeightsCall::CommitMechanism(calls::commit_timelocked_mechanism_weights(args))
        } else {
            let args = CommitTimelockedWeights {
                netuid,
                commit,
                reveal_round,
                commit_reveal_version,
            };
            WeightsCall::Commit(calls::commit_timelocked_weights(args))
        }
    }

    pub fn name(&self) -> String {
        on_call!(self, c => c.full_name())
    }

    pub fn encode(&self, metadata: &Arc<Metadata>) -> Result<Vec<u8>, ChainError> {
        on_call!(self, c => c.encode(metadata))
    }

    pub async fn submit(
        &self,
        chain: &Chain,
        at: &super::client::AtBlock,
        signer: &Keypair,
        wait: Wait,
    ) -> Result<Inclusion, ChainError> {
        on_call!(self, c => super::submit::sign_and_watch(chain, at, c, signer, wait).await)
    }
}

/// The chain's bound on a timelocked commit (`BoundedVec<u8, 5000>`).
pub const MAX_COMMIT_BYTES: usize = 5000;

/// When a commit made now will be revealed, and the ciphertext that opens then.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Commitment {
    /// The first block at which the chain reveals it.
    pub reveal_block: u64,
    /// The drand quicknet round it is encrypted to (due 3 blocks after `reveal_block`).
    pub reveal_round: u64,
    /// The best block the prediction starts from.
    pub best_block: u64,
    #[serde(skip)]
    pub ciphertext: Vec<u8>,
}

/// Encrypts the weights to the round that will be out when the chain reveals a commit made
/// against `best` (the runtime's epoch model: stateful from spec 423, modulo the tempo before).
pub fn commitment(
    rules: &WeightRules,
    hotkey: &AccountId32,
    emitted: &Emitted,
    version_key: u64,
    best: u64,
    now: f64,
) -> Result<Commitment, SetWeightsError> {
    let period = rules.reveal_period_epochs;
    let reveal_block = match rules.epochs {
        Some(state) => timelock::reveal_block_stateful(state.advanced_to(best), period)?,
        None => timelock::reveal_block_modulo(best, rules.netuid, rules.tempo, period)?,
    };
    let due = (reveal_block + timelock::SECURITY_BLOCK_OFFSET).saturating_sub(best);
    let reveal_round = timelock::round_after(now, due);
    let payload = timelock::Payload {
        hotkey: hotkey.0.to_vec(),
        uids: emitted.uids.clone(),
        values: emitted.weights.clone(),
        version_key,
    };
    let ciphertext = timelock::encrypt(&payload, reveal_round)?;
    if ciphertext.len() > MAX_COMMIT_BYTES {
        return Err(Refusal::CommitTooLarge {
            bytes: ciphertext.len(),
        }
        .into());
    }
    Ok(Commitment {
        reveal_block,
        reveal_round,
        best_block: best,
        ciphertext,
    })
}

/// What `omega set-weights` did; its `--json` output.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub netuid: u16,
    pub uids: Vec<Uid>,
    pub weights: Vec<u16>,
    pub version_key: u64,
    /// `SubtensorModule.set_mechanism_weights` or `SubtensorModule.set_weights`.
    pub call_name: String,
    /// The call's bytes, `0x` + hex.
    pub call: String,
    /// The call decoded against the runtime's metadata.
    pub call_decoded: String,
    /// The runtime the call was encoded for.
    pub spec_version: u32,
    /// The block the rules were read at (None offline).
    pub block: Option<u64>,
    pub dry_run: bool,
    /// The hotkey the rules were checked for (None offline).
    pub hotkey: Option<String>,
    /// The subnet's rules at `block` (None offline).
    pub rules: Option<WeightRules>,
    /// Dry run: why the chain would refuse these weights now (None: it would accept them).
    pub refusal: Option<String>,
    /// Commit-reveal subnets: when the weights will be revealed.
    pub commitment: Option<Commitment>,
    /// Where the extrinsic landed (None when nothing was sent).
    pub inclusion: Option<Inclusion>,
}

#[derive(Debug, thiserror::Error)]
pub enum SetWeightsError {
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error("refused before sending: {0}")]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Wallet(#[from] WalletError),
    #[error(transparent)]
    Timelock(#[from] TimelockError),
}

/// Processes and encodes weights with no node (`--offline`): the vendored runtime, the given
/// subnet numbers; nothing is sent.
pub fn offline(
    netuid: u16,
    raw: &RawWeights,
    limits: Limits,
    version_key: u64,
) -> Result<Report, SetWeightsError> {
    let emitted = process(&raw.uids, &raw.weights, limits)?;
    let md = metadata::vendored();
    let spec_version = metadata::runtime_version(&md)?.spec_version;
    let call = WeightsCall::for_runtime(&md, netuid, &emitted, version_key);
    report(netuid, emitted, version_key, &call, &md, spec_version, None)
}

/// Reads the subnet's rules at the latest finalized block, processes the weights, checks every
/// rule the client can see, and sends the call; a dry run reports what the chain would refuse
/// instead of failing.
pub async fn online(
    chain: &Chain,
    netuid: u16,
    raw: &RawWeights,
    sender: Sender<'_>,
    version_key: Option<u64>,
    wait: Wait,
) -> Result<Report, SetWeightsError> {
    let at = chain.at_latest().await?;
    let rules = subnet::weight_rules(&at, netuid).await?;
    let emitted = process(&raw.uids, &raw.weights, Limits::from(&rules))?;
    let version_key = version_key.unwrap_or(rules.version_key);
    let (signer, hotkey) = match sender {
        Sender::DryRun(account) => (None, account),
        Sender::DryRunWallet(wallet) => (None, wallet.hotkey_address()?),
        Sender::Wallet(wallet) => {
            let pair = wallet.hotkey()?;
            let account = AccountId32(pair.public_key().0);
            (Some(pair), account)
        }
    };
    let standing = subnet::standing(&at, netuid, &hotkey).await?;
    let verdict = check(
        &rules,
        &hotkey,
        &standing,
        &emitted,
        version_key,
        at.number(),
    );
    let md = at.inner.metadata();
    let (call, commitment) = if rules.commit_reveal {
        let best = chain.best_number().await?.max(at.number());
        let c = commitment(&rules, &hotkey, &emitted, version_key, best, unix_now())?;
        let version = rules.commit_reveal_version;
        let call = WeightsCall::commit_for_runtime(
            &md,
            netuid,
            c.ciphertext.clone(),
            c.reveal_round,
            version,
        );
        (call, Some(c))
    } else {
        (
            WeightsCall::for_runtime(&md, netuid, &emitted, version_key),
            None,
        )
    };
    let mut out = report(
        netuid,
        emitted,
        version_key,
        &call,
        &md,
        at.spec_version(),
        Some(at.number()),
    )?;
    out.hotkey = Some(hotkey.to_string());
    out.rules = Some(rules);
    out.commitment = commitment;
    let Some(signer) = signer else {
        out.refusal = verdict.err().map(|r| r.to_string());
        return Ok(out);
    };
    verdict?;
    out.inclusion = Some(call.submit(chain, &at, &signer, wait).await?);
    out.dry_run = false;
    Ok(out)
}

/// Who sets the weights.
pub enum Sender<'a> {
    /// Sign with the wallet's hotkey and send.
    Wallet(&'a WalletLocation),
    /// Check and encode as the wallet's hotkey (its public part only); send nothing.
    DryRunWallet(&'a WalletLocation),
    /// Check and encode as any hotkey; send nothing.
    DryRun(AccountId32),
}

fn report(
    netuid: u16,
    emitted: Emitted,
    version_key: u64,
    call: &WeightsCall,
    md: &Arc<Metadata>,
    spec_version: u32,
    block: Option<u64>,
) -> Result<Report, SetWeightsError> {
    let bytes = call.encode(md)?;
    Ok(Report {
        netuid,
        uids: emitted.uids,
        weights: emitted.weights,
        version_key,
        call_name: call.name(),
        call: format!("0x{}", crate::hex::encode(&bytes)),
        call_decoded: calls::describe(md, &bytes)?,
        spec_version,
        block,
        dry_run: true,
        hotkey: None,
        rules: None,
        refusal: None,
        commitment: None,
        inclusion: None,
    })
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
