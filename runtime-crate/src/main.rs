//! encoderfile-runtime: the base binary of an encoderfile.
//!
//! Parses the command line, finds the payload appended to its own executable
//! and reports it. Errors are printed as one `error: ...` line on stderr and
//! mapped to exit codes (see `error::exit_code`).

mod cli;
mod error;
mod format;
mod payload;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Usage errors, --help and --version are handled (and exited) by clap.
    let cli = cli::Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            err.report();
            ExitCode::from(err.exit_code())
        }
    }
}

fn run(_cli: &cli::Cli) -> Result<(), error::Error> {
    let path = payload::own_executable()?;
    let payload = payload::Payload::open(&path)?;
    payload.print_summary()
}
