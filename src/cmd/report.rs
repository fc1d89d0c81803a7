//! `omega report`: a validator's rounds as one static HTML page.

use std::path::PathBuf;

use anyhow::Context;

use super::Global;

/// Render a validator's rounds and state (`run-validator --data-dir`) as one static HTML page:
/// the score of every answer per round, each miner's moving average over time, the answers'
/// outcomes per round (scored, penalized, unjudged, no answer), the last weights and the state.
/// The plots are inline SVG: the page opens offline and can be mailed or served as is.
///
/// Examples:
///   omega report --data-dir ~/.bittensor/miners/validator/default/netuid24/validator
///   omega report --data-dir DATA -o /var/www/validator.html
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The validator's data directory (holding rounds/ and state.json).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Where to write the page (default DIR/report.html; `-` = stdout).
    #[arg(short, long, value_name = "FILE")]
    output: Option<String>,
}

pub fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let data = omega::validator::report::load(&args.data_dir)
        .context("point --data-dir at a run-validator data directory")?;
    let page = omega::validator::report::render(&data);
    let output = args.output.unwrap_or_else(|| {
        args.data_dir
            .join("report.html")
            .to_string_lossy()
            .into_owned()
    });
    if output == "-" {
        return Ok(super::print_stdout(&page)?);
    }
    omega::fsutil::write_atomic(std::path::Path::new(&output), page.as_bytes())
        .with_context(|| format!("writing {output}"))?;
    if !global.quiet {
        eprintln!(
            "report: {output} ({} rows of {} miners)",
            data.miners.len(),
            data.state.youtube.scores.len()
        );
    }
    Ok(())
}
