//! Subcommands. Each file holds one subcommand: its usage text, its arguments and a call into
//! the library; nothing else.

mod args;
mod clip;
mod dedup;
mod embed;
mod focus;
mod focus_score;
mod metagraph;
mod push_hf;
mod report;
mod run_validator;
mod schema;
mod score;
mod search;
mod serve_market;
mod serve_miner;
mod set_weights;
mod show;
mod validate;
mod verify_transfer;

use std::io::IsTerminal;

use clap::{Parser, Subcommand};
use omega::report::Summary;

const ABOUT: &str = "The OMEGA Labs (Bittensor SN24) video data pipeline, as composable stages.

Stages read and write tables: Parquet files, or an Arrow IPC stream on stdin/stdout when the
path is `-`, so they compose in a shell pipe:

  omega search --source dir ./videos | omega clip - -o clips.parquet

Every output row keeps a `status` (ok / failed / skipped) with `error_class` and `error`:
a bad video never stops a batch, and no row is dropped.

The chain commands (metagraph, set-weights, verify-transfer), the miner (serve-miner) and the
validator (run-validator) take
bittensor's flags: --subtensor.network, --subtensor.chain_endpoint, --netuid, --wallet.name,
--wallet.hotkey, --wallet.path.";

#[derive(Parser)]
#[command(name = "omega", version, about = ABOUT, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every subcommand takes.
#[derive(clap::Args, Clone)]
pub struct Global {
    /// No progress bar, no summary line (errors are still printed).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print a machine-readable JSON summary (on stdout, or on stderr when the table goes to stdout).
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Subcommand)]
enum Command {
    Search(search::Args),
    Clip(clip::Args),
    Embed(embed::Args),
    Validate(validate::Args),
    Dedup(dedup::Args),
    Score(score::Args),
    FocusScore(focus_score::Args),
    Focus(focus::Args),
    PushHf(push_hf::Args),
    Show(show::Args),
    Schema(schema::Args),
    Metagraph(metagraph::Args),
    SetWeights(set_weights::Args),
    VerifyTransfer(verify_transfer::Args),
    ServeMiner(serve_miner::Args),
    ServeMarket(serve_market::Args),
    RunValidator(Box<run_validator::Args>),
    Report(report::Args),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Search(args) => search::run(args, &cli.global),
        Command::Clip(args) => clip::run(args, &cli.global),
        Command::Embed(args) => embed::run(args, &cli.global),
        Command::Validate(args) => validate::run(args, &cli.global),
        Command::Dedup(args) => dedup::run(args, &cli.global),
        Command::Score(args) => score::run(args, &cli.global),
        Command::FocusScore(args) => focus_score::run(args, &cli.global),
        Command::Focus(args) => focus::run(args, &cli.global),
        Command::PushHf(args) => push_hf::run(args, &cli.global),
        Command::Show(args) => show::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Metagraph(args) => metagraph::run(args, &cli.global),
        Command::SetWeights(args) => set_weights::run(args, &cli.global),
        Command::VerifyTransfer(args) => verify_transfer::run(args, &cli.global),
        Command::ServeMiner(args) => serve_miner::run(args, &cli.global),
        Command::ServeMarket(args) => serve_market::run(args, &cli.global),
        Command::RunValidator(args) => run_validator::run(*args, &cli.global),
        Command::Report(args) => report::run(args, &cli.global),
    }
}

/// Parses the command line; `run-validator --config FILE` reads its flags from the file first.
pub fn parse() -> anyhow::Result<Cli> {
    use clap::{CommandFactory, FromArgMatches};
    let command = Cli::command();
    let known: Vec<String> = command
        .find_subcommand("run-validator")
        .map(|c| {
            c.get_arguments()
                .filter_map(|a| a.get_long())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let argv = run_validator::expand_config(std::env::args_os().collect(), &known)?;
    let matches = command.get_matches_from(argv);
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if matches!(&cli.command, Command::RunValidator(a) if a.logging_debug()) {
        cli.global.verbose = cli.global.verbose.max(2);
    }
    Ok(cli)
}

pub fn init_logging(global: &Global) {
    let default = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // hf-hub logs its own retries and fallbacks; omega reports what matters.
        let hf = if global.verbose == 0 { "off" } else { default };
        tracing_subscriber::EnvFilter::new(format!("omega={default},hf_hub={hf},warn"))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// A tokio runtime for the network stages.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// A refusal that ends the run with its own exit code (`verify-transfer`'s verdicts).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ExitWith {
    pub code: i32,
    pub message: String,
}

/// The exit code for an error: its own for an [`ExitWith`], else 1.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    e.downcast_ref::<ExitWith>()
        .and_then(|x| u8::try_from(x.code).ok())
        .unwrap_or(1)
}

/// A block hash flag (`0x` + 64 hex digits).
fn block_hash(text: &str) -> anyhow::Result<subxt::utils::H256> {
    omega::hex::decode(text)
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(subxt::utils::H256)
        .ok_or_else(|| anyhow::anyhow!("`{text}` is not a block hash (0x and 64 hex digits)"))
}

/// An SS58 address flag.
fn account(text: &str, flag: &str) -> anyhow::Result<subxt::utils::AccountId32> {
    text.trim()
        .parse()
        .map_err(|e| anyhow::anyhow!("{flag} `{text}` is not an SS58 address: {e}"))
}

/// Whether `e` comes from writing to a closed pipe (EPIPE), anywhere in its chain.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let io = cause
            .downcast_ref::<std::io::Error>()
            .or_else(|| match cause.downcast_ref::<omega::table::TableError>() {
                Some(omega::table::TableError::Io { source, .. }) => Some(source),
                _ => None,
            });
        io.is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Writes `text` to stdout, returning EPIPE as an error instead of panicking as `print!` does.
fn print_stdout(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Prints the run's summary: a line for people on stderr, JSON with `--json`.
fn report(summary: &Summary, global: &Global, table_on_stdout: bool) -> anyhow::Result<()> {
    if global.json {
        let json = serde_json::to_string(summary)?;
        if table_on_stdout {
            eprintln!("{json}");
        } else {
            print_stdout(&format!("{json}\n"))?;
        }
    }
    if !global.quiet {
        eprintln!("{}", summary.human());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// clap's own checks of every subcommand's arguments (unique names, valid requirements).
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
