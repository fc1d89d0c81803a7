//! The axon, the dendrite and `omega serve-miner` against real peers on 127.0.0.1: the Python
//! SDK 9.10.1's Dendrite and Axon (tests/support/sdk_peer.py), bittensor 11.3.0's btauth/1
//! (tests/support/sdk_btauth.py), hostile requests, 50 concurrent validators, SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use super::common::{
    account, bittensor_python, free_port, key, media_dir, omega, scratch, support, tiny_model,
    venv_python, write_wallet,
};
use omega::net::axon::{self, Axon, Gate, Handler, Limits};
use omega::net::dendrite::{AuthScheme, Dendrite, Target};
use omega::net::synapse::{VideoMetadata, Videos};

const MINER_SEED: u8 = 7;
const VALIDATOR_SEED: u8 = 9;

fn fixed_video(id: &str) -> VideoMetadata {
    let emb: Vec<f32> = (0..1024).map(|i| i as f32 * 0.001).collect();
    VideoMetadata {
        video_id: id.into(),
        description: "d".into(),
        views: 3,
        start_time: 0,
        end_time: 60,
        video_emb: emb.clone(),
        audio_emb: emb.clone(),
        description_emb: emb,
    }
}

/// Admits registered hotkeys with their stake, like the miner's metagraph gate.
struct Registered(Vec<(String, f64)>);

impl Gate for Registered {
    fn admit(&self, hotkey: &str) -> Result<f64, String> {
        self.0
            .iter()
            .find(|(h, _)| h == hotkey)
            .map(|(_, s)| *s)
            .ok_or_else(|| "Unrecognized hotkey".into())
    }
}

/// An axon with a handler that answers two fixed videos, on its own runtime thread.
struct TestAxon {
    port: u16,
    runtime: tokio::runtime::Runtime,
    stop: &'static AtomicBool,
}

impl TestAxon {
    fn start(limits: Limits) -> TestAxon {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let stop: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let handler: Handler = Arc::new(|request: Videos, _caller, _deadline| {
            Box::pin(async move {
                if request.query == "slow" {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
                vec![fixed_video("a1b2c3d4e5f"), fixed_video("f5e4d3c2b1a")]
            })
        });
        let gate = Registered(vec![(account(&key(VALIDATOR_SEED)).to_string(), 50_000.0)]);
        let metrics = Arc::new(omega::net::metrics::Metrics::default());
        let server = Axon::new(
            key(MINER_SEED),
            "127.0.0.1".into(),
            port,
            limits,
            Box::new(gate),
            handler,
            metrics,
        );
        runtime.spawn(axon::serve(server, listener, stop));
        TestAxon {
            port,
            runtime,
            stop,
        }
    }

    fn target(&self) -> Target {
        Target {
            ip: "127.0.0.1".into(),
            port: self.port,
            hotkey: account(&key(MINER_SEED)).to_string(),
        }
    }

    fn query(&self, dendrite: &Dendrite, query: &str) -> omega::net::dendrite::Reply {
        self.runtime
            .block_on(dendrite.query(&self.target(), query, 8, Duration::from_secs(20)))
    }
}

impl Drop for TestAxon {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Sends raw bytes and returns the status line's code (0 when the server closed without one).
fn raw_status(port: u16, request: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// A legacy request as omega's dendrite signs it, as raw HTTP with `edit` applied to the headers.
fn raw_request(
    axon: &TestAxon,
    signer: u8,
    edit: impl Fn(&mut Vec<(String, String)>),
    body: Option<&[u8]>,
) -> Vec<u8> {
    let dendrite = Dendrite::new(key(signer), "127.0.0.1", AuthScheme::Legacy);
    let (signed_body, mut headers) =
        dendrite.request(&axon.target(), "cats", 8, Duration::from_secs(12));
    edit(&mut headers);
    let body = body.unwrap_or(&signed_body);
    let mut out = format!(
        "POST /Videos HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn set(headers: &mut [(String, String)], name: &str, value: &str) {
    for (k, v) in headers.iter_mut() {
        if k == name {
            *v = value.to_string();
        }
    }
}

#[test]
fn hostile_requests_get_the_sdks_status_and_never_reach_the_miner() {
    let axon = TestAxon::start(Limits {
        max_body_bytes: 4096,
        read_timeout: Duration::from_secs(2),
        ..Limits::default()
    });
    let dendrite = Dendrite::new(key(VALIDATOR_SEED), "127.0.0.1", AuthScheme::Legacy);
    assert_eq!(axon.query(&dendrite, "cats").status, 200, "a valid request");

    let forged = raw_request(
        &axon,
        VALIDATOR_SEED,
        |h| {
            set(
                h,
                "bt_header_dendrite_signature",
                &format!("0x{}", "ab".repeat(64)),
            )
        },
        None,
    );
    assert_eq!(raw_status(axon.port, &forged), 401, "forged signature");
    let other_axon = raw_request(
        &axon,
        VALIDATOR_SEED,
        |h| set(h, "bt_header_axon_hotkey", &account(&key(3)).to_string()),
        None,
    );
    // The header is informational; the signature covers the axon's own hotkey: still valid.
    assert_eq!(
        raw_status(axon.port, &other_axon),
        200,
        "the axon checks against its own hotkey"
    );
    let signed_for_other = {
        let d = Dendrite::new(key(VALIDATOR_SEED), "127.0.0.1", AuthScheme::Legacy);
        let target = Target {
            hotkey: account(&key(3)).to_string(),
            ..axon.target()
        };
        axon.runtime
            .block_on(d.query(&target, "cats", 8, Duration::from_secs(10)))
    };
    assert_eq!(
        signed_for_other.status, 401,
        "signed for another axon's hotkey"
    );
    let replay = raw_request(&axon, VALIDATOR_SEED, |_| {}, None);
    assert_eq!(raw_status(axon.port, &replay), 200);
    assert_eq!(raw_status(axon.port, &replay), 401, "replayed nonce");
    let stale = {
        let d = Dendrite::new(key(VALIDATOR_SEED), "127.0.0.1", AuthScheme::Legacy);
        let (body, mut headers) = d.request(&axon.target(), "cats", 8, Duration::from_secs(1));
        let old = omega::net::auth::now_ns() - 60_000_000_000;
        let me = account(&key(VALIDATOR_SEED)).to_string();
        let uuid = headers
            .iter()
            .find(|(k, _)| k == "bt_header_dendrite_uuid")
            .unwrap()
            .1
            .clone();
        let message = omega::net::auth::legacy_message(
            old,
            &me,
            &axon.target().hotkey,
            &uuid,
            omega::net::synapse::EMPTY_BODY_HASH,
        );
        set(&mut headers, "bt_header_dendrite_nonce", &old.to_string());
        set(
            &mut headers,
            "bt_header_dendrite_signature",
            &omega::net::auth::sign(&key(VALIDATOR_SEED), message.as_bytes()),
        );
        raw_request(&axon, VALIDATOR_SEED, |h| *h = headers.clone(), Some(&body))
    };
    assert_eq!(raw_status(axon.port, &stale), 401, "stale nonce");
    let stranger = Dendrite::new(key(4), "127.0.0.1", AuthScheme::Legacy);
    assert_eq!(
        axon.query(&stranger, "cats").status,
        403,
        "unregistered hotkey"
    );
    let huge = raw_request(&axon, VALIDATOR_SEED, |_| {}, Some(&vec![b'x'; 100_000]));
    assert_eq!(raw_status(axon.port, &huge), 413, "oversized body");
    let malformed = raw_request(&axon, VALIDATOR_SEED, |_| {}, Some(b"{not json"));
    assert_eq!(raw_status(axon.port, &malformed), 400, "malformed JSON");
    let wrong_name = String::from_utf8(raw_request(&axon, VALIDATOR_SEED, |_| {}, None))
        .unwrap()
        .replacen("POST /Videos", "POST /Images", 1);
    assert_eq!(
        raw_status(axon.port, wrong_name.as_bytes()),
        404,
        "wrong synapse name"
    );
    // A body that never finishes: announced 500 bytes, sent 10.
    let mut unfinished = raw_request(&axon, VALIDATOR_SEED, |_| {}, Some(&[b' '; 10]));
    let text = String::from_utf8(unfinished.clone()).unwrap().replacen(
        "content-length: 10",
        "content-length: 500",
        1,
    );
    unfinished = text.into_bytes();
    let mut stream = TcpStream::connect(("127.0.0.1", axon.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(&unfinished).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(
        response.starts_with("HTTP/1.1 408"),
        "unfinished body: {response}"
    );

    let after = axon.query(&dendrite, "cats");
    assert_eq!(
        (
            after.status,
            after
                .synapse
                .map(|s| s.video_metadata.unwrap_or_default().len())
        ),
        (200, Some(2)),
        "still serving"
    );
}

#[test]
fn btauth_requests_are_accepted_and_bittensor_11_verifies_omegas_signatures() {
    let axon = TestAxon::start(Limits::default());
    let omega_btauth = Dendrite::new(key(VALIDATOR_SEED), "127.0.0.1", AuthScheme::Btauth);
    let reply = axon.query(&omega_btauth, "cats");
    assert_eq!(reply.status, 200, "{:?}", reply.message);

    let python = venv_python("OMEGA_BITTENSOR11_PYTHON", ".cache/bittensor-11/bin/python");
    let me = axon.target().hotkey;
    // bittensor 11.3.0 signs a request; omega's axon accepts it.
    let body = serde_json::to_vec(&Videos::new("dogs", 8, 12.0)).unwrap();
    let hex_body: String = body.iter().map(|b| format!("{b:02x}")).collect();
    let seed = format!("0x{}", "09".repeat(32));
    let signed = peer(
        &python,
        "sdk_btauth.py",
        &[
            "sign",
            "--seed",
            &seed,
            "--method",
            "POST",
            "--path",
            "/Videos",
            "--body-hex",
            &hex_body,
            "--receiver",
            &me,
        ],
    );
    let mut request = format!(
        "POST /Videos HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in signed["headers"].as_object().unwrap() {
        request.push_str(&format!("{k}: {}\r\n", v.as_str().unwrap()));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(&body);
    assert_eq!(
        raw_status(axon.port, &bytes),
        200,
        "bittensor 11's signature"
    );
    assert_eq!(raw_status(axon.port, &bytes), 401, "its replay");

    // omega signs; bittensor 11.3.0's verify accepts, and refuses it for another receiver.
    let nonce = omega::net::auth::now_ns();
    let headers: serde_json::Map<String, Json> = omega::net::auth::btauth_headers(
        &key(VALIDATOR_SEED),
        "POST",
        "/Videos",
        &body,
        &me,
        nonce,
    )
    .into_iter()
    .map(|(k, v)| (k.to_string(), Json::String(v)))
    .collect();
    let headers = Json::Object(headers).to_string();
    let verify_as = |me: &str| {
        let args = [
            "verify",
            "--headers",
            &headers,
            "--method",
            "POST",
            "--path",
            "/Videos",
            "--body-hex",
            &hex_body,
            "--self",
            me,
        ];
        peer(&python, "sdk_btauth.py", &args)
    };
    let verdict = verify_as(&me);
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(verdict["hotkey"], account(&key(VALIDATOR_SEED)).to_string());
    let verdict = verify_as(&account(&key(3)).to_string());
    assert!(
        verdict["error"]
            .as_str()
            .unwrap()
            .starts_with("WrongReceiver"),
        "{verdict}"
    );
}

fn peer(python: &Path, script: &str, args: &[&str]) -> Json {
    let out = Command::new(python)
        .arg(support(script))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn omegas_dendrite_reads_a_python_axon() {
    let dir = scratch("miner_python_axon");
    write_wallet(&dir, &key(MINER_SEED), MINER_SEED);
    let port = free_port();
    let mut child = Command::new(bittensor_python())
        .arg(support("sdk_peer.py"))
        .args(["axon", "--wallet-path"])
        .arg(dir.join(""))
        .args(["--name", "w", "--hotkey", "h", "--port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(
        line.contains("ready"),
        "the Python axon did not start: {line}"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dendrite = Dendrite::new(key(VALIDATOR_SEED), "127.0.0.1", AuthScheme::Legacy);
    let target = Target {
        ip: "127.0.0.1".into(),
        port,
        hotkey: account(&key(MINER_SEED)).to_string(),
    };
    let reply = runtime.block_on(dendrite.query(&target, "cats", 8, Duration::from_secs(30)));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(reply.status, 200, "{:?}", reply.message);
    let videos = reply.synapse.unwrap().video_metadata.unwrap();
    assert_eq!(videos.len(), 2);
    assert!(videos
        .iter()
        .all(|v| v.video_emb.len() == 1024 && v.description == "answer to cats"));
}

/// `omega serve-miner` on the tiny model and three real media files, no chain at all.
struct MinerProcess {
    child: Child,
    port: u16,
    metrics_port: u16,
    dir: PathBuf,
}

impl MinerProcess {
    fn start(name: &str) -> MinerProcess {
        let dir = scratch(name);
        write_wallet(&dir, &key(MINER_SEED), MINER_SEED);
        let media = dir.join("media");
        std::fs::create_dir_all(&media).unwrap();
        for file in ["bikes.mp4", "movie-hello.mp4", "bigbuckbunny.mp4"] {
            std::fs::copy(media_dir().join(file), media.join(file)).unwrap();
        }
        let (port, metrics_port) = (free_port(), free_port());
        let child = omega()
            .args(["serve-miner", "--wallet.path"])
            .arg(dir.join("w").parent().unwrap())
            .args(["--wallet.name", "w", "--wallet.hotkey", "h", "--model"])
            .arg(tiny_model())
            .args(["--source", "dir", "--source-path"])
            .arg(&media)
            .arg("--media-dir")
            .arg(dir.join("state"))
            .args([
                "--no-serve-axon",
                "--blacklist.allow_non_registered",
                "--axon.ip",
                "127.0.0.1",
            ])
            .args([
                "--axon.port",
                &port.to_string(),
                "--metrics-port",
                &metrics_port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let process = MinerProcess {
            child,
            port,
            metrics_port,
            dir,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the miner did not start listening"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        process
    }

    fn python_dendrite(&self, validator_dir: &Path, query: &str, count: usize) -> Vec<Json> {
        let out = Command::new(bittensor_python())
            .arg(support("sdk_peer.py"))
            .args(["dendrite", "--wallet-path"])
            .arg(validator_dir)
            .args([
                "--name",
                "w",
                "--hotkey",
                "h",
                "--axon-port",
                &self.port.to_string(),
            ])
            .args([
                "--axon-hotkey",
                &account(&key(MINER_SEED)).to_string(),
                "--query",
                query,
            ])
            .args(["--timeout", "100", "--count", &count.to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let answer: Json = serde_json::from_slice(&out.stdout).unwrap();
        answer["results"].as_array().unwrap().clone()
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap()
            .parse()
            .unwrap()
    }

    fn metrics(&self) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.metrics_port)).unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    }

    /// SIGTERM, then the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the miner did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn the_python_sdks_dendrite_gets_valid_answers_from_serve_miner_even_50_at_once() {
    let miner = MinerProcess::start("miner_serve");
    let validator = scratch("miner_serve_validator");
    write_wallet(&validator, &key(VALIDATOR_SEED), VALIDATOR_SEED);
    let first = miner.python_dendrite(&validator, "bikes in the city", 1);
    assert_eq!(first[0]["status_code"], 200, "{first:?}");
    let videos = first[0]["videos"].as_u64().unwrap();
    assert!(videos >= 1, "{first:?}");
    assert_eq!(first[0]["embedding_lengths"], serde_json::json!([1024]));
    let rss_before = miner.rss_kib();

    // 50 validators' worth of concurrent, signed requests (one validator key, one uuid per
    // request: the SDK's dendrites each have their own).
    let load = miner.python_dendrite(&validator, "bikes in the city", 50);
    assert_eq!(load.len(), 50);
    assert!(load.iter().all(|r| r["status_code"] == 200), "{load:?}");
    // The same validator is never sent the same video twice.
    let mut ids: Vec<&str> = load
        .iter()
        .flat_map(|r| r["video_ids"].as_array().unwrap())
        .filter_map(|v| v.as_str())
        .collect();
    ids.extend(
        first[0]["video_ids"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str()),
    );
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(
        unique.len(),
        ids.len(),
        "a video was sent twice to one validator"
    );
    let rss_after = miner.rss_kib();
    assert!(
        rss_after < rss_before + 256 * 1024,
        "memory grew from {rss_before} KiB to {rss_after} KiB"
    );

    let metrics = miner.metrics();
    assert!(
        metrics.contains("omega_requests_total{status=\"200\"} 51"),
        "{metrics}"
    );
    assert!(metrics.contains("omega_answers_total 51"), "{metrics}");
    let state = miner.dir.join("state/state");
    let status = miner.terminate();
    assert!(
        status.success(),
        "SIGTERM must end the miner with 0: {status:?}"
    );
    let cache = std::fs::read_to_string(state.join("cache.jsonl")).unwrap();
    assert_eq!(cache.lines().count() as u64, videos, "the cache was saved");
}

// --- answer quality: the window nearest the query, subtitles in the description ---------------

/// ffmpeg on the command line (the Debian package set-up installs).
fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A 300 s video of five different 60 s parts (real clips looped, each with its own tone), so
/// every 120 s window looks different.
fn long_video(path: &Path, work: &Path) {
    let parts = [
        "bikes.mp4",
        "cockatoo.mp4",
        "movie-hello.mp4",
        "bigbuckbunny.mp4",
        "bikes.mp4",
    ];
    let mut list = String::new();
    for (i, file) in parts.iter().enumerate() {
        let part = work.join(format!("part{i}.mp4"));
        let tone = format!("sine=frequency={}:sample_rate=48000", 220 * (i + 1));
        let src = media_dir().join(file);
        ffmpeg(&[
            "-stream_loop",
            "-1",
            "-i",
            src.to_str().unwrap(),
            "-f",
            "lavfi",
            "-i",
            &tone,
            "-t",
            "60",
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-vf",
            "scale=160:90,fps=25,format=yuv420p",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-c:a",
            "aac",
            "-ac",
            "2",
            part.to_str().unwrap(),
        ]);
        list.push_str(&format!("file '{}'\n", part.display()));
    }
    let list_path = work.join("parts.txt");
    std::fs::write(&list_path, list).unwrap();
    ffmpeg(&[
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        list_path.to_str().unwrap(),
        "-c",
        "copy",
        path.to_str().unwrap(),
    ]);
}

fn open_miner(
    dir: &Path,
    source: omega::miner::Source,
    ytdlp: omega::ingest::ytdlp::YtDlp,
) -> Arc<omega::miner::Miner> {
    let model = omega::model::ImageBind::load(&tiny_model(), omega::model::Device::Cpu, 2).unwrap();
    let cfg = omega::miner::MinerConfig {
        source,
        search: omega::ingest::search::SearchOptions {
            ytdlp: ytdlp.clone(),
            timeout: Duration::from_secs(60),
            concurrency: 1,
        },
        clip: omega::ingest::clip::ClipOptions::new(dir.join("clips"), ytdlp),
        state_dir: dir.join("state"),
        cache_bytes: 1 << 30,
        budget: None,
        per_query: 4,
    };
    omega::miner::Miner::open(
        cfg,
        model,
        Arc::new(omega::net::metrics::Metrics::default()),
    )
    .unwrap()
}

/// A miner over a local folder.
fn dir_miner(dir: &Path, media: &Path) -> Arc<omega::miner::Miner> {
    open_miner(
        dir,
        omega::miner::Source::Dir(media.to_path_buf()),
        omega::ingest::ytdlp::YtDlp::locate(None),
    )
}

/// `wanted` videos prepared for `query`, on a runtime of its own.
fn prepare(miner: &Arc<omega::miner::Miner>, query: &str, wanted: usize) -> Vec<VideoMetadata> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(miner.clone().prepare(query.into(), wanted))
}

#[test]
fn a_long_video_is_sent_at_the_window_nearest_the_query() {
    use omega::table::embeddings::EmbedColumns;
    let dir = scratch("miner_segment");
    let media = dir.join("media");
    std::fs::create_dir_all(&media).unwrap();
    long_video(&media.join("long.mp4"), &dir);
    let query = "a cockatoo on a branch";
    let miner = dir_miner(&dir, &media);
    let videos = prepare(&miner, query, 1);
    assert_eq!(videos.len(), 1);
    let chosen = videos[0].start_time;

    // The same choice recomputed through the command line: each window clipped and embedded on
    // its own, the query embedded, the nearest window picked here.
    let p = |n: String| dir.join(n);
    super::common::run_ok(
        omega()
            .args(["search", "--source", "dir", "-q", "--query", query])
            .arg(&media)
            .arg("-o")
            .arg(p("c.parquet".into())),
    );
    let mut windows = Vec::new();
    for start in omega::miner::segment::window_starts(Some(300.0)) {
        let (clips, embs) = (
            p(format!("k{start}.parquet")),
            p(format!("e{start}.parquet")),
        );
        super::common::run_ok(
            omega()
                .args(["clip", "-q", "-i"])
                .arg(p("c.parquet".into()))
                .arg("-o")
                .arg(&clips)
                .arg("--media-dir")
                .arg(p("cli".into()))
                .args(["--start", &start.to_string()]),
        );
        super::common::run_ok(
            omega()
                .args(["embed", "-q", "-i"])
                .arg(&clips)
                .arg("-o")
                .arg(&embs)
                .arg("--model")
                .arg(tiny_model()),
        );
        let rows: Vec<EmbedColumns> = omega::table::read_all(embs.to_str().unwrap()).unwrap();
        let clip: Vec<omega::table::clips::ClipRow> =
            omega::table::read_all(clips.to_str().unwrap()).unwrap();
        // Stream copy starts at the keyframe at or before the window's start.
        windows.push((
            clip[0].start_time.unwrap(),
            rows[0].video_emb.clone().unwrap(),
        ));
    }
    assert!(windows.len() >= 4);
    let mut model =
        omega::model::ImageBind::load(&tiny_model(), omega::model::Device::Cpu, 2).unwrap();
    let q = omega::embed::embed_texts(
        &mut model,
        &[query.to_string()],
        omega::imagebind::bpe::Truncation::Fork,
    )
    .unwrap()[0]
        .clone()
        .unwrap();
    let cos = |v: &[f32]| {
        let dot: f64 = v
            .iter()
            .zip(&q)
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum();
        let norm = |x: &[f32]| x.iter().map(|a| f64::from(*a).powi(2)).sum::<f64>().sqrt();
        dot / (norm(v) * norm(&q))
    };
    let best = windows
        .iter()
        .max_by(|a, b| cos(&a.1).total_cmp(&cos(&b.1)))
        .unwrap();
    assert_eq!(
        chosen, best.0,
        "omega chose {chosen} s; the nearest window starts at {} s",
        best.0
    );
    assert!(
        (120..=121).contains(&(videos[0].end_time - videos[0].start_time)),
        "{:?}",
        (videos[0].start_time, videos[0].end_time)
    );
}

#[test]
fn subtitles_shown_during_the_clip_enrich_the_description_within_the_stuffing_limits() {
    let dir = scratch("miner_subtitles");
    let media = dir.join("media");
    std::fs::create_dir_all(&media).unwrap();
    // movie-hello.mp4 (8.3 s, with audio) with a mov_text track: two cues, then many more than
    // the limits allow.
    let mut srt = String::from("1\n00:00:01,000 --> 00:00:02,000\nA cyclist rides through the park\n\n2\n00:00:02,500 --> 00:00:03,500\nthe wheels spin on the wet road\n\n");
    for i in 0..60 {
        let (a, b) = (4.0 + f64::from(i) * 0.06, 4.05 + f64::from(i) * 0.06);
        let t = |s: f64| format!("00:00:{:02},{:03}", s as u32, ((s.fract()) * 1000.0) as u32);
        srt.push_str(&format!(
            "{}\n{} --> {}\nfiller words number {i} about nothing in particular at all\n\n",
            i + 3,
            t(a),
            t(b)
        ));
    }
    let srt_path = dir.join("subs.srt");
    std::fs::write(&srt_path, srt).unwrap();
    let src = media_dir().join("movie-hello.mp4");
    let out = media.join("hello_subbed.mp4");
    ffmpeg(&[
        "-i",
        src.to_str().unwrap(),
        "-i",
        srt_path.to_str().unwrap(),
        "-map",
        "0",
        "-map",
        "1",
        "-c",
        "copy",
        "-c:s",
        "mov_text",
        out.to_str().unwrap(),
    ]);
    let cues = omega::media::subtitles::cues(&out, 0.0, 10.0).unwrap();
    assert_eq!(
        &cues[..2],
        [
            "A cyclist rides through the park",
            "the wheels spin on the wet road"
        ]
    );

    let miner = dir_miner(&dir, &media);
    let videos = prepare(&miner, "cycling", 1);
    assert_eq!(videos.len(), 1);
    let description = &videos[0].description;
    assert!(
        description.starts_with("hello_subbed\n\nA cyclist rides through the park the wheels spin"),
        "{description}"
    );
    assert!(
        description.contains("filler words number 0"),
        "{description}"
    );
    assert!(
        !description.contains("filler words number 59"),
        "the limit must cut the cues: {description}"
    );
    let model = omega::model::ImageBind::load(&tiny_model(), omega::model::Device::Cpu, 1).unwrap();
    let chunks = omega::miner::describe::EXTRANEOUS
        .split(&model.bpe, description)
        .len();
    assert!(
        chunks <= omega::miner::describe::MAX_CHUNKS && chunks > 1,
        "{chunks} chunks"
    );
}

#[test]
fn serve_miner_announces_its_axon_and_blacklists_by_the_metagraph_file() {
    use super::fake_node::{Node, State};
    use omega::table::metagraph::MetagraphRow;
    let dir = scratch("miner_announce");
    write_wallet(&dir, &key(MINER_SEED), MINER_SEED);
    let media = dir.join("media");
    std::fs::create_dir_all(&media).unwrap();
    std::fs::copy(
        media_dir().join("movie-hello.mp4"),
        media.join("movie-hello.mp4"),
    )
    .unwrap();
    // The metagraph: the validator with a permit and enough stake, a poor one, the miner.
    let row = |uid: u16, seed: u8, permit: bool, stake: f64| MetagraphRow {
        uid,
        hotkey: account(&key(seed)).to_string(),
        coldkey: account(&key(seed)).to_string(),
        alpha_stake: stake,
        tao_stake: 0.0,
        total_stake: stake,
        validator_permit: permit,
        axon_ip: "0.0.0.0".into(),
        axon_port: 0,
        axon_ip_type: 0,
        axon_protocol: 0,
        axon_version: 0,
        last_update: 0,
        incentive: 0.0,
        dividends: 0.0,
        trust: 0.0,
        emission: 0.0,
        active: true,
    };
    let snapshot = omega::chain::metagraph::Snapshot {
        netuid: 24,
        block_number: 1000,
        block_hash: super::fake_node::block_hash(1000),
        rows: vec![
            row(0, VALIDATOR_SEED, true, 20_000.0),
            row(1, 5, true, 100.0),
            row(2, MINER_SEED, false, 0.0),
        ],
    };
    let metagraph = dir.join("metagraph.parquet");
    omega::chain::metagraph::write(&snapshot, metagraph.to_str().unwrap()).unwrap();
    // The chain, for serve_axon only.
    let mut state = State::new(1000);
    state.set("Uids", (24u16, account(&key(MINER_SEED))), 2u16);
    state.set("ServingRateLimit", (24u16,), 50u64);
    let node = Node::start(state);

    let port = free_port();
    let mut child = omega()
        .args(["serve-miner", "--wallet.path"])
        .arg(&dir)
        .args(["--wallet.name", "w", "--wallet.hotkey", "h", "--model"])
        .arg(tiny_model())
        .args(["--source", "dir", "--source-path"])
        .arg(&media)
        .arg("--media-dir")
        .arg(dir.join("state"))
        .arg("--metagraph")
        .arg(&metagraph)
        .args([
            "--subtensor.chain_endpoint",
            &node.url,
            "--axon.ip",
            "127.0.0.1",
            "--axon.external_ip",
            "10.1.2.3",
        ])
        .args([
            "--axon.port",
            &port.to_string(),
            "--blacklist.force_validator_permit",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the miner did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let submitted = node.state.lock().unwrap().submitted.clone();
    assert_eq!(submitted.len(), 1, "serve_axon was sent before serving");
    let endpoint = omega::chain::axon::Endpoint {
        ip: "10.1.2.3".parse().unwrap(),
        port,
        protocol: 4,
        version: 9_010_001,
    };
    let call = omega::chain::calls::serve_axon(
        omega::chain::axon::serve_axon_args(24, &endpoint).unwrap(),
    )
    .encode(&omega::chain::metadata::vendored())
    .unwrap();
    assert!(submitted[0].ends_with(&call));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let target = Target {
        ip: "127.0.0.1".into(),
        port,
        hotkey: account(&key(MINER_SEED)).to_string(),
    };
    let ask = |seed: u8| {
        let d = Dendrite::new(key(seed), "127.0.0.1", AuthScheme::Legacy);
        runtime.block_on(d.query(&target, "hello", 8, Duration::from_secs(60)))
    };
    assert_eq!(
        ask(VALIDATOR_SEED).status,
        200,
        "a validator with a permit and stake"
    );
    let poor = ask(5);
    assert_eq!(poor.status, 403, "stake below the minimum");
    assert!(poor
        .message
        .unwrap_or_default()
        .contains("Stake below minimum"));
    assert_eq!(ask(MINER_SEED).status, 403, "no validator permit");
    assert_eq!(ask(6).status, 403, "not in the metagraph");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
}

#[test]
fn youtube_captions_fetched_with_yt_dlp_enrich_the_description() {
    use omega::ingest::ytdlp::YtDlp;
    let dir = scratch("miner_captions");
    let vtt = dir.join("captions.vtt");
    std::fs::write(&vtt, "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nthe bunny wakes up\n\n00:00:02.500 --> 00:00:03.500\n<c>and stretches</c> in the sun\n").unwrap();
    // The yt-dlp stand-in (YouTube cannot be reached): search results from the fixture, every
    // download a copy of a real file, captions from the file above.
    let log = dir.join("ytdlp.log");
    // SAFETY: these variables are read only by the yt-dlp stand-in, with the same values every
    // test that sets them uses; FAKE_YTDLP_SUBS only here.
    unsafe {
        std::env::set_var("FAKE_YTDLP_LOG", &log);
        std::env::set_var("FAKE_YTDLP_SEARCH", super::common::fixture("ytsearch.json"));
        std::env::set_var("FAKE_YTDLP_MEDIA", media_dir().join("bigbuckbunny.mp4"));
        std::env::set_var("FAKE_YTDLP_SUBS", &vtt);
    }
    let ytdlp = YtDlp::locate(Some(&support("fake_ytdlp.py")));
    let miner = open_miner(&dir, omega::miner::Source::Youtube, ytdlp);
    let videos = prepare(&miner, "bunnies", 1);
    assert_eq!(videos.len(), 1);
    let description = &videos[0].description;
    assert!(
        description.ends_with("\n\nthe bunny wakes up and stretches in the sun"),
        "{description}"
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(
        calls.contains("--write-auto-subs") && calls.contains("--skip-download"),
        "{calls}"
    );
}

#[test]
fn a_validator_round_queries_miners_and_the_answers_are_a_responses_table() {
    use omega::table::metagraph::MetagraphRow;
    use omega::validator::query::{query_miners, sample_miners};
    let honest = TestAxon::start(Limits::default());
    let dead_port = free_port();
    let row = |uid: u16, seed: u8, port: u16| {
        MetagraphRow::neuron(
            uid,
            &account(&key(seed)).to_string(),
            "127.0.0.1",
            port,
            0.0,
            false,
        )
    };
    let rows = vec![row(0, MINER_SEED, honest.port), row(1, 2, dead_port)];
    let mut rng = fastrand::Rng::with_seed(3);
    let miners = sample_miners(&rows, "me", 10, 4096.0, &mut rng);
    assert_eq!(miners.len(), 2);
    let dendrite = Dendrite::new(key(VALIDATOR_SEED), "127.0.0.1", AuthScheme::Legacy);
    let answers = honest.runtime.block_on(query_miners(
        &dendrite,
        &miners,
        "cats",
        8,
        Duration::from_secs(20),
        "r1",
    ));
    assert_eq!(
        answers.non_responders,
        [1],
        "the miner that is not listening"
    );
    assert_eq!(answers.responses.len(), 2);
    assert!(answers
        .responses
        .iter()
        .all(|r| r.response_id == "r1-0" && r.video_emb.as_ref().is_some_and(|v| v.len() == 1024)));
    let statuses: Vec<u16> = answers.replies.iter().map(|r| r.1).collect();
    assert!(
        statuses.contains(&200) && statuses.contains(&503),
        "{statuses:?}"
    );

    // The rows are the table `omega validate` judges.
    let dir = scratch("validator_round");
    let table = dir.join("responses.parquet");
    let mut writer = omega::table::TableWriter::<omega::table::responses::ResponseRow>::create(
        table.to_str().unwrap(),
    )
    .unwrap();
    writer.write_rows(answers.responses).unwrap();
    writer.finish().unwrap();
    let validated = dir.join("validated.parquet");
    super::common::run_ok(
        omega()
            .args(["validate", "--check", "none", "-q", "-i"])
            .arg(&table)
            .arg("-o")
            .arg(&validated)
            .arg("--model")
            .arg(tiny_model()),
    );
    let rows: Vec<omega::table::validated::ValidatedColumns> =
        omega::table::read_all(validated.to_str().unwrap()).unwrap();
    assert_eq!(rows.len(), 2);
}
