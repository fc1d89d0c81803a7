//! `omega schema`: print the documentation of a stage table, as kept in `schemas/`.

use anyhow::bail;

/// Print a table's schema (every column, type, unit, meaning) as Markdown.
///
/// Example: omega schema clips
#[derive(clap::Args)]
pub struct Args {
    /// The table (e.g. candidates, clips, responses). Without it, lists the tables.
    table: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let tables = omega::table::all_markdown();
    let names: Vec<_> = tables.iter().map(|(n, _)| *n).collect();
    match args.table {
        None => super::print_stdout(&format!("{}\n", names.join("\n")))?,
        Some(want) => match tables.iter().find(|(name, _)| *name == want) {
            Some((_, md)) => super::print_stdout(md)?,
            None => bail!("no table `{want}` (tables: {})", names.join(", ")),
        },
    }
    Ok(())
}
