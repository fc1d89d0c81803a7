//! The public dashboard the original promised: every Focus video with its score, components,
//! state and reward, a histogram of scores and the purchase history, filterable by state and
//! text. One self-contained HTML page (inline SVG and a few lines of script for the filter,
//! nothing fetched), served at `GET /` and written by `omega report --focus`.

use super::store::{Event, Listing, Store, StoreError};
use crate::chain::transfer::format_tao;

/// Score histogram bins over [0, 1].
const BINS: usize = 10;

/// The page for a store (the server's, or one opened by `omega report --focus`).
pub async fn render_from(store: &Store) -> Result<String, StoreError> {
    let videos = store.all().await?;
    let events = store.events(200).await?;
    Ok(render(&videos, &events))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn tao(rao: Option<i64>) -> String {
    rao.map_or(String::new(), |r| format_tao(r.max(0) as u64))
}

/// The components JSON as `name value` pairs.
fn components(json: &str) -> String {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(json) else {
        return String::new();
    };
    map.iter()
        .map(|(k, v)| match v.as_f64() {
            Some(x) => format!("{k} {x:.2}"),
            None => format!("{k} {}", v.as_str().unwrap_or("–")),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn histogram(videos: &[Listing]) -> String {
    let mut counts = [0usize; BINS];
    for v in videos {
        let bin = ((v.score.clamp(0.0, 1.0) * BINS as f64) as usize).min(BINS - 1);
        counts[bin] += 1;
    }
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let (w, h, bar) = (420.0, 160.0, 40.0);
    let mut svg = format!(
        r#"<svg id="histogram" width="{w}" height="{}" role="img" aria-label="score histogram">"#,
        h + 20.0
    );
    for (i, n) in counts.iter().enumerate() {
        let height = h * *n as f64 / max as f64;
        svg.push_str(&format!(
            r#"<rect class="bin" data-count="{n}" x="{}" y="{}" width="{}" height="{height}" fill="steelblue"><title>{:.1}–{:.1}: {n}</title></rect>"#,
            i as f64 * (bar + 2.0),
            h - height,
            bar,
            i as f64 / BINS as f64,
            (i + 1) as f64 / BINS as f64
        ));
        svg.push_str(&format!(
            r#"<text x="{}" y="{}" font-size="10">{:.1}</text>"#,
            i as f64 * (bar + 2.0) + 8.0,
            h + 14.0,
            i as f64 / BINS as f64
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// The page for `videos` and the history `events`.
pub fn render(videos: &[Listing], events: &[Event]) -> String {
    let mut rows = String::new();
    for v in videos {
        rows.push_str(&format!(
            r#"<tr class="video" data-state="{state}"><td>{id}</td><td>{task}</td><td>{score:.3}</td><td>{comp}</td><td>{state}</td><td>{price}</td><td>{earned}</td><td>{miner}</td></tr>"#,
            state = esc(&v.state),
            id = esc(&v.video_id),
            task = esc(&v.task_title),
            score = v.score,
            comp = esc(&components(&v.components)),
            price = tao(Some(v.price_rao)),
            earned = tao(v.earned_rao),
            miner = esc(v.miner_hotkey.as_deref().unwrap_or("")),
        ));
    }
    let mut history = String::new();
    for e in events {
        history.push_str(&format!(
            r#"<tr class="event"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            e.at,
            esc(&e.video_id),
            esc(&e.miner_hotkey),
            esc(&e.event),
            esc(e.detail.as_deref().unwrap_or(""))
        ));
    }
    let sold: i64 = videos.iter().filter_map(|v| v.earned_rao).sum();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OMEGA Focus marketplace</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 6px;font-size:13px}}</style>
</head><body>
<h1>OMEGA Focus marketplace</h1>
<p id="totals">{n} videos, {sold} TAO paid to their owners.</p>
<h2>Scores</h2>
{hist}
<h2>Videos</h2>
<p><label>State <select id="state-filter"><option value="">all</option><option>submitted</option><option>purchase_pending</option><option>purchased</option></select></label>
<label>Search <input id="text-filter" type="search"></label></p>
<table id="videos"><thead><tr><th>video</th><th>task</th><th>score</th><th>components</th><th>state</th><th>price (TAO)</th><th>paid (TAO)</th><th>miner</th></tr></thead>
<tbody>{rows}</tbody></table>
<h2>Purchase history</h2>
<table id="history"><thead><tr><th>time (Unix s)</th><th>video</th><th>miner</th><th>event</th><th>detail</th></tr></thead>
<tbody>{history}</tbody></table>
<script>
function applyFilter() {{
  var state = document.getElementById('state-filter').value;
  var text = document.getElementById('text-filter').value.toLowerCase();
  document.querySelectorAll('#videos tr.video').forEach(function (tr) {{
    var show = (!state || tr.dataset.state === state) && tr.textContent.toLowerCase().indexOf(text) >= 0;
    tr.style.display = show ? '' : 'none';
  }});
}}
document.getElementById('state-filter').addEventListener('change', applyFilter);
document.getElementById('text-filter').addEventListener('input', applyFilter);
// A filter in the address (#state=purchased&q=text) applies on load; what the browser laid out
// is left in data-rendered for headless checks.
var wanted = new URLSearchParams(location.hash.slice(1));
document.getElementById('state-filter').value = wanted.get('state') || '';
document.getElementById('text-filter').value = wanted.get('q') || '';
applyFilter();
document.body.dataset.rendered = JSON.stringify({{
  visible: Array.from(document.querySelectorAll('#videos tr.video')).filter(function (tr) {{ return tr.offsetParent !== null; }}).length,
  bins: Array.from(document.querySelectorAll('#histogram rect.bin')).map(function (r) {{ return r.getBBox().height; }}),
  histogram_width: document.getElementById('histogram').getBoundingClientRect().width,
  history: document.querySelectorAll('#history tr.event').length
}});
</script>
</body></html>
"#,
        n = videos.len(),
        sold = format_tao(sold.max(0) as u64),
        hist = histogram(videos),
    )
}
