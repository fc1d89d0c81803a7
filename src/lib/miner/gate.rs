//! SN24's miner blacklist and priority (`../shared/spec/sn24-reference.md` 1.3), over a
//! metagraph: no hotkey or an unregistered one is refused (unless
//! `--blacklist.allow_non_registered`), no validator permit when
//! `--blacklist.force_validator_permit`, stake below `--blacklist.validator_min_stake`; the
//! priority is the caller's stake.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::net::axon::Gate;
use crate::table::metagraph::MetagraphRow;

#[derive(Debug, Clone)]
pub struct BlacklistRules {
    pub allow_non_registered: bool,
    pub force_validator_permit: bool,
    /// In the metagraph's total stake (TAO); the original's default is 10240.
    pub validator_min_stake: f64,
}

impl Default for BlacklistRules {
    fn default() -> Self {
        BlacklistRules {
            allow_non_registered: false,
            force_validator_permit: false,
            validator_min_stake: 10_240.0,
        }
    }
}

/// The gate over the latest metagraph (replaced when it is read again).
pub struct MetagraphGate {
    rules: BlacklistRules,
    neurons: RwLock<HashMap<String, (bool, f64)>>,
}

impl MetagraphGate {
    pub fn new(rules: BlacklistRules, rows: &[MetagraphRow]) -> Self {
        let gate = MetagraphGate {
            rules,
            neurons: RwLock::new(HashMap::new()),
        };
        gate.update(rows);
        gate
    }

    pub fn update(&self, rows: &[MetagraphRow]) {
        let map = rows
            .iter()
            .map(|r| (r.hotkey.clone(), (r.validator_permit, r.total_stake)))
            .collect();
        *self.neurons.write().unwrap_or_else(|e| e.into_inner()) = map;
    }
}

impl Gate for MetagraphGate {
    fn admit(&self, hotkey: &str) -> Result<f64, String> {
        if hotkey.is_empty() {
            return Err("Hotkey not provided".into());
        }
        let neurons = self.neurons.read().unwrap_or_else(|e| e.into_inner());
        let Some(&(permit, stake)) = neurons.get(hotkey) else {
            return match self.rules.allow_non_registered {
                true => Ok(0.0),
                false => Err("Unrecognized hotkey".into()),
            };
        };
        if self.rules.force_validator_permit && !permit {
            return Err("Non-validator hotkey".into());
        }
        if stake < self.rules.validator_min_stake {
            return Err(format!("Stake below minimum: {stake}"));
        }
        Ok(stake)
    }
}
