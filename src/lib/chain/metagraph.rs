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

/// The runtime API's answer decoded by field name against the type of `metadata` (what the
/// online path does inside subxt; used by the benchmark).
pub fn decode(
    metadata: &subxt::Metadata,
    bytes: &[u8],
) -> Result<Option<SelectiveMetagraph>, ChainError> {
    let ty = answer_type(metadata)?;
    let mut cursor = bytes;
    <Option<SelectiveMetagraph> as DecodeAsType>::decode_as_type(&mut cursor, ty, metadata.types())
        .map_err(|e| ChainError::Protocol(format!("get_selective_metagraph: {e}")))
}

/// The type id of `get_selective_metagraph`'s answer (`Option<SelectiveMetagraph>`).
fn answer_type(metadata: &subxt::Metadata) -> Result<u32, ChainError> {
    metadata
        .runtime_api_trait_by_name("SubnetInfoRuntimeApi")
        .and_then(|t| t.method_by_name("get_selective_metagraph"))
        .map(|m| m.output_ty())
        .ok_or_else(|| {
            ChainError::Metadata("no SubnetInfoRuntimeApi.get_selective_metagraph".into())
        })
}

/// A synthetic answer of `get_selective_metagraph` for `n` uids of subnet `netuid`, encoded with
/// the vendored metadata's own type (the fields omega asks for are `Some`, all others `None`):
/// the stand-in node of the tests and the benchmark serve it. Uid `i` has hotkey bytes
/// `[i as u16 LE, 0.., 0x42]`, coldkey those of `i + 10000`, stake `i` alpha, `i/2` TAO and
/// `1.25 i` total, a permit when `i < 3`, is active when even, and serves `10.0.0.(i % 256)`
/// on port `8000 + i` unless `i % 4 == 3`.
pub fn synthetic_answer(netuid: u16, n: u16) -> Result<Vec<u8>, ChainError> {
    answer_for(netuid, 1000, &synthetic_rows(n))
}

fn synthetic_rows(n: u16) -> Vec<MetagraphRow> {
    (0..n)
        .map(|i| {
            let served = i % 4 != 3;
            let ip = if served {
                Ipv4Addr::new(10, 0, 0, (i % 256) as u8).to_string()
            } else {
                "0.0.0.0".into()
            };
            let mut row = MetagraphRow::neuron(
                i,
                &AccountId32(synthetic_account(u32::from(i))).to_string(),
                &ip,
                if served { 8000 + i } else { 0 },
                1.25 * f64::from(i),
                i < 3,
            );
            row.coldkey = AccountId32(synthetic_account(u32::from(i) + 10_000)).to_string();
            row.alpha_stake = f64::from(i);
            row.tao_stake = f64::from(i) / 2.0;
            row.axon_ip_type = if served { 4 } else { 0 };
            row.axon_version = 9_010_001;
            row.active = i % 2 == 0;
            row.last_update = 900 + i64::from(i);
            row.emission = f64::from(i) * 1e-3;
            row.dividends = f64::from(i % 7) * 1000.0 / 65535.0;
            row.incentive = f64::from(i % 5) * 2000.0 / 65535.0;
            row.trust = 1.0;
            row
        })
        .collect()
}

/// The node's answer to `get_selective_metagraph` holding `rows` at `block`, encoded with the
/// vendored metadata's own type (the fields omega asks for are `Some`, all others `None`); what
/// [`fetch`] and [`rows`] read back into the same rows. The stand-in node of the tests and the
/// benchmarks serves it.
pub fn answer_for(netuid: u16, block: u64, rows: &[MetagraphRow]) -> Result<Vec<u8>, ChainError> {
    use subxt::dynamic::Value;
    let md = super::metadata::vendored();
    let ty = answer_type(&md)?;
    let some = |v: Value| Value::unnamed_variant("Some", [v]);
    let uint = |v: u128| Value::u128(v);
    let rao = |x: f64| uint((x * 1e9).round() as u128);
    let ratio = |x: f64| uint((x * 65535.0).round() as u128);
    let mut accounts = Vec::with_capacity(rows.len());
    for r in rows {
        let parse = |ss58: &str| {
            ss58.parse::<AccountId32>()
                .map(|a| Value::unnamed_composite([Value::from_bytes(a.0)]))
                .map_err(|e| ChainError::Protocol(format!("uid {}: `{ss58}`: {e}", r.uid)))
        };
        accounts.push((parse(&r.hotkey)?, parse(&r.coldkey)?));
    }
    let list = |f: &dyn Fn(usize, &MetagraphRow) -> Value| {
        some(Value::unnamed_composite(
            rows.iter().enumerate().map(|(i, r)| f(i, r)),
        ))
    };
    let provided: Vec<(&str, Value)> = vec![
        ("netuid", uint(u128::from(netuid))),
        ("block", some(uint(u128::from(block)))),
        ("num_uids", some(uint(rows.len() as u128))),
        ("hotkeys", list(&|i, _| accounts[i].0.clone())),
        ("coldkeys", list(&|i, _| accounts[i].1.clone())),
        ("axons", list(&|_, r| axon_value(r))),
        ("active", list(&|_, r| Value::bool(r.active))),
        (
            "validator_permit",
            list(&|_, r| Value::bool(r.validator_permit)),
        ),
        (
            "last_update",
            list(&|_, r| uint(r.last_update.max(0) as u128)),
        ),
        ("emission", list(&|_, r| rao(r.emission))),
        ("dividends", list(&|_, r| ratio(r.dividends))),
        ("incentives", list(&|_, r| ratio(r.incentive))),
        ("trust", list(&|_, r| ratio(r.trust))),
        ("alpha_stake", list(&|_, r| rao(r.alpha_stake))),
        ("tao_stake", list(&|_, r| rao(r.tao_stake))),
        ("total_stake", list(&|_, r| rao(r.total_stake))),
    ];
    let fields = struct_fields_in_option(&md, ty)?;
    let inner = Value::named_composite(fields.into_iter().map(|name| {
        let value = provided
            .iter()
            .find(|(p, _)| *p == name)
            .map_or_else(|| Value::unnamed_variant("None", []), |(_, v)| v.clone());
        (name, value)
    }));
    let mut out = Vec::new();
    subxt::ext::scale_value::scale::encode_as_type(&some(inner), ty, md.types(), &mut out)
        .map_err(|e| ChainError::Metadata(format!("encoding a metagraph answer: {e}")))?;
    Ok(out)
}

/// The account bytes [`synthetic_answer`] gives seed `seed`.
pub fn synthetic_account(seed: u32) -> [u8; 32] {
    let mut a = [0u8; 32];
    a[..4].copy_from_slice(&seed.to_le_bytes());
    a[31] = 0x42;
    a
}

fn axon_value(r: &MetagraphRow) -> subxt::dynamic::Value {
    use subxt::dynamic::Value;
    let ip: u128 = match r.axon_ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => u128::from(u32::from(v4)),
        Ok(std::net::IpAddr::V6(v6)) => u128::from(v6),
        Err(_) => 0,
    };
    let small = |x: i64| Value::u128(x.max(0) as u128);
    Value::named_composite([
        ("block", Value::u128(100)),
        ("version", small(r.axon_version)),
        ("ip", Value::u128(ip)),
        ("port", small(r.axon_port)),
        ("ip_type", small(r.axon_ip_type)),
        ("protocol", small(r.axon_protocol)),
        ("placeholder1", Value::u128(0)),
        ("placeholder2", Value::u128(0)),
    ])
}

/// Field names of the struct inside the `Option<struct>` type `ty`.
fn struct_fields_in_option(md: &subxt::Metadata, ty: u32) -> Result<Vec<String>, ChainError> {
    use scale_info::TypeDef;
    let bad = || ChainError::Metadata(format!("type {ty} is not Option<struct>"));
    let resolve = |id: u32| md.types().resolve(id).map(|t| &t.type_def);
    let Some(TypeDef::Variant(option)) = resolve(ty) else {
        return Err(bad());
    };
    let inner = option
        .variants
        .iter()
        .find(|v| v.name == "Some")
        .and_then(|v| v.fields.first())
        .ok_or_else(bad)?;
    let Some(TypeDef::Composite(c)) = resolve(inner.ty.id) else {
        return Err(bad());
    };
    Ok(c.fields.iter().filter_map(|f| f.name.clone()).collect())
}

/// Asks the node for the metagraph of `netuid` at `at`.
pub async fn fetch(at: &AtBlock, netuid: u16) -> Result<SelectiveMetagraph, ChainError> {
    let call = subxt::dynamic::runtime_api_call::<_, Option<SelectiveMetagraph>>(
        "SubnetInfoRuntimeApi",
        "get_selective_metagraph",
        (netuid, FIELDS.to_vec()),
    );
    let what = "SubnetInfoRuntimeApi.get_selective_metagraph";
    timed(at.timeout(), what, at.inner.runtime_apis().call(call))
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
    let graph = fetch(&at, netuid).await?;
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
        .and_then(|v| crate::hex::decode(v))
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
