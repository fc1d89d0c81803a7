//! `omega run-validator` on a real network on 127.0.0.1: `omega serve-miner` processes (honest,
//! lagging copier, tampering) and a Python SDK 9.10.1 Axon miner, YouTube replaced by the yt-dlp
//! stand-in (fresh 11-character ids resolved to real media), an offline metagraph listing them.

use std::collections::HashMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use omega::table::deduped::DedupColumns;
use omega::table::metagraph::MetagraphRow;
use omega::table::read_all;
use omega::table::round_miners::{RoundAnswer, RoundMinerRow};
use omega::table::weights::WeightRow;
use omega::validator::state::{raw_weights, ValidatorState};
use serde_json::json;

const VALIDATOR_SEED: u8 = 40;

/// The stand-in's media: distinct real videos, one per fresh search result in turn.
fn pool() -> String {
    [
        "bikes.mp4",
        "cockatoo.mp4",
        "movie-hello.mp4",
        "oa4_launch.webm",
        "bigbuckbunny.mp4",
        "its_a_game.mkv",
    ]
    .iter()
    .map(|f| media_dir().join(f).to_string_lossy().into_owned())
    .collect::<Vec<_>>()
    .join(":")
}

fn with_ytdlp(cmd: &mut Command, log: &Path) {
    cmd.env("FAKE_YTDLP_LOG", log)
        .env("FAKE_YTDLP_POOL", pool())
        .env("FAKE_YTDLP_PAGE", "2")
        .env("FAKE_YTDLP_MEDIA", media_dir().join("bikes.mp4"));
}

fn row(uid: u16, seed: u8, port: u16, stake: f64) -> MetagraphRow {
    let ip = if port == 0 { "0.0.0.0" } else { "127.0.0.1" };
    let hotkey = account(&key(seed)).to_string();
    let mut neuron = MetagraphRow::neuron(uid, &hotkey, ip, port, stake, stake > 0.0);
    neuron.coldkey = hotkey;
    neuron
}

fn write_metagraph(path: &Path, rows: Vec<MetagraphRow>) {
    let snapshot = omega::chain::metagraph::Snapshot {
        netuid: 24,
        block_number: 1,
        block_hash: subxt::utils::H256::zero(),
        rows,
    };
    omega::chain::metagraph::write(&snapshot, &path.to_string_lossy()).unwrap();
}

/// A miner process, killed when dropped.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_listening(port: u16) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "port {port} never listened"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `omega serve-miner --source youtube` through the stand-in; `misbehave`: the test-only
/// `OMEGA_TEST_MINER` switch (tamper, lag).
fn serve_miner(dir: &Path, seed: u8, port: u16, metagraph: &Path, misbehave: Option<&str>) -> Peer {
    std::fs::create_dir_all(dir).unwrap();
    write_wallet(dir, &key(seed), seed);
    let mut cmd = omega();
    cmd.args(["serve-miner", "--wallet.path"])
        .arg(dir)
        .args(["--wallet.name", "w", "--wallet.hotkey", "h", "--model"])
        .arg(tiny_model())
        .args(["--source", "youtube", "--yt-dlp"])
        .arg(support("fake_ytdlp.py"))
        .arg("--media-dir")
        .arg(dir.join("state"))
        .arg("--metagraph")
        .arg(metagraph)
        .args([
            "--no-serve-axon",
            "--axon.ip",
            "127.0.0.1",
            "--axon.port",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    with_ytdlp(&mut cmd, &dir.join("ytdlp.log"));
    if let Some(m) = misbehave {
        cmd.env("OMEGA_TEST_MINER", m);
    }
    let peer = Peer(cmd.spawn().unwrap());
    wait_listening(port);
    peer
}

fn python_axon(dir: &Path, seed: u8, port: u16) -> Peer {
    std::fs::create_dir_all(dir).unwrap();
    write_wallet(dir, &key(seed), seed);
    let peer = Peer(
        Command::new(bittensor_python())
            .arg(support("sdk_peer.py"))
            .args(["axon", "--wallet-path"])
            .arg(dir)
            .args(["--name", "w", "--hotkey", "h", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(port);
    peer
}

/// The validator's command: offline metagraph, dry-run weights, every answer spot-checked.
fn validator(work: &Path, metagraph: &Path, rounds: u64) -> Command {
    validator_on(work, Neurons::File(metagraph), rounds)
}

/// Where the validator reads the neurons: a metagraph file (then weights are a dry run) or a
/// node (then weights are sent).
enum Neurons<'a> {
    File(&'a Path),
    Node(&'a str),
}

fn validator_on(work: &Path, neurons: Neurons, rounds: u64) -> Command {
    let wallet = work.join("validator");
    if !wallet.exists() {
        write_wallet(&wallet, &key(VALIDATOR_SEED), VALIDATOR_SEED);
        // Flags from the config file, the scoring constants under "score": every answer is
        // spot-checked only if this file is read.
        let config = json!({"neuron.timeout": 60, "seed": 5,
                            "dry-run-weights": matches!(neurons, Neurons::File(_)),
                            "score": {"check_probability": 1.0}});
        std::fs::write(work.join("validator.json"), config.to_string()).unwrap();
        std::fs::write(
            work.join("topics.txt"),
            "cats playing piano\n\n  \nsunset over the sea\n# a comment\nstreet food in bangkok\n",
        )
        .unwrap();
    }
    let mut cmd = omega();
    cmd.args(["run-validator", "-q", "--wallet.path"])
        .arg(&wallet)
        .args(["--wallet.name", "w", "--wallet.hotkey", "h"])
        .args(["--rounds", &rounds.to_string(), "--config"])
        .arg(work.join("validator.json"))
        .arg("--topics")
        .arg(work.join("topics.txt"))
        .arg("--model")
        .arg(tiny_model())
        .arg("--yt-dlp")
        .arg(support("fake_ytdlp.py"))
        .arg("--data-dir")
        .arg(work.join("data"))
        .arg("--to")
        .arg(work.join("dataset"));
    match neurons {
        Neurons::File(path) => cmd.arg("--metagraph").arg(path),
        Neurons::Node(url) => cmd.args(["--subtensor.chain_endpoint", url]),
    };
    with_ytdlp(&mut cmd, &work.join("validator-ytdlp.log"));
    cmd
}

fn rounds_tables<T: omega::table::Table>(data: &Path, prefix: &str) -> Vec<(u64, Vec<T>)> {
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(data.join("rounds"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        let round: u64 = name.rsplit('-').next().unwrap().parse().unwrap();
        out.push((round, read_all::<T>(&p.to_string_lossy()).unwrap()));
    }
    out
}

/// Every video id in the local dataset, with how many times it is there.
fn dataset_ids(dataset: &Path) -> HashMap<String, usize> {
    let mut ids = HashMap::new();
    let mut stack = vec![dataset.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.is_dir() && !name.starts_with('.') {
                stack.push(p);
            } else if name.ends_with(".parquet") {
                for r in read_all::<omega::table::hub::HubRow>(&p.to_string_lossy()).unwrap() {
                    *ids.entry(r.youtube_id).or_default() += 1;
                }
            }
        }
    }
    ids
}

/// The accepted videos of every round table.
fn accepted(data: &Path) -> Vec<String> {
    rounds_tables::<RoundAnswer>(data, "round-")
        .into_iter()
        .flat_map(|(_, rows)| rows)
        .filter(|r| r.status == omega::outcome::Status::Ok)
        .map(|r| r.video_id)
        .collect()
}

/// The SDK's processing of raw weights (tests/support/sdk_weights.py).
fn sdk_weights(raw: &[f32]) -> (Vec<u16>, Vec<u16>) {
    let case = json!({"cases": [{
        "uids": (0..raw.len()).collect::<Vec<_>>(),
        "weights": raw.iter().map(|&w| f64::from(w)).collect::<Vec<_>>(),
        "n": raw.len(), "min_allowed_weights": 1, "max_weight_limit": 1.0, "exclude_quantile": 0,
    }]});
    let mut child = Command::new(bittensor_python())
        .arg(support("sdk_weights.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(case.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &answer["results"][0];
    let list = |k: &str| {
        r[k].as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u16)
            .collect()
    };
    (list("uids"), list("weights"))
}

#[test]
fn three_rounds_on_a_loopback_network_reward_the_honest_miner() {
    let work = scratch("validator_network");
    let metagraph = work.join("metagraph.parquet");
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    // uid 0 honest, 1 lagging copier, 2 tampering, 3 the Python SDK's Axon, 4 the validator
    // itself (a permit with stake: never asked), 5 registered but not serving.
    write_metagraph(
        &metagraph,
        vec![
            row(0, 41, ports[0], 0.0),
            row(1, 42, ports[1], 0.0),
            row(2, 43, ports[2], 0.0),
            row(3, 44, ports[3], 0.0),
            row(4, VALIDATOR_SEED, 0, 20_000.0),
            row(5, 45, 0, 0.0),
        ],
    );
    let _honest = serve_miner(&work.join("honest"), 41, ports[0], &metagraph, None);
    let _copier = serve_miner(&work.join("copier"), 42, ports[1], &metagraph, Some("lag"));
    let _tamper = serve_miner(
        &work.join("tamper"),
        43,
        ports[2],
        &metagraph,
        Some("tamper"),
    );
    let _python = python_axon(&work.join("python"), 44, ports[3]);
    let out = run_bounded(validator(&work, &metagraph, 3).arg("--json"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["rounds"], 3, "{summary}");

    let data = work.join("data");
    let state = ValidatorState::load(&data.join("state.json")).unwrap();
    let s = &state.youtube.scores;
    assert_eq!(state.round, 3);
    assert!(
        s[0] > s[1] && s[0] > s[2] && s[0] > s[3],
        "honest first: {s:?}"
    );
    assert!(s[2] < 0.0, "the tampering miner is punished: {s:?}");
    assert_eq!(s[4], 0.0, "the validator is never asked");

    // Every sampled miner is in each round's miners table; the copier's videos from round 2
    // on are the honest miner's of the round before, and are marked not novel.
    let miners = rounds_tables::<RoundMinerRow>(&data, "miners-");
    assert_eq!(miners.len(), 3);
    for (_, rows) in &miners {
        let mut uids: Vec<u16> = rows.iter().map(|r| r.uid).collect();
        uids.sort_unstable();
        assert_eq!(uids, [0, 1, 2, 3]);
    }
    let answers = rounds_tables::<RoundAnswer>(&data, "round-");
    let dedup = rounds_tables::<DedupColumns>(&data, "round-");
    let mut copied = 0;
    for ((round, rows), (_, flags)) in answers.iter().zip(&dedup) {
        for (r, d) in rows.iter().zip(flags) {
            if r.miner_uid == Some(1) && !r.video_id.is_empty() {
                assert!(*round >= 2, "the copier is one round late");
                assert!(
                    d.too_similar,
                    "round {round}: the copy {} is novel",
                    r.video_id
                );
                copied += 1;
            }
            if r.miner_uid == Some(2) {
                assert_eq!(
                    r.answer_score,
                    Some(-5.0),
                    "round {round}: tampering not caught"
                );
            }
        }
    }
    assert!(copied >= 2, "the copier sent copies: {copied}");

    // The weights computed at the end are the SDK's processing of the same moving averages.
    let weights = rounds_tables::<WeightRow>(&data, "weights-");
    assert_eq!(
        weights.len(),
        3,
        "weights are recorded after every round without a chain"
    );
    let last: Vec<(u16, u16)> = weights[2]
        .1
        .iter()
        .map(|w| (w.uid, w.weight as u16))
        .collect();
    let (uids, values) = sdk_weights(&raw_weights(s, None, 6));
    assert_eq!(last, uids.into_iter().zip(values).collect::<Vec<_>>());

    // Every accepted row is in the local dataset, once.
    let ids = dataset_ids(&work.join("dataset"));
    let accepted = accepted(&data);
    assert!(!accepted.is_empty());
    for id in &accepted {
        assert_eq!(ids.get(id), Some(&1), "{id} in the dataset");
    }
    assert_eq!(ids.values().sum::<usize>(), accepted.len());

    // `omega report` renders the rounds; a headless Chromium lays every plot out.
    run_ok(omega().args(["report", "-q", "--data-dir"]).arg(&data));
    let rendered = headless_rendered(
        &format!("file://{}", data.join("report.html").display()),
        None,
    );
    let plots: HashMap<String, (f64, u64)> = rendered
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let id = p["id"].as_str().unwrap().to_string();
            (
                id,
                (p["width"].as_f64().unwrap(), p["marks"].as_u64().unwrap()),
            )
        })
        .collect();
    let answers = miners
        .iter()
        .flat_map(|(_, rows)| rows)
        .filter(|m| m.answer_score.is_some())
        .count() as u64;
    assert_eq!(
        plots["scores"].1, answers,
        "a dot per scored answer: {rendered}"
    );
    assert_eq!(
        plots["moving-averages"].1, 4,
        "a line per miner: {rendered}"
    );
    assert!(plots["outcomes"].1 >= 3, "bars per round: {rendered}");
    assert!(
        plots.values().all(|(width, _)| *width > 100.0),
        "{rendered}"
    );
}

#[test]
fn a_round_killed_at_any_point_is_committed_exactly_once_on_restart() {
    use std::os::unix::process::ExitStatusExt;
    let work = scratch("validator_kill");
    let metagraph = work.join("metagraph.parquet");
    let port = free_port();
    write_metagraph(
        &metagraph,
        vec![row(0, 41, port, 0.0), row(1, VALIDATOR_SEED, 0, 20_000.0)],
    );
    let _honest = serve_miner(&work.join("honest"), 41, port, &metagraph, None);
    for point in [
        "round-queried",
        "round-validated",
        "round-deduped",
        "round-scored",
        "round-spooled",
        "round-indexed",
        "round-applied",
    ] {
        let case = work.join(point);
        std::fs::create_dir_all(&case).unwrap();
        let killed = run_bounded(validator(&case, &metagraph, 1).env("OMEGA_KILL_AT", point));
        assert_eq!(killed.status.signal(), Some(9), "{point}: {killed:?}");
        let out = run_bounded(&mut validator(&case, &metagraph, 1));
        assert!(
            out.status.success(),
            "{point}: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        let data = case.join("data");
        let state = ValidatorState::load(&data.join("state.json")).unwrap();
        assert_eq!(
            (state.round, state.youtube.step),
            (1, 1),
            "{point}: applied once"
        );
        let miners = rounds_tables::<RoundMinerRow>(&data, "miners-");
        assert_eq!(miners.len(), 1, "{point}");
        let honest = &miners[0].1[0];
        let score = honest.answer_score.expect("the honest answer is scored");
        assert!(
            (state.youtube.scores[0] - 0.3 * score).abs() < 1e-12,
            "{point}: {state:?}"
        );
        assert_eq!(honest.moving_average, state.youtube.scores[0]);

        let mut accepted = accepted(&data);
        assert!(!accepted.is_empty(), "{point}: nothing accepted");
        let ids = dataset_ids(&case.join("dataset"));
        for id in &accepted {
            assert_eq!(ids.get(id), Some(&1), "{point}: {id} in the dataset");
        }
        assert_eq!(ids.values().sum::<usize>(), accepted.len(), "{point}");
        let index = omega::index::ExactIndex::open(&data.join("index")).unwrap();
        let mut indexed = index.ids().to_vec();
        indexed.sort();
        accepted.sort();
        assert_eq!(
            indexed, accepted,
            "{point}: the index holds each accepted video once"
        );
        assert_eq!(
            std::fs::read_dir(data.join("work")).unwrap().count(),
            0,
            "{point}: journal left"
        );
    }

    // SIGTERM between rounds: exit 0 with the spooled rows committed (--flush-at is far away),
    // and the metrics served meanwhile.
    let case = work.join("sigterm");
    std::fs::create_dir_all(&case).unwrap();
    let metrics_port = free_port();
    let mut child = validator(&case, &metagraph, 1)
        .args(["--rounds", "100", "--flush-at", "100000", "--metrics-port"])
        .arg(metrics_port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let first = case.join("data/rounds/miners-00000001.parquet");
    let started = Instant::now();
    while !first.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "no round committed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The round's counters are updated once its weights are done, just after its tables.
    let metrics = loop {
        let text = scrape(metrics_port);
        if !text.contains("omega_validator_rounds_total 0\n") {
            break text;
        }
        assert!(started.elapsed() < Duration::from_secs(90), "{text}");
        std::thread::sleep(Duration::from_millis(100));
    };
    for line in [
        "omega_validator_answers_total{outcome=\"scored\"}",
        "omega_validator_spot_check_failures_total 0",
        "omega_validator_weights_total{result=\"computed\"}",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    assert!(
        !metrics.contains("omega_validator_spool_rows 0\n"),
        "rows wait: {metrics}"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no exit on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
    let data = case.join("data");
    let accepted = accepted(&data);
    let ids = dataset_ids(&case.join("dataset"));
    assert!(!accepted.is_empty());
    assert_eq!(
        ids.values().sum::<usize>(),
        accepted.len(),
        "committed on SIGTERM"
    );
}

fn scrape(port: u16) -> String {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

#[test]
fn on_a_chain_weights_are_sent_every_epoch_and_a_refused_extrinsic_is_retried() {
    use crate::fake_node::{Node, Outcome, State};
    let work = scratch("validator_chain");
    let metagraph = work.join("metagraph.parquet");
    let port = free_port();
    let rows = vec![row(0, 41, port, 0.0), row(1, VALIDATOR_SEED, 0, 20_000.0)];
    write_metagraph(&metagraph, rows.clone());
    let _honest = serve_miner(&work.join("honest"), 41, port, &metagraph, None);
    // The node serves the same neurons through the metagraph runtime API, and the subnet's
    // weight rules; its dispatch of the first extrinsics fails.
    let me = account(&key(VALIDATOR_SEED));
    let mut state = State::new(1000);
    state.calls.insert(
        "SubnetInfoRuntimeApi_get_selective_metagraph".into(),
        omega::chain::metagraph::answer_for(24, 1000, &rows).unwrap(),
    );
    state.set("NetworksAdded", (24u16,), true);
    state.set("SubnetworkN", (24u16,), 2u16);
    state.set("MinAllowedWeights", (24u16,), 1u16);
    state.set("MaxWeightsLimit", (24u16,), 65535u16);
    state.set("WeightsVersionKey", (24u16,), 2000u64);
    state.set("WeightsSetRateLimit", (24u16,), 100u64);
    state.set("CommitRevealWeightsEnabled", (24u16,), false);
    state.set("Tempo", (24u16,), 360u16);
    state.set("Uids", (24u16, me), 1u16);
    state.set("ValidatorPermit", (24u16,), vec![true; 2]);
    state.set("LastUpdate", (24u16,), vec![800u64; 2]);
    state.outcome = Outcome::Failed;
    let node = Node::start(state);

    let out = run_bounded(&mut validator_on(&work, Neurons::Node(&node.url), 2));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = work.join("data");
    let state = ValidatorState::load(&data.join("state.json")).unwrap();
    assert_eq!(
        node.state.lock().unwrap().submitted.len(),
        2,
        "tried after each round"
    );
    assert_eq!(state.weights.failures, 2);
    assert!(
        state
            .weights
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("failed on chain")),
        "{:?}",
        state.weights
    );
    assert_eq!(state.weights.last_block, None);

    // The chain takes the next one: its call holds the processing of the moving averages.
    node.state.lock().unwrap().outcome = Outcome::Success;
    let out = run_bounded(&mut validator_on(&work, Neurons::Node(&node.url), 1));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state = ValidatorState::load(&data.join("state.json")).unwrap();
    assert_eq!((state.round, state.weights.failures), (3, 0));
    assert_eq!(state.weights.last_block, Some(1003));
    let submitted = node.state.lock().unwrap().submitted.clone();
    assert_eq!(submitted.len(), 3);
    let decoded = crate::chain::check_submitted_from(&submitted[2], 1002);
    assert_eq!(decoded["valid"], true, "{decoded}");
    assert_eq!(
        decoded["metadata"]["signer"],
        json!(format!("0x{}", omega::hex::encode(&me.0)))
    );
    let limits = omega::chain::set_weights::Limits {
        n: 2,
        min_allowed_weights: 1,
        max_weights_limit: 65535,
    };
    let raw: Vec<f32> = raw_weights(&state.youtube.scores, None, 2)
        .into_iter()
        .map(|w| w.max(0.0))
        .collect();
    let expected = omega::chain::set_weights::process(&[0, 1], &raw, limits).unwrap();
    assert_eq!(decoded["metadata"]["args"]["dests"], json!(expected.uids));
    assert_eq!(
        decoded["metadata"]["args"]["weights"],
        json!(expected.weights)
    );
    assert_eq!(decoded["metadata"]["args"]["version_key"], 2000);
}

/// The Focus share of the weights: purchases recorded by a real marketplace (SQLite), read
/// by the validator each round with either formula, kept apart from the YouTube scores, and
/// blended into the weights exactly as the SDK's processing of the same raw weights.
#[test]
fn focus_purchases_decide_their_share_of_the_weights() {
    use omega::market::store::{Listing, Store};
    let work = scratch("validator_focus");
    let metagraph = work.join("metagraph.parquet");
    // Three miners whose axons answer nothing (every YouTube score moves alike), one validator.
    let miners = [(1u16, 81u8), (2, 82), (3, 83)];
    let mut rows = vec![row(0, VALIDATOR_SEED, 0, 20_000.0)];
    rows.extend(
        miners
            .iter()
            .map(|&(uid, seed)| row(uid, seed, free_port(), 0.0)),
    );
    write_metagraph(&metagraph, rows);
    let hotkey = |seed: u8| account(&key(seed)).to_string();
    // Miner 1 bought two videos, miner 2 one, miner 3 none (all at one price, score 0.5).
    let db = format!("sqlite://{}", work.join("focus.db").display());
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = Store::open(&db).await.unwrap();
        let video = |id: &str| Listing::for_sale(id, id, 0.5, 600.0, "owner", 1_000_000);
        store
            .list_videos(&[video("a"), video("b"), video("c")])
            .await
            .unwrap();
        let now = omega::market::store::now();
        for (id, seed) in [("a", 81), ("b", 81), ("c", 82)] {
            store
                .reserve(id, &hotkey(seed), now, now + 60, 1 << 40)
                .await
                .unwrap();
            store
                .complete(id, &hotkey(seed), &format!("0x{id}-0"), 1_000_000, now)
                .await
                .unwrap();
        }
    });
    let port = free_port();
    let mut market = omega();
    market
        .args([
            "serve-market",
            "-q",
            "--db",
            &db,
            "--hotkey",
            &hotkey(90),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args(["--subtensor.chain_endpoint", "ws://127.0.0.1:9"]);
    let _market = Peer(market.spawn().unwrap());
    wait_listening(port);
    let url = format!("http://127.0.0.1:{port}");

    let run = |name: &str, formula: &str, share: &str| -> (ValidatorState, Vec<(u16, u16)>) {
        let dir = work.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = validator(&dir, &metagraph, 2);
        cmd.args([
            "--focus-url",
            &url,
            "--focus-formula",
            formula,
            "--focus-share",
            share,
        ]);
        run_ok(&mut cmd);
        let state: ValidatorState =
            serde_json::from_slice(&std::fs::read(dir.join("data/state.json")).unwrap()).unwrap();
        let weights = rounds_tables::<WeightRow>(&dir.join("data"), "weights-");
        let last = weights
            .last()
            .unwrap()
            .1
            .iter()
            .map(|w| (w.uid, w.weight as u16))
            .collect();
        (state, last)
    };
    let sdk = |state: &ValidatorState, share: f64| {
        let raw = raw_weights(&state.youtube.scores, Some((&state.focus.scores, share)), 4);
        let (uids, values) = sdk_weights(&raw);
        uids.into_iter().zip(values).collect::<Vec<_>>()
    };

    // head: each UID's share of the TAO paid, overwritten each round.
    let (state, weights) = run("head", "head", "1.0");
    let focus = &state.focus.scores;
    assert!(
        (focus[1] - 2.0 / 3.0).abs() < 1e-12 && (focus[2] - 1.0 / 3.0).abs() < 1e-12,
        "{focus:?}"
    );
    assert_eq!((focus[0], focus[3]), (0.0, 0.0));
    assert_eq!(weights, sdk(&state, 1.0));

    // era: per sampled miner, the moving average of Σ max(score, 0.005), twice.
    let (state, weights) = run("era", "era", "0.5");
    let focus = &state.focus.scores;
    let twice = |reward: f64| 0.3 * reward + 0.7 * (0.3 * reward);
    assert!((focus[1] - twice(1.0)).abs() < 1e-12, "{focus:?}");
    assert!((focus[2] - twice(0.5)).abs() < 1e-12, "{focus:?}");
    assert_eq!(focus[3], 0.0);
    assert!(
        state.youtube.scores[1] > 0.0,
        "the YouTube scores are kept apart"
    );
    assert_eq!(weights, sdk(&state, 0.5));
}
