//! The per-miner moving average (spec §4.3, §4.6), kept in a state file written atomically.
//! Each kind of score has its own state, so growing the metagraph never makes two kinds share
//! storage (the original's B15 assigned one tensor to both YouTube and Focus scores).

use std::path::Path;

use super::ScoreConfig;
use crate::uid::Uid;

/// Who gave one answer and the score it got (`None`: nothing in it was judged).
#[derive(Debug, Clone, PartialEq)]
pub struct MinerAnswer {
    pub uid: Option<Uid>,
    pub hotkey: Option<String>,
    pub score: Option<f64>,
}

/// What one round did: how many answers moved an average, and which sampled UIDs had none.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundUpdate {
    pub responders: usize,
    pub non_responders: Vec<Uid>,
}

/// Scores per UID and the hotkey each UID had when scored.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MinerScores {
    pub step: u64,
    pub scores: Vec<f64>,
    pub hotkeys: Vec<String>,
}

impl MinerScores {
    /// Follows the metagraph: a UID whose hotkey changed is reset to 0; new UIDs start at 0.
    pub fn sync(&mut self, hotkeys: &[String]) {
        if self.scores.len() < hotkeys.len() {
            self.scores.resize(hotkeys.len(), 0.0);
        }
        for (uid, hk) in hotkeys.iter().enumerate() {
            if self.hotkeys.get(uid).is_some_and(|old| old != hk) {
                self.scores[uid] = 0.0;
            }
        }
        self.hotkeys = hotkeys.to_vec();
    }

    /// Records the hotkey a UID has now; a UID whose hotkey changed starts again from 0.
    pub fn observe(&mut self, uid: Uid, hotkey: &str) {
        let uid = usize::from(uid);
        if self.scores.len() <= uid {
            self.scores.resize(uid + 1, 0.0);
        }
        if self.hotkeys.len() <= uid {
            self.hotkeys.resize(uid + 1, String::new());
        }
        if self.hotkeys[uid] != hotkey {
            self.scores[uid] = 0.0;
            self.hotkeys[uid] = hotkey.to_string();
        }
    }

    /// One validator round (spec §4.3): each answer with a UID and a score moves that UID's
    /// average (a changed hotkey resets it first); each sampled UID with no answer at all moves
    /// toward the no-response minimum. An answer without a score (nothing judged) changes
    /// nothing, as in the original.
    pub fn record_round(
        &mut self,
        answers: &[MinerAnswer],
        sampled: &[Uid],
        cfg: &ScoreConfig,
    ) -> RoundUpdate {
        let mut rewards = Vec::new();
        for a in answers {
            if let (Some(uid), Some(score)) = (a.uid, a.score) {
                self.observe(uid, a.hotkey.as_deref().unwrap_or_default());
                rewards.push((uid, score));
            }
        }
        let answered: std::collections::HashSet<Uid> =
            answers.iter().filter_map(|a| a.uid).collect();
        let mut non_responders: Vec<Uid> = sampled
            .iter()
            .copied()
            .filter(|uid| !answered.contains(uid))
            .collect();
        non_responders.sort_unstable();
        non_responders.dedup();
        self.update(&rewards, &non_responders, cfg);
        RoundUpdate {
            responders: rewards.len(),
            non_responders,
        }
    }

    /// `score ← α · reward + (1 − α) · score` for responders (NaN rewards count as 0) and
    /// toward the no-response minimum for sampled UIDs that did not answer.
    pub fn update(&mut self, rewards: &[(Uid, f64)], non_responders: &[Uid], cfg: &ScoreConfig) {
        let alpha = cfg.moving_average_alpha;
        let need = rewards
            .iter()
            .map(|r| r.0)
            .chain(non_responders.iter().copied())
            .max()
            .map_or(0, |m| usize::from(m) + 1);
        if self.scores.len() < need {
            self.scores.resize(need, 0.0);
        }
        if self.hotkeys.len() < need {
            self.hotkeys.resize(need, String::new());
        }
        for &(uid, reward) in rewards {
            let r = if reward.is_nan() { 0.0 } else { reward };
            let uid = usize::from(uid);
            self.scores[uid] = alpha * r + (1.0 - alpha) * self.scores[uid];
        }
        for &uid in non_responders {
            let uid = usize::from(uid);
            self.scores[uid] = alpha * cfg.no_response_minimum + (1.0 - alpha) * self.scores[uid];
        }
        self.step += 1;
    }

    pub fn load(path: &Path) -> std::io::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let invalid = |e: String| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: {e}", path.display()),
                    )
                };
                let state: Self =
                    serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
                let most = usize::from(Uid::MAX) + 1;
                if state.scores.len() > most || state.hotkeys.len() > most {
                    return Err(invalid(format!(
                        "{} scores and {} hotkeys: a subnet has at most {most} UIDs",
                        state.scores.len(),
                        state.hotkeys.len()
                    )));
                }
                Ok(state)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e),
        }
    }

    /// Writes the state atomically (a crash leaves the old or the new file, never half).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        crate::fsutil::save_json(path, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_average_by_hand() {
        let c = ScoreConfig::default();
        let mut s = MinerScores::default();
        s.sync(&["a".into(), "b".into(), "c".into()]);
        s.update(&[(0, 1.0), (1, f64::NAN)], &[2], &c);
        assert!((s.scores[0] - 0.3).abs() < 1e-12);
        assert_eq!(s.scores[1], 0.0, "NaN counts as 0");
        assert!((s.scores[2] - 0.3 * 0.005).abs() < 1e-12);
        s.update(&[(0, -5.0)], &[], &c);
        assert!(
            (s.scores[0] - (0.3 * -5.0 + 0.7 * 0.3)).abs() < 1e-12,
            "negative rewards allowed"
        );
    }

    #[test]
    fn a_round_moves_responders_and_sampled_non_responders_only() {
        let c = ScoreConfig::default();
        let mut s = MinerScores::default();
        s.sync(&["a".into(), "b".into(), "c".into(), "d".into()]);
        s.scores = vec![1.0, 1.0, 1.0, 1.0];
        let answer = |uid, score| MinerAnswer {
            uid: Some(uid),
            hotkey: Some(["a", "b", "c", "d", "e", "f"][usize::from(uid)].into()),
            score,
        };
        // uid 0 answers, uid 1 answers with nothing judged, uid 2 was sampled and silent
        // (listed twice), uid 3 was not sampled, uid 5 is new and silent.
        let answers = [answer(0, Some(0.5)), answer(1, None)];
        let round = s.record_round(&answers, &[0, 1, 2, 2, 5], &c);
        assert_eq!(round.responders, 1);
        assert_eq!(round.non_responders, vec![2, 5]);
        assert!((s.scores[0] - (0.3 * 0.5 + 0.7)).abs() < 1e-12);
        assert_eq!(
            s.scores[1], 1.0,
            "an answer without a score changes nothing"
        );
        assert!((s.scores[2] - (0.3 * 0.005 + 0.7)).abs() < 1e-12);
        assert_eq!(s.scores[3], 1.0, "not sampled: untouched");
        assert!((s.scores[5] - 0.3 * 0.005).abs() < 1e-12);
        assert_eq!(s.hotkeys.len(), s.scores.len());
    }

    #[test]
    fn hotkey_change_resets_and_growth_keeps_kinds_apart() {
        let c = ScoreConfig::default();
        let (mut youtube, mut focus) = (MinerScores::default(), MinerScores::default());
        youtube.sync(&["a".into(), "b".into()]);
        focus.sync(&["a".into(), "b".into()]);
        youtube.update(&[(0, 1.0), (1, 1.0)], &[], &c);
        // The metagraph grows and uid 1 changes hands.
        let grown: Vec<String> = vec!["a".into(), "z".into(), "new".into()];
        youtube.sync(&grown);
        focus.sync(&grown);
        assert_eq!(youtube.scores, vec![0.3, 0.0, 0.0]);
        assert_eq!(
            focus.scores,
            vec![0.0, 0.0, 0.0],
            "B15: focus scores do not inherit YouTube's"
        );
        focus.update(&[(2, 1.0)], &[], &c);
        assert_eq!(youtube.scores[2], 0.0);
    }

    #[test]
    fn state_round_trips_atomically() {
        let dir = std::env::temp_dir().join(format!("omega-ema-{}", std::process::id()));
        let path = dir.join("state.json");
        assert_eq!(
            MinerScores::load(&path).unwrap(),
            MinerScores::default(),
            "no file: empty state"
        );
        let s = MinerScores {
            step: 3,
            scores: vec![0.1, -0.2],
            hotkeys: vec!["a".into(), "b".into()],
        };
        s.save(&path).unwrap();
        assert_eq!(MinerScores::load(&path).unwrap(), s);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
