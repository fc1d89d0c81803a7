//! The Focus marketplace under load on loopback: requests per second for `get_list` (public)
//! and for signed purchases (btauth/1 checked, one transaction each), on SQLite and, when
//! `benches/market.sh` started one, PostgreSQL (`OMEGA_BENCH_POSTGRES_URL`). One JSON line
//! per database.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use omega::chain::{ConnectOptions, Network};
use omega::market::server::{serve, ChainSource, Market, MarketOptions};
use omega::market::store::{Listing, Store};
use omega::net::auth;
use subxt_signer::sr25519::Keypair;

const VIDEOS: usize = 20_000;
const CLIENTS: usize = 32;
const SECONDS: f64 = 5.0;

static STOP: AtomicBool = AtomicBool::new(false);

fn video(i: usize) -> Listing {
    let owner = "5C4hrfjw9DjXZTzV3MwzrrAr9P1MJhSrvWGWqi1eSuyUpnhM";
    Listing::for_sale(
        &format!("v{i:06}"),
        &format!("task {i}"),
        0.5,
        600.0,
        owner,
        22_220_000,
    )
}

/// Requests per second of `request` run by CLIENTS tasks for SECONDS (or until it says stop).
async fn load<F, Fut>(request: F) -> (f64, usize)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Option<bool>> + Send,
{
    let request = Arc::new(request);
    let (ok, next) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let (request, ok, next) = (request.clone(), ok.clone(), next.clone());
        tasks.spawn(async move {
            while started.elapsed().as_secs_f64() < SECONDS {
                match request(next.fetch_add(1, Ordering::Relaxed)).await {
                    Some(true) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(false) => {}
                    None => break,
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let n = ok.load(Ordering::Relaxed);
    (n as f64 / started.elapsed().as_secs_f64(), n)
}

async fn bench(name: &str, db: &str) -> serde_json::Value {
    let store = Store::open(db).await.unwrap();
    let videos: Vec<Listing> = (0..VIDEOS).map(video).collect();
    store.list_videos(&videos).await.unwrap();
    let market_key = Keypair::from_secret_key([7; 32]).unwrap();
    let me = auth::address(&market_key);
    let options = MarketOptions {
        me: me.clone(),
        reservation: Duration::from_secs(600),
        cap_rao: i64::MAX / 2,
        list_limit: 10,
        max_body_bytes: 16 * 1024,
        max_concurrent: 256,
        read_timeout: Duration::from_secs(10),
    };
    let chain = ChainSource::new(ConnectOptions::new(
        Network::Local,
        Some("ws://127.0.0.1:9"),
    ));
    let market = Market::new(store, chain, options);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    STOP.store(false, Ordering::SeqCst);
    let server = tokio::spawn(serve(market, listener, &STOP));
    let http = reqwest::Client::new();

    let (list_rps, _) = {
        let (http, url) = (http.clone(), format!("{base}/api/focus/get_list"));
        load(move |_| {
            let (http, url) = (http.clone(), url.clone());
            async move { Some(http.get(&url).send().await.ok()?.status() == 200) }
        })
        .await
    };
    let miner = Arc::new(Keypair::from_secret_key([9; 32]).unwrap());
    let hotkey = auth::address(&miner);
    let (purchase_rps, bought) = {
        let url = format!("{base}/api/focus/purchase");
        load(move |i| {
            let (http, url, me, miner, hotkey) = (
                http.clone(),
                url.clone(),
                me.clone(),
                miner.clone(),
                hotkey.clone(),
            );
            async move {
                if i >= VIDEOS {
                    return None;
                }
                let body =
                    serde_json::json!({"video_id": format!("v{i:06}"), "miner_hotkey": hotkey})
                        .to_string();
                let mut req = http.post(&url).body(body.clone());
                for (k, v) in auth::btauth_headers(
                    &miner,
                    "POST",
                    "/api/focus/purchase",
                    body.as_bytes(),
                    &me,
                    auth::now_ns(),
                ) {
                    req = req.header(k, v);
                }
                Some(req.send().await.ok()?.status() == 200)
            }
        })
        .await
    };
    STOP.store(true, Ordering::SeqCst);
    let _ = server.await;
    serde_json::json!({
        "database": name, "videos": VIDEOS, "clients": CLIENTS,
        "list_rps": list_rps, "purchase_rps": purchase_rps, "purchases": bought,
    })
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = std::env::temp_dir().join(format!("omega-bench-market-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut dbs = vec![(
        "sqlite".to_string(),
        format!("sqlite://{}", dir.join("focus.db").display()),
    )];
    if let Ok(url) = std::env::var("OMEGA_BENCH_POSTGRES_URL") {
        dbs.push(("postgresql".into(), url));
    }
    for (name, url) in dbs {
        println!("{}", rt.block_on(bench(&name, &url)));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
