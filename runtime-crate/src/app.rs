//! What each command does.

use std::io::{self, Write};

use crate::cli::{Cli, Command};
use crate::error::Error;
use crate::{inspect, payload};

/// Runs the parsed command line against this executable's own payload.
pub fn run(cli: &Cli) -> Result<(), Error> {
    let path = payload::own_executable()?;
    let payload = payload::Payload::open(&path)?;
    let text = match cli.command {
        None => payload.summary(),
        Some(Command::Inspect) => inspect::to_json(&payload.container),
    };
    print_line(&text)
}

/// Writes `text` and a newline to stdout.
fn print_line(text: &str) -> Result<(), Error> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{text}")
        .and_then(|()| stdout.flush())
        .map_err(|source| Error::Output { source })
}
