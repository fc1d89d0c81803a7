//! The dendrite: queries a miner's axon the way the Python SDK's dendrite does (legacy
//! headers and signature, or `btauth/1` with `--auth btauth`), and maps what comes back to the
//! SDK's status codes (200 with a parsed synapse; the axon's own error status and message; 408
//! on timeout, 503 when the connection is refused, 422 when the reply cannot be parsed).

use std::time::{Duration, Instant};

use subxt_signer::sr25519::Keypair;

use super::auth;
use super::synapse::{TerminalInfo, Videos, EMPTY_BODY_HASH, SDK_VERSION};

/// The largest reply read (8 videos with three 1024-float embeddings are about 0.5 MB of JSON).
pub const MAX_REPLY_BYTES: usize = 16 * 1024 * 1024;

/// How requests are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthScheme {
    /// SDK 8.5–10.x headers (`bt_header_dendrite_*`), what SN24's miners run.
    Legacy,
    /// SDK 11.x `btauth/1` (`X-Bittensor-*`).
    Btauth,
}

/// A miner to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub ip: String,
    pub port: u16,
    pub hotkey: String,
}

/// What came back.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub message: Option<String>,
    pub synapse: Option<Videos>,
    pub elapsed: Duration,
}

pub struct Dendrite {
    hotkey: Keypair,
    uuid: String,
    /// The address reported in `bt_header_dendrite_ip`.
    ip: String,
    scheme: AuthScheme,
    client: reqwest::Client,
}

impl Dendrite {
    pub fn new(hotkey: Keypair, ip: &str, scheme: AuthScheme) -> Self {
        Dendrite {
            hotkey,
            uuid: crate::hub::ids::uuid4(),
            ip: ip.to_string(),
            scheme,
            client: reqwest::Client::new(),
        }
    }

    /// Sends `Videos(query, num_videos)` with `timeout` (also the synapse's own timeout).
    pub async fn query(
        &self,
        target: &Target,
        query: &str,
        num_videos: i64,
        timeout: Duration,
    ) -> Reply {
        let started = Instant::now();
        let (body, headers) = self.request(target, query, num_videos, timeout);
        let url = format!("http://{}:{}/Videos", target.ip, target.port);
        let mut request = self.client.post(&url).timeout(timeout).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let reply = |status: u16, message: Option<String>, synapse: Option<Videos>| Reply {
            status,
            message,
            synapse,
            elapsed: started.elapsed(),
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                return reply(
                    408,
                    Some(format!("Timeout after {} seconds", timeout.as_secs_f64())),
                    None,
                )
            }
            Err(e) if e.is_connect() => {
                return reply(503, Some(format!("Service unavailable: {e}")), None)
            }
            Err(e) => return reply(422, Some(format!("Failed to send: {e}")), None),
        };
        let status = response.status().as_u16();
        let bytes = match read_bounded(response).await {
            Ok(b) => b,
            Err(message) => {
                return reply(
                    if message.contains("timed out") {
                        408
                    } else {
                        422
                    },
                    Some(message),
                    None,
                )
            }
        };
        if status != 200 {
            let message = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|j| {
                    j.get("message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                });
            return reply(status, message, None);
        }
        match serde_json::from_slice::<Videos>(&bytes) {
            Ok(synapse) => reply(200, Some("Success".into()), Some(synapse)),
            Err(e) => reply(422, Some(format!("Failed to parse response: {e}")), None),
        }
    }

    /// The body and headers of a signed request to `target` (what [`query`](Self::query) sends).
    pub fn request(
        &self,
        target: &Target,
        query: &str,
        num_videos: i64,
        timeout: Duration,
    ) -> (Vec<u8>, Vec<(String, String)>) {
        let me = auth::address(&self.hotkey);
        let mut synapse = Videos::new(query, num_videos, timeout.as_secs_f64());
        synapse.computed_body_hash = EMPTY_BODY_HASH.to_string();
        synapse.axon = Some(TerminalInfo {
            ip: Some(target.ip.clone()),
            port: Some(i64::from(target.port)),
            hotkey: Some(target.hotkey.clone()),
            ..TerminalInfo::default()
        });
        let mut dendrite = TerminalInfo {
            ip: Some(self.ip.clone()),
            version: Some(SDK_VERSION),
            hotkey: Some(me.clone()),
            uuid: Some(self.uuid.clone()),
            ..TerminalInfo::default()
        };
        let nonce = auth::now_ns();
        if self.scheme == AuthScheme::Legacy {
            let message =
                auth::legacy_message(nonce, &me, &target.hotkey, &self.uuid, EMPTY_BODY_HASH);
            dendrite.nonce = Some(nonce);
            dendrite.signature = Some(auth::sign(&self.hotkey, message.as_bytes()));
        }
        synapse.dendrite = Some(dendrite);
        let body = serde_json::to_vec(&synapse).unwrap_or_default();
        let mut headers = super::axon::headers_of(&synapse, body.len());
        if self.scheme == AuthScheme::Btauth {
            let signed = auth::btauth_headers(
                &self.hotkey,
                "POST",
                "/Videos",
                &body,
                &target.hotkey,
                nonce,
            );
            headers.extend(signed.into_iter().map(|(k, v)| (k.to_string(), v)));
        }
        (body, headers)
    }
}

async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if out.len() + chunk.len() > MAX_REPLY_BYTES {
                    return Err(format!("the reply is larger than {MAX_REPLY_BYTES} bytes"));
                }
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(out),
            Err(e) if e.is_timeout() => return Err(format!("reading the reply timed out: {e}")),
            Err(e) => return Err(format!("reading the reply: {e}")),
        }
    }
}
