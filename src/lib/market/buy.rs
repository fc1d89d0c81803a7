//! `omega focus buy`: the miner's side of the marketplace. List → choose (best score per TAO
//! within a budget) → purchase (signed) → transfer from the coldkey → verify.
//!
//! Every step is written to a journal (JSON, replaced atomically) before the next begins, and
//! a run first finishes what the last one left:
//! - `reserved`: nothing was sent; the reservation is given back (or lapses) and the video may
//!   be chosen again;
//! - `sending`: the transfer may or may not have been submitted when the process died. The
//!   blocks from the one noted before sending are searched for it (it is mortal: after
//!   [`MORTAL_BLOCKS`] it can no longer be included); found → verified; certainly absent →
//!   forgotten; otherwise left for the next run. Never sent twice.
//! - `sent`: verified with the marketplace (again, harmlessly, if it was).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use subxt::utils::{AccountId32, H256};
use subxt_signer::sr25519::Keypair;

use crate::chain::submit::{Wait, MORTAL_BLOCKS};
use crate::chain::transfer::{self, Expected, Verdict};
use crate::chain::{Chain, ChainError};
use crate::net::auth;

#[derive(Debug, thiserror::Error)]
pub enum BuyError {
    #[error("the marketplace at {url}: {message}")]
    Market { url: String, message: String },
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("the journal {}: {source}", path.display())]
    Journal {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A video for sale.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    pub video_id: String,
    pub score: f64,
    pub price_rao: u64,
}

/// The marketplace's API, signed with the miner's hotkey.
pub struct MarketClient {
    pub url: String,
    /// The marketplace's SS58 address (the receiver its signatures are bound to).
    pub market: String,
    pub hotkey: Keypair,
    http: reqwest::Client,
}

/// The marketplace's answer to a verification.
#[derive(Debug, Clone, PartialEq)]
pub enum Verification {
    Purchased,
    /// Not finalized yet: ask again.
    NotYet,
    Refused(String),
}

impl MarketClient {
    pub fn new(url: &str, market: &str, hotkey: Keypair) -> Self {
        MarketClient {
            url: url.trim_end_matches('/').to_string(),
            market: market.to_string(),
            hotkey,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap_or_default(),
        }
    }

    fn error(&self, message: impl Into<String>) -> BuyError {
        BuyError::Market {
            url: self.url.clone(),
            message: message.into(),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<(u16, Value), BuyError> {
        let response = request
            .send()
            .await
            .map_err(|e| self.error(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| self.error(e.to_string()))?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    async fn post(&self, path: &str, body: Value) -> Result<(u16, Value), BuyError> {
        let body = body.to_string().into_bytes();
        let mut request = self
            .http
            .post(format!("{}{path}", self.url))
            .body(body.clone());
        for (name, value) in auth::btauth_headers(
            &self.hotkey,
            "POST",
            path,
            &body,
            &self.market,
            auth::now_ns(),
        ) {
            request = request.header(name, value);
        }
        self.send(request).await
    }

    fn me(&self) -> String {
        auth::address(&self.hotkey)
    }

    pub async fn list(&self) -> Result<Vec<Offer>, BuyError> {
        let (status, body) = self
            .send(self.http.get(format!("{}/api/focus/get_list", self.url)))
            .await?;
        if status != 200 {
            return Err(self.error(format!("get_list: HTTP {status}: {body}")));
        }
        let offers = body
            .as_array()
            .ok_or_else(|| self.error("get_list did not answer a list"))?;
        Ok(offers
            .iter()
            .filter_map(|o| {
                Some(Offer {
                    video_id: o.get("video_id")?.as_str()?.to_string(),
                    score: o.get("video_score")?.as_f64()?,
                    price_rao: o.get("expected_reward_rao")?.as_u64()?,
                })
            })
            .collect())
    }

    /// Reserves a video: the address to pay and the amount, or why not.
    pub async fn purchase(
        &self,
        video_id: &str,
    ) -> Result<Result<(AccountId32, u64), String>, BuyError> {
        let (status, body) = self
            .post(
                "/api/focus/purchase",
                json!({"video_id": video_id, "miner_hotkey": self.me()}),
            )
            .await?;
        if status != 200 {
            return Ok(Err(format!(
                "HTTP {status}: {}",
                body["detail"].as_str().unwrap_or(&body.to_string())
            )));
        }
        let address = body["address"].as_str().and_then(|a| a.parse().ok());
        match (address, body["amount_rao"].as_u64()) {
            (Some(a), Some(rao)) => Ok(Ok((a, rao))),
            _ => Err(self.error(format!(
                "purchase answered without an address and amount: {body}"
            ))),
        }
    }

    pub async fn verify(&self, video_id: &str, block: H256) -> Result<Verification, BuyError> {
        let hash = format!("0x{}", crate::hex::encode(&block.0));
        let (status, body) = self
            .post(
                "/api/focus/verify-purchase",
                json!({"video_id": video_id, "miner_hotkey": self.me(), "block_hash": hash}),
            )
            .await?;
        Ok(match status {
            200 => Verification::Purchased,
            409 if body["verdict"]["reason"] == "not_finalized" => Verification::NotYet,
            503 => Verification::NotYet,
            _ => Verification::Refused(format!(
                "HTTP {status}: {}",
                body["detail"].as_str().unwrap_or(&body.to_string())
            )),
        })
    }

    pub async fn revert(&self, video_id: &str) -> Result<(), BuyError> {
        self.post(
            "/api/focus/revert-pending-purchase",
            json!({"video_id": video_id}),
        )
        .await?;
        Ok(())
    }
}

/// Where one purchase stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    Reserved,
    /// About to submit; the best block before submitting.
    Sending {
        after_block: u64,
    },
    Sent {
        block: String,
    },
    Verified {
        block: String,
    },
    /// Given up: nothing was paid, or the marketplace refused a paid transfer (see detail).
    Abandoned {
        detail: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Purchase {
    pub video_id: String,
    pub address: String,
    pub rao: u64,
    #[serde(flatten)]
    pub step: Step,
}

/// The purchases of a miner, kept on disk.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Journal {
    pub purchases: Vec<Purchase>,
    #[serde(skip)]
    path: PathBuf,
}

impl Journal {
    pub fn open(path: &Path) -> Result<Journal, BuyError> {
        let err = |source| BuyError::Journal {
            path: path.to_path_buf(),
            source,
        };
        let mut journal: Journal = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Journal::default(),
            Err(e) => return Err(err(e)),
        };
        journal.path = path.to_path_buf();
        Ok(journal)
    }

    fn save(&self) -> Result<(), BuyError> {
        crate::fsutil::save_json(&self.path, self).map_err(|source| BuyError::Journal {
            path: self.path.clone(),
            source,
        })
    }

    fn set(&mut self, i: usize, step: Step) -> Result<(), BuyError> {
        self.purchases[i].step = step;
        self.save()
    }
}

/// What a run did.
#[derive(Debug, Default, Serialize)]
pub struct BuyReport {
    pub bought: Vec<String>,
    pub spent_rao: u64,
    pub resumed: usize,
    pub refused: Vec<(String, String)>,
    /// Transfers whose fate is not known yet (submitted before a crash, not found so far).
    pub unconfirmed: Vec<String>,
}

/// What a run may do.
pub struct BuyOptions {
    pub budget_rao: u64,
    pub max_videos: usize,
    pub wait: Wait,
    /// Attempts to verify a sent transfer that is not final yet, 2 s apart.
    pub verify_attempts: u32,
}

/// The offers to buy: best score per TAO first, within the budget.
pub fn choose(
    offers: &[Offer],
    budget_rao: u64,
    max_videos: usize,
    owned: &[String],
) -> Vec<Offer> {
    let mut sorted: Vec<&Offer> = offers
        .iter()
        .filter(|o| o.price_rao > 0 && !owned.contains(&o.video_id))
        .collect();
    sorted.sort_by(|a, b| {
        let value = |o: &Offer| o.score / o.price_rao as f64;
        value(b)
            .total_cmp(&value(a))
            .then(a.video_id.cmp(&b.video_id))
    });
    let mut left = budget_rao;
    let mut out = Vec::new();
    for o in sorted {
        if out.len() < max_videos && o.price_rao <= left {
            left -= o.price_rao;
            out.push(o.clone());
        }
    }
    out
}

fn parse_hash(s: &str) -> Option<H256> {
    crate::hex::decode(s)
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(H256)
}

fn hash_text(h: H256) -> String {
    format!("0x{}", crate::hex::encode(&h.0))
}

/// Finishes the journal's open purchases, then buys what the budget allows.
pub async fn buy(
    client: &MarketClient,
    chain: &Chain,
    coldkey: &Keypair,
    journal: &mut Journal,
    opts: &BuyOptions,
) -> Result<BuyReport, BuyError> {
    let mut report = BuyReport::default();
    for i in 0..journal.purchases.len() {
        if !matches!(
            journal.purchases[i].step,
            Step::Verified { .. } | Step::Abandoned { .. }
        ) {
            report.resumed += 1;
            finish(client, chain, coldkey, journal, i, opts, &mut report).await?;
        }
    }
    let owned: Vec<String> = journal
        .purchases
        .iter()
        .map(|p| p.video_id.clone())
        .collect();
    let offers = client.list().await?;
    for offer in choose(&offers, opts.budget_rao, opts.max_videos, &owned) {
        let (to, rao) = match client.purchase(&offer.video_id).await? {
            Ok(reserved) => reserved,
            Err(why) => {
                report.refused.push((offer.video_id.clone(), why));
                continue;
            }
        };
        if rao != offer.price_rao || rao > opts.budget_rao.saturating_sub(report.spent_rao) {
            client.revert(&offer.video_id).await?;
            report.refused.push((
                offer.video_id.clone(),
                format!("asked {rao} rao, listed at {}", offer.price_rao),
            ));
            continue;
        }
        journal.purchases.push(Purchase {
            video_id: offer.video_id.clone(),
            address: to.to_string(),
            rao,
            step: Step::Reserved,
        });
        journal.save()?;
        let i = journal.purchases.len() - 1;
        finish(client, chain, coldkey, journal, i, opts, &mut report).await?;
    }
    Ok(report)
}

/// Takes purchase `i` from wherever it stands to verified (or abandoned).
async fn finish(
    client: &MarketClient,
    chain: &Chain,
    coldkey: &Keypair,
    journal: &mut Journal,
    i: usize,
    opts: &BuyOptions,
    report: &mut BuyReport,
) -> Result<(), BuyError> {
    let p = journal.purchases[i].clone();
    let to: AccountId32 = p
        .address
        .parse()
        .map_err(|_| client.error(format!("the journal's address {} is not SS58", p.address)))?;
    let block = match &p.step {
        Step::Verified { .. } | Step::Abandoned { .. } => return Ok(()),
        Step::Reserved => {
            let after_block = chain.best_number().await?;
            journal.set(i, Step::Sending { after_block })?;
            let inclusion = transfer::send(chain, coldkey, to, p.rao, opts.wait).await?;
            report.spent_rao += p.rao;
            journal.set(
                i,
                Step::Sent {
                    block: hash_text(inclusion.block_hash),
                },
            )?;
            inclusion.block_hash
        }
        Step::Sending { after_block } => {
            match find_transfer(chain, coldkey, &to, p.rao, *after_block).await? {
                Found::Yes(block) => {
                    journal.set(
                        i,
                        Step::Sent {
                            block: hash_text(block),
                        },
                    )?;
                    block
                }
                Found::Never => {
                    client.revert(&p.video_id).await?;
                    journal.set(
                        i,
                        Step::Abandoned {
                            detail: "the transfer was never included: nothing paid".into(),
                        },
                    )?;
                    return Ok(());
                }
                Found::NotYet => {
                    report.unconfirmed.push(p.video_id.clone());
                    return Ok(());
                }
            }
        }
        Step::Sent { block } => parse_hash(block)
            .ok_or_else(|| client.error(format!("the journal's block {block} is not a hash")))?,
    };
    for attempt in 0..opts.verify_attempts.max(1) {
        match client.verify(&p.video_id, block).await? {
            Verification::Purchased => {
                journal.set(
                    i,
                    Step::Verified {
                        block: hash_text(block),
                    },
                )?;
                report.bought.push(p.video_id.clone());
                return Ok(());
            }
            Verification::NotYet if attempt + 1 < opts.verify_attempts => {
                tokio::time::sleep(Duration::from_secs(2)).await
            }
            Verification::NotYet => {
                report.unconfirmed.push(p.video_id.clone());
                return Ok(());
            }
            Verification::Refused(why) => {
                // Paid, but refused: kept with the reason for the operator (the transfer's
                // block is in the detail); never paid again.
                journal.set(
                    i,
                    Step::Abandoned {
                        detail: format!("paid in block {}, refused: {why}", hash_text(block)),
                    },
                )?;
                report.refused.push((p.video_id.clone(), why));
                return Ok(());
            }
        }
    }
    Ok(())
}

enum Found {
    Yes(H256),
    /// Past its mortality: it can never be included.
    Never,
    NotYet,
}

/// Searches the finalized blocks after `after` for the transfer.
async fn find_transfer(
    chain: &Chain,
    coldkey: &Keypair,
    to: &AccountId32,
    rao: u64,
    after: u64,
) -> Result<Found, BuyError> {
    let expected = Expected {
        from: AccountId32(coldkey.public_key().0),
        to: *to,
        rao,
    };
    let (finalized, _) = chain.finalized_head().await?;
    for number in after + 1..=finalized {
        let Some(hash) = chain.canonical_hash(number).await? else {
            continue;
        };
        if let Verdict::Verified { .. } = transfer::verify(chain, hash, &expected, None).await? {
            return Ok(Found::Yes(hash));
        }
    }
    Ok(if finalized > after + MORTAL_BLOCKS + 1 {
        Found::Never
    } else {
        Found::NotYet
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_score_per_tao_is_bought_first_within_the_budget() {
        let o = |id: &str, score: f64, rao: u64| Offer {
            video_id: id.into(),
            score,
            price_rao: rao,
        };
        let offers = [
            o("a", 0.9, 300),
            o("b", 0.5, 100),
            o("c", 0.8, 400),
            o("d", 0.1, 0),
        ];
        // Score per rao: b 0.005, a 0.003, c 0.002; d has no price.
        let ids = |v: Vec<Offer>| v.into_iter().map(|o| o.video_id).collect::<Vec<_>>();
        assert_eq!(ids(choose(&offers, 450, 10, &[])), ["b", "a"]);
        assert_eq!(ids(choose(&offers, 450, 1, &[])), ["b"]);
        assert_eq!(ids(choose(&offers, 450, 10, &["b".into()])), ["a"]);
        assert!(choose(&offers, 50, 10, &[]).is_empty());
    }
}
