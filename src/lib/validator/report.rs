//! `omega report`: a validator's rounds and state as one static HTML page — score distribution
//! per round, moving average per miner over time, answer outcomes per round, the last weights
//! and the state — drawn as inline SVG (no script needed, nothing fetched, opens offline).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::table::round_miners::RoundMinerRow;
use crate::table::weights::WeightRow;
use crate::table::{read_all, TableError};

use super::state::ValidatorState;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{0}: no rounds yet (run-validator writes DATA/rounds/miners-N.parquet after each round)"
    )]
    Empty(PathBuf),
}

/// What the page shows.
pub struct ReportData {
    pub miners: Vec<RoundMinerRow>,
    /// The last weights recorded, with their round.
    pub weights: Option<(u64, Vec<WeightRow>)>,
    pub state: ValidatorState,
}

/// The round tables of `DATA/rounds/` named `PREFIX-N.parquet`, in round order.
fn round_files(rounds: &Path, prefix: &str) -> Result<Vec<(u64, PathBuf)>, ReportError> {
    let entries = std::fs::read_dir(rounds).map_err(|source| ReportError::Io {
        path: rounds.to_path_buf(),
        source,
    })?;
    let mut out: Vec<(u64, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_owned();
            let round = name
                .strip_prefix(prefix)?
                .strip_suffix(".parquet")?
                .parse()
                .ok()?;
            Some((round, e.path()))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Reads the rounds tables and the state of a validator's data directory.
pub fn load(data_dir: &Path) -> Result<ReportData, ReportError> {
    let rounds = data_dir.join("rounds");
    let mut miners = Vec::new();
    for (_, path) in round_files(&rounds, "miners-")? {
        miners.extend(read_all::<RoundMinerRow>(&path.to_string_lossy())?);
    }
    if miners.is_empty() {
        return Err(ReportError::Empty(rounds));
    }
    let weights = match round_files(&rounds, "weights-")?.pop() {
        Some((round, path)) => Some((round, read_all::<WeightRow>(&path.to_string_lossy())?)),
        None => None,
    };
    let state_path = data_dir.join("state.json");
    let state = ValidatorState::load(&state_path).map_err(|source| ReportError::Io {
        path: state_path,
        source,
    })?;
    Ok(ReportData {
        miners,
        weights,
        state,
    })
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const MARGIN: f64 = 48.0;
const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];
const OUTCOMES: [(&str, &str); 4] = [
    ("scored", "#2ca02c"),
    ("penalized", "#d62728"),
    ("unjudged", "#7f7f7f"),
    ("no_answer", "#ff7f0e"),
];

/// A plot area mapping data ranges onto the SVG canvas.
struct Axes {
    x: (f64, f64),
    y: (f64, f64),
}

impl Axes {
    fn new(x: (f64, f64), y: (f64, f64)) -> Self {
        let widen = |(lo, hi): (f64, f64)| {
            if hi > lo {
                (lo, hi)
            } else {
                (lo - 1.0, hi + 1.0)
            }
        };
        Axes {
            x: widen(x),
            y: widen(y),
        }
    }
    fn px(&self, x: f64) -> f64 {
        MARGIN + (x - self.x.0) / (self.x.1 - self.x.0) * (WIDTH - 2.0 * MARGIN)
    }
    fn py(&self, y: f64) -> f64 {
        HEIGHT - MARGIN - (y - self.y.0) / (self.y.1 - self.y.0) * (HEIGHT - 2.0 * MARGIN)
    }

    /// The SVG's opening, frame, ticks and labels.
    fn open(&self, id: &str, title: &str, y_label: &str) -> String {
        let mut s = format!(
            r#"<svg id="{id}" role="img" aria-label="{title}" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}"><title>{title}</title>"#
        );
        let (x0, x1, y0, y1) = (MARGIN, WIDTH - MARGIN, MARGIN, HEIGHT - MARGIN);
        let _ = write!(
            s,
            r##"<rect x="{x0}" y="{y0}" width="{}" height="{}" fill="none" stroke="#999"/>"##,
            x1 - x0,
            y1 - y0
        );
        for i in 0..=4 {
            let v = self.y.0 + (self.y.1 - self.y.0) * f64::from(i) / 4.0;
            let y = self.py(v);
            let _ = write!(
                s,
                r##"<text x="{}" y="{y:.1}" font-size="10" text-anchor="end">{v:.3}</text><line x1="{x0}" x2="{x1}" y1="{y:.1}" y2="{y:.1}" stroke="#eee"/>"##,
                x0 - 4.0
            );
        }
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" font-size="11" text-anchor="middle">round</text>"#,
            WIDTH / 2.0,
            HEIGHT - 10.0
        );
        let _ = write!(
            s,
            r#"<text x="12" y="{}" font-size="11" transform="rotate(-90 12 {})" text-anchor="middle">{y_label}</text>"#,
            HEIGHT / 2.0,
            HEIGHT / 2.0
        );
        s
    }

    fn round_ticks(&self, rounds: &[i64]) -> String {
        let step = (rounds.len() / 10).max(1);
        rounds
            .iter()
            .step_by(step)
            .map(|&r| {
                format!(
                    r#"<text x="{:.1}" y="{}" font-size="10" text-anchor="middle">{r}</text>"#,
                    self.px(r as f64),
                    HEIGHT - MARGIN + 14.0
                )
            })
            .collect()
    }
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    })
}

fn rounds_of(miners: &[RoundMinerRow]) -> Vec<i64> {
    let mut r: Vec<i64> = miners.iter().map(|m| m.round).collect();
    r.sort_unstable();
    r.dedup();
    r
}

fn color(uid: u16) -> &'static str {
    PALETTE[usize::from(uid) % PALETTE.len()]
}

/// Every answer's score, one dot per answer, by round.
fn score_plot(miners: &[RoundMinerRow]) -> String {
    let scored: Vec<&RoundMinerRow> = miners.iter().filter(|m| m.answer_score.is_some()).collect();
    let rounds = rounds_of(miners);
    let axes = Axes::new(
        range(rounds.iter().map(|&r| r as f64)),
        range(scored.iter().filter_map(|m| m.answer_score).chain([0.0])),
    );
    let mut s = axes.open("scores", "Answer scores per round", "answer score");
    s.push_str(&axes.round_ticks(&rounds));
    for m in scored {
        let score = m.answer_score.unwrap_or(0.0);
        let _ = write!(
            s,
            r#"<circle class="answer" cx="{:.1}" cy="{:.1}" r="4" fill="{}" fill-opacity="0.7"><title>round {} uid {}: {score:.4}</title></circle>"#,
            axes.px(m.round as f64),
            axes.py(score),
            color(m.uid),
            m.round,
            m.uid
        );
    }
    s.push_str("</svg>");
    s
}

/// Each miner's moving average after each round it was sampled in.
fn moving_average_plot(miners: &[RoundMinerRow]) -> String {
    let rounds = rounds_of(miners);
    let axes = Axes::new(
        range(rounds.iter().map(|&r| r as f64)),
        range(miners.iter().map(|m| m.moving_average).chain([0.0])),
    );
    let mut s = axes.open(
        "moving-averages",
        "Moving average per miner",
        "moving average",
    );
    s.push_str(&axes.round_ticks(&rounds));
    let mut by_uid: BTreeMap<u16, Vec<&RoundMinerRow>> = BTreeMap::new();
    for m in miners {
        by_uid.entry(m.uid).or_default().push(m);
    }
    for (uid, rows) in &by_uid {
        let points: Vec<String> = rows
            .iter()
            .map(|m| {
                format!(
                    "{:.1},{:.1}",
                    axes.px(m.round as f64),
                    axes.py(m.moving_average)
                )
            })
            .collect();
        let _ = write!(
            s,
            r#"<polyline class="miner" data-uid="{uid}" points="{}" fill="none" stroke="{}" stroke-width="2"><title>uid {uid}</title></polyline>"#,
            points.join(" "),
            color(*uid)
        );
        if let Some(last) = rows.last() {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{:.1}" font-size="10" fill="{}">uid {uid}</text>"#,
                axes.px(last.round as f64) + 4.0,
                axes.py(last.moving_average),
                color(*uid)
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// Sampled miners per round by what their answer came to, as stacked bars.
fn outcome_plot(miners: &[RoundMinerRow]) -> String {
    let rounds = rounds_of(miners);
    let mut counts: BTreeMap<i64, BTreeMap<&str, usize>> = BTreeMap::new();
    for m in miners {
        *counts
            .entry(m.round)
            .or_default()
            .entry(m.outcome())
            .or_default() += 1;
    }
    let most = counts
        .values()
        .map(|c| c.values().sum::<usize>())
        .max()
        .unwrap_or(1);
    let (lo, hi) = range(rounds.iter().map(|&r| r as f64));
    let axes = Axes::new((lo - 0.5, hi + 0.5), (0.0, most as f64));
    let mut s = axes.open("outcomes", "Answer outcomes per round", "miners");
    s.push_str(&axes.round_ticks(&rounds));
    let bar = ((WIDTH - 2.0 * MARGIN) / (rounds.len() as f64 + 1.0) * 0.7).max(1.0);
    for (round, c) in &counts {
        let mut base = 0usize;
        for (outcome, fill) in OUTCOMES {
            let n = c.get(outcome).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            let (top, bottom) = (axes.py((base + n) as f64), axes.py(base as f64));
            let _ = write!(
                s,
                r#"<rect class="outcome" data-outcome="{outcome}" x="{:.1}" y="{top:.1}" width="{bar:.1}" height="{:.1}" fill="{fill}"><title>round {round}: {n} {outcome}</title></rect>"#,
                axes.px(*round as f64) - bar / 2.0,
                bottom - top
            );
            base += n;
        }
    }
    let mut x = MARGIN;
    for (outcome, fill) in OUTCOMES {
        let _ = write!(
            s,
            r#"<rect x="{x}" y="8" width="10" height="10" fill="{fill}"/><text x="{}" y="17" font-size="10">{outcome}</text>"#,
            x + 14.0
        );
        x += 90.0;
    }
    s.push_str("</svg>");
    s
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn state_table(data: &ReportData) -> String {
    let weights: BTreeMap<u16, f64> = data
        .weights
        .as_ref()
        .map(|(_, w)| w.iter().map(|r| (r.uid, r.weight)).collect())
        .unwrap_or_default();
    let total: f64 = weights.values().sum();
    let mut s = String::from(
        "<table><tr><th>uid</th><th>hotkey</th><th>moving average</th><th>last weight</th></tr>",
    );
    for (uid, score) in data.state.youtube.scores.iter().enumerate() {
        let hotkey = data
            .state
            .youtube
            .hotkeys
            .get(uid)
            .map_or("", String::as_str);
        let weight = weights.get(&(uid as u16)).map_or(String::from("–"), |w| {
            format!("{:.4}", w / total.max(f64::MIN_POSITIVE))
        });
        let _ = write!(
            s,
            "<tr><td>{uid}</td><td><code>{}</code></td><td>{score:.6}</td><td>{weight}</td></tr>",
            escape(hotkey)
        );
    }
    s.push_str("</table>");
    s
}

/// The page. A small script only reports, for the tests' headless browser, what the browser
/// laid out (`data-rendered` on the body); the plots themselves are plain SVG.
pub fn render(data: &ReportData) -> String {
    let rounds = rounds_of(&data.miners);
    let weights_note = match &data.weights {
        Some((round, w)) => format!(
            "last weights: after round {round}, {} miners weighted",
            w.len()
        ),
        None => "no weights recorded yet".into(),
    };
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>omega validator report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:{WIDTH}px}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px;font-size:12px}}svg{{display:block;margin:1em 0}}</style>
</head><body>
<h1>omega validator report</h1>
<p>{} rounds ({}–{}), last round applied: {}; {weights_note}; weights failures since the last success: {}.</p>
<h2>Answer scores per round</h2>{}
<h2>Moving average per miner</h2>{}
<h2>Answer outcomes per round</h2>{}
<h2>State</h2>{}
<script>
document.body.dataset.rendered = JSON.stringify(Array.from(document.querySelectorAll("svg")).map(s => ({{
  id: s.id, width: s.getBBox().width, marks: s.querySelectorAll("circle.answer, polyline.miner, rect.outcome").length }})));
</script>
</body></html>
"#,
        rounds.len(),
        rounds.first().copied().unwrap_or(0),
        rounds.last().copied().unwrap_or(0),
        data.state.round,
        data.state.weights.failures,
        score_plot(&data.miners),
        moving_average_plot(&data.miners),
        outcome_plot(&data.miners),
        state_table(data),
    )
}
