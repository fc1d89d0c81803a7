//! A subnet's rules and one neuron's standing, read from storage at one block (spec
//! `../shared/spec/bittensor.md` 1.3, 1.7).

use subxt::ext::frame_decode::storage::{IntoDecodableValues, IntoEncodableValues};
use subxt::ext::scale_decode::DecodeAsType;
use subxt::utils::AccountId32;

use super::calls::SUBTENSOR;
use super::client::{timed, AtBlock};
use super::ChainError;

/// The hyperparameters that decide whether and how weights can be set.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WeightRules {
    pub netuid: u16,
    /// `SubnetworkN`: registered uids.
    pub n: u16,
    pub min_allowed_weights: u16,
    pub max_weights_limit: u16,
    /// `WeightsVersionKey`: the smallest version key accepted (0 = any).
    pub version_key: u64,
    /// `WeightsSetRateLimit`, in blocks.
    pub rate_limit: u64,
    pub commit_reveal: bool,
    pub reveal_period_epochs: u64,
    pub tempo: u16,
    /// `CommitRevealWeightsVersion`: the version a timelocked commit must name (default 4).
    pub commit_reveal_version: u16,
    /// The stateful epoch bookkeeping of runtimes from spec 423 on (None before: epochs are
    /// modulo the tempo there).
    #[serde(skip)]
    pub epochs: Option<super::timelock::EpochState>,
}

/// One hotkey's standing on a subnet.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Standing {
    pub uid: Option<u16>,
    pub validator_permit: bool,
    /// `LastUpdate[uid]`: the block of its last weights (0 = never).
    pub last_update: u64,
}

/// Reads one storage value; the node's default when unset.
pub async fn fetch<K, V>(at: &AtBlock, entry: &str, keys: K) -> Result<V, ChainError>
where
    K: IntoEncodableValues + IntoDecodableValues,
    V: DecodeAsType,
{
    try_fetch(at, entry, keys).await?.ok_or_else(|| {
        ChainError::Protocol(format!("{SUBTENSOR}.{entry} has no value and no default"))
    })
}

/// Reads a storage value that may be absent (`OptionQuery` maps such as `Uids`); entries with a
/// default give their default.
pub async fn try_fetch<K, V>(at: &AtBlock, entry: &str, keys: K) -> Result<Option<V>, ChainError>
where
    K: IntoEncodableValues + IntoDecodableValues,
    V: DecodeAsType,
{
    let what = format!("reading {SUBTENSOR}.{entry}");
    let address = subxt::dynamic::storage::<K, V>(SUBTENSOR, entry);
    let value = timed(
        at.timeout(),
        &what,
        at.inner.storage().try_fetch(address, keys),
    )
    .await?
    .map_err(|e| ChainError::rpc(&what, e))?;
    value
        .map(|v| v.decode_as::<V>().map_err(|e| ChainError::rpc(&what, e)))
        .transpose()
}

pub async fn weight_rules(at: &AtBlock, netuid: u16) -> Result<WeightRules, ChainError> {
    if !fetch::<_, bool>(at, "NetworksAdded", (netuid,)).await? {
        return Err(ChainError::Protocol(format!(
            "subnet {netuid} does not exist at block {}",
            at.number()
        )));
    }
    let tempo = fetch(at, "Tempo", (netuid,)).await?;
    Ok(WeightRules {
        netuid,
        n: fetch(at, "SubnetworkN", (netuid,)).await?,
        min_allowed_weights: fetch(at, "MinAllowedWeights", (netuid,)).await?,
        max_weights_limit: fetch(at, "MaxWeightsLimit", (netuid,)).await?,
        version_key: fetch(at, "WeightsVersionKey", (netuid,)).await?,
        rate_limit: fetch(at, "WeightsSetRateLimit", (netuid,)).await?,
        commit_reveal: fetch(at, "CommitRevealWeightsEnabled", (netuid,)).await?,
        reveal_period_epochs: fetch(at, "RevealPeriodEpochs", (netuid,)).await?,
        tempo,
        commit_reveal_version: match has_entry(at, "CommitRevealWeightsVersion") {
            true => fetch(at, "CommitRevealWeightsVersion", ()).await?,
            false => 4,
        },
        epochs: epoch_state(at, netuid, tempo).await?,
    })
}

/// Whether the runtime at `at` has the storage entry.
fn has_entry(at: &AtBlock, entry: &str) -> bool {
    at.inner
        .metadata_ref()
        .pallet_by_name(SUBTENSOR)
        .and_then(|p| p.storage())
        .and_then(|s| s.entry_by_name(entry))
        .is_some()
}

/// The stateful epoch state, where the runtime keeps one (`LastEpochBlock` exists).
async fn epoch_state(
    at: &AtBlock,
    netuid: u16,
    tempo: u16,
) -> Result<Option<super::timelock::EpochState>, ChainError> {
    if !has_entry(at, "LastEpochBlock") {
        return Ok(None);
    }
    Ok(Some(super::timelock::EpochState {
        block: at.number(),
        tempo,
        last_epoch_block: fetch(at, "LastEpochBlock", (netuid,)).await?,
        pending_epoch_at: fetch(at, "PendingEpochAt", (netuid,)).await?,
        epoch_index: fetch(at, "SubnetEpochIndex", (netuid,)).await?,
        blocks_since_last_step: fetch(at, "BlocksSinceLastStep", (netuid,)).await?,
    }))
}

/// The coldkey that owns `hotkey` (`Owner`); None for a hotkey no coldkey has claimed (the
/// map's default is the all-zero account).
pub async fn hotkey_owner(
    at: &AtBlock,
    hotkey: &AccountId32,
) -> Result<Option<AccountId32>, ChainError> {
    let owner: AccountId32 = fetch(at, "Owner", (*hotkey,)).await?;
    Ok((owner.0 != [0; 32]).then_some(owner))
}

pub async fn standing(
    at: &AtBlock,
    netuid: u16,
    hotkey: &AccountId32,
) -> Result<Standing, ChainError> {
    let Some(uid) = try_fetch::<_, u16>(at, "Uids", (netuid, *hotkey)).await? else {
        return Ok(Standing {
            uid: None,
            validator_permit: false,
            last_update: 0,
        });
    };
    let permits: Vec<bool> = fetch(at, "ValidatorPermit", (netuid,)).await?;
    // LastUpdate is keyed by the storage index, which equals the netuid for mechanism 0.
    let last_updates: Vec<u64> = fetch(at, "LastUpdate", (netuid,)).await?;
    Ok(Standing {
        uid: Some(uid),
        validator_permit: permits.get(usize::from(uid)).copied().unwrap_or(false),
        last_update: last_updates.get(usize::from(uid)).copied().unwrap_or(0),
    })
}
