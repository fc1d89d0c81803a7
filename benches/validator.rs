//! `omega run-validator` on loopback (`cargo bench --bench validator`, run by
//! benches/validator.sh): the release binary, the tiny stand-in model, the yt-dlp stand-in, an
//! offline metagraph. Phases: two `serve-miner`s answering with fresh videos, a few rounds with
//! every answer spot-checked; the seconds of each phase per round. Memory: one miner answering
//! nothing, 1000 rounds; the validator's resident memory after round 100 and after round 1000.
//! Prints JSON.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/mod.rs"]
mod support;

use omega::table::metagraph::MetagraphRow;
use subxt_signer::sr25519::Keypair;
use support::{free_port, wait_listening, write_wallet};

const PHASE_ROUNDS: u64 = 6;
const MEMORY_ROUNDS: u64 = 1000;
const VALIDATOR_SEED: u8 = 40;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = root.join("target/bench-validator");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let (phases, rounds) = phases(root, &work.join("phases"));
    let (rss_100, rss_1000, seconds) = memory(root, &work.join("memory"));
    println!(
        "{}",
        serde_json::json!({
            "rounds": rounds,
            "seconds_per_round": phases,
            "memory_rounds": MEMORY_ROUNDS,
            "memory_seconds": seconds,
            "rss_kib_after_100": rss_100,
            "rss_kib_after_1000": rss_1000,
        })
    );
}

fn key(seed: u8) -> Keypair {
    Keypair::from_secret_key([seed; 32]).unwrap()
}

/// The yt-dlp stand-in's environment: `page` fresh videos per search from the media pool.
fn stand_in(cmd: &mut Command, root: &Path, log: &Path, page: usize) {
    let media = std::env::var("OMEGA_BENCH_MEDIA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join(".cache/media"));
    let pool: Vec<String> = [
        "bikes.mp4",
        "cockatoo.mp4",
        "movie-hello.mp4",
        "oa4_launch.webm",
        "bigbuckbunny.mp4",
        "its_a_game.mkv",
    ]
    .iter()
    .map(|f| media.join(f).to_string_lossy().into_owned())
    .collect();
    cmd.env("FAKE_YTDLP_LOG", log)
        .env("FAKE_YTDLP_POOL", pool.join(":"))
        .env("FAKE_YTDLP_PAGE", page.to_string())
        .env("FAKE_YTDLP_MEDIA", media.join("bikes.mp4"));
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Miners (seeds 41, 42, ...) answering `page` fresh videos per query, and the metagraph
/// listing them and the validator.
fn network(root: &Path, work: &Path, miners: u8, page: usize) -> (Vec<Killed>, PathBuf) {
    let mut rows = Vec::new();
    let mut children = Vec::new();
    for i in 0..miners {
        let (seed, port) = (41 + i, free_port());
        let dir = work.join(format!("miner{i}"));
        write_wallet(&dir, &key(seed), seed);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_omega"));
        cmd.args(["serve-miner", "-q", "--wallet.path"])
            .arg(&dir)
            .args(["--wallet.name", "w", "--wallet.hotkey", "h", "--model"])
            .arg(root.join("models/imagebind-tiny"))
            .args(["--source", "youtube", "--yt-dlp"])
            .arg(root.join("tests/support/fake_ytdlp.py"))
            .arg("--media-dir")
            .arg(dir.join("state"))
            .args([
                "--no-serve-axon",
                "--blacklist.allow_non_registered",
                "--axon.ip",
                "127.0.0.1",
            ])
            .args(["--axon.port", &port.to_string(), "--rate-limit", "100000"])
            .stderr(Stdio::null());
        stand_in(&mut cmd, root, &dir.join("ytdlp.log"), page);
        children.push(Killed(cmd.spawn().unwrap()));
        wait_listening(port);
        let hotkey = omega::net::auth::address(&key(seed));
        rows.push(MetagraphRow::neuron(
            u16::from(i),
            &hotkey,
            "127.0.0.1",
            port,
            0.0,
            false,
        ));
    }
    let me = omega::net::auth::address(&key(VALIDATOR_SEED));
    rows.push(MetagraphRow::neuron(
        u16::from(miners),
        &me,
        "0.0.0.0",
        0,
        20_000.0,
        true,
    ));
    let metagraph = work.join("metagraph.parquet");
    let snapshot = omega::chain::metagraph::Snapshot {
        netuid: 24,
        block_number: 1,
        block_hash: subxt::utils::H256::zero(),
        rows,
    };
    omega::chain::metagraph::write(&snapshot, &metagraph.to_string_lossy()).unwrap();
    (children, metagraph)
}

fn validator(root: &Path, work: &Path, metagraph: &Path, rounds: u64) -> Command {
    write_wallet(
        &work.join("validator"),
        &key(VALIDATOR_SEED),
        VALIDATOR_SEED,
    );
    std::fs::write(
        work.join("topics.txt"),
        "cats playing piano\nsunset over the sea\nstreet food\n",
    )
    .unwrap();
    std::fs::write(
        work.join("validator.json"),
        r#"{"score": {"check_probability": 1.0}}"#,
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_omega"));
    cmd.args(["run-validator", "-q", "--json", "--wallet.path"])
        .arg(work.join("validator"))
        .args(["--wallet.name", "w", "--wallet.hotkey", "h", "--metagraph"])
        .arg(metagraph)
        .args([
            "--dry-run-weights",
            "--rounds",
            &rounds.to_string(),
            "--config",
        ])
        .arg(work.join("validator.json"))
        .arg("--topics")
        .arg(work.join("topics.txt"))
        .arg("--model")
        .arg(root.join("models/imagebind-tiny"))
        .arg("--yt-dlp")
        .arg(root.join("tests/support/fake_ytdlp.py"))
        .arg("--data-dir")
        .arg(work.join("data"))
        .arg("--to")
        .arg(work.join("dataset"));
    stand_in(&mut cmd, root, &work.join("validator-ytdlp.log"), 0);
    cmd
}

/// Seconds per round of each phase, over `PHASE_ROUNDS` rounds of two answering miners.
fn phases(root: &Path, work: &Path) -> (serde_json::Value, u64) {
    std::fs::create_dir_all(work).unwrap();
    let (_miners, metagraph) = network(root, work, 2, 2);
    let out = validator(root, work, &metagraph, PHASE_ROUNDS)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rounds = report["rounds"].as_u64().unwrap();
    let mut per_round = serde_json::Map::new();
    for (phase, seconds) in report["phase_seconds"].as_object().unwrap() {
        per_round.insert(
            phase.clone(),
            (seconds.as_f64().unwrap() / rounds as f64).into(),
        );
    }
    (per_round.into(), rounds)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Resident memory after round 100 and after round 1000 of a miner answering nothing.
fn memory(root: &Path, work: &Path) -> (u64, u64, f64) {
    std::fs::create_dir_all(work).unwrap();
    let (_miners, metagraph) = network(root, work, 1, 0);
    let started = Instant::now();
    let mut child = validator(root, work, &metagraph, MEMORY_ROUNDS)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let rounds = work.join("data/rounds");
    let mut at = |round: u64| {
        let table = rounds.join(format!("miners-{round:08}.parquet"));
        while !table.exists() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the validator ended before round {round}: {status}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        rss_kib(child.id())
    };
    let after_100 = at(100);
    let after_1000 = at(MEMORY_ROUNDS);
    assert!(child.wait().unwrap().success());
    (after_100, after_1000, started.elapsed().as_secs_f64())
}
