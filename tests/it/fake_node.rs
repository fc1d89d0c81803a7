//! A stand-in subtensor node for the chain tests: a real JSON-RPC websocket server on
//! 127.0.0.1 (jsonrpsee) answering the documented Substrate legacy methods that omega and
//! subxt call, with SCALE values built from the vendored runtime metadata. The chain cannot
//! run here (no subtensor node is obtainable from the registries); everything of omega's runs
//! for real against this server, in process or as the `omega` binary.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jsonrpsee::server::{PendingSubscriptionSink, RpcModule, Server, ServerHandle};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use serde_json::{json, Value as Json};
use subxt::dynamic::Value;
use subxt::ext::codec::{Compact, Encode};
use subxt::ext::scale_value;
use subxt::utils::H256;

use omega::chain::metadata;

/// One block of the fake chain.
#[derive(Clone)]
pub struct Block {
    pub hash: H256,
    pub number: u64,
    pub extrinsics: Vec<Vec<u8>>,
    /// SCALE `Vec<EventRecord>` (the value of `System.Events` at this block).
    pub events: Vec<u8>,
}

/// What the node knows and how it behaves.
pub struct State {
    pub spec_version: u32,
    /// Metadata bytes served (`meta` magic + V16).
    pub metadata: Vec<u8>,
    pub blocks: Vec<Block>,
    pub finalized: u64,
    /// Storage for every block: key → SCALE value.
    pub storage: HashMap<Vec<u8>, Vec<u8>>,
    /// `state_call` answers by runtime-API function name (`SubnetInfoRuntimeApi_get_selective_metagraph`).
    pub calls: HashMap<String, Vec<u8>>,
    /// Never answer `state_call` or submissions (a hung node).
    pub hang: bool,
    /// Extrinsics submitted with `author_submitAndWatchExtrinsic`.
    pub submitted: Vec<Vec<u8>>,
    /// Events of a block holding a submitted extrinsic at index `i` (the default: success).
    pub outcome: Outcome,
    /// Events a submitted extrinsic emits before its outcome (a transfer's `Balances.Transfer`).
    pub emits: Option<Emits>,
}

/// The events a submitted extrinsic (its bytes) emits.
pub type Emits = Box<dyn Fn(&[u8]) -> Vec<Value> + Send>;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// `System.ExtrinsicFailed` with `SubtensorModule::SettingWeightsTooFast`.
    Failed,
}

pub type Shared = Arc<Mutex<State>>;

pub fn block_hash(number: u64) -> H256 {
    let mut h = [0u8; 32];
    h[0] = 0xb1;
    h[24..].copy_from_slice(&number.to_be_bytes());
    H256(h)
}

impl State {
    /// A chain of `height + 1` empty blocks, finalized up to `height`, with the vendored runtime.
    pub fn new(height: u64) -> Self {
        let blocks = (0..=height)
            .map(|number| Block {
                hash: block_hash(number),
                number,
                extrinsics: Vec::new(),
                events: events_blob(&[]),
            })
            .collect();
        State {
            spec_version: vendored_spec(),
            metadata: metadata::VENDORED_BYTES.to_vec(),
            blocks,
            finalized: height,
            storage: HashMap::new(),
            calls: HashMap::new(),
            hang: false,
            submitted: Vec::new(),
            outcome: Outcome::Success,
            emits: None,
        }
    }

    pub fn head(&self) -> &Block {
        self.blocks.last().expect("a chain has a genesis block")
    }

    fn block_by_hash(&self, hash: &H256) -> Option<&Block> {
        self.blocks.iter().find(|b| &b.hash == hash)
    }

    /// Sets a SubtensorModule storage value from plain SCALE-encodable Rust values.
    pub fn set<K: KeyParts, V: Encode>(&mut self, entry: &str, keys: K, value: V) {
        self.storage
            .insert(storage_key("SubtensorModule", entry, keys), value.encode());
    }
}

pub fn vendored_spec() -> u32 {
    metadata::runtime_version(&metadata::vendored())
        .unwrap()
        .spec_version
}

/// Storage keys of the vendored metadata, through subxt's own key builder.
pub trait KeyParts:
    subxt::ext::frame_decode::storage::IntoEncodableValues
    + subxt::ext::frame_decode::storage::IntoDecodableValues
{
}
impl<T> KeyParts for T where
    T: subxt::ext::frame_decode::storage::IntoEncodableValues
        + subxt::ext::frame_decode::storage::IntoDecodableValues
{
}

pub fn storage_key<K: KeyParts>(pallet: &str, entry: &str, keys: K) -> Vec<u8> {
    let client = omega::chain::offline::client(block_hash(0)).unwrap();
    let at = client.at_block(0u64).unwrap();
    let storage = at.storage();
    let entry = storage
        .entry(subxt::dynamic::storage::<K, Value>(pallet, entry))
        .unwrap();
    entry.fetch_key(keys).unwrap()
}

/// A SCALE value of the vendored metadata's type `ty`.
pub fn encode_as(ty: u32, value: &Value) -> Vec<u8> {
    let md = metadata::vendored();
    let mut out = Vec::new();
    scale_value::scale::encode_as_type(value, ty, md.types(), &mut out)
        .unwrap_or_else(|e| panic!("encoding {value} as type {ty}: {e}"));
    out
}

/// `System.Events` for a block: each record is (extrinsic index, RuntimeEvent value).
pub fn events_blob(records: &[(u32, Value)]) -> Vec<u8> {
    let md = metadata::vendored();
    let ty = md
        .pallet_by_name("System")
        .and_then(|p| p.storage())
        .and_then(|s| s.entry_by_name("Events"))
        .map(|e| e.value_ty())
        .expect("System.Events in the vendored metadata");
    let list = Value::unnamed_composite(records.iter().map(|(index, event)| {
        Value::named_composite([
            (
                "phase",
                Value::unnamed_variant("ApplyExtrinsic", [Value::u128(u128::from(*index))]),
            ),
            ("event", event.clone()),
            ("topics", Value::unnamed_composite([])),
        ])
    }));
    encode_as(ty, &list)
}

fn dispatch_info() -> Value {
    Value::named_composite([
        (
            "weight",
            Value::named_composite([("ref_time", Value::u128(1)), ("proof_size", Value::u128(1))]),
        ),
        ("class", Value::unnamed_variant("Normal", [])),
        ("pays_fee", Value::unnamed_variant("No", [])),
    ])
}

pub fn extrinsic_success() -> Value {
    Value::unnamed_variant(
        "System",
        [Value::named_variant(
            "ExtrinsicSuccess",
            [("dispatch_info", dispatch_info())],
        )],
    )
}

/// `System.ExtrinsicFailed` with a module error of `pallet` (index) and error index.
pub fn extrinsic_failed(pallet_index: u8, error_index: u8) -> Value {
    let module_error = Value::named_composite([
        ("index", Value::u128(u128::from(pallet_index))),
        (
            "error",
            Value::unnamed_composite([error_index, 0, 0, 0].map(|b| Value::u128(u128::from(b)))),
        ),
    ]);
    Value::unnamed_variant(
        "System",
        [Value::named_variant(
            "ExtrinsicFailed",
            [
                (
                    "dispatch_error",
                    Value::unnamed_variant("Module", [module_error]),
                ),
                ("dispatch_info", dispatch_info()),
            ],
        )],
    )
}

pub fn balances_transfer(from: [u8; 32], to: [u8; 32], rao: u64) -> Value {
    let account = |a: [u8; 32]| Value::unnamed_composite([Value::from_bytes(a)]);
    Value::unnamed_variant(
        "Balances",
        [Value::named_variant(
            "Transfer",
            [
                ("from", account(from)),
                ("to", account(to)),
                ("amount", Value::u128(u128::from(rao))),
            ],
        )],
    )
}

/// `Core_version`: the RuntimeVersion struct the node reports.
fn runtime_version(spec_version: u32) -> Vec<u8> {
    (
        "node-subtensor".to_string(),
        "node-subtensor".to_string(),
        1u32,
        spec_version,
        1u32,
        Vec::<([u8; 8], u32)>::new(),
        1u32,
        1u8,
    )
        .encode()
}

fn hex(bytes: &[u8]) -> String {
    format!(
        "0x{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn unhex(text: &str) -> Vec<u8> {
    omega::hex::decode(text).unwrap_or_default()
}

fn header(block: &Block) -> Json {
    let parent = if block.number == 0 {
        H256([0; 32])
    } else {
        block_hash(block.number - 1)
    };
    json!({
        "parentHash": parent,
        "number": format!("0x{:x}", block.number),
        "stateRoot": H256([0; 32]),
        "extrinsicsRoot": H256([0; 32]),
        "digest": {"logs": []},
    })
}

fn param_hash(params: &Params, at: usize) -> Option<H256> {
    let list: Vec<Json> = params.parse().ok()?;
    let text = list.get(at)?.as_str()?;
    let bytes: [u8; 32] = unhex(text).try_into().ok()?;
    Some(H256(bytes))
}

fn answer(state: &Shared, method: &str, params: &Params) -> Result<Json, ErrorObjectOwned> {
    let s = state.lock().unwrap();
    let list: Vec<Json> = params.parse().unwrap_or_default();
    let at = |i: usize| param_hash(params, i).and_then(|h| s.block_by_hash(&h).cloned());
    Ok(match method {
        "rpc_methods" => json!({"methods": METHODS}),
        "chain_getBlockHash" => match list.first().and_then(Json::as_u64) {
            Some(n) => s.blocks.get(n as usize).map_or(Json::Null, |b| json!(b.hash)),
            None => json!(s.head().hash),
        },
        "chain_getFinalizedHead" => json!(s.blocks[s.finalized as usize].hash),
        "chain_getHeader" => {
            let block = if list.is_empty() { Some(s.head().clone()) } else { at(0) };
            block.map_or(Json::Null, |b| header(&b))
        }
        "chain_getBlock" => at(0).map_or(Json::Null, |b| {
            json!({"block": {"header": header(&b), "extrinsics": b.extrinsics.iter().map(|e| hex(e)).collect::<Vec<_>>()}, "justifications": null})
        }),
        "state_getRuntimeVersion" => json!({"specName": "node-subtensor", "implName": "node-subtensor", "authoringVersion": 1, "specVersion": s.spec_version, "implVersion": 1, "apis": [], "transactionVersion": 1, "stateVersion": 1}),
        "state_getStorage" => {
            let key = unhex(list.first().and_then(Json::as_str).unwrap_or(""));
            let block = at(1).unwrap_or_else(|| s.head().clone());
            if key == storage_key("System", "Events", ()) {
                json!(hex(&block.events))
            } else {
                s.storage.get(&key).map_or(Json::Null, |v| json!(hex(v)))
            }
        }
        "state_call" => {
            let name = list.first().and_then(Json::as_str).unwrap_or("");
            let bytes = match name {
                "Core_version" => runtime_version(s.spec_version),
                "Metadata_metadata_versions" => vec![14u32, 15, 16].encode(),
                "Metadata_metadata_at_version" => {
                    let mut out = vec![1u8];
                    Compact(s.metadata.len() as u32).encode_to(&mut out);
                    out.extend_from_slice(&s.metadata);
                    out
                }
                "AccountNonceApi_account_nonce" => 0u32.encode(),
                other => s
                    .calls
                    .get(other)
                    .cloned()
                    .ok_or_else(|| ErrorObjectOwned::owned(-32000, format!("no runtime api {other}"), None::<()>))?,
            };
            json!(hex(&bytes))
        }
        "system_accountNextIndex" => json!(0),
        other => return Err(ErrorObjectOwned::owned(-32601, format!("method {other} not served"), None::<()>)),
    })
}

const METHODS: &[&str] = &[
    "rpc_methods",
    "chain_getBlockHash",
    "chain_getFinalizedHead",
    "chain_getHeader",
    "chain_getBlock",
    "state_getRuntimeVersion",
    "state_getStorage",
    "state_call",
    "system_accountNextIndex",
];

/// Puts a submitted extrinsic in a new block (finalized at once) with the configured outcome.
fn include(state: &Shared, extrinsic: Vec<u8>) -> H256 {
    let mut s = state.lock().unwrap();
    s.submitted.push(extrinsic.clone());
    let number = s.head().number + 1;
    let event = match s.outcome {
        Outcome::Success => extrinsic_success(),
        // SubtensorModule is pallet 7; SettingWeightsTooFast is looked up by name in the test.
        Outcome::Failed => extrinsic_failed(7, 0),
    };
    let mut events: Vec<(u32, Value)> = match &s.emits {
        Some(emits) => emits(&extrinsic).into_iter().map(|e| (0, e)).collect(),
        None => Vec::new(),
    };
    events.push((0, event));
    let block = Block {
        hash: block_hash(number),
        number,
        extrinsics: vec![extrinsic],
        events: events_blob(&events),
    };
    let hash = block.hash;
    s.blocks.push(block);
    s.finalized = number;
    hash
}

async fn watch(state: Shared, params: Params<'static>, pending: PendingSubscriptionSink) {
    let list: Vec<Json> = params.parse().unwrap_or_default();
    let extrinsic = unhex(list.first().and_then(Json::as_str).unwrap_or(""));
    if state.lock().unwrap().hang {
        std::future::pending::<()>().await;
    }
    let Ok(sink) = pending.accept().await else {
        return;
    };
    let hash = include(&state, extrinsic);
    for status in [
        json!("ready"),
        json!({"inBlock": hash}),
        json!({"finalized": hash}),
    ] {
        let msg = serde_json::value::to_raw_value(&status).unwrap();
        if sink.send(msg).await.is_err() {
            return;
        }
    }
    // Keep the subscription open until the client unsubscribes, as a node does.
    sink.closed().await;
}

/// Serves `state` on 127.0.0.1; the URL and the handle (dropping it does not stop the server;
/// call `stop`).
pub async fn serve(state: Shared) -> (String, ServerHandle) {
    let server = Server::builder().build("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", server.local_addr().unwrap());
    let mut module = RpcModule::new(state.clone());
    for &method in METHODS {
        module
            .register_async_method(method, move |params, ctx, _| async move {
                let hang =
                    ctx.lock().unwrap().hang && matches!(method, "state_call" | "state_getStorage");
                if hang {
                    std::future::pending::<()>().await;
                }
                answer(&ctx, method, &params)
            })
            .unwrap();
    }
    module
        .register_subscription(
            "author_submitAndWatchExtrinsic",
            "author_extrinsicUpdate",
            "author_unwatchExtrinsic",
            |params, pending, ctx, _| async move {
                watch((*ctx).clone(), params, pending).await;
            },
        )
        .unwrap();
    (url, server.start(module))
}

/// A node on its own runtime thread (for tests that run the `omega` binary).
pub struct Node {
    pub url: String,
    pub state: Shared,
    /// Drives the server; kept for the node's lifetime.
    _runtime: tokio::runtime::Runtime,
    handle: ServerHandle,
}

impl Node {
    pub fn start(state: State) -> Node {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let state = Arc::new(Mutex::new(state));
        let (url, handle) = runtime.block_on(serve(state.clone()));
        Node {
            url,
            state,
            _runtime: runtime,
            handle,
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.handle.stop();
    }
}
