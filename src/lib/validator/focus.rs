//! The Focus share of a validator's weights (spec §4.4–4.5): what each miner bought on the
//! Focus marketplace in the last 24 hours, read once per round, kept in the round journal
//! (`focus.json`) and applied to the Focus scores when the round is committed, so a restart
//! neither loses nor applies it twice.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::score::ema::MinerScores;
use crate::uid::Uid;

/// The Focus moving average's α (the original's, as for YouTube answers).
pub const FOCUS_ALPHA: f64 = 0.3;
/// A purchased video counts at least this much (`max(video_score, 0.005)`).
pub const MIN_VIDEO_REWARD: f64 = 0.005;
/// Where sampled miners without purchases move (FOCUS_MIN_SCORE).
pub const FOCUS_MIN_SCORE: f64 = 0.0;

/// How purchases become Focus scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FocusFormula {
    /// Per sampled miner, the moving average of Σ max(score, 0.005) over its purchases;
    /// sampled miners without purchases move toward 0; nothing changes in a round where no
    /// sampled miner bought anything.
    Era,
    /// Every UID's share of the TAO paid in the last 24 h, overwriting the last (no moving
    /// average): the network's latest code.
    Head,
}

/// The Focus marketplace a validator reads, and the share of the weights it decides.
#[derive(Debug, Clone)]
pub struct FocusConfig {
    /// The marketplace's base URL (`omega serve-market`, or the original's validator API).
    pub url: String,
    /// The share of the weights (the seed README's 0.025; the network's latest code 1.0).
    pub share: f64,
    pub formula: FocusFormula,
    /// The original's 10 s.
    pub timeout: Duration,
}

/// A round's reading of the marketplace: a reward per UID.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FocusRewards {
    pub formula: FocusFormula,
    pub rewards: Vec<(Uid, f64)>,
    /// ERA: the sampled UIDs (those without a reward move toward 0).
    pub sampled: Vec<Uid>,
}

/// Reads the marketplace: ERA asks for the sampled miners' hotkeys, HEAD for everyone's.
pub async fn fetch(
    cfg: &FocusConfig,
    sampled: &[(Uid, String)],
    everyone: &[(Uid, String)],
) -> Result<FocusRewards, String> {
    let base = cfg.url.trim_end_matches('/');
    let url = match cfg.formula {
        FocusFormula::Era => {
            let hotkeys: Vec<&str> = sampled.iter().map(|(_, h)| h.as_str()).collect();
            format!(
                "{base}/api/focus/miner_purchase_scores/{}",
                hotkeys.join(",")
            )
        }
        FocusFormula::Head => format!("{base}/api/focus/miner_purchase_scores"),
    };
    let http = reqwest::Client::builder()
        .timeout(cfg.timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let response = http
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| format!("{url}: {e}"))?;
    if !status.is_success() {
        return Err(format!("{url}: HTTP {status}"));
    }
    let body: Value = serde_json::from_str(&text).map_err(|e| format!("{url}: not JSON: {e}"))?;
    Ok(rewards(cfg.formula, &body, sampled, everyone))
}

/// The rewards in the marketplace's answer `body`.
pub fn rewards(
    formula: FocusFormula,
    body: &Value,
    sampled: &[(Uid, String)],
    everyone: &[(Uid, String)],
) -> FocusRewards {
    let rewards = match formula {
        FocusFormula::Era => sampled
            .iter()
            .filter_map(|(uid, hk)| {
                let videos = body.get(hk)?.get("purchased_videos")?.as_array()?;
                if videos.is_empty() {
                    return None;
                }
                let sum = videos
                    .iter()
                    .map(|v| {
                        v.get("video_score")
                            .and_then(Value::as_f64)
                            .unwrap_or(0.0)
                            .max(MIN_VIDEO_REWARD)
                    })
                    .sum();
                Some((*uid, sum))
            })
            .collect(),
        FocusFormula::Head => everyone
            .iter()
            .map(|(uid, hk)| {
                let share = body
                    .get(hk)
                    .and_then(|m| m.get("focus_points_percentage"))
                    .and_then(Value::as_f64)
                    .filter(|x| x.is_finite())
                    .unwrap_or(0.0);
                (*uid, share)
            })
            .collect(),
    };
    FocusRewards {
        formula,
        rewards,
        sampled: sampled.iter().map(|(u, _)| *u).collect(),
    }
}

/// Applies a round's rewards to the Focus scores.
pub fn apply(scores: &mut MinerScores, r: &FocusRewards) {
    let need = r
        .rewards
        .iter()
        .map(|(u, _)| *u)
        .chain(r.sampled.iter().copied())
        .map(|u| usize::from(u) + 1)
        .max()
        .unwrap_or(0);
    if scores.scores.len() < need {
        scores.scores.resize(need, 0.0);
    }
    match r.formula {
        FocusFormula::Era => {
            if r.rewards.is_empty() {
                return;
            }
            for &uid in &r.sampled {
                let reward = r
                    .rewards
                    .iter()
                    .find(|(u, _)| *u == uid)
                    .map_or(FOCUS_MIN_SCORE, |(_, x)| *x);
                let s = &mut scores.scores[usize::from(uid)];
                *s = FOCUS_ALPHA * reward + (1.0 - FOCUS_ALPHA) * *s;
            }
        }
        FocusFormula::Head => {
            scores.scores.iter_mut().for_each(|s| *s = 0.0);
            for &(uid, reward) in &r.rewards {
                scores.scores[usize::from(uid)] = reward;
            }
        }
    }
    scores.step += 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(uids: &[Uid]) -> Vec<(Uid, String)> {
        uids.iter().map(|u| (*u, format!("hk{u}"))).collect()
    }

    #[test]
    fn era_sums_purchases_with_a_floor_and_moves_sampled_miners() {
        let body = json!({
            "hk1": {"purchased_videos": [{"video_score": 0.5}, {"video_score": 0.001}]},
            "hk2": {"purchased_videos": []},
        });
        let r = rewards(FocusFormula::Era, &body, &keys(&[1, 2]), &[]);
        assert_eq!(r.rewards, vec![(1, 0.505)]);
        let mut s = MinerScores {
            scores: vec![0.0, 0.1, 1.0],
            ..Default::default()
        };
        apply(&mut s, &r);
        // uid 1: 0.3 × 0.505 + 0.7 × 0.1; uid 2 (sampled, nothing bought): 0.7 × 1.0.
        assert!((s.scores[1] - (0.3 * 0.505 + 0.07)).abs() < 1e-12);
        assert!((s.scores[2] - 0.7).abs() < 1e-12);
        // A round where no sampled miner bought anything changes nothing.
        let before = s.clone();
        apply(
            &mut s,
            &rewards(FocusFormula::Era, &json!({}), &keys(&[1, 2]), &[]),
        );
        assert_eq!(s, before);
    }

    #[test]
    fn head_overwrites_every_uid_with_its_share_of_the_tao() {
        let body = json!({"hk0": {"focus_points_percentage": 0.25}, "hk2": {"focus_points_percentage": 0.75}});
        let r = rewards(FocusFormula::Head, &body, &[], &keys(&[0, 1, 2]));
        let mut s = MinerScores {
            scores: vec![9.0, 9.0, 9.0, 9.0],
            ..Default::default()
        };
        apply(&mut s, &r);
        assert_eq!(s.scores, vec![0.25, 0.0, 0.75, 0.0]);
    }
}
