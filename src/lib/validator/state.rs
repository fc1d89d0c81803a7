//! What a validator keeps between steps, written atomically after each one (the original's
//! `state.pt`, as JSON): the moving averages, the last round applied to them (the round
//! journal's commit point: a round is applied at most once), and the weights history.

use std::path::Path;

use crate::score::ema::MinerScores;

/// The last time weights were set (or tried).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WeightsLog {
    /// Block of the last weights the chain took (None: never, or no chain).
    pub last_block: Option<u64>,
    /// Round after which weights were last computed.
    pub last_round: Option<u64>,
    /// Failed attempts since the last success (each is retried at the next opportunity).
    pub failures: u64,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ValidatorState {
    /// The last round applied to the moving averages (0: none yet).
    pub round: u64,
    /// Moving averages of YouTube answers, per UID.
    pub youtube: MinerScores,
    /// Moving averages of Focus purchases, per UID: kept apart from YouTube's (the original's
    /// B15); filled by the Focus issue, zero until then.
    pub focus: MinerScores,
    pub weights: WeightsLog,
}

impl ValidatorState {
    pub fn load(path: &Path) -> std::io::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "{}: not a validator state file ({e}); move it away to start afresh",
                        path.display()
                    ),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e),
        }
    }

    /// Writes the state atomically (a kill leaves the old or the new file, never half).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        crate::fsutil::save_json(path, self)
    }

    /// Follows the metagraph: a UID whose hotkey changed starts again from 0, in every kind of
    /// score; new UIDs start at 0.
    pub fn sync(&mut self, hotkeys: &[String]) {
        self.youtube.sync(hotkeys);
        self.focus.sync(hotkeys);
    }
}

/// The raw weights of the original's `set_weights` (spec §4.5): each kind of score L1-normalised
/// (`x / max(Σ|x|, 1e-12)`, float32 as torch) and mixed by its share, over `n` UIDs. Negative
/// moving averages stay negative here; weight processing keeps only positive weights, as the
/// SDK does.
pub fn raw_weights(youtube: &[f64], focus: Option<(&[f64], f64)>, n: usize) -> Vec<f32> {
    let normalize = |x: &[f64]| -> Vec<f32> {
        let x: Vec<f32> = (0..n)
            .map(|i| x.get(i).copied().unwrap_or(0.0) as f32)
            .collect();
        let norm = x.iter().map(|v| v.abs()).sum::<f32>().max(1e-12);
        x.iter().map(|v| v / norm).collect()
    };
    let focus_share = focus.map_or(0.0, |f| f.1 as f32);
    let mut raw: Vec<f32> = normalize(youtube)
        .into_iter()
        .map(|v| v * (1.0 - focus_share))
        .collect();
    if let Some((scores, share)) = focus {
        for (r, f) in raw.iter_mut().zip(normalize(scores)) {
            *r += f * share as f32;
        }
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_weights_are_l1_normalised_and_mixed_by_share() {
        let raw = raw_weights(&[1.0, -1.0, 2.0], None, 4);
        assert_eq!(raw, vec![0.25, -0.25, 0.5, 0.0]);
        let mixed = raw_weights(&[1.0, 1.0], Some((&[0.0, 3.0], 0.5)), 2);
        assert_eq!(mixed, vec![0.25, 0.75]);
        assert_eq!(
            raw_weights(&[0.0, 0.0], None, 2),
            vec![0.0, 0.0],
            "no division by 0"
        );
    }

    #[test]
    fn a_missing_state_is_a_fresh_one_and_a_broken_one_is_named() {
        let dir = std::env::temp_dir().join(format!("omega-vstate-{}", std::process::id()));
        let path = dir.join("state.json");
        assert_eq!(
            ValidatorState::load(&path).unwrap(),
            ValidatorState::default()
        );
        let mut s = ValidatorState {
            round: 7,
            ..Default::default()
        };
        s.sync(&["a".into(), "b".into()]);
        s.save(&path).unwrap();
        assert_eq!(ValidatorState::load(&path).unwrap(), s);
        std::fs::write(&path, b"{ half").unwrap();
        let e = ValidatorState::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("state.json") && e.contains("move it away"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
