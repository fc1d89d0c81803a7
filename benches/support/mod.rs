//! What the network benchmarks share: wallets, ports, waiting for a server.

use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use subxt_signer::sr25519::Keypair;

/// A wallet folder `root/w` with an unencrypted hotkey `h` of key `seed`.
pub fn write_wallet(root: &Path, pair: &Keypair, seed: u8) {
    let dir = root.join("w/hotkeys");
    std::fs::create_dir_all(&dir).unwrap();
    let json = serde_json::json!({
        "secretSeed": format!("0x{}", format!("{seed:02x}").repeat(32)),
        "ss58Address": omega::net::auth::address(pair),
    });
    std::fs::write(dir.join("h"), json.to_string()).unwrap();
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_listening(port: u16) {
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
}
