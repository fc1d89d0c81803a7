//! Helpers shared by the integration tests: the real media set, the omega binary, scratch
//! folders, and the local media server.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The real media fetched by `scripts/setup.sh`.
pub fn media_dir() -> PathBuf {
    let dir = std::env::var_os("OMEGA_MEDIA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/media"));
    assert!(
        dir.join("bigbuckbunny.mp4").is_file(),
        "test media missing in {}: run scripts/setup.sh first",
        dir.display()
    );
    dir
}

pub fn media(name: &str) -> PathBuf {
    media_dir().join(name)
}

/// All media files of the set, by name.
pub const MEDIA: &[&str] = &[
    "VID_20191220_170832.mp4",
    "bbb_vp9_opus.webm",
    "bigbuckbunny.mp4",
    "bikes.mp4",
    "cityCC0.mpg",
    "cockatoo.mp4",
    "its_a_game.mkv",
    "movie-hello.mp4",
    "oa4_launch.webm",
    "realshort.mp4",
];

/// A fresh scratch folder for one test, under the target dir.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn omega() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_omega"));
    c.env_remove("RUST_LOG");
    c
}

/// Runs a command (omega, or a Python peer) and asserts success, returning the output.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("the command runs");
    assert!(
        out.status.success(),
        "command failed: {:?}\nstdout: {}\nstderr: {}",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn python() -> String {
    std::env::var("OMEGA_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// The Python of the virtual environment holding the real bittensor SDK (9.10.1, OMEGA's pins),
/// which `scripts/setup.sh` installs and names in `OMEGA_BITTENSOR_PYTHON`.
pub fn bittensor_python() -> PathBuf {
    venv_python("OMEGA_BITTENSOR_PYTHON", ".cache/bittensor-sdk/bin/python")
}

pub fn support(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(file)
}

pub fn fixture(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(file)
}

/// The local media server (tests/support/media_server.py) on 127.0.0.1; killed on drop.
pub struct MediaServer {
    child: Child,
    pub port: u16,
}

impl MediaServer {
    pub fn start(root: &Path) -> Self {
        let mut child = Command::new(python())
            .arg(support("media_server.py"))
            .arg(root)
            .args(["--lifetime", "600"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 starts the media server");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("server prints its port");
        MediaServer { child, port }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for MediaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a little-endian float32 `.npy` file (as numpy writes it): (shape, values).
pub fn read_npy_f32(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        &bytes[..6],
        b"\x93NUMPY",
        "{}: not a .npy file",
        path.display()
    );
    let (header_len, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        )
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len]).unwrap();
    assert!(
        header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"),
        "{header}"
    );
    let shape_text = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape: Vec<usize> = shape_text
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let data = bytes[start + header_len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (shape, data)
}

/// The stand-in ImageBind model directory.
pub fn tiny_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/imagebind-tiny")
}

/// search (`--source dir`, with `query`) → clip → embed with the stand-in model, on copies of
/// the media `files` in `work/src`; returns the `embeddings` table.
pub fn embedded_clips(work: &Path, files: &[&str], query: &str) -> PathBuf {
    let src = work.join("src");
    std::fs::create_dir_all(&src).unwrap();
    for f in files {
        std::fs::copy(media(f), src.join(f)).unwrap();
    }
    let p = |n: &str| work.join(n);
    run_ok(
        omega()
            .args(["search", "--source", "dir", "--query", query])
            .arg(&src)
            .arg("-o")
            .arg(p("c.parquet"))
            .arg("-q"),
    );
    run_ok(
        omega()
            .arg("clip")
            .arg(p("c.parquet"))
            .arg("-o")
            .arg(p("k.parquet"))
            .arg("--media-dir")
            .arg(p("media"))
            .arg("-q"),
    );
    run_ok(
        omega()
            .args(["embed", "-i"])
            .arg(p("k.parquet"))
            .arg("-o")
            .arg(p("e.parquet"))
            .arg("--model")
            .arg(tiny_model())
            .arg("-q"),
    );
    p("e.parquet")
}

/// `omega validate --check none` of `input` into `output`.
pub fn validate_unchecked(input: &Path, output: &Path) {
    run_ok(
        omega()
            .args(["validate", "--check", "none", "-i"])
            .arg(input)
            .arg("-o")
            .arg(output)
            .arg("--model")
            .arg(tiny_model())
            .arg("-q"),
    );
}

/// Writes `batch` as a Parquet file with the plain arrow writer (tables omega itself would
/// never write: foreign schemas, out-of-range values, shuffled answers).
pub fn write_batch(path: &Path, batch: &arrow_array::RecordBatch) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// A deterministic sr25519 key (the mini secret is `seed` repeated).
pub fn key(seed: u8) -> subxt_signer::sr25519::Keypair {
    subxt_signer::sr25519::Keypair::from_secret_key([seed; 32]).unwrap()
}

pub fn account(pair: &subxt_signer::sr25519::Keypair) -> subxt::utils::AccountId32 {
    subxt::utils::AccountId32(pair.public_key().0)
}

/// A wallet folder `root/w` with one unencrypted hotkey file `h` of key `seed`, as btcli writes
/// it (bittensor-wallet reads it too).
pub fn write_wallet(root: &Path, pair: &subxt_signer::sr25519::Keypair, seed: u8) {
    let dir = root.join("w/hotkeys");
    std::fs::create_dir_all(&dir).unwrap();
    let hex = |b: &[u8]| {
        format!(
            "0x{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        )
    };
    let public = hex(&pair.public_key().0);
    let json = serde_json::json!({
        "accountId": public,
        "publicKey": public,
        "secretSeed": hex(&[seed; 32]),
        "ss58Address": account(pair).to_string(),
    });
    std::fs::write(dir.join("h"), json.to_string()).unwrap();
}

/// Runs a command that must end by itself; a hang fails the test instead of stalling CI.
pub fn run_bounded(cmd: &mut Command) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(120)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(id.to_string()).status();
            panic!("{cmd:?} did not finish within 120 s");
        }
    }
}

/// A Python named by an environment variable that scripts/setup.sh writes, else its default
/// place in `.cache`.
pub fn venv_python(var: &str, default: &str) -> PathBuf {
    let python = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(default));
    assert!(
        python.exists(),
        "{} is missing ({var}): run scripts/setup.sh first",
        python.display()
    );
    python
}

/// A TCP port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What headless Chromium laid out at `url` (the page's `data-rendered` JSON), and a
/// screenshot if asked. A fresh profile each time; no background networking (none here).
pub fn headless_rendered(url: &str, screenshot: Option<&Path>) -> serde_json::Value {
    let profile = tempdir("omega-chromium");
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    if let Some(png) = screenshot {
        let out = cmd_clone(&cmd)
            .arg(format!("--screenshot={}", png.display()))
            .args(["--window-size=1200,900"])
            .arg(url)
            .output()
            .unwrap();
        assert!(
            png.exists(),
            "no screenshot: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = cmd
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("chromium (scripts/setup.sh installs it)");
    let dom = String::from_utf8_lossy(&out.stdout);
    let attr = dom
        .split("data-rendered=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("the page did not run in the browser: {dom}"));
    let rendered = serde_json::from_str(&attr.replace("&quot;", "\"")).unwrap();
    let _ = std::fs::remove_dir_all(&profile);
    rendered
}

pub fn cmd_clone(cmd: &Command) -> Command {
    let mut c = Command::new(cmd.get_program());
    c.args(cmd.get_args());
    c
}

pub fn tempdir(prefix: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}
