//! encoderfile-runtime: the base binary of an encoderfile.
//!
//! Parses the command line and runs it (see `encoderfile_runtime::app`).
//! Errors are printed as one `error: ...` line on stderr and mapped to exit
//! codes (see `encoderfile_runtime::error::exit_code`).

use std::process::ExitCode;

use clap::Parser;
use encoderfile_runtime::{app, cli};

fn main() -> ExitCode {
    // Usage errors, --help and --version are handled (and exited) by clap.
    let cli = cli::Cli::parse();
    match app::run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            err.report();
            ExitCode::from(err.exit_code())
        }
    }
}
