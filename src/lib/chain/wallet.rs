//! bittensor wallets as the Python `bittensor-wallet` package writes them:
//! `WALLET_PATH/NAME/hotkeys/HOTKEY` (JSON, usually unencrypted), `NAME/coldkeypub.txt` (public
//! JSON) and `NAME/coldkey` (usually `$NACL`-encrypted JSON).
//!
//! Key files from bittensor-wallet 4.0.0 (OMEGA's pin) and 4.1.x (which adds a `cryptoType`
//! field that 4.0.0 cannot read) both load. The coldkey is decrypted only where a transfer needs
//! it; its password comes from bittensor's `BT_PW_…` environment variable or a prompt, never a
//! flag (a flag ends up in shell history and `ps`).

use std::path::{Path, PathBuf};

use base64::Engine;
use subxt::utils::AccountId32;
use subxt_signer::sr25519::Keypair;

/// Why a wallet could not be used.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("{path}: cannot read the key file: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a bittensor key file: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("{path}: field `{field}`: {reason}")]
    Field {
        path: PathBuf,
        field: &'static str,
        reason: String,
    },
    #[error(
        "{path} is encrypted; give its password in {env_var} (bittensor's format) or run omega on a terminal to be asked"
    )]
    NeedPassword { path: PathBuf, env_var: String },
    #[error("{path}: wrong password (the NaCl box did not open)")]
    WrongPassword { path: PathBuf },
    #[error("{path}: encrypted with the legacy {scheme} scheme; re-encrypt it with `btcli wallet regen-coldkey` first")]
    LegacyEncryption { path: PathBuf, scheme: &'static str },
    #[error("{path}: the key in the file belongs to {derived}, but the file says {stated}")]
    Mismatch {
        path: PathBuf,
        derived: String,
        stated: String,
    },
    #[error(
        "{path}: holds only a public key; a secret (secretPhrase or secretSeed) is needed to sign"
    )]
    PublicOnly { path: PathBuf },
}

/// `--wallet.path`, `--wallet.name`, `--wallet.hotkey`.
#[derive(Debug, Clone)]
pub struct WalletLocation {
    pub path: PathBuf,
    pub name: String,
    pub hotkey: String,
}

impl WalletLocation {
    /// bittensor's default root, `~/.bittensor/wallets` (a leading `~` is expanded like the SDK).
    pub fn default_root() -> PathBuf {
        expand_home(Path::new("~/.bittensor/wallets"))
    }

    pub fn new(path: &Path, name: &str, hotkey: &str) -> Self {
        WalletLocation {
            path: expand_home(path),
            name: name.to_string(),
            hotkey: hotkey.to_string(),
        }
    }

    pub fn hotkey_file(&self) -> PathBuf {
        self.path
            .join(&self.name)
            .join("hotkeys")
            .join(&self.hotkey)
    }

    pub fn coldkeypub_file(&self) -> PathBuf {
        self.path.join(&self.name).join("coldkeypub.txt")
    }

    pub fn coldkey_file(&self) -> PathBuf {
        self.path.join(&self.name).join("coldkey")
    }

    /// The hotkey, ready to sign (weights, axon registration, requests to miners).
    pub fn hotkey(&self) -> Result<Keypair, WalletError> {
        let path = self.hotkey_file();
        let data = read(&path)?;
        if is_encrypted(&data) {
            let password = password_for(&path)?;
            return signing_key(&path, &decrypt(&path, &data, &password)?);
        }
        signing_key(&path, &data)
    }

    /// The hotkey's address without its secret: `HOTKEYpub.txt` (btwallet 3+), else the public
    /// fields of the key file itself.
    pub fn hotkey_address(&self) -> Result<AccountId32, WalletError> {
        let file = self.hotkey_file();
        let public = file.with_file_name(format!("{}pub.txt", self.hotkey));
        if public.exists() {
            return public_key(&public, &read(&public)?);
        }
        let data = read(&file)?;
        if is_encrypted(&data) {
            return Err(WalletError::NeedPassword {
                env_var: password_env_var(&file),
                path: file,
            });
        }
        public_key(&file, &data)
    }

    /// The coldkey's address, from `coldkeypub.txt` (no password needed).
    pub fn coldkey_address(&self) -> Result<AccountId32, WalletError> {
        let path = self.coldkeypub_file();
        public_key(&path, &read(&path)?)
    }

    /// The coldkey, decrypted (transfers only). The password is taken from the environment
    /// or asked for on the terminal.
    pub fn coldkey(&self) -> Result<Keypair, WalletError> {
        let path = self.coldkey_file();
        let data = read(&path)?;
        if !is_encrypted(&data) {
            return signing_key(&path, &data);
        }
        let password = password_for(&path)?;
        signing_key(&path, &decrypt(&path, &data, &password)?)
    }
}

/// `~/x` as `$HOME/x`.
pub fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, WalletError> {
    std::fs::read(path).map_err(|source| WalletError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The JSON a key file holds once decrypted. Unknown fields (4.1.x's `cryptoType`) are allowed.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyJson {
    #[serde(default)]
    secret_phrase: Option<String>,
    #[serde(default)]
    secret_seed: Option<String>,
    #[serde(default)]
    public_key: Option<String>,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    ss58_address: Option<String>,
    /// bittensor-wallet 4.1.x: the key type; only sr25519 (`1`, or the name) can sign here.
    #[serde(default)]
    crypto_type: Option<serde_json::Value>,
}

fn key_json(path: &Path, data: &[u8]) -> Result<KeyJson, WalletError> {
    let json: KeyJson = serde_json::from_slice(data).map_err(|e| WalletError::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    check_crypto_type(path, json.crypto_type.as_ref())?;
    Ok(json)
}

fn check_crypto_type(path: &Path, value: Option<&serde_json::Value>) -> Result<(), WalletError> {
    let sr25519 = match value {
        None => true,
        Some(serde_json::Value::Number(n)) => n.as_u64() == Some(1),
        Some(serde_json::Value::String(s)) => s.eq_ignore_ascii_case("sr25519") || s == "1",
        Some(_) => false,
    };
    if sr25519 {
        return Ok(());
    }
    Err(WalletError::Field {
        path: path.to_path_buf(),
        field: "cryptoType",
        reason: format!(
            "{} is not sr25519, the only key type subtensor accounts use here",
            value.map(|v| v.to_string()).unwrap_or_default()
        ),
    })
}

/// A keypair from `secretPhrase` (preferred, as btwallet does) or `secretSeed`, checked against
/// the address the file states.
fn signing_key(path: &Path, data: &[u8]) -> Result<Keypair, WalletError> {
    let json = key_json(path, data)?;
    let field = |field: &'static str, reason: String| WalletError::Field {
        path: path.to_path_buf(),
        field,
        reason,
    };
    let pair = if let Some(phrase) = &json.secret_phrase {
        let mnemonic = subxt_signer::bip39::Mnemonic::parse(phrase.trim())
            .map_err(|e| field("secretPhrase", e.to_string()))?;
        Keypair::from_phrase(&mnemonic, None).map_err(|e| field("secretPhrase", e.to_string()))?
    } else if let Some(seed) = &json.secret_seed {
        let bytes: [u8; 32] = crate::hex::decode(seed)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| field("secretSeed", "want 0x and 32 bytes of hex".into()))?;
        Keypair::from_secret_key(bytes).map_err(|e| field("secretSeed", e.to_string()))?
    } else {
        return Err(WalletError::PublicOnly {
            path: path.to_path_buf(),
        });
    };
    let derived = AccountId32(pair.public_key().0);
    if let Some(stated) = stated_address(path, &json)? {
        if stated != derived {
            return Err(WalletError::Mismatch {
                path: path.to_path_buf(),
                derived: derived.to_string(),
                stated: stated.to_string(),
            });
        }
    }
    Ok(pair)
}

/// The account a public file (or the public part of a key file) names.
fn public_key(path: &Path, data: &[u8]) -> Result<AccountId32, WalletError> {
    let json = key_json(path, data)?;
    stated_address(path, &json)?.ok_or_else(|| WalletError::Format {
        path: path.to_path_buf(),
        reason: "no ss58Address, publicKey or accountId".into(),
    })
}

fn stated_address(path: &Path, json: &KeyJson) -> Result<Option<AccountId32>, WalletError> {
    let field = |field: &'static str, reason: String| WalletError::Field {
        path: path.to_path_buf(),
        field,
        reason,
    };
    if let Some(ss58) = &json.ss58_address {
        let id = ss58
            .parse::<AccountId32>()
            .map_err(|e| field("ss58Address", e.to_string()))?;
        return Ok(Some(id));
    }
    for (name, value) in [
        ("publicKey", &json.public_key),
        ("accountId", &json.account_id),
    ] {
        if let Some(text) = value {
            let bytes: [u8; 32] = crate::hex::decode(text)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| field(name, "want 0x and 32 bytes of hex".into()))?;
            return Ok(Some(AccountId32(bytes)));
        }
    }
    Ok(None)
}

// --- encryption -------------------------------------------------------------------------------

const NACL_PREFIX: &[u8] = b"$NACL";
/// btwallet's fixed Argon2 salt (`NACL_SALT`).
const NACL_SALT: [u8; 16] = [
    0x13, 0x71, 0x83, 0xdf, 0xf1, 0x5a, 0x09, 0xbc, 0x9c, 0x90, 0xb5, 0x51, 0x87, 0x39, 0xe9, 0xb1,
];

fn is_encrypted(data: &[u8]) -> bool {
    data.starts_with(NACL_PREFIX)
        || data.starts_with(b"$ANSIBLE_VAULT")
        || data.starts_with(b"gAAAAA")
}

/// Opens a `$NACL` box: Argon2i (libsodium's SENSITIVE limits: 8 passes, 512 MiB) derives the
/// key from the password; XSalsa20-Poly1305 with the 24-byte nonce that follows the prefix.
fn decrypt(path: &Path, data: &[u8], password: &str) -> Result<Vec<u8>, WalletError> {
    use crypto_secretbox::aead::{Aead, KeyInit};
    if data.starts_with(b"$ANSIBLE_VAULT") {
        return Err(WalletError::LegacyEncryption {
            path: path.to_path_buf(),
            scheme: "Ansible Vault",
        });
    }
    if data.starts_with(b"gAAAAA") {
        return Err(WalletError::LegacyEncryption {
            path: path.to_path_buf(),
            scheme: "Fernet",
        });
    }
    let format = |reason: &str| WalletError::Format {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let body = &data[NACL_PREFIX.len()..];
    if body.len() < 24 + 16 {
        return Err(format("the $NACL box is shorter than its nonce and tag"));
    }
    let (nonce, sealed) = body.split_at(24);
    let key = nacl_key(password).map_err(|e| format(&e))?;
    let cipher = crypto_secretbox::XSalsa20Poly1305::new(&key.into());
    cipher
        .decrypt(nonce.into(), sealed)
        .map_err(|_| WalletError::WrongPassword {
            path: path.to_path_buf(),
        })
}

fn nacl_key(password: &str) -> Result<[u8; 32], String> {
    let params = argon2::Params::new(512 * 1024, 8, 1, Some(32)).map_err(|e| e.to_string())?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2i, argon2::Version::V0x13, params);
    let mut key = [0u8; 32];
    argon
        .hash_password_into(password.as_bytes(), &NACL_SALT, &mut key)
        .map_err(|e| e.to_string())?;
    Ok(key)
}

/// bittensor's password variable for a key file: `BT_PW_` + the path upper-cased with `/` and
/// `.` turned into `_`.
pub fn password_env_var(path: &Path) -> String {
    let upper = path
        .to_string_lossy()
        .to_uppercase()
        .replace(['/', '.'], "_");
    format!("BT_PW_{upper}")
}

/// The variable's value is base64 of the password XOR-ed with the variable's name (btwallet's
/// `get_password_from_environment`).
fn password_from_env(var: &str) -> Option<String> {
    let encoded = std::env::var(var).ok()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let key = var.as_bytes();
    let plain: Vec<u8> = bytes
        .iter()
        .zip(key.iter().cycle())
        .map(|(b, k)| b ^ k)
        .collect();
    String::from_utf8(plain).ok()
}

/// The value a user puts in the variable for a password (the inverse of the above).
pub fn encode_env_password(var: &str, password: &str) -> String {
    let key = var.as_bytes();
    let mixed: Vec<u8> = password
        .bytes()
        .zip(key.iter().cycle())
        .map(|(b, k)| b ^ k)
        .collect();
    base64::engine::general_purpose::STANDARD.encode(mixed)
}

fn password_for(path: &Path) -> Result<String, WalletError> {
    let var = password_env_var(path);
    if let Some(password) = password_from_env(&var) {
        return Ok(password);
    }
    prompt_password(&format!("Password for {}: ", path.display())).ok_or(
        WalletError::NeedPassword {
            path: path.to_path_buf(),
            env_var: var,
        },
    )
}

/// Asks on the terminal with echo off; None when stdin is not a terminal (cron, pipes).
fn prompt_password(prompt: &str) -> Option<String> {
    use std::io::{BufRead, Write};
    // SAFETY: isatty/tcgetattr/tcsetattr only read and write the termios struct we own.
    unsafe {
        if libc::isatty(0) != 1 {
            return None;
        }
        let mut saved: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(0, &mut saved) != 0 {
            return None;
        }
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        libc::tcsetattr(0, libc::TCSANOW, &quiet);
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let read = std::io::stdin().lock().read_line(&mut line);
        libc::tcsetattr(0, libc::TCSANOW, &saved);
        eprintln!();
        read.ok()?;
        Some(line.trim_end_matches(['\n', '\r']).to_string())
    }
}
