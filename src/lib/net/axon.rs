//! The axon: an HTTP/1 server answering `Videos` requests the way the Python SDK's axon does
//! (9.10.1: parse → blacklist → verify → priority → forward; the same status codes, JSON
//! bodies and `bt_header_*` response headers), with the limits a public server needs: a body
//! size bound, a header and body read deadline, a per-hotkey rate limit, and a concurrency
//! bound whose queue is ordered by the caller's priority (stake). Nothing reaches the handler
//! before every check passed; a request that outlives its timeout gets 408.

use std::collections::{BinaryHeap, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use subxt_signer::sr25519::Keypair;

use super::auth::{self, AuthError, BtAuth, NonceBook};
use super::metrics::Metrics;
use super::synapse::{
    TerminalInfo, VideoMetadata, Videos, EMPTY_BODY_HASH, REQUIRED_INPUTS, SDK_VERSION,
};

/// Who may ask, and how urgently (SN24's miner `blacklist` and `priority`).
pub trait Gate: Send + Sync {
    /// `Ok(priority)` (the caller's stake) or `Err(reason)` (403 "Forbidden. Key is blacklisted").
    fn admit(&self, hotkey: &str) -> Result<f64, String>;
}

/// The miner's work: the videos for a request, before `deadline`.
pub type Handler = Arc<
    dyn Fn(Videos, String, Instant) -> Pin<Box<dyn Future<Output = Vec<VideoMetadata>> + Send>>
        + Send
        + Sync,
>;

/// The server's limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body (a `Videos` request is about 1 KiB).
    pub max_body_bytes: usize,
    /// Requests answered at once; others wait in priority order.
    pub max_concurrent: usize,
    /// Requests per hotkey per minute (429 beyond).
    pub per_hotkey_per_minute: u32,
    /// Time to receive the headers, and the most a body may take.
    pub read_timeout: Duration,
    /// The longest timeout a request may ask for.
    pub max_request_timeout: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 64 * 1024,
            max_concurrent: 8,
            per_hotkey_per_minute: 120,
            read_timeout: Duration::from_secs(10),
            max_request_timeout: 300.0,
        }
    }
}

/// Everything one axon shares between connections.
pub struct Axon {
    pub hotkey: Keypair,
    /// The address announced on the chain (reported in `bt_header_axon_ip`).
    pub external_ip: String,
    pub port: u16,
    pub limits: Limits,
    gate: Box<dyn Gate>,
    handler: Handler,
    nonces: NonceBook,
    rates: RateLimiter,
    queue: PriorityGate,
    uuid: String,
    pub metrics: Arc<Metrics>,
}

impl Axon {
    pub fn new(
        hotkey: Keypair,
        external_ip: String,
        port: u16,
        limits: Limits,
        gate: Box<dyn Gate>,
        handler: Handler,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        let queue = PriorityGate::new(limits.max_concurrent);
        let rates = RateLimiter::new(limits.per_hotkey_per_minute);
        Arc::new(Axon {
            hotkey,
            external_ip,
            port,
            limits,
            gate,
            handler,
            nonces: NonceBook::new(100_000),
            rates,
            queue,
            uuid: crate::hub::ids::uuid4(),
            metrics,
        })
    }

    fn me(&self) -> String {
        auth::address(&self.hotkey)
    }
}

/// Serves `axon` on `listener` until `stop` is set; in-flight requests finish first.
pub async fn serve(
    axon: Arc<Axon>,
    listener: tokio::net::TcpListener,
    stop: &'static AtomicBool,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let read_timeout = axon.limits.read_timeout;
                let shared = axon.clone();
                let service = hyper::service::service_fn(move |req| {
                    let axon = shared.clone();
                    async move { Ok::<_, Infallible>(handle(axon, req, peer).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(read_timeout)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = ticker.tick() => {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
            }
        }
    }
    drop(listener);
    // In-flight requests get their own timeout to finish.
    let _ = tokio::time::timeout(Duration::from_secs(30), graceful.shutdown()).await;
    Ok(())
}

/// A request that failed a check: its status and message.
struct Refused(StatusCode, String);

async fn handle(
    axon: Arc<Axon>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let (response, status) = match answer(&axon, req, peer, started).await {
        Ok(response) => (response, StatusCode::OK),
        Err((Refused(status, message), synapse)) => (
            error_response(&axon, status, &message, synapse.as_ref(), started),
            status,
        ),
    };
    axon.metrics.request(status.as_u16(), started.elapsed());
    response
}

type Failure = (Refused, Option<Videos>);

fn refuse(status: StatusCode, message: impl Into<String>) -> Failure {
    (Refused(status, message.into()), None)
}

/// The checks in the SDK's order, then the handler.
async fn answer(
    axon: &Axon,
    req: Request<Incoming>,
    peer: SocketAddr,
    started: Instant,
) -> Result<Response<Full<Bytes>>, Failure> {
    let path = req.uri().path().trim_start_matches('/').to_string();
    let route = path.split('/').next().unwrap_or("");
    if route != "Videos" {
        return Err(refuse(
            StatusCode::NOT_FOUND,
            format!("Synapse name '{route}' not found. Available synapses ['Videos']"),
        ));
    }
    let method = req.method().as_str().to_string();
    let target = req
        .uri()
        .path_and_query()
        .map_or(req.uri().path(), |p| p.as_str())
        .to_string();
    let claim = Claim::parse(req.headers()).map_err(|e| refuse(StatusCode::BAD_REQUEST, e))?;
    let mut synapse = claim.synapse(peer);
    let fail = |status, message: String, synapse: &Videos| {
        (Refused(status, message), Some(synapse.clone()))
    };

    let priority = axon.gate.admit(&claim.hotkey).map_err(|reason| {
        fail(
            StatusCode::FORBIDDEN,
            format!("Forbidden. Key is blacklisted: {reason}."),
            &synapse,
        )
    })?;
    let timeout = claim.timeout.clamp(0.0, axon.limits.max_request_timeout);
    let deadline = started + Duration::from_secs_f64(timeout);
    let body = read_body(
        req.into_body(),
        axon.limits.max_body_bytes,
        axon.limits
            .read_timeout
            .min(Duration::from_secs_f64(timeout)),
    )
    .await
    .map_err(|(status, message)| fail(status, message, &synapse))?;
    claim.verify(axon, &method, &target, &body).map_err(|e| {
        fail(
            StatusCode::UNAUTHORIZED,
            format!("Not Verified with error: {e}"),
            &synapse,
        )
    })?;
    if !axon.rates.allow(&claim.hotkey) {
        let message = format!(
            "Too many requests from {}: at most {} a minute",
            claim.hotkey, axon.limits.per_hotkey_per_minute
        );
        return Err(fail(StatusCode::TOO_MANY_REQUESTS, message, &synapse));
    }
    let _permit = axon
        .queue
        .acquire(priority, deadline)
        .await
        .ok_or_else(|| {
            fail(
                StatusCode::REQUEST_TIMEOUT,
                "Response timeout after priority queue".into(),
                &synapse,
            )
        })?;
    let request: Videos = serde_json::from_slice(&body).map_err(|e| {
        fail(
            StatusCode::BAD_REQUEST,
            format!("Failed to parse the Videos body: {e}"),
            &synapse,
        )
    })?;
    synapse.query = request.query;
    synapse.num_videos = request.num_videos;
    let remaining = deadline.saturating_duration_since(Instant::now());
    let work = (axon.handler)(synapse.clone(), claim.hotkey.clone(), deadline);
    let videos = tokio::time::timeout(remaining, work).await.map_err(|_| {
        fail(
            StatusCode::REQUEST_TIMEOUT,
            format!("Request timed out after {timeout} seconds"),
            &synapse,
        )
    })?;
    axon.metrics.answered(videos.len());
    synapse.video_metadata = Some(videos);
    Ok(success_response(axon, synapse, started))
}

pub(crate) async fn read_body(
    body: Incoming,
    max: usize,
    limit: Duration,
) -> Result<Bytes, (StatusCode, String)> {
    let collected = tokio::time::timeout(limit, Limited::new(body, max).collect())
        .await
        .map_err(|_| {
            (
                StatusCode::REQUEST_TIMEOUT,
                format!("the body did not arrive within {} s", limit.as_secs_f64()),
            )
        })?;
    collected.map(|c| c.to_bytes()).map_err(|e| {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body refused (at most {max} bytes): {e}"),
        )
    })
}

/// What a request's headers claim, in either scheme.
struct Claim {
    hotkey: String,
    timeout: f64,
    scheme: Scheme,
    headers: Vec<(String, String)>,
}

enum Scheme {
    Legacy {
        nonce: i64,
        uuid: String,
        signature: String,
        version: Option<i64>,
        body_hash: String,
    },
    BtAuth(BtAuth),
}

pub(crate) fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

impl Claim {
    fn parse(headers: &HeaderMap) -> Result<Claim, String> {
        let timeout = match header(headers, "timeout") {
            Some(t) => t
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|t| t.is_finite())
                .ok_or("header `timeout` is not a number")?,
            None => 12.0,
        };
        let kept: Vec<(String, String)> = headers
            .iter()
            .filter(|(k, _)| k.as_str().starts_with("bt_header_dendrite_"))
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        if let Some(version) = header(headers, "x-bittensor-version") {
            if version != "1" {
                return Err(format!("unsupported X-Bittensor-Version {version}"));
            }
            let auth = auth::btauth_of(|name| header(headers, name))?;
            return Ok(Claim {
                hotkey: auth.hotkey.clone(),
                timeout,
                scheme: Scheme::BtAuth(auth),
                headers: kept,
            });
        }
        let need = |name: &str| header(headers, name).ok_or(format!("missing header {name}"));
        let hotkey = need("bt_header_dendrite_hotkey")?;
        let nonce = need("bt_header_dendrite_nonce")?
            .trim()
            .parse()
            .map_err(|_| "bt_header_dendrite_nonce is not an integer")?;
        let version = header(headers, "bt_header_dendrite_version")
            .map(|v| v.trim().parse::<i64>())
            .transpose()
            .map_err(|_| "bt_header_dendrite_version is not an integer")?;
        Ok(Claim {
            hotkey,
            timeout,
            scheme: Scheme::Legacy {
                nonce,
                uuid: need("bt_header_dendrite_uuid")?,
                signature: need("bt_header_dendrite_signature")?,
                version,
                body_hash: header(headers, "computed_body_hash").unwrap_or_default(),
            },
            headers: kept,
        })
    }

    /// The synapse as the headers describe it (`Synapse.from_headers`), with the peer's address.
    fn synapse(&self, peer: SocketAddr) -> Videos {
        let mut dendrite = TerminalInfo {
            hotkey: Some(self.hotkey.clone()),
            ip: Some(peer.ip().to_string()),
            port: Some(i64::from(peer.port())),
            ..TerminalInfo::default()
        };
        if let Scheme::Legacy {
            nonce,
            uuid,
            signature,
            version,
            ..
        } = &self.scheme
        {
            dendrite.nonce = Some(*nonce);
            dendrite.uuid = Some(uuid.clone());
            dendrite.signature = Some(signature.clone());
            dendrite.version = *version;
        }
        for (k, v) in &self.headers {
            if k == "bt_header_dendrite_ip" {
                dendrite.ip = Some(v.clone());
            }
        }
        Videos {
            timeout: self.timeout,
            dendrite: Some(dendrite),
            computed_body_hash: EMPTY_BODY_HASH.into(),
            ..Videos::default()
        }
    }

    fn verify(
        &self,
        axon: &Axon,
        method: &str,
        target: &str,
        body: &[u8],
    ) -> Result<(), AuthError> {
        let me = axon.me();
        let now = auth::now_ns();
        match &self.scheme {
            Scheme::BtAuth(claim) => {
                auth::verify_btauth(claim, method, target, body, &me, &axon.nonces, now)
            }
            Scheme::Legacy {
                nonce,
                uuid,
                signature,
                version,
                body_hash,
            } => {
                // Videos declares no hash fields: the hash is a constant, and a request that
                // claims another one was not made for this synapse.
                if body_hash != EMPTY_BODY_HASH {
                    return Err(AuthError::Malformed("computed_body_hash"));
                }
                let message = auth::legacy_message(*nonce, &self.hotkey, &me, uuid, body_hash);
                if !auth::verify(&self.hotkey, message.as_bytes(), signature) {
                    return Err(AuthError::BadSignature(self.hotkey.clone()));
                }
                axon.nonces.check_legacy(
                    &format!("{}:{uuid}", self.hotkey),
                    *nonce,
                    *version,
                    self.timeout,
                    now,
                )
            }
        }
    }
}

/// The axon's side of the response (`TerminalInfo`), signed as the SDK's axon signs it.
fn axon_info(
    axon: &Axon,
    status: StatusCode,
    message: &str,
    dendrite: Option<&TerminalInfo>,
    started: Instant,
) -> TerminalInfo {
    let nonce = auth::now_ns();
    let me = axon.me();
    let dendrite_hotkey = dendrite.and_then(|d| d.hotkey.clone()).unwrap_or_default();
    let signed = format!("{nonce}.{dendrite_hotkey}.{me}.{}", axon.uuid);
    TerminalInfo {
        status_code: Some(i64::from(status.as_u16())),
        status_message: Some(message.to_string()),
        process_time: Some(started.elapsed().as_secs_f64()),
        ip: Some(axon.external_ip.clone()),
        port: Some(i64::from(axon.port)),
        version: Some(SDK_VERSION),
        nonce: Some(nonce),
        uuid: Some(axon.uuid.clone()),
        hotkey: Some(me),
        signature: Some(auth::sign(&axon.hotkey, signed.as_bytes())),
    }
}

fn success_response(axon: &Axon, mut synapse: Videos, started: Instant) -> Response<Full<Bytes>> {
    synapse.axon = Some(axon_info(
        axon,
        StatusCode::OK,
        "Success",
        synapse.dendrite.as_ref(),
        started,
    ));
    let body = serde_json::to_vec(&synapse).unwrap_or_default();
    build(StatusCode::OK, headers_of(&synapse, body.len()), body)
}

fn error_response(
    axon: &Axon,
    status: StatusCode,
    message: &str,
    synapse: Option<&Videos>,
    started: Instant,
) -> Response<Full<Bytes>> {
    let mut synapse = synapse.cloned().unwrap_or_default();
    synapse.axon = Some(axon_info(
        axon,
        status,
        message,
        synapse.dendrite.as_ref(),
        started,
    ));
    let body = serde_json::to_vec(&serde_json::json!({ "message": message })).unwrap_or_default();
    build(status, headers_of(&synapse, body.len()), body)
}

fn build(
    status: StatusCode,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let map = response.headers_mut();
    map.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            map.insert(n, v);
        }
    }
    response
}

/// `Synapse.to_headers()`: name, timeout, every non-null axon and dendrite field, the input
/// placeholders, sizes and the body hash.
pub fn headers_of(synapse: &Videos, body_len: usize) -> Vec<(String, String)> {
    let mut out = vec![
        ("name".to_string(), synapse.name.clone()),
        ("timeout".to_string(), python_float(synapse.timeout)),
    ];
    for (prefix, info) in [
        ("bt_header_axon_", &synapse.axon),
        ("bt_header_dendrite_", &synapse.dendrite),
    ] {
        if let Some(info) = info {
            out.extend(terminal_headers(prefix, info));
        }
    }
    for (field, placeholder) in REQUIRED_INPUTS {
        out.push((
            format!("bt_header_input_obj_{field}"),
            placeholder.to_string(),
        ));
    }
    out.push(("header_size".into(), "0".into()));
    out.push(("total_size".into(), body_len.to_string()));
    out.push(("computed_body_hash".into(), EMPTY_BODY_HASH.into()));
    out
}

fn terminal_headers(prefix: &str, t: &TerminalInfo) -> Vec<(String, String)> {
    let fields: [(&str, Option<String>); 10] = [
        ("status_code", t.status_code.map(|v| v.to_string())),
        ("status_message", t.status_message.clone()),
        ("process_time", t.process_time.map(python_float)),
        ("ip", t.ip.clone()),
        ("port", t.port.map(|v| v.to_string())),
        ("version", t.version.map(|v| v.to_string())),
        ("nonce", t.nonce.map(|v| v.to_string())),
        ("uuid", t.uuid.clone()),
        ("hotkey", t.hotkey.clone()),
        ("signature", t.signature.clone()),
    ];
    fields
        .into_iter()
        .filter_map(|(name, value)| Some((format!("{prefix}{name}"), value?)))
        .collect()
}

/// Python's `str(float)` for the values the SDK prints (`12.0`, not `12`).
fn python_float(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e16 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

// --- per-hotkey rate limit ---------------------------------------------------------------------

/// A token bucket per hotkey (refills `per_minute` a minute), bounded in size.
struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    fn new(per_minute: u32) -> Self {
        RateLimiter {
            per_minute: per_minute.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn allow(&self, hotkey: &str) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let capacity = f64::from(self.per_minute);
        if buckets.len() > 100_000 {
            buckets.retain(|_, (_, seen)| now.duration_since(*seen) < Duration::from_secs(60));
        }
        let (tokens, seen) = buckets.entry(hotkey.to_string()).or_insert((capacity, now));
        *tokens =
            (*tokens + now.duration_since(*seen).as_secs_f64() * capacity / 60.0).min(capacity);
        *seen = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

// --- the priority queue ------------------------------------------------------------------------

/// At most `capacity` holders; waiters are served highest priority first, then in arrival
/// order; a waiter gives up at its deadline.
struct PriorityGate {
    state: Mutex<GateState>,
    arrivals: AtomicU64,
}

struct GateState {
    free: usize,
    waiting: BinaryHeap<Waiter>,
}

struct Waiter {
    priority: f64,
    order: u64,
    wake: tokio::sync::oneshot::Sender<()>,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.priority
            .total_cmp(&other.priority)
            .then(other.order.cmp(&self.order))
    }
}

/// A held place; dropping it hands the place to the next waiter.
struct Permit<'a>(&'a PriorityGate);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl PriorityGate {
    fn new(capacity: usize) -> Self {
        PriorityGate {
            state: Mutex::new(GateState {
                free: capacity.max(1),
                waiting: BinaryHeap::new(),
            }),
            arrivals: AtomicU64::new(0),
        }
    }

    async fn acquire(&self, priority: f64, deadline: Instant) -> Option<Permit<'_>> {
        let rx = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if state.free > 0 && state.waiting.is_empty() {
                state.free -= 1;
                return Some(Permit(self));
            }
            let (wake, rx) = tokio::sync::oneshot::channel();
            let order = self.arrivals.fetch_add(1, Ordering::Relaxed);
            state.waiting.push(Waiter {
                priority: if priority.is_finite() { priority } else { 0.0 },
                order,
                wake,
            });
            rx
        };
        let limit = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(())) => Some(Permit(self)),
            // Timed out: our sender stays in the heap, and `release` skips it (the receiver is gone).
            _ => None,
        }
    }

    fn release(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(waiter) = state.waiting.pop() {
            if waiter.wake.send(()).is_ok() {
                return;
            }
        }
        state.free += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_floats_keep_their_point() {
        assert_eq!(python_float(12.0), "12.0");
        assert_eq!(python_float(0.25), "0.25");
    }

    #[tokio::test]
    async fn the_queue_serves_the_highest_stake_first() {
        let gate = Arc::new(PriorityGate::new(1));
        let held = gate
            .acquire(0.0, Instant::now() + Duration::from_secs(5))
            .await
            .unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for stake in [1.0, 100.0, 10.0] {
            let (gate, order) = (gate.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _p = gate
                    .acquire(stake, Instant::now() + Duration::from_secs(5))
                    .await
                    .unwrap();
                order.lock().unwrap().push(stake);
            }));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![100.0, 10.0, 1.0]);
        // A waiter past its deadline gives up, and its place is not lost.
        let held = gate
            .acquire(0.0, Instant::now() + Duration::from_secs(5))
            .await
            .unwrap();
        assert!(gate
            .acquire(5.0, Instant::now() + Duration::from_millis(30))
            .await
            .is_none());
        drop(held);
        assert!(gate
            .acquire(0.0, Instant::now() + Duration::from_millis(30))
            .await
            .is_some());
    }
}
