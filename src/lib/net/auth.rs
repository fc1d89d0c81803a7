//! Request authentication, both schemes an axon accepts:
//! - **legacy** (SDK 8.5–10.x): `bt_header_dendrite_*` headers; the dendrite signs
//!   `"{nonce}.{dendrite_hotkey}.{axon_hotkey}.{uuid}.{body_hash}"` (sr25519, "substrate"
//!   context); nonces are nanoseconds, fresh on first sight (`now - 4 s - timeout`) and then
//!   strictly increasing per `hotkey:uuid`;
//! - **`btauth/1`** (SDK 11.x): `X-Bittensor-*` headers over newline-joined lines (protocol,
//!   scheme, method, path, sha256 of the body, nonce, sender, receiver); 10 s freshness, 2 s
//!   skew, each nonce once.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use subxt::utils::AccountId32;
use subxt_signer::sr25519::{Keypair, PublicKey, Signature};

/// Why a request is not authentic.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthError {
    #[error("missing or malformed {0}")]
    Malformed(&'static str),
    #[error("signed for another axon ({0})")]
    WrongReceiver(String),
    #[error("the signature does not verify against {0}")]
    BadSignature(String),
    #[error("nonce is too old: acceptable delta is {allowed:.2} seconds but request was {age:.2} seconds old")]
    StaleNonce { age: f64, allowed: f64 },
    #[error("nonce is more than {0} seconds in the future")]
    FutureNonce(f64),
    #[error("nonce is too old, a newer one was last processed")]
    ReplayedNonce,
}

/// Nanoseconds since the Unix epoch (the SDK's `time.time_ns()`).
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// `0x` + hex of the sr25519 signature of `message`.
pub fn sign(pair: &Keypair, message: &[u8]) -> String {
    format!("0x{}", crate::hex::encode(&pair.sign(message).0))
}

/// Whether `signature` (`0x` hex) is `hotkey`'s over `message`.
pub fn verify(hotkey: &str, message: &[u8], signature: &str) -> bool {
    let Ok(account) = hotkey.parse::<AccountId32>() else {
        return false;
    };
    let Some(bytes) = crate::hex::decode(signature) else {
        return false;
    };
    let Ok(sig) = <[u8; 64]>::try_from(bytes) else {
        return false;
    };
    subxt_signer::sr25519::verify(&Signature(sig), message, &PublicKey(account.0))
}

/// The SS58 address of a keypair.
pub fn address(pair: &Keypair) -> String {
    AccountId32(pair.public_key().0).to_string()
}

// --- legacy -------------------------------------------------------------------------------------

/// The string a legacy dendrite signs.
pub fn legacy_message(
    nonce: i64,
    dendrite: &str,
    axon: &str,
    uuid: &str,
    body_hash: &str,
) -> String {
    format!("{nonce}.{dendrite}.{axon}.{uuid}.{body_hash}")
}

/// The first-seen window: 4 s (`ALLOWED_DELTA`) plus the request's timeout.
const ALLOWED_DELTA_NS: i64 = 4_000_000_000;

/// The last nonce per `hotkey:uuid` (legacy) or the accepted `hotkey:nonce` pairs (btauth),
/// bounded: when full, the oldest entries are dropped (they are outside every window by then).
pub struct NonceBook {
    seen: Mutex<HashMap<String, i64>>,
    capacity: usize,
}

impl NonceBook {
    pub fn new(capacity: usize) -> Self {
        NonceBook {
            seen: Mutex::new(HashMap::new()),
            capacity: capacity.max(16),
        }
    }

    /// The legacy rules (the SDK's `default_verify`); records the nonce when it passes. Call
    /// only after the signature verified, so forged requests cannot poison the book.
    pub fn check_legacy(
        &self,
        key: &str,
        nonce: i64,
        version: Option<i64>,
        timeout_s: f64,
        now: i64,
    ) -> Result<(), AuthError> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        match seen.get(key) {
            Some(&last) if nonce <= last => return Err(AuthError::ReplayedNonce),
            None if version.is_some_and(|v| v >= super::synapse::V_7_2_0) => {
                let window = ALLOWED_DELTA_NS.saturating_add((timeout_s.max(0.0) * 1e9) as i64);
                if nonce <= now.saturating_sub(window) {
                    return Err(AuthError::StaleNonce {
                        age: (now - nonce) as f64 / 1e9,
                        allowed: window as f64 / 1e9,
                    });
                }
            }
            _ => {}
        }
        self.insert(&mut seen, key.to_string(), nonce, now);
        Ok(())
    }

    /// Records a btauth nonce once; false when it was accepted before.
    pub fn check_once(&self, hotkey: &str, nonce: i64, now: i64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let key = format!("{hotkey}:{nonce}");
        if seen.contains_key(&key) {
            return false;
        }
        self.insert(&mut seen, key, nonce, now);
        true
    }

    fn insert(&self, seen: &mut HashMap<String, i64>, key: String, nonce: i64, now: i64) {
        if seen.len() >= self.capacity {
            // Anything older than a minute is outside both schemes' windows for any sane
            // timeout; if that frees nothing, drop the oldest half.
            let horizon = now.saturating_sub(60_000_000_000);
            seen.retain(|_, n| *n > horizon);
            if seen.len() >= self.capacity {
                let mut nonces: Vec<i64> = seen.values().copied().collect();
                nonces.sort_unstable();
                let cut = nonces[nonces.len() / 2];
                seen.retain(|_, n| *n > cut);
            }
        }
        seen.insert(key, nonce);
    }
}

// --- btauth/1 -----------------------------------------------------------------------------------

pub const BTAUTH_PROTOCOL: &str = "btauth/1";
pub const BTAUTH_MAX_AGE_NS: i64 = 10_000_000_000;
pub const BTAUTH_SKEW_NS: i64 = 2_000_000_000;

/// The bytes a btauth/1 request signs.
pub fn btauth_payload(
    method: &str,
    path: &str,
    body: &[u8],
    nonce: i64,
    sender: &str,
    receiver: Option<&str>,
) -> Vec<u8> {
    let lines = [
        BTAUTH_PROTOCOL.to_string(),
        "sr25519".to_string(),
        method.to_uppercase(),
        path.to_string(),
        crate::hex::encode(&Sha256::digest(body)),
        nonce.to_string(),
        sender.to_string(),
        receiver.unwrap_or("-").to_string(),
    ];
    lines.join("\n").into_bytes()
}

/// The headers a btauth/1 request carries.
pub fn btauth_headers(
    pair: &Keypair,
    method: &str,
    path: &str,
    body: &[u8],
    receiver: &str,
    nonce: i64,
) -> Vec<(&'static str, String)> {
    let sender = address(pair);
    let payload = btauth_payload(method, path, body, nonce, &sender, Some(receiver));
    vec![
        ("X-Bittensor-Version", "1".into()),
        ("X-Bittensor-Hotkey", sender),
        ("X-Bittensor-Receiver", receiver.to_string()),
        ("X-Bittensor-Nonce", nonce.to_string()),
        ("X-Bittensor-Signature", sign(pair, &payload)),
    ]
}

/// What a btauth/1 request claims, from its headers.
#[derive(Debug, Clone, PartialEq)]
pub struct BtAuth {
    pub hotkey: String,
    pub receiver: Option<String>,
    pub nonce: i64,
    pub signature: String,
}

/// The btauth/1 claim of a request's headers (`header` looks one up by lower-case name).
pub fn btauth_of(header: impl Fn(&str) -> Option<String>) -> Result<BtAuth, String> {
    if let Some(version) = header("x-bittensor-version").filter(|v| v != "1") {
        return Err(format!("unsupported X-Bittensor-Version {version}"));
    }
    let need = |name: &str| header(name).ok_or(format!("missing {name}"));
    let nonce = need("x-bittensor-nonce")?
        .parse()
        .map_err(|_| "X-Bittensor-Nonce is not a decimal integer")?;
    if header("x-bittensor-crypto").is_some_and(|c| c != "sr25519") {
        return Err("only sr25519 signatures are accepted".into());
    }
    Ok(BtAuth {
        hotkey: need("x-bittensor-hotkey")?,
        receiver: header("x-bittensor-receiver"),
        nonce,
        signature: need("x-bittensor-signature")?,
    })
}

/// Checks a btauth/1 request as bittensor 11's `http_auth.verify` does: receiver bound to this
/// axon, fresh, signed, not replayed.
pub fn verify_btauth(
    auth: &BtAuth,
    method: &str,
    path: &str,
    body: &[u8],
    me: &str,
    nonces: &NonceBook,
    now: i64,
) -> Result<(), AuthError> {
    match &auth.receiver {
        None => return Err(AuthError::WrongReceiver("no X-Bittensor-Receiver".into())),
        Some(r) if r != me => return Err(AuthError::WrongReceiver(r.clone())),
        Some(_) => {}
    }
    if now.saturating_sub(auth.nonce) > BTAUTH_MAX_AGE_NS {
        return Err(AuthError::StaleNonce {
            age: (now - auth.nonce) as f64 / 1e9,
            allowed: 10.0,
        });
    }
    if auth.nonce.saturating_sub(now) > BTAUTH_SKEW_NS {
        return Err(AuthError::FutureNonce(2.0));
    }
    let payload = btauth_payload(
        method,
        path,
        body,
        auth.nonce,
        &auth.hotkey,
        auth.receiver.as_deref(),
    );
    if !verify(&auth.hotkey, &payload, &auth.signature) {
        return Err(AuthError::BadSignature(auth.hotkey.clone()));
    }
    if !nonces.check_once(&auth.hotkey, auth.nonce, now) {
        return Err(AuthError::ReplayedNonce);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_nonces_are_fresh_once_then_increasing() {
        let book = NonceBook::new(100);
        let now = 1_000_000_000_000;
        let key = "hk:uuid";
        assert!(matches!(
            book.check_legacy(key, now - 20_000_000_000, Some(9_010_001), 12.0, now),
            Err(AuthError::StaleNonce { .. })
        ));
        assert_eq!(
            book.check_legacy(key, now - 1_000, Some(9_010_001), 12.0, now),
            Ok(())
        );
        assert_eq!(
            book.check_legacy(key, now - 1_000, Some(9_010_001), 12.0, now),
            Err(AuthError::ReplayedNonce)
        );
        assert_eq!(
            book.check_legacy(key, now, Some(9_010_001), 12.0, now),
            Ok(())
        );
        // Old dendrites get only the monotonic rule.
        assert_eq!(
            book.check_legacy("old:u", 5, Some(6_000_000), 12.0, now),
            Ok(())
        );
    }

    #[test]
    fn the_book_stays_bounded() {
        let book = NonceBook::new(16);
        let now = 100_000_000_000_000;
        for i in 0..1000 {
            assert!(book.check_once("hk", now - 1000 + i, now));
        }
        assert!(book.seen.lock().unwrap().len() <= 16);
    }
}
