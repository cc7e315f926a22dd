//! The runtime's one error type and its mapping to process exit codes.

use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;

use crate::format::FormatError;

/// Process exit codes. 0 is success; 2 is clap's code for usage errors.
pub mod exit_code {
    /// Bad command line (set by clap itself).
    pub const USAGE: u8 = 2;
    /// The executable carries no encoderfile payload (a bare base binary).
    pub const NO_PAYLOAD: u8 = 3;
    /// A payload is present but invalid (any error kind but `no_payload`).
    pub const INVALID_PAYLOAD: u8 = 4;
    /// The executable could not be located or read, or output failed.
    pub const IO: u8 = 5;
}

#[derive(Debug)]
pub enum Error {
    /// `std::env::current_exe()` failed.
    CurrentExe { source: io::Error },
    /// An I/O operation on a file failed; `action` reads as "cannot <action> <path>".
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// Reading part of the container failed; reads as "cannot <action> of <path>".
    Read {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// Writing the result to stdout failed.
    Output { source: io::Error },
    /// The executable ends without an encoderfile footer (kind `no_payload`).
    NoPayload { path: PathBuf },
    /// The payload is invalid: any other error kind.
    Invalid {
        path: PathBuf,
        file_len: u64,
        source: FormatError,
    },
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::NoPayload { .. } => exit_code::NO_PAYLOAD,
            Error::Invalid { .. } => exit_code::INVALID_PAYLOAD,
            Error::CurrentExe { .. }
            | Error::Io { .. }
            | Error::Read { .. }
            | Error::Output { .. } => exit_code::IO,
        }
    }

    /// An optional second line telling the user what to do next.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::NoPayload { path } => Some(format!(
                "pack a model onto it with: encoderfile build -f encoderfile.yml \
                 --base-binary-path {}",
                path.display()
            )),
            _ => None,
        }
    }

    /// Writes `error: <message>` (and the hint, if any) to stderr. A failure
    /// to write to stderr is ignored: there is nowhere left to report it.
    pub fn report(&self) {
        let mut stderr = io::stderr().lock();
        let _ = writeln!(stderr, "error: {self}");
        if let Some(hint) = self.hint() {
            let _ = writeln!(stderr, "{hint}");
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::CurrentExe { source } => {
                write!(f, "cannot locate this executable: {source}")
            }
            Error::Io {
                action,
                path,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
            Error::Read {
                action,
                path,
                source,
            } => write!(f, "cannot {action} of {}: {source}", path.display()),
            Error::Output { source } => write!(f, "cannot write to stdout: {source}"),
            Error::NoPayload { path } => write!(
                f,
                "this is an encoderfile base binary with no model attached ({})",
                path.display()
            ),
            Error::Invalid {
                path,
                file_len,
                source,
            } => write!(
                f,
                "invalid encoderfile {} in {} ({file_len} bytes): {source} [{}]",
                source.section(),
                path.display(),
                source.kind()
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::CurrentExe { source }
            | Error::Io { source, .. }
            | Error::Read { source, .. }
            | Error::Output { source } => Some(source),
            Error::Invalid { source, .. } => Some(source),
            Error::NoPayload { .. } => None,
        }
    }
}
