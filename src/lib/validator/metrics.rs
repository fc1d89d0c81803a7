//! The validator's Prometheus metrics (`--metrics-port`, `GET /metrics`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::round::PhaseSeconds;

#[derive(Default)]
pub struct ValidatorMetrics {
    rounds: AtomicU64,
    /// Seconds of the last round, by phase.
    phases: Mutex<PhaseSeconds>,
    round_seconds_sum: Mutex<f64>,
    answers: Mutex<BTreeMap<&'static str, u64>>,
    check_failures: AtomicU64,
    index_size: AtomicU64,
    spool_rows: AtomicU64,
    weights: Mutex<BTreeMap<&'static str, u64>>,
    chain_errors: AtomicU64,
}

impl ValidatorMetrics {
    pub fn round(&self, phases: PhaseSeconds, total: f64) {
        self.rounds.fetch_add(1, Ordering::Relaxed);
        *self.phases.lock().unwrap_or_else(|e| e.into_inner()) = phases;
        *self
            .round_seconds_sum
            .lock()
            .unwrap_or_else(|e| e.into_inner()) += total;
    }

    /// One answer's outcome: `accepted` (some video accepted), `rejected`, `penalized`
    /// (negative score), `unjudged` (no score) or `no_answer` (a sampled miner that did not answer).
    pub fn answer(&self, outcome: &'static str) {
        *self
            .answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(outcome)
            .or_default() += 1;
    }

    pub fn check_failures(&self, n: usize) {
        self.check_failures.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn sizes(&self, index: usize, spool_rows: usize) {
        self.index_size.store(index as u64, Ordering::Relaxed);
        self.spool_rows.store(spool_rows as u64, Ordering::Relaxed);
    }

    /// A weights attempt: `set`, `computed` (dry run) or `failed`.
    pub fn weights(&self, result: &'static str) {
        *self
            .weights
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(result)
            .or_default() += 1;
    }

    pub fn chain_error(&self) {
        self.chain_errors.fetch_add(1, Ordering::Relaxed);
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
}

impl crate::net::metrics::Exposition for ValidatorMetrics {
    fn render(&self) -> String {
        let mut out = String::new();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        family(
            &mut out,
            "omega_validator_rounds_total",
            "counter",
            "Rounds committed.",
        );
        out.push_str(&format!(
            "omega_validator_rounds_total {}\n",
            load(&self.rounds)
        ));
        family(
            &mut out,
            "omega_validator_round_seconds_total",
            "counter",
            "Seconds spent in committed rounds.",
        );
        let sum = *self
            .round_seconds_sum
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        out.push_str(&format!("omega_validator_round_seconds_total {sum}\n"));
        family(
            &mut out,
            "omega_validator_last_round_phase_seconds",
            "gauge",
            "Seconds of the last round, by phase.",
        );
        let p = *self.phases.lock().unwrap_or_else(|e| e.into_inner());
        for (phase, s) in [
            ("query", p.query),
            ("validate", p.validate),
            ("dedup", p.dedup),
            ("score", p.score),
            ("commit", p.commit),
            ("weights", p.weights),
        ] {
            out.push_str(&format!(
                "omega_validator_last_round_phase_seconds{{phase=\"{phase}\"}} {s}\n"
            ));
        }
        family(
            &mut out,
            "omega_validator_answers_total",
            "counter",
            "Answers by outcome.",
        );
        for (outcome, n) in self
            .answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            out.push_str(&format!(
                "omega_validator_answers_total{{outcome=\"{outcome}\"}} {n}\n"
            ));
        }
        family(
            &mut out,
            "omega_validator_spot_check_failures_total",
            "counter",
            "Videos whose spot check failed.",
        );
        out.push_str(&format!(
            "omega_validator_spot_check_failures_total {}\n",
            load(&self.check_failures)
        ));
        family(
            &mut out,
            "omega_validator_index_size",
            "gauge",
            "Videos in the novelty index.",
        );
        out.push_str(&format!(
            "omega_validator_index_size {}\n",
            load(&self.index_size)
        ));
        family(
            &mut out,
            "omega_validator_spool_rows",
            "gauge",
            "Accepted rows waiting in the push-hf spool.",
        );
        out.push_str(&format!(
            "omega_validator_spool_rows {}\n",
            load(&self.spool_rows)
        ));
        family(
            &mut out,
            "omega_validator_weights_total",
            "counter",
            "Weights attempts by result.",
        );
        for (result, n) in self
            .weights
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            out.push_str(&format!(
                "omega_validator_weights_total{{result=\"{result}\"}} {n}\n"
            ));
        }
        family(
            &mut out,
            "omega_validator_chain_errors_total",
            "counter",
            "Chain calls that failed (each is retried later).",
        );
        out.push_str(&format!(
            "omega_validator_chain_errors_total {}\n",
            load(&self.chain_errors)
        ));
        out
    }
}
