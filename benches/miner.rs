//! `omega serve-miner` answer latency (`cargo bench --bench miner`, run by benches/miner.sh):
//! the release binary on the tiny stand-in model and local media (OMEGA_BENCH_MEDIA, default
//! .cache/media), no chain. Cold: the first request for a query (search, clip and embed while
//! the validator waits). Warm: rounds of 50 concurrent validators (distinct hotkeys) asking a
//! prepared query. Prints JSON: cold seconds, warm p50/p99 milliseconds and answers per second.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/mod.rs"]
mod support;
use support::write_wallet;

use omega::net::dendrite::{AuthScheme, Dendrite, Target};
use subxt::ext::futures::future::join_all;
use subxt_signer::sr25519::Keypair;

const VALIDATORS: usize = 50;
const ROUNDS: usize = 4;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = root.join("target/bench-miner");
    let _ = std::fs::remove_dir_all(&work);
    let media = work.join("media");
    std::fs::create_dir_all(&media).unwrap();
    let source = std::env::var("OMEGA_BENCH_MEDIA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join(".cache/media"));
    for file in [
        "bikes.mp4",
        "movie-hello.mp4",
        "bigbuckbunny.mp4",
        "VID_20191220_170832.mp4",
        "cockatoo.mp4",
    ] {
        let _ = std::fs::copy(source.join(file), media.join(file));
    }
    let miner = Keypair::from_secret_key([7; 32]).unwrap();
    write_wallet(&work, &miner, 7);
    let port = support::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_omega"))
        .args(["serve-miner", "--quiet", "--wallet.path"])
        .arg(&work)
        .args(["--wallet.name", "w", "--wallet.hotkey", "h", "--model"])
        .arg(root.join("models/imagebind-tiny"))
        .args(["--source", "dir", "--source-path"])
        .arg(&media)
        .arg("--media-dir")
        .arg(work.join("state"))
        .args([
            "--no-serve-axon",
            "--blacklist.allow_non_registered",
            "--axon.ip",
            "127.0.0.1",
            "--axon.port",
            &port.to_string(),
        ])
        .args(["--rate-limit", "100000"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    support::wait_listening(port);
    let target = Target {
        ip: "127.0.0.1".into(),
        port,
        hotkey: omega::net::auth::address(&miner),
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let validators: Vec<Dendrite> = (0..VALIDATORS * (ROUNDS + 1))
        .map(|i| {
            Dendrite::new(
                Keypair::from_secret_key(seed(i)).unwrap(),
                "127.0.0.1",
                AuthScheme::Legacy,
            )
        })
        .collect();
    let timeout = Duration::from_secs(60);
    let t = Instant::now();
    let cold = runtime.block_on(validators[0].query(&target, "a bike ride", 8, timeout));
    let cold_s = t.elapsed().as_secs_f64();
    let cold_videos = cold
        .synapse
        .and_then(|s| s.video_metadata)
        .map_or(0, |v| v.len());

    let mut latencies = Vec::new();
    let mut answered = 0;
    let t = Instant::now();
    for round in 0..ROUNDS {
        let batch = &validators[VALIDATORS * (round + 1)..VALIDATORS * (round + 2)];
        let replies = runtime.block_on(join_all(
            batch
                .iter()
                .map(|d| d.query(&target, "a bike ride", 8, timeout)),
        ));
        for r in replies {
            assert_eq!(r.status, 200, "{:?}", r.message);
            answered += 1;
            latencies.push(r.elapsed.as_secs_f64() * 1e3);
        }
    }
    let wall = t.elapsed().as_secs_f64();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{}",
        serde_json::json!({
            "cold_s": cold_s,
            "cold_videos": cold_videos,
            "warm_p50_ms": pct(0.5),
            "warm_p99_ms": pct(0.99),
            "warm_answers_per_s": answered as f64 / wall,
            "concurrent_validators": VALIDATORS,
            "rounds": ROUNDS,
        })
    );
}

fn seed(i: usize) -> [u8; 32] {
    let mut s = [1u8; 32];
    s[..8].copy_from_slice(&(i as u64 + 100).to_le_bytes());
    s
}
