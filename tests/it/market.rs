//! The Focus marketplace against SQLite and a real PostgreSQL server (the same suites on both),
//! with the chain through the local RPC node of the chain tests: signed purchases, transfer
//! checks (honest, wrong amount, another coldkey, failed extrinsic, not finalized, replayed),
//! racing miners, reservation expiry and bans, a restart in the middle of a purchase, the
//! validators' purchase scores, metrics, and the dashboard in headless Chromium.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use subxt::utils::{AccountId32, H256};
use subxt_signer::sr25519::Keypair;

use omega::chain::{calls, offline};
use omega::market::price::price_rao;
use omega::market::store::{self, Completion, Listing, Reservation, Store};
use omega::net::auth;
use omega::table::focus::FocusListingInput;
use omega::table::TableWriter;

use crate::common::{account, free_port, key, omega, scratch};
use crate::fake_node::{self, block_hash, Node, State};
use crate::postgres;

const SCORE: f64 = 0.5;
const SECONDS: f64 = 600.0;
const MAX_FOCUS_TAO: f64 = 2.0;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn listing(id: &str, owner: &str) -> Listing {
    let price = price_rao(SCORE, SECONDS, MAX_FOCUS_TAO);
    Listing::for_sale(id, &format!("task of {id}"), SCORE, SECONDS, owner, price)
}

// --- the store, on both databases ----------------------------------------------------------------

/// Reservations race, expire, ban; transfers pay once; the cap holds; migrations run once.
fn store_suite(url: &str) {
    rt().block_on(async {
        let store = Arc::new(Store::open(url).await.unwrap());
        let again = Store::open(url).await.unwrap();
        assert_eq!(
            again
                .list_videos(&[listing("v1", "o"), listing("v2", "o")])
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            store.list_videos(&[listing("v1", "o")]).await.unwrap(),
            0,
            "known videos are not listed twice"
        );
        let now = 1_000_000;
        let cap = 10_000_000_000;

        // 16 miners race for v1: exactly one holds it.
        let mut racers = tokio::task::JoinSet::new();
        for i in 0..16 {
            let store = store.clone();
            racers.spawn(async move {
                store
                    .reserve("v1", &format!("hk{i}"), now, now + 1_000_000, cap)
                    .await
                    .unwrap()
            });
        }
        let mut won = 0;
        while let Some(r) = racers.join_next().await {
            match r.unwrap() {
                Reservation::Reserved {
                    owner_coldkey,
                    price_rao: p,
                } => {
                    assert_eq!(
                        (owner_coldkey.as_str(), p),
                        ("o", price_rao(SCORE, SECONDS, MAX_FOCUS_TAO))
                    );
                    won += 1;
                }
                other => assert_eq!(other, Reservation::NotAvailable),
            }
        }
        assert_eq!(
            won, 1,
            "exactly one of the racing miners reserves the video"
        );

        // Five reservations of v2 left to expire ban the miner for a day.
        let mut t = now;
        for round in 1..=5 {
            assert!(matches!(
                store.reserve("v2", "lazy", t, t + 60, cap).await.unwrap(),
                Reservation::Reserved { .. }
            ));
            assert!(
                store.expire(t + 59).await.unwrap().is_empty(),
                "not before its window ends"
            );
            assert_eq!(
                store.expire(t + 61).await.unwrap(),
                vec![("v2".to_string(), "lazy".to_string())]
            );
            if round < 5 {
                assert_eq!(store.ban("lazy").await.unwrap(), Some((round, None)));
            }
            t += 100;
        }
        assert_eq!(
            store.reserve("v2", "lazy", t, t + 60, cap).await.unwrap(),
            Reservation::Banned {
                until: t - 100 + 61 + store::BAN_SECONDS
            }
        );
        assert!(matches!(
            store.reserve("v2", "eager", t, t + 60, cap).await.unwrap(),
            Reservation::Reserved { .. }
        ));
        assert!(
            !store.revert("v2", "someone-else", t).await.unwrap(),
            "only the holder reverts"
        );
        assert!(store.revert("v2", "eager", t).await.unwrap());

        // A transfer pays for one purchase; a completed purchase counts toward the cap.
        let winner = store
            .video("v1")
            .await
            .unwrap()
            .unwrap()
            .miner_hotkey
            .unwrap();
        assert_eq!(
            store
                .complete("v1", &winner, "0xabc-1", 9_500_000_000, t)
                .await
                .unwrap(),
            Completion::Purchased
        );
        assert!(matches!(
            store.reserve("v2", "eager", t, t + 60, cap).await.unwrap(),
            Reservation::CapReached { .. }
        ));
        assert_eq!(
            store
                .complete("v2", "eager", "0xabc-1", 1, t)
                .await
                .unwrap(),
            Completion::AlreadyUsed
        );
        let scores = store.purchases_since(t - 10).await.unwrap();
        assert_eq!(scores[&winner].scores, vec![SCORE]);
        assert_eq!(scores[&winner].paid_rao, 9_500_000_000);
    });
}

#[test]
fn the_store_on_sqlite() {
    let dir = scratch("market-store-sqlite");
    store_suite(&format!("sqlite://{}", dir.join("focus.db").display()));
}

#[test]
fn the_store_on_postgresql() {
    store_suite(&postgres::database("market_store"));
}

// --- the server, end to end --------------------------------------------------------------------

struct Keys {
    owner: Keypair,
    market: Keypair,
    /// (hotkey, coldkey) of two miners.
    m1: (Keypair, Keypair),
    m2: (Keypair, Keypair),
    stranger: Keypair,
}

fn keys() -> Keys {
    Keys {
        owner: key(51),
        market: key(52),
        m1: (key(61), key(71)),
        m2: (key(62), key(72)),
        stranger: key(73),
    }
}

/// The chain: Owner[hotkey] = coldkey for both miners, and blocks holding the transfers the
/// purchases will name (finalized up to 9; block 10 is not).
fn chain(k: &Keys, price: u64) -> State {
    let mut s = State::new(10);
    s.finalized = 9;
    for (hot, cold) in [&k.m1, &k.m2] {
        s.set("Owner", (account(hot),), account(cold));
    }
    let owner = k.owner.public_key().0;
    let genesis = block_hash(0);
    let mut put = |number: usize, from: &Keypair, rao: u64, ok: bool| {
        let ext = offline::sign(
            &calls::transfer_keep_alive(AccountId32(owner), rao),
            from,
            0,
            genesis,
        )
        .unwrap();
        s.blocks[number].extrinsics = vec![ext];
        s.blocks[number].events = if ok {
            fake_node::events_blob(&[
                (
                    0,
                    fake_node::balances_transfer(from.public_key().0, owner, rao),
                ),
                (0, fake_node::extrinsic_success()),
            ])
        } else {
            fake_node::events_blob(&[(0, fake_node::extrinsic_failed(5, 2))])
        };
    };
    put(3, &k.m1.1, price, true); // pays v1
    put(4, &k.m2.1, price - 1, true); // one rao short
    put(5, &k.stranger, price, true); // from a coldkey that owns no miner
    put(6, &k.m2.1, price, false); // failed
    put(7, &k.m2.1, price, true); // pays v2
    put(8, &k.m1.1, price, true); // pays v4, across a restart
    put(10, &k.m1.1, price, true); // not finalized
    s
}

fn write_listings(path: &Path, owner: &str) {
    let mut w = TableWriter::<FocusListingInput>::create(path.to_str().unwrap()).unwrap();
    let row = |id: &str, decision: &str, owner: Option<&str>| FocusListingInput {
        video_id: id.into(),
        task_title: format!("task of {id}"),
        owner_coldkey: owner.map(str::to_string),
        focus_seconds: Some(SECONDS),
        task_score: Some(0.8),
        task_uniqueness: Some(0.9),
        completion_score: Some(0.7),
        description_uniqueness: Some(1.0),
        video_uniqueness: Some(0.6),
        focus_score: Some(SCORE),
        formula: "equal".into(),
        decision: Some(decision.into()),
    };
    let mut rows: Vec<FocusListingInput> = ["v1", "v2", "v3", "v4", "v5", "v6"]
        .iter()
        .map(|id| row(id, "ready", Some(owner)))
        .collect();
    rows.push(row("rejected", "rejected", Some(owner)));
    rows.push(row("ownerless", "ready", None));
    w.write_rows(rows).unwrap();
    w.finish().unwrap();
}

struct MarketProcess {
    child: Child,
    url: String,
}

impl Drop for MarketProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_market(
    db: &str,
    k: &Keys,
    node: &Node,
    list: Option<&Path>,
    reservation_minutes: &str,
) -> MarketProcess {
    let port = free_port();
    let mut cmd = omega();
    cmd.args(["serve-market", "--quiet", "--db", db, "--hotkey"])
        .arg(account(&k.market).to_string())
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--max-focus-tao",
            "2",
        ])
        .args([
            "--reservation-minutes",
            reservation_minutes,
            "--subtensor.chain_endpoint",
            &node.url,
        ]);
    if let Some(table) = list {
        cmd.arg("--list").arg(table);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "serve-market did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    MarketProcess { child, url }
}

/// A client of the marketplace: signed POSTs and plain GETs.
struct Client {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    market: String,
}

impl Client {
    fn new(k: &Keys) -> Self {
        Client {
            rt: rt(),
            http: reqwest::Client::new(),
            market: account(&k.market).to_string(),
        }
    }

    fn get(&self, url: &str) -> (u16, String) {
        self.rt.block_on(async {
            let r = self.http.get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    }

    fn get_json(&self, url: &str) -> Json {
        let (status, text) = self.get(url);
        assert_eq!(status, 200, "{url}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    fn post(
        &self,
        base: &str,
        path: &str,
        signer: Option<&Keypair>,
        receiver: Option<&str>,
        body: Json,
    ) -> (u16, Json) {
        let body = body.to_string().into_bytes();
        let mut req = self.http.post(format!("{base}{path}")).body(body.clone());
        if let Some(pair) = signer {
            let receiver = receiver.unwrap_or(&self.market);
            for (name, value) in
                auth::btauth_headers(pair, "POST", path, &body, receiver, auth::now_ns())
            {
                req = req.header(name, value);
            }
        }
        self.rt.block_on(async {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            (
                status,
                serde_json::from_str(&r.text().await.unwrap()).unwrap_or(Json::Null),
            )
        })
    }
}

fn hash_hex(h: H256) -> String {
    format!("0x{}", omega::hex::encode(&h.0))
}

fn market_suite(db: &str, work: &Path) {
    let k = keys();
    let price = price_rao(SCORE, SECONDS, MAX_FOCUS_TAO) as u64;
    let node = Node::start(chain(&k, price));
    let table = work.join("scored.parquet");
    let owner = account(&k.owner).to_string();
    write_listings(&table, &owner);
    let mut market = start_market(db, &k, &node, Some(&table), "5");
    let c = Client::new(&k);
    let base = market.url.clone();
    let (h1, h2) = (account(&k.m1.0).to_string(), account(&k.m2.0).to_string());
    let buy = |signer: &Keypair, hk: &str, video: &str| {
        c.post(
            &base,
            "/api/focus/purchase",
            Some(signer),
            None,
            json!({"video_id": video, "miner_hotkey": hk}),
        )
    };
    let verify = |base: &str, signer: &Keypair, hk: &str, video: &str, block: u64| {
        c.post(base, "/api/focus/verify-purchase", Some(signer), None, json!({"video_id": video, "miner_hotkey": hk, "block_hash": hash_hex(block_hash(block))}))
    };

    let listed = c.get_json(&format!("{base}/api/focus/get_list"));
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["video_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["v1", "v2", "v3", "v4", "v5", "v6"],
        "only ready videos with an owner are listed"
    );
    assert_eq!(listed[0]["expected_reward_rao"], price);

    // No signature, a signature for another receiver, a body naming another miner: refused.
    let body = json!({"video_id": "v1", "miner_hotkey": h1});
    assert_eq!(
        c.post(&base, "/api/focus/purchase", None, None, body.clone())
            .0,
        401
    );
    assert_eq!(
        c.post(
            &base,
            "/api/focus/purchase",
            Some(&k.m1.0),
            Some(&h2),
            body.clone()
        )
        .0,
        401
    );
    assert_eq!(
        c.post(&base, "/api/focus/purchase", Some(&k.m2.0), None, body)
            .0,
        403
    );

    // Honest: reserve, pay (block 3), verify.
    let (status, answer) = buy(&k.m1.0, &h1, "v1");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["address"].as_str(), answer["amount_rao"].as_u64()),
        (Some(owner.as_str()), Some(price))
    );
    assert_eq!(buy(&k.m2.0, &h2, "v1").0, 409, "reserved by another miner");
    let (status, answer) = verify(&base, &k.m1.0, &h1, "v1", 3);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        verify(&base, &k.m1.0, &h1, "v1", 3).0,
        200,
        "verifying again is harmless"
    );

    // Every wrong transfer is refused with its reason; then the right one completes.
    assert_eq!(buy(&k.m2.0, &h2, "v2").0, 200);
    for (block, reason) in [
        (4, "wrong_amount"),
        (5, "not_found"),
        (6, "failed_extrinsic"),
        (3, "not_found"),
    ] {
        let (status, answer) = verify(&base, &k.m2.0, &h2, "v2", block);
        assert_eq!(
            (status, answer["verdict"]["reason"].as_str()),
            (402, Some(reason)),
            "block {block}: {answer}"
        );
    }
    let (status, answer) = verify(&base, &k.m2.0, &h2, "v2", 10);
    assert_eq!(
        (status, answer["verdict"]["reason"].as_str()),
        (409, Some("not_finalized")),
        "{answer}"
    );
    assert_eq!(verify(&base, &k.m2.0, &h2, "v2", 7).0, 200);

    // A transfer that paid once pays nothing else.
    assert_eq!(buy(&k.m1.0, &h1, "v3").0, 200);
    let (status, answer) = verify(&base, &k.m1.0, &h1, "v3", 3);
    assert_eq!(status, 402, "replayed: {answer}");
    assert_eq!(
        c.post(
            &base,
            "/api/focus/revert-pending-purchase",
            Some(&k.m1.0),
            None,
            json!({"video_id": "v3"})
        )
        .0,
        200
    );

    // Two miners race for v5, four requests each: one reservation.
    let wins: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (signer, hk) = if i % 2 == 0 {
                    (&k.m1.0, &h1)
                } else {
                    (&k.m2.0, &h2)
                };
                let client = Client::new(&k);
                let base = base.clone();
                s.spawn(move || {
                    client
                        .post(
                            &base,
                            "/api/focus/purchase",
                            Some(signer),
                            None,
                            json!({"video_id": "v5", "miner_hotkey": hk}),
                        )
                        .0
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|s| *s == 200)
            .count()
    });
    assert_eq!(wins, 1, "exactly one racing request reserves v5");

    // Reserved, paid (block 8), then the marketplace is killed; after a restart the purchase
    // completes.
    assert_eq!(buy(&k.m1.0, &h1, "v4").0, 200);
    let _ = market.child.kill();
    let _ = market.child.wait();
    market = start_market(db, &k, &node, None, "0.02");
    let base = market.url.clone();
    let (status, answer) = verify(&base, &k.m1.0, &h1, "v4", 8);
    assert_eq!(status, 200, "after a restart: {answer}");

    // A reservation not paid goes back on sale after its window (here 1.2 s).
    assert_eq!(
        c.post(
            &base,
            "/api/focus/purchase",
            Some(&k.m2.0),
            None,
            json!({"video_id": "v6", "miner_hotkey": h2})
        )
        .0,
        200
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = c.get_json(&format!("{base}/api/focus/get_list"));
        if listed
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["video_id"] == "v6")
        {
            break;
        }
        assert!(Instant::now() < deadline, "v6 never went back on sale");
        std::thread::sleep(Duration::from_millis(200));
    }

    // What the validators read: ERA (per sampled hotkey) and HEAD (every miner's share).
    let era = c.get_json(&format!(
        "{base}/api/focus/miner_purchase_scores/{h1},{h2},nobody"
    ));
    assert_eq!(era[&h1]["purchased_videos"].as_array().unwrap().len(), 2);
    assert_eq!(era[&h2]["purchased_videos"][0]["video_score"], SCORE);
    assert_eq!(era["nobody"]["purchased_videos"], json!([]));
    let head = c.get_json(&format!("{base}/api/focus/miner_purchase_scores"));
    let share = head[&h1]["focus_points_percentage"].as_f64().unwrap();
    assert!((share - 2.0 / 3.0).abs() < 1e-9, "{head}");

    let (_, metrics) = c.get(&format!("{base}/metrics"));
    assert!(
        metrics.contains("omega_market_purchases_total{outcome=\"purchased\"} 1"),
        "after the restart: {metrics}"
    );

    // The dashboard, laid out by a browser: every video, filtered by state from the address.
    let shot = work.join("dashboard.png");
    let all = crate::common::headless_rendered(&format!("{base}/"), None);
    assert_eq!(all["visible"], 6, "{all}");
    assert!(all["history"].as_u64().unwrap() >= 8, "{all}");
    let bins: Vec<f64> = all["bins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_f64().unwrap())
        .collect();
    assert_eq!(
        bins.iter().filter(|h| **h > 0.0).count(),
        1,
        "every score is 0.5: one bar: {all}"
    );
    assert!(all["histogram_width"].as_f64().unwrap() > 100.0);
    let purchased =
        crate::common::headless_rendered(&format!("{base}/#state=purchased"), Some(&shot));
    assert_eq!(purchased["visible"], 3, "{purchased}");
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a screenshot was taken");

    // The same page as a static export.
    let page = work.join("focus.html");
    crate::common::run_ok(
        omega()
            .args(["report", "--focus", "--quiet", "--db", db, "-o"])
            .arg(&page),
    );
    let exported = crate::common::headless_rendered(
        &format!("file://{}#state=purchased", page.display()),
        None,
    );
    assert_eq!(exported["visible"], 3, "{exported}");

    // SIGTERM: in-flight requests finish, the process exits 0.
    let pid = market.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = market.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "serve-market did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "serve-market exits 0 on SIGTERM: {status:?}"
    );
}

#[test]
fn the_marketplace_on_sqlite() {
    let work = scratch("market-sqlite");
    market_suite(
        &format!("sqlite://{}", work.join("focus.db").display()),
        &work,
    );
}

#[test]
fn the_marketplace_on_postgresql() {
    let work = scratch("market-pg");
    market_suite(&postgres::database("market_e2e"), &work);
}

// --- the miner's client ------------------------------------------------------------------------

/// A wallet folder with the hotkey and an unencrypted coldkey (keyfile JSON, as
/// bittensor-wallet writes them).
fn write_miner_wallet(root: &Path, hot: (&Keypair, u8), cold: (&Keypair, u8)) {
    let keyfile = |pair: &Keypair, seed: u8| {
        let public = format!("0x{}", omega::hex::encode(&pair.public_key().0));
        json!({"accountId": public, "publicKey": public, "secretSeed": format!("0x{}", omega::hex::encode(&[seed; 32])), "ss58Address": account(pair).to_string()}).to_string()
    };
    std::fs::create_dir_all(root.join("w/hotkeys")).unwrap();
    std::fs::write(root.join("w/hotkeys/h"), keyfile(hot.0, hot.1)).unwrap();
    std::fs::write(root.join("w/coldkey"), keyfile(cold.0, cold.1)).unwrap();
    std::fs::write(root.join("w/coldkeypub.txt"), keyfile(cold.0, cold.1)).unwrap();
}

/// `omega focus buy` buys the best offers within its budget, paying each once, and after a
/// crash between the transfer and its verification finishes the purchase without paying again.
#[test]
fn focus_buy_pays_once_and_finishes_after_a_crash() {
    let work = scratch("market-buy");
    let k = keys();
    let price = price_rao(SCORE, SECONDS, MAX_FOCUS_TAO) as u64;
    let mut state = State::new(5);
    state.set("Owner", (account(&k.m1.0),), account(&k.m1.1));
    let owner = k.owner.public_key().0;
    state.emits = Some(Box::new(move |ext: &[u8]| {
        // A signed transfer_keep_alive to the owner: its signer (after the length, 0x84 and
        // the address kind) pays the amount the call carries.
        let call = calls::transfer_keep_alive(AccountId32(owner), price)
            .encode(&omega::chain::metadata::vendored())
            .unwrap();
        let signer = ext
            .windows(call.len())
            .position(|w| w == call.as_slice())
            .map(|_| {
                let start = ext.iter().position(|b| *b == 0x84).unwrap() + 2;
                <[u8; 32]>::try_from(&ext[start..start + 32]).unwrap()
            });
        signer
            .map(|from| vec![fake_node::balances_transfer(from, owner, price)])
            .unwrap_or_default()
    }));
    let node = Node::start(state);
    let table = work.join("scored.parquet");
    write_listings(&table, &account(&k.owner).to_string());
    let market = start_market(
        &format!("sqlite://{}", work.join("focus.db").display()),
        &k,
        &node,
        Some(&table),
        "5",
    );
    write_miner_wallet(&work, (&k.m1.0, 61), (&k.m1.1, 71));
    let journal = work.join("journal.json");
    let focus_buy = |budget: &str| {
        let mut cmd = omega();
        cmd.args([
            "focus",
            "buy",
            "--json",
            "--quiet",
            "--market",
            &market.url,
            "--market.hotkey",
        ])
        .arg(account(&k.market).to_string())
        .args([
            "--budget",
            budget,
            "--wallet.name",
            "w",
            "--wallet.hotkey",
            "h",
            "--wallet.path",
        ])
        .arg(&work)
        .args(["--subtensor.chain_endpoint", &node.url, "--journal"])
        .arg(&journal);
        let out = crate::common::run_ok(&mut cmd);
        serde_json::from_slice::<Json>(&out.stdout).unwrap()
    };

    // Two prices' worth: the two best offers (all equal: the first ids).
    let budget = omega::chain::transfer::format_tao(2 * price + price / 2);
    let report = focus_buy(&budget);
    assert_eq!(report["bought"], json!(["v1", "v2"]), "{report}");
    assert_eq!(report["spent_rao"], 2 * price);
    assert_eq!(node.state.lock().unwrap().submitted.len(), 2);

    // A crash after the transfer of v3 was submitted and before the journal knew where it
    // landed: the next run finds it on the chain and has it verified; nothing is sent again.
    let c = Client::new(&k);
    let hk = account(&k.m1.0).to_string();
    let (status, _) = c.post(
        &market.url,
        "/api/focus/purchase",
        Some(&k.m1.0),
        None,
        json!({"video_id": "v3", "miner_hotkey": hk}),
    );
    assert_eq!(status, 200);
    let after_block = node.state.lock().unwrap().head().number;
    let mut j: Json = serde_json::from_slice(&std::fs::read(&journal).unwrap()).unwrap();
    j["purchases"].as_array_mut().unwrap().push(json!({
        "video_id": "v3", "address": account(&k.owner).to_string(), "rao": price,
        "step": "sending", "after_block": after_block,
    }));
    std::fs::write(&journal, j.to_string()).unwrap();
    let rt = rt();
    rt.block_on(async {
        let chain = omega::chain::Chain::connect(&omega::chain::ConnectOptions::new(
            omega::chain::Network::Local,
            Some(&node.url),
        ))
        .await
        .unwrap();
        let wait = omega::chain::submit::Wait {
            finalization: true,
            limit: Duration::from_secs(60),
        };
        omega::chain::transfer::send(&chain, &k.m1.1, AccountId32(owner), price, wait)
            .await
            .unwrap();
    });
    let report = focus_buy("0");
    assert_eq!(
        (report["bought"].clone(), report["resumed"].clone()),
        (json!(["v3"]), json!(1)),
        "{report}"
    );
    assert_eq!(report["spent_rao"], 0, "nothing paid again");
    assert_eq!(
        node.state.lock().unwrap().submitted.len(),
        3,
        "two by the first run, one before the crash"
    );
    let scores = c.get_json(&format!(
        "{}/api/focus/miner_purchase_scores/{hk}",
        market.url
    ));
    assert_eq!(scores[&hk]["purchased_videos"].as_array().unwrap().len(), 3);
    let journal: Json = serde_json::from_slice(&std::fs::read(&journal).unwrap()).unwrap();
    assert!(
        journal["purchases"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["step"] == "verified"),
        "{journal}"
    );
}
