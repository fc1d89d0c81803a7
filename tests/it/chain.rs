//! The chain layer against real peers: extrinsics checked by independent decoders and
//! bittensor-wallet's signature check (tests/support/sdk_chain.py), wallets written by the real
//! bittensor-wallet 4.0.0 and 4.1.1, and every online path of `omega set-weights`, `omega
//! metagraph` and `omega verify-transfer` against a JSON-RPC node on 127.0.0.1 (fake_node.rs).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value as Json;
use subxt::utils::{AccountId32, H256};
use subxt_signer::sr25519::Keypair;

use super::common::{
    account, bittensor_python, key, omega, run_bounded, run_ok, scratch, support, write_wallet,
};
use super::fake_node::{self, block_hash, Node, Outcome, State};
use omega::chain::calls::{self, ServeAxon, SetMechanismWeights, SetWeights};
use omega::chain::{metadata, offline};

const NETUID: u16 = 24;

fn hex(bytes: &[u8]) -> String {
    format!(
        "0x{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn vendored_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib/chain/metadata/finney.scale")
}

/// Runs tests/support/sdk_chain.py with `python` and returns its JSON answer.
fn sdk_chain(python: &Path, args: &[&str]) -> Json {
    let out = Command::new(python)
        .arg(support("sdk_chain.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sdk_chain.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn btwallet41_python() -> PathBuf {
    super::common::venv_python(
        "OMEGA_BTWALLET41_PYTHON",
        ".cache/bittensor-wallet-41/bin/python",
    )
}

/// An extrinsic the node received, decoded by both Python decoders and its signature checked;
/// it was made mortal from block 1000 (the finalized head the rules were read at).
fn check_submitted(extrinsic: &[u8]) -> Json {
    check_submitted_from(extrinsic, 1000)
}

/// As [`check_submitted`], for an extrinsic made mortal from block `birth`.
pub fn check_submitted_from(extrinsic: &[u8], birth: u64) -> Json {
    let answer = sdk_chain(
        &bittensor_python(),
        &[
            "check-extrinsics",
            "--metadata",
            vendored_path().to_str().unwrap(),
            "--genesis",
            &hex(&block_hash(0).0),
            "--block-hash",
            &hex(&block_hash(birth).0),
            &hex(extrinsic),
        ],
    );
    answer["extrinsics"][0].clone()
}

// --- offline extrinsics ----------------------------------------------------------------------

#[test]
fn offline_extrinsics_decode_the_same_in_two_independent_decoders_and_verify() {
    let genesis = block_hash(0);
    let alice = key(7);
    let dest = account(&key(8));
    let signed = [
        offline::sign(
            &calls::set_weights(SetWeights {
                netuid: NETUID,
                dests: vec![0, 5, 9],
                weights: vec![1, 65535, 300],
                version_key: 2010,
            }),
            &alice,
            3,
            genesis,
        ),
        offline::sign(
            &calls::set_mechanism_weights(SetMechanismWeights {
                netuid: NETUID,
                mecid: 0,
                dests: vec![1],
                weights: vec![65535],
                version_key: 7,
            }),
            &alice,
            4,
            genesis,
        ),
        offline::sign(
            &calls::serve_axon(ServeAxon {
                netuid: NETUID,
                version: 9010001,
                ip: u128::from(u32::from(std::net::Ipv4Addr::new(10, 1, 2, 3))),
                port: 8091,
                ip_type: 4,
                protocol: 4,
                placeholder1: 0,
                placeholder2: 0,
            }),
            &alice,
            5,
            genesis,
        ),
        offline::sign(
            &calls::transfer_keep_alive(dest, 1_500_000_000),
            &alice,
            6,
            genesis,
        ),
    ]
    .map(|r| hex(&r.unwrap()));
    let mut args = vec!["check-extrinsics", "--metadata"];
    let md = vendored_path();
    let genesis_hex = hex(&genesis.0);
    args.push(md.to_str().unwrap());
    args.extend(["--genesis", &genesis_hex]);
    args.extend(signed.iter().map(String::as_str));
    let answer = sdk_chain(&bittensor_python(), &args);
    let results = answer["extrinsics"].as_array().unwrap();
    let expected = [
        (
            "set_weights",
            serde_json::json!({"netuid": 24, "dests": [0, 5, 9], "weights": [1, 65535, 300], "version_key": 2010}),
            3,
        ),
        (
            "set_mechanism_weights",
            serde_json::json!({"netuid": 24, "mecid": 0, "dests": [1], "weights": [65535], "version_key": 7}),
            4,
        ),
        (
            "serve_axon",
            serde_json::json!({"netuid": 24, "version": 9010001, "ip": 167838211u64, "port": 8091, "ip_type": 4, "protocol": 4, "placeholder1": 0, "placeholder2": 0}),
            5,
        ),
        (
            "transfer_keep_alive",
            serde_json::json!({"dest": hex(&dest.0), "value": 1_500_000_000u64}),
            6,
        ),
    ];
    for (result, (call, args, nonce)) in results.iter().zip(expected) {
        assert_eq!(
            result["valid"], true,
            "{call}: the signature does not verify in bittensor-wallet"
        );
        for decoder in ["metadata", "spec"] {
            let d = &result[decoder];
            assert_eq!(d["call"], call, "{decoder}");
            assert_eq!(d["args"], args, "{decoder}: {call}");
            assert_eq!(d["nonce"], nonce, "{decoder}: {call}");
            assert_eq!(d["signer"], hex(&alice.public_key().0), "{decoder}: {call}");
        }
    }
}

#[test]
fn a_call_whose_shape_changed_is_named_with_both_spec_versions() {
    let md = metadata::vendored();
    assert!(metadata::check_call_shape(&md, 365, "SubtensorModule", "set_weights").is_ok());
    let changed = changed_metadata();
    let err =
        metadata::check_call_shape(&changed, 999, "SubtensorModule", "set_weights").unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("SubtensorModule.set_weights")
            && text.contains("spec 999")
            && text.contains("spec 365"),
        "{text}"
    );
    let err = metadata::check_call_shape(&md, 999, "SubtensorModule", "no_such_call").unwrap_err();
    assert!(
        err.to_string().contains("not in the vendored metadata"),
        "{err}"
    );
}

/// The vendored metadata with `version_key` of both weight calls turned from u64 into u32: a
/// runtime whose call shape changed.
fn changed_metadata_bytes() -> Vec<u8> {
    use subxt::ext::codec::{Decode, Encode};
    use subxt::ext::frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed};
    let mut prefixed = RuntimeMetadataPrefixed::decode(&mut &metadata::VENDORED_BYTES[..]).unwrap();
    let RuntimeMetadata::V16(md) = &mut prefixed.1 else {
        panic!("vendored metadata is V16")
    };
    let u32_id = md
        .types
        .types
        .iter()
        .find(|t| {
            matches!(
                t.ty.type_def,
                scale_info::TypeDef::Primitive(scale_info::TypeDefPrimitive::U32)
            )
        })
        .map(|t| t.id)
        .unwrap();
    let pallet = md
        .pallets
        .iter()
        .find(|p| p.name == "SubtensorModule")
        .unwrap();
    let calls_ty = pallet.calls.as_ref().unwrap().ty.id;
    let ty = md
        .types
        .types
        .iter_mut()
        .find(|t| t.id == calls_ty)
        .unwrap();
    let scale_info::TypeDef::Variant(variants) = &mut ty.ty.type_def else {
        panic!("calls are an enum")
    };
    for v in variants
        .variants
        .iter_mut()
        .filter(|v| v.name.ends_with("set_weights") || v.name == "set_mechanism_weights")
    {
        for f in v
            .fields
            .iter_mut()
            .filter(|f| f.name.as_deref() == Some("version_key"))
        {
            f.ty = u32_id.into();
        }
    }
    prefixed.encode()
}

fn changed_metadata() -> subxt::Metadata {
    subxt::Metadata::decode_from(&changed_metadata_bytes()).unwrap()
}

// --- set-weights against a node ----------------------------------------------------------------

/// A subnet 24 of four uids at block 1000 where `hotkey` is uid 1 with a permit.
fn subnet(hotkey: &AccountId32, registered: bool, last_update: u64, commit_reveal: bool) -> State {
    let mut s = State::new(1000);
    s.set("NetworksAdded", (NETUID,), true);
    s.set("SubnetworkN", (NETUID,), 4u16);
    s.set("MinAllowedWeights", (NETUID,), 2u16);
    s.set("MaxWeightsLimit", (NETUID,), 65535u16);
    s.set("WeightsVersionKey", (NETUID,), 2000u64);
    s.set("WeightsSetRateLimit", (NETUID,), 100u64);
    s.set("CommitRevealWeightsEnabled", (NETUID,), commit_reveal);
    s.set("RevealPeriodEpochs", (NETUID,), 1u64);
    s.set("Tempo", (NETUID,), 360u16);
    if registered {
        s.set("Uids", (NETUID, *hotkey), 1u16);
    }
    s.set("ValidatorPermit", (NETUID,), vec![true; 4]);
    s.set("LastUpdate", (NETUID,), vec![last_update; 4]);
    s
}

struct WeightsRun {
    out: Output,
    node: Node,
}

/// `omega set-weights` with a CSV of three weights against a node in `state`.
fn set_weights(name: &str, state: State, extra: &[&str]) -> WeightsRun {
    let dir = scratch(name);
    write_wallet(&dir, &key(7), 7);
    let csv = dir.join("weights.csv");
    std::fs::write(&csv, "uid,weight\n0,0.5\n1,0.25\n3,1.0\n").unwrap();
    let node = Node::start(state);
    let out = run_bounded(
        omega()
            .args(["set-weights", "--json", "--netuid", "24", "-i"])
            .arg(&csv)
            .args(["--subtensor.chain_endpoint", &node.url, "--wallet.path"])
            .arg(&dir)
            .args(["--wallet.name", "w", "--wallet.hotkey", "h"])
            .args(extra),
    );
    WeightsRun { out, node }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn set_weights_processes_checks_signs_and_reports_the_inclusion_block() {
    let hotkey = account(&key(7));
    let run = set_weights(
        "chain_set_weights_ok",
        subnet(&hotkey, true, 800, false),
        &[],
    );
    assert!(run.out.status.success(), "{}", stderr(&run.out));
    let report: Json = serde_json::from_slice(&run.out.stdout).unwrap();
    let limits = omega::chain::set_weights::Limits {
        n: 4,
        min_allowed_weights: 2,
        max_weights_limit: 65535,
    };
    let expected =
        omega::chain::set_weights::process(&[0, 1, 3], &[0.5, 0.25, 1.0], limits).unwrap();
    assert_eq!(report["uids"], serde_json::json!(expected.uids));
    assert_eq!(report["weights"], serde_json::json!(expected.weights));
    assert_eq!(
        report["version_key"], 2000,
        "defaults to the subnet's WeightsVersionKey"
    );
    assert_eq!(report["inclusion"]["block_number"], 1001);
    assert_eq!(
        report["inclusion"]["block_hash"],
        serde_json::json!(block_hash(1001))
    );
    assert_eq!(report["inclusion"]["extrinsic_index"], 0);

    let submitted = run.node.state.lock().unwrap().submitted.clone();
    assert_eq!(submitted.len(), 1);
    let decoded = check_submitted(&submitted[0]);
    assert_eq!(decoded["valid"], true, "signature: {decoded}");
    assert_eq!(
        decoded["metadata"]["call"],
        report["call_name"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap()
    );
    assert_eq!(decoded["metadata"]["args"]["dests"], report["uids"]);
    assert_eq!(decoded["metadata"]["args"]["weights"], report["weights"]);
    assert_eq!(decoded["metadata"]["args"]["version_key"], 2000);
    assert_eq!(decoded["metadata"]["signer"], hex(&hotkey.0));
    assert_eq!(decoded["metadata"]["call"], decoded["spec"]["call"]);
}

#[test]
fn set_weights_dry_run_sends_nothing_and_shows_the_decoded_call() {
    let hotkey = account(&key(7));
    let run = set_weights(
        "chain_set_weights_dry",
        subnet(&hotkey, true, 0, false),
        &["--dry-run"],
    );
    assert!(run.out.status.success(), "{}", stderr(&run.out));
    let report: Json = serde_json::from_slice(&run.out.stdout).unwrap();
    assert_eq!(report["dry_run"], true);
    assert!(report["inclusion"].is_null());
    assert!(
        report["call"].as_str().unwrap().starts_with("0x07"),
        "SubtensorModule is pallet 7"
    );
    assert!(
        report["call_decoded"]
            .as_str()
            .unwrap()
            .contains("netuid: 24"),
        "{report}"
    );
    assert!(run.node.state.lock().unwrap().submitted.is_empty());
}

#[test]
fn set_weights_refuses_what_the_chain_would_refuse_and_says_why() {
    let hotkey = account(&key(7));
    let cases: [(&str, State, &[&str], &str); 3] = [
        (
            "rate",
            subnet(&hotkey, true, 950, false),
            &[],
            "retry at block 1050",
        ),
        (
            "unregistered",
            subnet(&hotkey, false, 0, false),
            &[],
            "is not registered on subnet 24",
        ),
        (
            "version",
            subnet(&hotkey, true, 0, false),
            &["--version-key", "1999"],
            "below the subnet's WeightsVersionKey 2000",
        ),
    ];
    for (name, state, extra, message) in cases {
        let run = set_weights(&format!("chain_refuse_{name}"), state, extra);
        assert!(!run.out.status.success(), "{name}: accepted");
        assert!(
            stderr(&run.out).contains(message),
            "{name}: {}",
            stderr(&run.out)
        );
        assert!(
            run.node.state.lock().unwrap().submitted.is_empty(),
            "{name}: sent"
        );
    }
    let mut no_permit = subnet(&hotkey, true, 0, false);
    no_permit.set("ValidatorPermit", (NETUID,), vec![false; 4]);
    let run = set_weights("chain_refuse_permit", no_permit, &[]);
    assert!(
        stderr(&run.out).contains("no validator permit"),
        "{}",
        stderr(&run.out)
    );
}

#[test]
fn set_weights_against_a_changed_runtime_a_hung_node_or_a_failed_dispatch_is_a_clear_error() {
    let hotkey = account(&key(7));
    let mut changed = subnet(&hotkey, true, 0, false);
    changed.metadata = changed_metadata_bytes();
    changed.spec_version = 999;
    let run = set_weights("chain_changed_runtime", changed, &[]);
    let text = stderr(&run.out);
    assert!(
        !run.out.status.success() && text.contains("spec 999") && text.contains("spec 365"),
        "{text}"
    );
    assert!(run.node.state.lock().unwrap().submitted.is_empty());

    let mut hung = subnet(&hotkey, true, 0, false);
    hung.hang = true;
    let run = set_weights("chain_hung_node", hung, &["--subtensor.timeout", "1"]);
    assert!(!run.out.status.success());
    assert!(
        stderr(&run.out).contains("did not answer"),
        "{}",
        stderr(&run.out)
    );

    let mut failing = subnet(&hotkey, true, 0, false);
    failing.outcome = Outcome::Failed;
    let run = set_weights("chain_failed_dispatch", failing, &[]);
    assert!(!run.out.status.success());
    // The node fails it with SubtensorModule's error 0: the message names it.
    let md = metadata::vendored();
    let pallet = md.pallet_by_name("SubtensorModule").unwrap();
    let error = &pallet.error_variant_by_index(0).unwrap().name;
    let text = stderr(&run.out);
    assert!(
        text.contains("failed on chain in block") && text.contains(error.as_str()),
        "{text}"
    );
}

#[test]
fn an_unreachable_endpoint_is_named() {
    let dir = scratch("chain_unreachable");
    let csv = dir.join("w.csv");
    std::fs::write(&csv, "uid,weight\n0,1\n").unwrap();
    let out = run_bounded(
        omega()
            .args(["set-weights", "--dry-run", "-i"])
            .arg(&csv)
            .args([
                "--subtensor.chain_endpoint",
                "ws://127.0.0.1:9",
                "--subtensor.timeout",
                "2",
            ]),
    );
    assert!(!out.status.success());
    let text = stderr(&out);
    assert!(
        text.contains("cannot reach the subtensor node at ws://127.0.0.1:9"),
        "{text}"
    );
}

#[test]
fn set_weights_offline_reads_csv_json_lines_parquet_and_state_files_alike() {
    let dir = scratch("chain_offline_inputs");
    let inputs = [
        ("w.csv", "uid,weight\n0,0.5\n1,0.25\n3,1.0\n".to_string()),
        ("w.jsonl", "{\"uid\": 0, \"weight\": 0.5}\n{\"uid\": 1, \"weight\": 0.25}\n{\"uid\": 3, \"weight\": 1.0}\n".into()),
        ("state.json", "{\"step\": 3, \"scores\": [0.5, 0.25, 0.0, 1.0], \"hotkeys\": [\"a\", \"b\", \"c\", \"d\"]}".into()),
    ];
    let mut answers = Vec::new();
    for (name, text) in inputs {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        answers.push(offline_report(&path));
    }
    let parquet = dir.join("w.parquet");
    let mut writer = omega::table::TableWriter::<omega::table::weights::WeightRow>::create(
        parquet.to_str().unwrap(),
    )
    .unwrap();
    for (uid, weight) in [(0, 0.5), (1, 0.25), (3, 1.0)] {
        writer
            .push(omega::table::weights::WeightRow { uid, weight })
            .unwrap();
    }
    writer.finish().unwrap();
    answers.push(offline_report(&parquet));
    for a in &answers[1..] {
        assert_eq!(a["uids"], answers[0]["uids"]);
        assert_eq!(a["weights"], answers[0]["weights"]);
        assert_eq!(a["call"], answers[0]["call"]);
    }

    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "uid,weight\n0,0.5\n70000,1\n").unwrap();
    let out = omega()
        .args([
            "set-weights",
            "--offline",
            "--n",
            "4",
            "--min-allowed-weights",
            "1",
            "--max-weight-limit",
            "65535",
            "-i",
        ])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = stderr(&out);
    assert!(
        text.contains("bad.csv") && text.contains("line 3") && text.contains("uid"),
        "{text}"
    );
}

fn offline_report(input: &Path) -> Json {
    let out = run_ok(
        omega()
            .args([
                "set-weights",
                "--json",
                "--offline",
                "--n",
                "4",
                "--min-allowed-weights",
                "2",
                "--max-weight-limit",
                "65535",
                "-i",
            ])
            .arg(input),
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

// --- metagraph ---------------------------------------------------------------------------------

#[test]
fn metagraph_writes_every_uid_with_the_block_in_the_file_metadata() {
    let mut state = State::new(1000);
    state.calls.insert(
        "SubnetInfoRuntimeApi_get_selective_metagraph".into(),
        omega::chain::metagraph::synthetic_answer(NETUID, 5).unwrap(),
    );
    let node = Node::start(state);
    let dir = scratch("chain_metagraph");
    let out_path = dir.join("metagraph.parquet");
    run_ok(
        omega()
            .args([
                "metagraph",
                "--netuid",
                "24",
                "--subtensor.chain_endpoint",
                &node.url,
                "-o",
            ])
            .arg(&out_path),
    );
    let snap = omega::chain::metagraph::read(out_path.to_str().unwrap()).unwrap();
    assert_eq!(snap.netuid, 24);
    assert_eq!(snap.block_number, 1000);
    assert_eq!(snap.block_hash, block_hash(1000));
    assert_eq!(snap.rows.len(), 5);
    let r = &snap.rows[2];
    assert_eq!(r.uid, 2);
    assert_eq!(
        r.hotkey,
        AccountId32(omega::chain::metagraph::synthetic_account(2)).to_string()
    );
    assert_eq!(
        r.coldkey,
        AccountId32(omega::chain::metagraph::synthetic_account(10_002)).to_string()
    );
    assert_eq!((r.alpha_stake, r.tao_stake, r.total_stake), (2.0, 1.0, 2.5));
    assert!(r.validator_permit && r.active);
    assert_eq!(
        (
            r.axon_ip.as_str(),
            r.axon_port,
            r.axon_ip_type,
            r.axon_protocol,
            r.axon_version
        ),
        ("10.0.0.2", 8002, 4, 4, 9010001)
    );
    assert_eq!(r.last_update, 902);
    assert_eq!(r.emission, 0.002);
    assert_eq!(r.incentive, 4000.0 / 65535.0);
    assert_eq!(r.dividends, 2000.0 / 65535.0);
    assert_eq!(r.trust, 1.0);
    let unserved = &snap.rows[3];
    assert_eq!(
        (unserved.axon_ip.as_str(), unserved.axon_port),
        ("0.0.0.0", 0)
    );
    assert!(!unserved.validator_permit && !unserved.active);
}

// --- verify-transfer ---------------------------------------------------------------------------

/// Block 5 holds: 0.5 TAO A→B (extrinsic 0), 0.5 TAO A→C (1), and a failed transfer from D (2).
fn transfer_chain(finalized: u64) -> (State, [Keypair; 4]) {
    let keys = [key(21), key(22), key(23), key(24)];
    let [a, b, c, d] = keys.each_ref().map(|k| k.public_key().0);
    let mut s = State::new(8);
    s.finalized = finalized;
    let genesis = block_hash(0);
    let ext = |from: &Keypair, to: [u8; 32], rao, nonce| {
        offline::sign(
            &calls::transfer_keep_alive(AccountId32(to), rao),
            from,
            nonce,
            genesis,
        )
        .unwrap()
    };
    let block = &mut s.blocks[5];
    block.extrinsics = vec![
        ext(&keys[0], b, 500_000_000, 0),
        ext(&keys[0], c, 500_000_000, 1),
        ext(&keys[3], b, 1_000_000_000, 0),
    ];
    block.events = fake_node::events_blob(&[
        (0, fake_node::balances_transfer(a, b, 500_000_000)),
        (0, fake_node::extrinsic_success()),
        (1, fake_node::balances_transfer(a, c, 500_000_000)),
        (1, fake_node::extrinsic_success()),
        (2, fake_node::extrinsic_failed(5, 2)),
    ]);
    let _ = d;
    (s, keys)
}

fn verify(
    node: &Node,
    block: H256,
    from: &Keypair,
    to: &Keypair,
    tao: &str,
    replay: Option<&Path>,
) -> (i32, Json) {
    let mut cmd = omega();
    cmd.args([
        "verify-transfer",
        "--json",
        "--subtensor.chain_endpoint",
        &node.url,
        "--block",
        &hex(&block.0),
    ])
    .args([
        "--from",
        &account(from).to_string(),
        "--to",
        &account(to).to_string(),
        "--amount",
        tao,
    ]);
    if let Some(db) = replay {
        cmd.arg("--replay-db").arg(db);
    }
    let out = run_bounded(&mut cmd);
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Json::Null);
    (out.status.code().unwrap_or(-1), json)
}

#[test]
fn verify_transfer_gives_each_verdict_its_exit_code() {
    let (state, [a, b, c, d]) = transfer_chain(8);
    let node = Node::start(state);
    let db = scratch("chain_verify_transfer").join("used.txt");
    let block = block_hash(5);
    let (code, json) = verify(&node, block, &a, &b, "0.5", Some(&db));
    assert_eq!(
        (
            code,
            json["verified"].clone(),
            json["extrinsic_index"].clone()
        ),
        (0, Json::Bool(true), Json::from(0)),
        "{json}"
    );
    let (code, json) = verify(&node, block, &a, &b, "0.5", Some(&db));
    assert_eq!(
        (code, json["reason"].as_str()),
        (15, Some("already_used")),
        "replayed: {json}"
    );
    assert_eq!(
        verify(&node, block, &a, &b, "0.6", None).0,
        13,
        "wrong amount"
    );
    assert_eq!(
        verify(&node, block, &a, &d, "0.5", None).0,
        14,
        "wrong recipient"
    );
    assert_eq!(
        verify(&node, block, &d, &b, "1", None).0,
        11,
        "failed extrinsic"
    );
    assert_eq!(
        verify(&node, block, &c, &b, "0.5", None).0,
        10,
        "no transfer from C"
    );
    assert_eq!(
        verify(&node, H256([9; 32]), &a, &b, "0.5", None).0,
        10,
        "unknown block"
    );
    drop(node);

    let (state, [a, b, ..]) = transfer_chain(4);
    let node = Node::start(state);
    let (code, json) = verify(&node, block, &a, &b, "0.5", None);
    assert_eq!(
        (code, json["reason"].as_str()),
        (12, Some("not_finalized")),
        "{json}"
    );
}

// --- wallets -----------------------------------------------------------------------------------

#[test]
fn wallets_written_by_bittensor_wallet_4_0_and_4_1_load_and_sign() {
    for (python, password) in [
        (bittensor_python(), Some("omega-test-pw")),
        (btwallet41_python(), None),
    ] {
        let dir = scratch(&format!("chain_wallet_{}", python.to_string_lossy().len()));
        let mut args = vec![
            "make-wallet",
            "--path",
            dir.to_str().unwrap(),
            "--name",
            "w",
            "--hotkey",
            "h",
        ];
        if let Some(pw) = password {
            args.extend(["--coldkey-password", pw]);
        }
        let made = sdk_chain(&python, &args);
        let wallet = omega::chain::wallet::WalletLocation::new(&dir, "w", "h");
        let hotkey = wallet.hotkey().unwrap();
        assert_eq!(
            account(&hotkey).to_string(),
            made["hotkey_ss58"],
            "{}",
            python.display()
        );
        assert_eq!(
            wallet.hotkey_address().unwrap().to_string(),
            made["hotkey_ss58"]
        );
        assert_eq!(
            wallet.coldkey_address().unwrap().to_string(),
            made["coldkey_ss58"]
        );
        // omega's signature verifies in bittensor-wallet, and the wallet's in omega.
        let message = b"omega signs this";
        let ours = hotkey.sign(message);
        let verdict = sdk_chain(
            &python,
            &[
                "verify",
                "--ss58",
                made["hotkey_ss58"].as_str().unwrap(),
                "--message",
                &hex(message),
                "--signature",
                &hex(&ours.0),
            ],
        );
        assert_eq!(verdict["valid"], true);
        let theirs = sdk_chain(
            &python,
            &[
                "sign",
                "--path",
                dir.to_str().unwrap(),
                "--name",
                "w",
                "--hotkey",
                "h",
                "--message",
                &hex(message),
            ],
        );
        let signature: [u8; 64] = omega::hex::decode(theirs["signature"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        assert!(subxt_signer::sr25519::verify(
            &subxt_signer::sr25519::Signature(signature),
            message,
            &hotkey.public_key()
        ));
        if let Some(pw) = password {
            let coldkey_file = wallet.coldkey_file();
            let var = omega::chain::wallet::password_env_var(&coldkey_file);
            // SAFETY: the variable is unique to this test's wallet path; nothing else reads it.
            unsafe {
                std::env::set_var(
                    &var,
                    omega::chain::wallet::encode_env_password(&var, "wrong"),
                )
            };
            assert!(matches!(
                wallet.coldkey(),
                Err(omega::chain::wallet::WalletError::WrongPassword { .. })
            ));
            unsafe { std::env::set_var(&var, omega::chain::wallet::encode_env_password(&var, pw)) };
            let coldkey = wallet.coldkey().unwrap();
            assert_eq!(account(&coldkey).to_string(), made["coldkey_ss58"]);
        }
    }
}

#[test]
fn key_files_that_cannot_sign_are_refused_with_the_file_and_field() {
    let dir = scratch("chain_wallet_bad");
    let hotkeys = dir.join("w/hotkeys");
    std::fs::create_dir_all(&hotkeys).unwrap();
    let wallet = omega::chain::wallet::WalletLocation::new(&dir, "w", "h");
    let cases = [
        ("{\"secretSeed\": \"0x12\"}", "secretSeed"),
        ("{\"ss58Address\": \"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY\"}", "only a public key"),
        ("not json", "not a bittensor key file"),
        ("{\"secretSeed\": \"0x0707070707070707070707070707070707070707070707070707070707070707\", \"ss58Address\": \"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY\"}", "belongs to"),
        ("{\"secretSeed\": \"0x0707070707070707070707070707070707070707070707070707070707070707\", \"cryptoType\": 0}", "cryptoType"),
    ];
    for (text, expected) in cases {
        std::fs::write(hotkeys.join("h"), text).unwrap();
        let err = wallet.hotkey().unwrap_err().to_string();
        assert!(
            err.contains(expected) && err.contains("hotkeys/h"),
            "{text}: {err}"
        );
    }
}

// --- serve_axon and transfers (library calls against the node) --------------------------------

fn connect(node: &Node) -> (tokio::runtime::Runtime, omega::chain::Chain) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let options = omega::chain::ConnectOptions::new(omega::chain::Network::Local, Some(&node.url));
    let chain = rt.block_on(omega::chain::Chain::connect(&options)).unwrap();
    (rt, chain)
}

fn axon_info(block: u64, port: u16) -> impl subxt::ext::codec::Encode {
    let ip = u128::from(u32::from(std::net::Ipv4Addr::new(10, 1, 2, 3)));
    (block, 9010001u32, ip, port, 4u8, 4u8, 0u8, 0u8)
}

#[test]
fn serve_axon_announces_once_and_respects_the_serving_rate_limit() {
    use omega::chain::axon::{
        serve_axon, serve_axon_args, AxonRefusal, Endpoint, ServeError, Served,
    };
    let pair = key(7);
    let hotkey = account(&pair);
    let endpoint = Endpoint {
        ip: "10.1.2.3".parse().unwrap(),
        port: 8091,
        protocol: 4,
        version: 9010001,
    };
    let wait = omega::chain::submit::Wait {
        finalization: true,
        limit: std::time::Duration::from_secs(60),
    };
    let registered = || {
        let mut s = subnet(&hotkey, true, 0, false);
        s.set("ServingRateLimit", (NETUID,), 50u64);
        s
    };

    let node = Node::start(registered());
    let (rt, chain) = connect(&node);
    let served = rt
        .block_on(serve_axon(&chain, &pair, NETUID, &endpoint, wait))
        .unwrap();
    let Served::Announced { inclusion } = served else {
        panic!("nothing announced")
    };
    assert!(inclusion.finalized);
    let call = calls::serve_axon(serve_axon_args(NETUID, &endpoint).unwrap())
        .encode(&metadata::vendored())
        .unwrap();
    let submitted = node.state.lock().unwrap().submitted.clone();
    assert_eq!(submitted.len(), 1);
    assert!(
        submitted[0].ends_with(&call),
        "the extrinsic carries the serve_axon call"
    );

    let mut same = registered();
    same.set("Axons", (NETUID, hotkey), axon_info(10, 8091));
    let node = Node::start(same);
    let (rt, chain) = connect(&node);
    assert_eq!(
        rt.block_on(serve_axon(&chain, &pair, NETUID, &endpoint, wait))
            .unwrap(),
        Served::Unchanged
    );
    assert!(node.state.lock().unwrap().submitted.is_empty());

    let mut recent = registered();
    recent.set("Axons", (NETUID, hotkey), axon_info(990, 8000));
    let node = Node::start(recent);
    let (rt, chain) = connect(&node);
    let err = rt
        .block_on(serve_axon(&chain, &pair, NETUID, &endpoint, wait))
        .unwrap_err();
    assert!(
        matches!(
            err,
            ServeError::Refused(AxonRefusal::RateLimited { retry_at: 1040, .. })
        ),
        "{err}"
    );

    let node = Node::start(subnet(&hotkey, false, 0, false));
    let (rt, chain) = connect(&node);
    let err = rt
        .block_on(serve_axon(&chain, &pair, NETUID, &endpoint, wait))
        .unwrap_err();
    assert!(
        matches!(err, ServeError::Refused(AxonRefusal::NotRegistered { .. })),
        "{err}"
    );

    let loopback = Endpoint {
        ip: "127.0.0.1".parse().unwrap(),
        ..endpoint
    };
    assert!(matches!(
        serve_axon_args(NETUID, &loopback),
        Err(AxonRefusal::BadIp { .. })
    ));
    assert!(matches!(
        serve_axon_args(
            NETUID,
            &Endpoint {
                port: 0,
                ..endpoint
            }
        ),
        Err(AxonRefusal::BadPort)
    ));
}

#[test]
fn a_transfer_sends_the_exact_amount_from_the_coldkey_and_names_its_block() {
    let coldkey = key(31);
    let dest = account(&key(32));
    let node = Node::start(State::new(20));
    let (rt, chain) = connect(&node);
    let wait = omega::chain::submit::Wait {
        finalization: true,
        limit: std::time::Duration::from_secs(60),
    };
    let inclusion = rt
        .block_on(omega::chain::transfer::send(
            &chain,
            &coldkey,
            dest,
            1_234_567_891,
            wait,
        ))
        .unwrap();
    assert_eq!(
        (
            inclusion.block_number,
            inclusion.block_hash,
            inclusion.extrinsic_index
        ),
        (21, block_hash(21), 0)
    );
    let call = calls::transfer_keep_alive(dest, 1_234_567_891)
        .encode(&metadata::vendored())
        .unwrap();
    let submitted = node.state.lock().unwrap().submitted.clone();
    assert!(submitted[0].ends_with(&call));
    // The signer is the coldkey: MultiAddress::Id (0x00) and its public key follow the version byte.
    use subxt::ext::codec::{Compact, Decode};
    let mut body = &submitted[0][..];
    Compact::<u32>::decode(&mut body).unwrap();
    assert_eq!(body[0], 0x84, "signed, extrinsic version 4");
    assert_eq!((body[1], &body[2..34]), (0, &coldkey.public_key().0[..]));
}

// --- commit-reveal -----------------------------------------------------------------------------

/// A published drand quicknet beacon (round 657413; the signature from the README of
/// github.com/mcdcam/python-drand-verify): it opens whatever was encrypted to that round.
const QUICKNET_ROUND: u64 = 657_413;
const QUICKNET_SIGNATURE: &str = "b713718a38ae728dfd477991af2822e08d2f305e47718cef9f7848ce4050e7be41076862b98fad56e91a6b85b89cd97b";

#[test]
fn bittensor_drand_opens_omegas_timelocked_commit() {
    use omega::chain::timelock::{encrypt, Payload};
    use subxt::ext::codec::Decode;
    let hotkey = account(&key(7));
    let payload = Payload {
        hotkey: hotkey.0.to_vec(),
        uids: vec![0, 1, 5, 255],
        values: vec![65535, 100, 7, 1],
        version_key: 2010,
    };
    let commit = encrypt(&payload, QUICKNET_ROUND).unwrap();
    let round = QUICKNET_ROUND.to_string();
    let answer = sdk_chain(
        &bittensor_python(),
        &[
            "tlock-decrypt",
            "--commit",
            &hex(&commit),
            "--round",
            &round,
            "--signature",
            QUICKNET_SIGNATURE,
        ],
    );
    let plain = omega::hex::decode(answer["plaintext"].as_str().unwrap()).unwrap();
    assert_eq!(
        Payload::decode(&mut &plain[..]).unwrap(),
        payload,
        "bittensor-drand decrypted something else"
    );
}

#[test]
fn the_reveal_round_is_bittensor_drands() {
    use omega::chain::timelock::{reveal_block_modulo, round_after, SECURITY_BLOCK_OFFSET};
    for (block, netuid, tempo, period) in [
        (1000u64, 24u16, 360u16, 1u64),
        (5_123_456, 24, 360, 3),
        (77, 1, 99, 1),
    ] {
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64()
        };
        let reveal = reveal_block_modulo(block, netuid, tempo, period).unwrap();
        let ours = |t: f64| round_after(t, reveal + SECURITY_BLOCK_OFFSET - block);
        let before = ours(now());
        let answer = sdk_chain(
            &bittensor_python(),
            &[
                "tlock-commit",
                "--block",
                &block.to_string(),
                "--netuid",
                &netuid.to_string(),
                "--tempo",
                &tempo.to_string(),
                "--reveal-period",
                &period.to_string(),
            ],
        );
        let after = ours(now());
        let theirs = answer["reveal_round"].as_u64().unwrap();
        assert!(
            (before..=after).contains(&theirs),
            "block {block}: bittensor-drand says round {theirs}, omega {before}..={after}"
        );
    }
}

#[test]
fn on_a_commit_reveal_subnet_set_weights_sends_a_timelocked_commit() {
    use omega::chain::timelock::{reveal_block_modulo, round_after, SECURITY_BLOCK_OFFSET};
    let hotkey = account(&key(7));
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let reveal = reveal_block_modulo(1000, NETUID, 360, 1).unwrap();
    let earliest = round_after(now(), reveal + SECURITY_BLOCK_OFFSET - 1000);
    let run = set_weights("chain_commit_reveal", subnet(&hotkey, true, 0, true), &[]);
    let latest = round_after(now(), reveal + SECURITY_BLOCK_OFFSET - 1000);
    assert!(run.out.status.success(), "{}", stderr(&run.out));
    let report: Json = serde_json::from_slice(&run.out.stdout).unwrap();
    assert_eq!(
        report["call_name"],
        "SubtensorModule.commit_timelocked_mechanism_weights"
    );
    assert_eq!(report["commitment"]["reveal_block"], reveal);
    let round = report["commitment"]["reveal_round"].as_u64().unwrap();
    assert!((earliest..=latest).contains(&round), "round {round}");

    let submitted = run.node.state.lock().unwrap().submitted.clone();
    let decoded = check_submitted(&submitted[0]);
    assert_eq!(decoded["valid"], true);
    for decoder in ["metadata", "spec"] {
        let args = &decoded[decoder]["args"];
        assert_eq!(
            decoded[decoder]["call"], "commit_timelocked_mechanism_weights",
            "{decoder}"
        );
        assert_eq!(
            (args["netuid"].as_u64(), args["mecid"].as_u64()),
            (Some(24), Some(0)),
            "{decoder}"
        );
        assert_eq!(args["reveal_round"].as_u64(), Some(round), "{decoder}");
        assert_eq!(args["commit_reveal_version"].as_u64(), Some(4), "{decoder}");
        // The ciphertext: the SCALE payload (hotkey, uids, weights, version key) + 244 bytes.
        let commit = omega::hex::decode(args["commit"].as_str().unwrap()).unwrap();
        let payload_len = 1 + 32 + 1 + 2 * 3 + 1 + 2 * 3 + 8;
        assert_eq!(commit.len(), payload_len + 244, "{decoder}");
    }
}
