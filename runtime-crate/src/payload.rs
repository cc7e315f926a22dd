//! Finds and validates the encoderfile payload appended to an executable
//! (normally this one), mapping reader errors to the runtime's [`Error`].

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::format::{Container, ErrorKind, ReadError};
use crate::inspect;

/// A validated payload: the container read from `path`, every artifact
/// verified.
#[derive(Debug)]
pub struct Payload {
    pub path: PathBuf,
    pub container: Container,
}

/// The path of the running executable.
pub fn own_executable() -> Result<PathBuf, Error> {
    std::env::current_exe().map_err(|source| Error::CurrentExe { source })
}

impl Payload {
    /// Opens `path` and reads and validates the whole container.
    pub fn open(path: &Path) -> Result<Payload, Error> {
        let file = File::open(path).map_err(|source| Error::Io {
            action: "open",
            path: path.to_path_buf(),
            source,
        })?;
        let file_len = file
            .metadata()
            .map(|m| m.len())
            .map_err(|source| Error::Io {
                action: "read the size of",
                path: path.to_path_buf(),
                source,
            })?;
        // Artifacts are hashed in 64 KiB chunks; the buffer mainly helps the
        // small footer and manifest reads.
        let mut reader = BufReader::with_capacity(64 * 1024, file);
        match Container::read(&mut reader) {
            Ok(container) => Ok(Payload {
                path: path.to_path_buf(),
                container,
            }),
            Err(ReadError::Format(e)) if e.kind() == ErrorKind::NoPayload => {
                Err(Error::NoPayload {
                    path: path.to_path_buf(),
                })
            }
            Err(ReadError::Format(source)) => Err(Error::Invalid {
                path: path.to_path_buf(),
                file_len,
                source,
            }),
            Err(ReadError::Io { action, source }) => Err(Error::Read {
                action,
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// One line describing the payload.
    pub fn summary(&self) -> String {
        inspect::summary(&self.container)
    }
}
