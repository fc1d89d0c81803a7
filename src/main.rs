//! The `omega` command line: one subcommand per pipeline stage, each a thin layer over the
//! `omega` library. Stages pass tables as Parquet files, or as an Arrow IPC stream through
//! pipes (`-`).

mod cmd;

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cmd::parse() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("omega: error: {e:#}");
            return ExitCode::from(2);
        }
    };
    cmd::init_logging(&cli.global);
    match cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`omega show t.parquet | head -1`): not an error,
        // as in ripgrep and xsv.
        Err(e) if cmd::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("omega: error: {e:#}");
            ExitCode::from(cmd::exit_code(&e))
        }
    }
}
