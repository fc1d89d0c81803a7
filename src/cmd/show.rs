//! `omega show`: print a stage table as aligned text.

/// Print a table (Parquet file or Arrow IPC stream) as aligned text, like `xsv table`.
///
/// Examples:
///   omega show clips.parquet -c video_id,status,error_class,clip_duration_s
///   omega search --source dir ~/videos | omega show - --limit 5
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The table (`-` = stdin).
    input: String,
    /// Columns to show, comma-separated (default: all).
    #[arg(short, long, value_delimiter = ',')]
    columns: Vec<String>,
    /// Show at most this many rows.
    #[arg(short = 'n', long, default_value_t = 50)]
    limit: usize,
    /// Cut cells to this many characters.
    #[arg(long, default_value_t = 40)]
    width: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let raw = omega::table::open_raw(&args.input)?;
    let (mut batches, mut rows, mut total) = (Vec::new(), 0, 0);
    for batch in raw.batches {
        let batch = batch?;
        total += batch.num_rows();
        if rows < args.limit {
            let take = (args.limit - rows).min(batch.num_rows());
            batches.push(batch.slice(0, take));
            rows += take;
        }
    }
    let text = omega::table::render(&raw.path, &raw.schema, &batches, &args.columns, args.width)?;
    super::print_stdout(&text)?;
    if total > rows {
        super::print_stdout(&format!("… {} more rows\n", total - rows))?;
    }
    Ok(())
}
