//! The input of `omega set-weights`: a `weights` table (Parquet), CSV with a header, JSON
//! lines, or the moving-average state file of `omega score --state` (UIDs are positions).
//! Every error names the file, the row and the field.

use std::path::{Path, PathBuf};

use crate::table::weights::WeightRow;
use crate::table::TableError;
use crate::uid::{uid_from, Uid};

/// Raw weights by UID, in input order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawWeights {
    pub uids: Vec<Uid>,
    pub weights: Vec<f32>,
}

#[derive(Debug, thiserror::Error)]
pub enum WeightsFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("{path}: line {line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Whole { path: PathBuf, message: String },
}

/// Reads weights from any of the accepted formats (sniffed from the content).
pub fn read(path: &Path) -> Result<RawWeights, WeightsFileError> {
    let bytes = std::fs::read(path).map_err(|source| WeightsFileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let raw = if bytes.starts_with(b"PAR1") {
        from_table(path)?
    } else {
        let text =
            String::from_utf8(bytes).map_err(|_| whole(path, "neither Parquet nor UTF-8 text"))?;
        let trimmed = text.trim_start();
        if trimmed.starts_with('{') && is_state_file(trimmed) {
            from_state(path, trimmed)?
        } else if trimmed.starts_with('{') {
            from_json_lines(path, &text)?
        } else {
            from_csv(path, &text)?
        }
    };
    check_unique(path, &raw)?;
    Ok(raw)
}

fn whole(path: &Path, message: impl Into<String>) -> WeightsFileError {
    WeightsFileError::Whole {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn line_error(path: &Path, line: usize, message: impl Into<String>) -> WeightsFileError {
    WeightsFileError::Line {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

fn from_table(path: &Path) -> Result<RawWeights, WeightsFileError> {
    let rows: Vec<WeightRow> = crate::table::read_all(&path.to_string_lossy())?;
    let mut raw = RawWeights::default();
    for (row, r) in rows.into_iter().enumerate() {
        raw.uids.push(r.uid);
        raw.weights.push(
            weight_value(r.weight).map_err(|message| TableError::BadValue {
                path: path.to_path_buf(),
                row,
                column: "weight",
                message,
            })?,
        );
    }
    Ok(raw)
}

/// A weight as the SDK holds it (float32), refusing what the chain cannot take.
fn weight_value(w: f64) -> Result<f32, String> {
    if !w.is_finite() {
        return Err(format!("weight {w} is not a finite number"));
    }
    if w < 0.0 {
        return Err(format!("weight {w} is negative; weights are >= 0"));
    }
    Ok(w as f32)
}

fn is_state_file(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.get("scores").map(|s| s.is_array()))
        .unwrap_or(false)
}

fn from_state(path: &Path, text: &str) -> Result<RawWeights, WeightsFileError> {
    let state: crate::score::ema::MinerScores = serde_json::from_str(text)
        .map_err(|e| whole(path, format!("not a score state file: {e}")))?;
    let mut raw = RawWeights::default();
    for (position, &score) in state.scores.iter().enumerate() {
        let uid = uid_from(position as i128).map_err(|e| whole(path, e.to_string()))?;
        raw.uids.push(uid);
        raw.weights.push(
            weight_value(score).map_err(|m| whole(path, format!("scores[{position}]: {m}")))?,
        );
    }
    Ok(raw)
}

fn from_json_lines(path: &Path, text: &str) -> Result<RawWeights, WeightsFileError> {
    #[derive(serde::Deserialize)]
    struct Line {
        uid: i64,
        weight: f64,
    }
    let mut raw = RawWeights::default();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let number = i + 1;
        let parsed: Line = serde_json::from_str(line).map_err(|e| {
            line_error(
                path,
                number,
                format!("want {{\"uid\": N, \"weight\": X}}: {e}"),
            )
        })?;
        raw.uids.push(
            uid_from(parsed.uid)
                .map_err(|e| line_error(path, number, format!("field `uid`: {e}")))?,
        );
        raw.weights.push(
            weight_value(parsed.weight)
                .map_err(|m| line_error(path, number, format!("field `weight`: {m}")))?,
        );
    }
    Ok(raw)
}

fn from_csv(path: &Path, text: &str) -> Result<RawWeights, WeightsFileError> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(whole(
            path,
            "empty: want a header `uid,weight` and one row per miner",
        ));
    };
    let names: Vec<String> = split_csv(header).map(|h| h.to_ascii_lowercase()).collect();
    let column = |want: &str| {
        names.iter().position(|n| n == want).ok_or_else(|| {
            whole(
                path,
                format!(
                    "no `{want}` column in the header ({}); want `uid,weight`",
                    names.join(",")
                ),
            )
        })
    };
    let (uid_at, weight_at) = (column("uid")?, column("weight")?);
    let mut raw = RawWeights::default();
    for (i, line) in lines {
        let number = i + 1;
        let cells: Vec<String> = split_csv(line).collect();
        let cell = |at: usize, name: &str| {
            cells
                .get(at)
                .cloned()
                .ok_or_else(|| line_error(path, number, format!("field `{name}` is missing")))
        };
        let uid = crate::uid::parse_uid(&cell(uid_at, "uid")?)
            .map_err(|e| line_error(path, number, format!("field `uid`: {e}")))?;
        let text = cell(weight_at, "weight")?;
        let weight: f64 = text.parse().map_err(|_| {
            line_error(
                path,
                number,
                format!("field `weight`: `{text}` is not a number"),
            )
        })?;
        raw.uids.push(uid);
        raw.weights.push(
            weight_value(weight)
                .map_err(|m| line_error(path, number, format!("field `weight`: {m}")))?,
        );
    }
    Ok(raw)
}

/// Cells of a simple CSV line (numbers and names; surrounding quotes removed).
fn split_csv(line: &str) -> impl Iterator<Item = String> + '_ {
    line.split(',')
        .map(|c| c.trim().trim_matches('"').to_string())
}

/// The chain refuses duplicate UIDs (`DuplicateUids`); say which one here.
fn check_unique(path: &Path, raw: &RawWeights) -> Result<(), WeightsFileError> {
    let mut seen = std::collections::HashSet::new();
    match raw.uids.iter().find(|u| !seen.insert(**u)) {
        Some(uid) => Err(whole(
            path,
            format!("uid {uid} appears twice; each miner gets one weight"),
        )),
        None => Ok(()),
    }
}
