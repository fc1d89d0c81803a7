//! `omega serve-market`: the Focus marketplace's HTTP API, with the original's paths and
//! semantics (spec §6.4) and what it lacked: every state change signed (btauth/1) by the
//! miner's hotkey, transfers checked through their events and finality, one transaction per
//! change, bounded bodies, concurrency and time, metrics, a public dashboard.
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /` | anyone | the dashboard |
//! | `GET /api/focus/get_list` | anyone | videos for sale |
//! | `POST /api/focus/purchase` | a miner, signed | reserve a video: `{address, amount}` to pay |
//! | `POST /api/focus/verify-purchase` | the same miner, signed | check the transfer, complete |
//! | `POST /api/focus/revert-pending-purchase` | the same miner, signed | give the video back |
//! | `GET /api/focus/miner_purchase_scores[/HK,HK]` | anyone | the last 24 h of purchases |
//! | `GET /metrics` | anyone | Prometheus |

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use subxt::utils::{AccountId32, H256};

use super::store::{self, Completion, Reservation, Store};
use crate::chain::transfer::{format_tao, Expected, Verdict};
use crate::chain::{Chain, ConnectOptions};
use crate::net::auth::{self, NonceBook};
use crate::net::axon::{header, read_body};

/// How the marketplace runs.
#[derive(Debug, Clone)]
pub struct MarketOptions {
    /// The marketplace's own SS58 address: signed requests must name it as their receiver.
    pub me: String,
    /// How long a reservation waits for its verified transfer (the ERA code: 3 minutes).
    pub reservation: Duration,
    /// The day's budget (`max_focus_tao`) in rao.
    pub cap_rao: i64,
    /// Videos per `get_list` answer (the original: 10).
    pub list_limit: i64,
    pub max_body_bytes: usize,
    pub max_concurrent: usize,
    pub read_timeout: Duration,
}

/// The chain, connected when first needed and again after an error.
pub struct ChainSource {
    options: ConnectOptions,
    chain: tokio::sync::Mutex<Option<Arc<Chain>>>,
}

impl ChainSource {
    pub fn new(options: ConnectOptions) -> Self {
        ChainSource {
            options,
            chain: tokio::sync::Mutex::new(None),
        }
    }

    async fn get(&self) -> Result<Arc<Chain>, crate::chain::ChainError> {
        let mut slot = self.chain.lock().await;
        if let Some(chain) = slot.as_ref() {
            return Ok(chain.clone());
        }
        let chain = Arc::new(Chain::connect(&self.options).await?);
        *slot = Some(chain.clone());
        Ok(chain)
    }

    async fn drop_connection(&self) {
        *self.chain.lock().await = None;
    }
}

/// Counters of the marketplace, in the Prometheus text format.
#[derive(Default)]
pub struct MarketMetrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    outcomes: Mutex<BTreeMap<String, u64>>,
}

impl MarketMetrics {
    fn request(&self, route: &str, status: u16) {
        let mut m = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry((route.to_string(), status)).or_default() += 1;
    }

    fn outcome(&self, what: &str) {
        let mut m = self.outcomes.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(what.to_string()).or_default() += 1;
    }
}

impl crate::net::metrics::Exposition for MarketMetrics {
    fn render(&self) -> String {
        let mut out = String::from(
            "# HELP omega_market_requests_total Requests by route and HTTP status.\n\
             # TYPE omega_market_requests_total counter\n",
        );
        for ((route, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            out.push_str(&format!(
                "omega_market_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}\n"
            ));
        }
        out.push_str(
            "# HELP omega_market_purchases_total Purchase steps by outcome.\n\
             # TYPE omega_market_purchases_total counter\n",
        );
        for (what, n) in self
            .outcomes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            out.push_str(&format!(
                "omega_market_purchases_total{{outcome=\"{what}\"}} {n}\n"
            ));
        }
        out
    }
}

pub struct Market {
    pub store: Store,
    pub chain: ChainSource,
    pub options: MarketOptions,
    pub metrics: MarketMetrics,
    nonces: NonceBook,
    permits: tokio::sync::Semaphore,
}

impl Market {
    pub fn new(store: Store, chain: ChainSource, options: MarketOptions) -> Arc<Self> {
        let permits = tokio::sync::Semaphore::new(options.max_concurrent.max(1));
        Arc::new(Market {
            store,
            chain,
            options,
            metrics: MarketMetrics::default(),
            nonces: NonceBook::new(100_000),
            permits,
        })
    }
}

/// An answer: status and JSON (or HTML) body.
struct Reply {
    status: StatusCode,
    body: Bytes,
    content_type: &'static str,
}

fn reply(status: StatusCode, body: Value) -> Reply {
    Reply {
        status,
        body: Bytes::from(body.to_string()),
        content_type: "application/json",
    }
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Reply {
    reply(status, json!({"detail": message.into()}))
}

/// Serves the marketplace on `listener` until `stop` is set; reservations past their window
/// are put back on sale every few seconds.
pub async fn serve(
    market: Arc<Market>,
    listener: tokio::net::TcpListener,
    stop: &'static AtomicBool,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let mut last_sweep = Instant::now();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = market.clone();
                let service = hyper::service::service_fn(move |req| {
                    let market = shared.clone();
                    async move { Ok::<_, Infallible>(handle(market, req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(market.options.read_timeout)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move { let _ = conn.await; });
            }
            _ = ticker.tick() => {
                if stop.load(Ordering::SeqCst) { break }
                // Often enough that a reservation ends within a quarter of its window.
                let period = (market.options.reservation / 4).clamp(Duration::from_millis(100), Duration::from_secs(2));
                if last_sweep.elapsed() >= period {
                    last_sweep = Instant::now();
                    sweep(&market).await;
                }
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
}

/// Puts expired reservations back on sale.
async fn sweep(market: &Market) {
    match market.store.expire(store::now()).await {
        Ok(expired) => {
            for (video, hotkey) in expired {
                market.metrics.outcome("expired");
                tracing::info!("reservation of {video} by {hotkey} expired: back on sale");
            }
        }
        Err(e) => tracing::warn!("expiring reservations: {e}"),
    }
}

async fn handle(market: Arc<Market>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let route = route_name(req.method(), req.uri().path());
    let answer = match market.permits.try_acquire() {
        Ok(_permit) => route_request(&market, req).await,
        Err(_) => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy: too many requests at once, retry",
        ),
    };
    market.metrics.request(route, answer.status.as_u16());
    let mut response = Response::new(Full::new(answer.body));
    *response.status_mut() = answer.status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(answer.content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, v);
    }
    response
}

fn route_name(method: &Method, path: &str) -> &'static str {
    match (method, path) {
        (&Method::GET, "/") => "dashboard",
        (&Method::GET, "/api/focus/get_list") => "get_list",
        (&Method::POST, "/api/focus/purchase") => "purchase",
        (&Method::POST, "/api/focus/verify-purchase") => "verify_purchase",
        (&Method::POST, "/api/focus/revert-pending-purchase") => "revert",
        (&Method::GET, p) if p.starts_with("/api/focus/miner_purchase_scores") => "purchase_scores",
        (&Method::GET, "/metrics") => "metrics",
        _ => "other",
    }
}

async fn route_request(market: &Market, req: Request<Incoming>) -> Reply {
    let path = req.uri().path().to_string();
    let result = match route_name(req.method(), &path) {
        "dashboard" => super::dashboard::render_from(&market.store)
            .await
            .map(|html| Reply {
                status: StatusCode::OK,
                body: Bytes::from(html),
                content_type: "text/html; charset=utf-8",
            }),
        "get_list" => list(market).await,
        "purchase_scores" => purchase_scores(market, &path).await,
        "metrics" => Ok(Reply {
            status: StatusCode::OK,
            body: Bytes::from(crate::net::metrics::Exposition::render(&market.metrics)),
            content_type: "text/plain; version=0.0.4",
        }),
        "purchase" | "verify_purchase" | "revert" => {
            let (hotkey, body) = match authenticate(market, req).await {
                Ok(ok) => ok,
                Err(refusal) => return refusal,
            };
            match route_name(&Method::POST, &path) {
                "purchase" => purchase(market, &hotkey, &body).await,
                "verify_purchase" => verify_purchase(market, &hotkey, &body).await,
                _ => revert(market, &hotkey, &body).await,
            }
        }
        _ => return refuse(StatusCode::NOT_FOUND, format!("no route {path}")),
    };
    result.unwrap_or_else(|e| {
        tracing::error!("{path}: {e}");
        refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the marketplace's database failed: {e}"),
        )
    })
}

/// The signer of a btauth/1 request and its body; refused before any work when the signature,
/// receiver or nonce is wrong.
async fn authenticate(market: &Market, req: Request<Incoming>) -> Result<(String, Bytes), Reply> {
    let (parts, body) = req.into_parts();
    let claim = auth::btauth_of(|name| header(&parts.headers, name)).map_err(|e| {
        refuse(
            StatusCode::UNAUTHORIZED,
            format!("sign the request with btauth/1 headers: {e}"),
        )
    })?;
    let body = read_body(
        body,
        market.options.max_body_bytes,
        market.options.read_timeout,
    )
    .await
    .map_err(|(status, message)| refuse(status, message))?;
    auth::verify_btauth(
        &claim,
        parts.method.as_str(),
        parts.uri.path(),
        &body,
        &market.options.me,
        &market.nonces,
        auth::now_ns(),
    )
    .map_err(|e| refuse(StatusCode::UNAUTHORIZED, e.to_string()))?;
    Ok((claim.hotkey, body))
}

fn field<'a>(body: &'a Value, name: &str) -> Result<&'a str, Reply> {
    body.get(name).and_then(Value::as_str).ok_or_else(|| {
        refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("body field `{name}` (a string) is missing"),
        )
    })
}

fn json_body(body: &[u8]) -> Result<Value, Reply> {
    serde_json::from_slice(body).map_err(|e| {
        refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the body is not JSON: {e}"),
        )
    })
}

/// The body's `miner_hotkey`, which must be the signer.
fn signer_field(body: &Value, hotkey: &str) -> Result<(), Reply> {
    match body.get("miner_hotkey").and_then(Value::as_str) {
        Some(h) if h != hotkey => Err(refuse(
            StatusCode::FORBIDDEN,
            format!("miner_hotkey {h} is not the request's signer {hotkey}"),
        )),
        _ => Ok(()),
    }
}

type Answer = Result<Reply, store::StoreError>;

macro_rules! try_reply {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(reply) => return Ok(reply),
        }
    };
}

async fn list(market: &Market) -> Answer {
    let videos = market.store.for_sale(market.options.list_limit).await?;
    let list: Vec<Value> = videos
        .iter()
        .map(|v| {
            json!({
                "video_id": v.video_id, "task_title": v.task_title, "video_score": v.score,
                "duration_seconds": v.duration_seconds,
                "expected_reward_tao": format_tao(v.price_rao.max(0) as u64),
                "expected_reward_rao": v.price_rao,
            })
        })
        .collect();
    Ok(reply(StatusCode::OK, Value::Array(list)))
}

async fn purchase(market: &Market, hotkey: &str, body: &[u8]) -> Answer {
    let body = try_reply!(json_body(body));
    try_reply!(signer_field(&body, hotkey));
    let video_id = try_reply!(field(&body, "video_id"));
    let now = store::now();
    let until = now + market.options.reservation.as_secs() as i64;
    let outcome = market
        .store
        .reserve(video_id, hotkey, now, until, market.options.cap_rao)
        .await?;
    Ok(match outcome {
        Reservation::Reserved {
            owner_coldkey,
            price_rao,
        } => {
            market.metrics.outcome("reserved");
            reply(
                StatusCode::OK,
                json!({
                    "status": "success", "address": owner_coldkey,
                    "amount": format_tao(price_rao.max(0) as u64), "amount_rao": price_rao,
                    "reserved_until": until,
                }),
            )
        }
        Reservation::NotAvailable => {
            market.metrics.outcome("not_available");
            refuse(
                StatusCode::CONFLICT,
                format!("video {video_id} is not for sale now (unknown, reserved or bought)"),
            )
        }
        Reservation::Banned { until } => {
            market.metrics.outcome("banned");
            refuse(StatusCode::FORBIDDEN, format!("{hotkey} is banned until {until} (Unix seconds) after {} failed purchases in a row", store::BAN_AFTER_FAILURES))
        }
        Reservation::CapReached { sold_rao, cap_rao } => {
            market.metrics.outcome("cap_reached");
            refuse(
                StatusCode::BAD_REQUEST,
                format!(
                    "the marketplace sold {} of its {} TAO daily budget: try again later",
                    format_tao(sold_rao as u64),
                    format_tao(cap_rao as u64)
                ),
            )
        }
    })
}

async fn revert(market: &Market, hotkey: &str, body: &[u8]) -> Answer {
    let body = try_reply!(json_body(body));
    let video_id = try_reply!(field(&body, "video_id"));
    Ok(
        if market.store.revert(video_id, hotkey, store::now()).await? {
            market.metrics.outcome("reverted");
            reply(StatusCode::OK, json!({"status": "success"}))
        } else {
            refuse(
                StatusCode::CONFLICT,
                format!("{hotkey} holds no reservation of {video_id}"),
            )
        },
    )
}

async fn verify_purchase(market: &Market, hotkey: &str, body: &[u8]) -> Answer {
    let body = try_reply!(json_body(body));
    try_reply!(signer_field(&body, hotkey));
    let video_id = try_reply!(field(&body, "video_id"));
    let block_hash = try_reply!(field(&body, "block_hash"));
    let Some(hash) = crate::hex::decode(block_hash)
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(H256)
    else {
        return Ok(refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "block_hash is not 0x + 64 hex digits",
        ));
    };
    let Some(video) = market.store.video(video_id).await? else {
        return Ok(refuse(
            StatusCode::NOT_FOUND,
            format!("no video {video_id}"),
        ));
    };
    if video.state == store::state::PURCHASED {
        return Ok(if video.miner_hotkey.as_deref() == Some(hotkey) {
            reply(
                StatusCode::OK,
                json!({"status": "success", "already": true}),
            )
        } else {
            refuse(
                StatusCode::CONFLICT,
                format!("video {video_id} was bought by another miner"),
            )
        });
    }
    if video.state == store::state::PURCHASE_PENDING
        && video.miner_hotkey.as_deref() != Some(hotkey)
    {
        return Ok(refuse(
            StatusCode::CONFLICT,
            format!("video {video_id} is reserved by another miner"),
        ));
    }
    let verdict =
        match check_transfer(market, hotkey, &video.owner_coldkey, video.price_rao, hash).await {
            Ok(v) => v,
            Err(refusal) => return Ok(refusal),
        };
    let Verdict::Verified {
        extrinsic_index, ..
    } = verdict
    else {
        let reason = serde_json::to_value(&verdict).unwrap_or(Value::Null);
        let name = reason["reason"].as_str().unwrap_or("refused").to_string();
        market.metrics.outcome(&format!("verify_{name}"));
        market
            .store
            .note(video_id, hotkey, "verify_refused", &reason.to_string())
            .await?;
        let status = if name == "not_finalized" {
            StatusCode::CONFLICT
        } else {
            StatusCode::PAYMENT_REQUIRED
        };
        return Ok(reply(
            status,
            json!({"detail": format!("the transfer does not pay for {video_id}: {name}"), "verdict": reason}),
        ));
    };
    let extrinsic = format!("{}-{extrinsic_index}", crate::hex::encode(&hash.0));
    let done = market
        .store
        .complete(video_id, hotkey, &extrinsic, video.price_rao, store::now())
        .await?;
    Ok(match done {
        Completion::Purchased => {
            market.metrics.outcome("purchased");
            reply(
                StatusCode::OK,
                json!({"status": "success", "extrinsic": extrinsic}),
            )
        }
        Completion::AlreadyUsed => {
            market.metrics.outcome("verify_already_used");
            refuse(
                StatusCode::PAYMENT_REQUIRED,
                format!("the transfer {extrinsic} already paid for a purchase"),
            )
        }
        Completion::NotReserved => refuse(
            StatusCode::CONFLICT,
            format!("video {video_id} is no longer {hotkey}'s to buy"),
        ),
    })
}

/// The chain's verdict on the transfer: from the coldkey that owns `hotkey` to the video's
/// owner, exactly the price, finalized.
async fn check_transfer(
    market: &Market,
    hotkey: &str,
    owner: &str,
    price_rao: i64,
    hash: H256,
) -> Result<Verdict, Reply> {
    let bad_address = |what: &str, a: &str| {
        refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{what} {a} is not an SS58 address"),
        )
    };
    let miner: AccountId32 = hotkey.parse().map_err(|_| bad_address("hotkey", hotkey))?;
    let to: AccountId32 = owner
        .parse()
        .map_err(|_| bad_address("the owner's coldkey", owner))?;
    let unavailable = |e: crate::chain::ChainError| {
        refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the chain: {e}; retry"),
        )
    };
    let chain = market.chain.get().await.map_err(unavailable)?;
    let result = async {
        let at = chain.at_latest().await?;
        let Some(from) = crate::chain::subnet::hotkey_owner(&at, &miner).await? else {
            return Ok(None);
        };
        let expected = Expected {
            from,
            to,
            rao: price_rao.max(0) as u64,
        };
        crate::chain::transfer::verify(&chain, hash, &expected, None)
            .await
            .map(Some)
    }
    .await;
    match result {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(refuse(
            StatusCode::FORBIDDEN,
            format!("no coldkey owns {hotkey} on the chain"),
        )),
        Err(e) => {
            market.chain.drop_connection().await;
            Err(unavailable(e))
        }
    }
}

/// ERA: `/miner_purchase_scores/HK,HK` → `{hotkey: {purchased_videos: [{video_score}], …}}`;
/// HEAD: `/miner_purchase_scores` → every miner's share of the TAO paid.
async fn purchase_scores(market: &Market, path: &str) -> Answer {
    let wanted: Option<Vec<&str>> = path
        .strip_prefix("/api/focus/miner_purchase_scores/")
        .map(|s| s.split(',').filter(|h| !h.is_empty()).collect());
    let purchases = market
        .store
        .purchases_since(store::now() - store::DAY_SECONDS)
        .await?;
    let total: i64 = purchases.values().map(|m| m.paid_rao).sum();
    let mut out = serde_json::Map::new();
    let hotkeys: Vec<String> = match &wanted {
        Some(w) => w.iter().map(|h| h.to_string()).collect(),
        None => purchases.keys().cloned().collect(),
    };
    for hk in hotkeys {
        let m = purchases.get(&hk).cloned().unwrap_or_default();
        let paid = m.paid_rao as f64 / 1e9;
        out.insert(
            hk,
            json!({
                "purchased_videos": m.scores.iter().map(|s| json!({"video_score": s})).collect::<Vec<_>>(),
                "total_focus_points": paid,
                "max_focus_points": total as f64 / 1e9,
                "focus_points_percentage": if total > 0 { m.paid_rao as f64 / total as f64 } else { 0.0 },
            }),
        );
    }
    Ok(reply(StatusCode::OK, Value::Object(out)))
}
