//! Run summaries: counts per status and error class, bytes and time, as a human line on
//! stderr and as JSON (`--json`).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::outcome::{ErrorClass, Status};

/// What one stage run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub stage: &'static str,
    pub rows: usize,
    pub status: BTreeMap<String, usize>,
    pub error_class: BTreeMap<String, usize>,
    pub bytes: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
    pub mb_per_second: f64,
    /// Stage-specific counts (e.g. reused clips, ignored files).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Summary {
    pub fn new(stage: &'static str) -> Self {
        let status = Status::ALL
            .iter()
            .map(|s| (s.as_str().to_string(), 0))
            .collect();
        Summary {
            stage,
            status,
            ..Default::default()
        }
    }

    pub fn add(&mut self, status: Status, class: Option<ErrorClass>, bytes: Option<i64>) {
        self.rows += 1;
        *self.status.entry(status.as_str().into()).or_default() += 1;
        if let Some(c) = class {
            *self.error_class.entry(c.as_str().into()).or_default() += 1;
        }
        self.bytes += bytes.unwrap_or(0).max(0) as u64;
    }

    pub fn set(&mut self, key: &str, value: impl Into<serde_json::Value>) {
        self.extra.insert(key.into(), value.into());
    }

    pub fn finish(&mut self, elapsed: Duration) {
        self.seconds = elapsed.as_secs_f64();
        let secs = self.seconds.max(1e-9);
        self.rows_per_second = self.rows as f64 / secs;
        self.mb_per_second = self.bytes as f64 / 1e6 / secs;
    }

    pub fn count(&self, status: Status) -> usize {
        self.status.get(status.as_str()).copied().unwrap_or(0)
    }

    /// One line for people: `clip: 11 rows (8 ok, 2 failed, 1 skipped) — corrupt_media 2 — 3.1 MB in 1.2 s`.
    pub fn human(&self) -> String {
        let stage = match self.extra.get("shard").and_then(|s| s.as_str()) {
            Some(shard) => format!("{} [part {shard}]", self.stage),
            None => self.stage.to_string(),
        };
        if self.extra.contains_key("already_complete") {
            return format!("{stage}: already complete (its marker exists); nothing to do");
        }
        let mut line = format!(
            "{}: {} rows ({} ok, {} failed, {} skipped)",
            stage,
            self.rows,
            self.count(Status::Ok),
            self.count(Status::Failed),
            self.count(Status::Skipped)
        );
        if !self.error_class.is_empty() {
            let classes: Vec<String> = self
                .error_class
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            line.push_str(&format!("; {}", classes.join(", ")));
        }
        line.push_str(&format!(
            "; {:.1} MB in {:.2} s",
            self.bytes as f64 / 1e6,
            self.seconds
        ));
        line
    }
}
