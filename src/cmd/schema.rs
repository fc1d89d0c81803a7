//! `omega schema`: print the documentation of a stage table, as kept in `schemas/`.

use anyhow::bail;

/// Print a table's schema (every column, type, unit, meaning) as Markdown.
///
/// Example: omega schema clips
#[derive(clap::Args)]
pub struct Args {
    /// The table: candidates or clips. Without it, lists the tables.
    table: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let tables = omega::table::all_markdown();
    match args.table {
        None => tables.iter().for_each(|(name, _)| println!("{name}")),
        Some(want) => match tables.iter().find(|(name, _)| *name == want) {
            Some((_, md)) => print!("{md}"),
            None => {
                let names: Vec<_> = tables.iter().map(|(n, _)| *n).collect();
                bail!("no table `{want}` (tables: {})", names.join(", "))
            }
        },
    }
    Ok(())
}
