//! `omega metagraph`: a subnet's neurons at one block, read with the runtime API
//! `SubnetInfoRuntimeApi.get_selective_metagraph` (only the fields omega needs, decoded by
//! field name so fields the runtime adds later do no harm), as `metagraph` table rows.

use std::net::{Ipv4Addr, Ipv6Addr};

use subxt::ext::scale_decode::DecodeAsType;
use subxt::utils::AccountId32;

use super::client::{timed, AtBlock};
use super::ChainError;
use crate::table::metagraph::MetagraphRow;
use crate::uid::Uid;

/// `SelectiveMetagraphIndex` numbers of the fields omega reads (subtensor
/// `rpc_info/metagraph.rs`; stable from spec 365 to 425): Block 7, NumUids 30, Hotkeys 52,
/// Coldkeys 53, Axons 55, Active 56, ValidatorPermit 57, LastUpdate 59, Emission 60,
/// Dividends 61, Incentives 62, Trust 64, AlphaStake 67, TaoStake 68, TotalStake 69.
pub const FIELDS: [u16; 15] = [7, 30, 52, 53, 55, 56, 57, 59, 60, 61, 62, 64, 67, 68, 69];

/// The axon a neuron announced (`AxonInfo`).
#[derive(Debug, Clone, Default, PartialEq, DecodeAsType)]
#[decode_as_type(crate_path = "::subxt::ext::scale_decode")]
pub struct AxonInfo {
    pub block: u64,
    pub version: u32,
    pub ip: u128,
    pub port: u16,
    pub ip_type: u8,
    pub protocol: u8,
}

/// The fields of `SelectiveMetagraph` omega uses; each is `Option` on the chain (None when
/// not asked for).
#[derive(Debug, Default, DecodeAsType)]
#[decode_as_type(crate_path = "::subxt::ext::scale_decode")]
pub struct SelectiveMetagraph {
    pub netuid: u16,
    pub block: Option<u64>,
    pub num_uids: Option<u16>,
    pub hotkeys: Option<Vec<AccountId32>>,
    pub coldkeys: Option<Vec<AccountId32>>,
    pub axons: Option<Vec<AxonInfo>>,
    pub active: Option<Vec<bool>>,
    pub validator_permit: Option<Vec<bool>>,
    pub last_update: Option<Vec<u64>>,
    pub emission: Option<Vec<u64>>,
    pub dividends: Option<Vec<u16>>,
    pub incentives: Option<Vec<u16>>,
    pub trust: Option<Vec<u16>>,
    pub alpha_stake: Option<Vec<u64>>,
    pub tao_stake: Option<Vec<u64>>,
    pub total_stake: Option<Vec<u64>>,
}

/// Asks the node for the metagraph of `netuid` at `at`.
pub async fn fetch(
    at: &AtBlock,
    netuid: u16,
    limit: std::time::Duration,
) -> Result<SelectiveMetagraph, ChainError> {
    let call = subxt::dynamic::runtime_api_call::<_, Option<SelectiveMetagraph>>(
        "SubnetInfoRuntimeApi",
        "get_selective_metagraph",
        (netuid, FIELDS.to_vec()),
    );
    let what = "SubnetInfoRuntimeApi.get_selective_metagraph";
    timed(limit, what, at.inner.runtime_apis().call(call))
        .await?
        .map_err(|e| ChainError::rpc(what, e))?
        .ok_or_else(|| {
            ChainError::Protocol(format!(
                "subnet {netuid} does not exist at block {}",
                at.number()
            ))
        })
}

/// A rao amount in TAO/alpha units.
fn units(rao: u64) -> f64 {
    rao as f64 / 1e9
}

fn ratio(value: u16) -> f64 {
    f64::from(value) / f64::from(u16::MAX)
}

/// The axon address as text, as the SDK shows it (`0.0.0.0` when unset).
pub fn ip_text(ip: u128, ip_type: u8) -> String {
    match ip_type {
        6 => Ipv6Addr::from(ip).to_string(),
        _ => Ipv4Addr::from(u32::try_from(ip).unwrap_or(0)).to_string(),
    }
}

/// One row per uid. Every per-uid vector the node returned must have `num_uids` entries.
pub fn rows(m: &SelectiveMetagraph) -> Result<Vec<MetagraphRow>, ChainError> {
    let n = usize::from(m.num_uids.unwrap_or(0));
    fn column<'a, T>(name: &str, v: &'a Option<Vec<T>>, n: usize) -> Result<&'a [T], ChainError> {
        let values = v.as_deref().unwrap_or(&[]);
        if values.len() != n {
            return Err(ChainError::Protocol(format!(
                "metagraph field `{name}` has {} entries for {n} uids",
                values.len()
            )));
        }
        Ok(values)
    }
    let hotkeys = column("hotkeys", &m.hotkeys, n)?;
    let coldkeys = column("coldkeys", &m.coldkeys, n)?;
    let axons = column("axons", &m.axons, n)?;
    let active = column("active", &m.active, n)?;
    let permits = column("validator_permit", &m.validator_permit, n)?;
    let last_update = column("last_update", &m.last_update, n)?;
    let emission = column("emission", &m.emission, n)?;
    let dividends = column("dividends", &m.dividends, n)?;
    let incentives = column("incentives", &m.incentives, n)?;
    let trust = column("trust", &m.trust, n)?;
    let alpha = column("alpha_stake", &m.alpha_stake, n)?;
    let tao = column("tao_stake", &m.tao_stake, n)?;
    let total = column("total_stake", &m.total_stake, n)?;
    (0..n)
        .map(|i| {
            let axon = &axons[i];
            Ok(MetagraphRow {
                uid: Uid::try_from(i)
                    .map_err(|_| ChainError::Protocol(format!("{n} uids: more than 65536")))?,
                hotkey: hotkeys[i].to_string(),
                coldkey: coldkeys[i].to_string(),
                alpha_stake: units(alpha[i]),
                tao_stake: units(tao[i]),
                total_stake: units(total[i]),
                validator_permit: permits[i],
                axon_ip: ip_text(axon.ip, axon.ip_type),
                axon_port: i64::from(axon.port),
                axon_ip_type: i64::from(axon.ip_type),
                axon_protocol: i64::from(axon.protocol),
                axon_version: i64::from(axon.version),
                last_update: i64::try_from(last_update[i]).unwrap_or(i64::MAX),
                incentive: ratio(incentives[i]),
                dividends: ratio(dividends[i]),
                trust: ratio(trust[i]),
                emission: units(emission[i]),
                active: active[i],
            })
        })
        .collect()
}

/// A subnet's metagraph at one block.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub netuid: u16,
    pub block_number: u64,
    pub block_hash: subxt::utils::H256,
    pub rows: Vec<MetagraphRow>,
}

/// Reads the metagraph at the latest finalized block, or at `block` when given.
pub async fn snapshot(
    chain: &super::Chain,
    netuid: u16,
    block: Option<subxt::utils::H256>,
) -> Result<Snapshot, ChainError> {
    let at = match block {
        Some(hash) => chain.at_hash(hash).await?,
        None => chain.at_latest().await?,
    };
    let limit = chain.timeout();
    let graph = fetch(&at, netuid, limit).await?;
    Ok(Snapshot {
        netuid,
        block_number: at.number(),
        block_hash: at.hash(),
        rows: rows(&graph)?,
    })
}

/// Writes a snapshot as a `metagraph` table (atomically), the block in the file's metadata.
pub fn write(snapshot: &Snapshot, path: &str) -> Result<usize, crate::table::TableError> {
    use crate::table::metagraph::{BLOCK_HASH_KEY, BLOCK_NUMBER_KEY, NETUID_KEY};
    let meta = [
        (BLOCK_NUMBER_KEY, snapshot.block_number.to_string()),
        (BLOCK_HASH_KEY, format!("{:?}", snapshot.block_hash)),
        (NETUID_KEY, snapshot.netuid.to_string()),
    ];
    let mut writer = crate::table::TableWriter::<MetagraphRow>::create_with_metadata(path, &meta)?;
    writer.write_rows(snapshot.rows.iter().cloned())?;
    writer.finish()
}

/// Reads a `metagraph` file back (`--metagraph FILE` of the servers).
pub fn read(path: &str) -> Result<Snapshot, crate::table::TableError> {
    use crate::table::metagraph::{BLOCK_HASH_KEY, BLOCK_NUMBER_KEY, NETUID_KEY};
    let mut reader = crate::table::TableReader::<MetagraphRow>::open(path)?;
    let meta = reader.schema().metadata().clone();
    let bad = |key: &str| crate::table::TableError::Format {
        path: std::path::PathBuf::from(path),
        message: format!(
            "file metadata `{key}` is missing or malformed (written by `omega metagraph`?)"
        ),
    };
    let number = meta
        .get(BLOCK_NUMBER_KEY)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| bad(BLOCK_NUMBER_KEY))?;
    let hash = meta
        .get(BLOCK_HASH_KEY)
        .and_then(|v| super::wallet::hex_bytes(v))
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| bad(BLOCK_HASH_KEY))?;
    let netuid = meta
        .get(NETUID_KEY)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| bad(NETUID_KEY))?;
    let mut rows = Vec::new();
    while let Some(batch) = reader.next_rows() {
        rows.extend(batch?);
    }
    Ok(Snapshot {
        netuid,
        block_number: number,
        block_hash: subxt::utils::H256(hash),
        rows,
    })
}
