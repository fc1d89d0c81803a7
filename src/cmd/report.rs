//! `omega report`: a validator's rounds, or the Focus marketplace, as one static HTML page.

use std::path::PathBuf;

use anyhow::Context;

use super::Global;

/// Render a validator's rounds and state (`run-validator --data-dir`) as one static HTML page:
/// the score of every answer per round, each miner's moving average over time, the answers'
/// outcomes per round (scored, penalized, unjudged, no answer), the last weights and the state.
/// The plots are inline SVG: the page opens offline and can be mailed or served as is.
///
///
/// With --focus: the Focus marketplace's dashboard (`serve-market`'s `GET /`: every video
/// with its score, components, state and reward, the score histogram, the purchase history,
/// filterable) as a static page for publishing, read from the marketplace's database.
///
/// Examples:
///   omega report --data-dir ~/.bittensor/miners/validator/default/netuid24/validator
///   omega report --data-dir DATA -o /var/www/validator.html
///   omega report --focus --db sqlite://focus.db -o /var/www/focus.html
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The validator's data directory (holding rounds/ and state.json).
    #[arg(long, value_name = "DIR", required_unless_present = "focus")]
    data_dir: Option<PathBuf>,
    /// The Focus marketplace's dashboard instead (needs --db).
    #[arg(long, requires = "db", conflicts_with = "data_dir")]
    focus: bool,
    /// The marketplace's database (as `serve-market --db`).
    #[arg(long, value_name = "URL")]
    db: Option<String>,
    /// Where to write the page (default DIR/report.html, or focus.html with --focus; `-` =
    /// stdout).
    #[arg(short, long, value_name = "FILE")]
    output: Option<String>,
}

fn write_page(output: &str, page: &str) -> anyhow::Result<()> {
    if output == "-" {
        return Ok(super::print_stdout(page)?);
    }
    omega::fsutil::write_atomic(std::path::Path::new(output), page.as_bytes())
        .with_context(|| format!("writing {output}"))
}

fn focus(args: &Args, global: &Global) -> anyhow::Result<()> {
    let db = args.db.as_deref().unwrap_or_default();
    let page = super::runtime()?.block_on(async {
        let store = omega::market::store::Store::open(db)
            .await
            .with_context(|| format!("opening the marketplace's database {db}"))?;
        anyhow::Ok(omega::market::dashboard::render_from(&store).await?)
    })?;
    let output = args.output.clone().unwrap_or_else(|| "focus.html".into());
    write_page(&output, &page)?;
    if !global.quiet && output != "-" {
        eprintln!("report: {output}");
    }
    Ok(())
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    if args.focus {
        return focus(&args, global);
    }
    let data_dir = args.data_dir.clone().unwrap_or_default();
    let data = omega::validator::report::load(&data_dir)
        .context("point --data-dir at a run-validator data directory")?;
    let page = omega::validator::report::render(&data);
    let output = args
        .output
        .unwrap_or_else(|| data_dir.join("report.html").to_string_lossy().into_owned());
    write_page(&output, &page)?;
    if !global.quiet {
        eprintln!(
            "report: {output} ({} rows of {} miners)",
            data.miners.len(),
            data.state.youtube.scores.len()
        );
    }
    Ok(())
}
