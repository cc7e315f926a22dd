//! Finds the encoderfile payload appended to this executable.
//!
//! The last 32 bytes of the file are the footer. A file shorter than 32 bytes,
//! or whose last 32 bytes do not start with the magic `ENCFILE\0`, carries no
//! payload: it is a bare base binary.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::format::{Footer, ManifestRegion, FOOTER_LEN, FOOTER_LEN_U64};

/// The outcome of looking at the end of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FooterScan {
    /// No footer magic at the end: a bare base binary (or not an encoderfile).
    NoFooter { file_len: u64 },
    /// A footer with the right magic; not validated yet.
    Found { footer: Footer, file_len: u64 },
}

/// Reads the last 32 bytes of `reader` and decodes them if they carry the
/// footer magic. Leaves the reader positioned at its end.
pub fn scan_footer<R: Read + Seek>(reader: &mut R) -> io::Result<FooterScan> {
    let file_len = reader.seek(SeekFrom::End(0))?;
    let Some(footer_start) = file_len.checked_sub(FOOTER_LEN_U64) else {
        return Ok(FooterScan::NoFooter { file_len });
    };
    reader.seek(SeekFrom::Start(footer_start))?;
    let mut buf = [0u8; FOOTER_LEN];
    reader.read_exact(&mut buf)?;
    // `parse` only fails on a wrong size (impossible here) or a wrong magic.
    Ok(match Footer::parse(&buf) {
        Ok(footer) => FooterScan::Found { footer, file_len },
        Err(_) => FooterScan::NoFooter { file_len },
    })
}

/// A validated payload: where the manifest lies in the executable.
#[derive(Debug)]
pub struct Payload {
    pub path: PathBuf,
    pub file_len: u64,
    pub footer: Footer,
    pub manifest: ManifestRegion,
}

/// The path of the running executable.
pub fn own_executable() -> Result<PathBuf, Error> {
    std::env::current_exe().map_err(|source| Error::CurrentExe { source })
}

impl Payload {
    /// Opens `path` and locates and validates its footer.
    pub fn open(path: &Path) -> Result<Payload, Error> {
        let mut file = File::open(path).map_err(|source| Error::Io {
            action: "open",
            path: path.to_path_buf(),
            source,
        })?;
        let scan = scan_footer(&mut file).map_err(|source| Error::Io {
            action: "read the footer of",
            path: path.to_path_buf(),
            source,
        })?;
        match scan {
            FooterScan::NoFooter { .. } => Err(Error::NoPayload {
                path: path.to_path_buf(),
            }),
            FooterScan::Found { footer, file_len } => match footer.validate(file_len) {
                Ok(manifest) => Ok(Payload {
                    path: path.to_path_buf(),
                    file_len,
                    footer,
                    manifest,
                }),
                Err(source) => Err(Error::InvalidFooter {
                    path: path.to_path_buf(),
                    file_len,
                    source,
                }),
            },
        }
    }

    /// One line describing the payload.
    pub fn summary(&self) -> String {
        format!(
            "encoderfile format version {}: manifest at offset {}, length {} bytes, \
             flags {:#010x}, file {} bytes ({})",
            self.footer.format_version,
            self.manifest.offset,
            self.manifest.length,
            self.footer.flags,
            self.file_len,
            self.path.display()
        )
    }

    /// Prints the summary line to stdout.
    pub fn print_summary(&self) -> Result<(), Error> {
        let mut stdout = io::stdout().lock();
        writeln!(stdout, "{}", self.summary())
            .and_then(|()| stdout.flush())
            .map_err(|source| Error::Output { source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn short_file_has_no_footer() {
        let mut c = Cursor::new(vec![0u8; 31]);
        assert_eq!(
            scan_footer(&mut c).unwrap(),
            FooterScan::NoFooter { file_len: 31 }
        );
        let mut c = Cursor::new(Vec::new());
        assert_eq!(
            scan_footer(&mut c).unwrap(),
            FooterScan::NoFooter { file_len: 0 }
        );
    }

    #[test]
    fn file_without_magic_has_no_footer() {
        let mut c = Cursor::new(vec![0x7fu8; 4096]);
        assert_eq!(
            scan_footer(&mut c).unwrap(),
            FooterScan::NoFooter { file_len: 4096 }
        );
    }

    #[test]
    fn finds_footer_at_end() {
        let mut data = vec![0xAAu8; 100];
        data.extend_from_slice(b"manifest");
        let footer = Footer::new_v1(100, 8);
        data.extend_from_slice(&footer.to_bytes());
        let mut c = Cursor::new(data);
        let scan = scan_footer(&mut c).unwrap();
        assert_eq!(
            scan,
            FooterScan::Found {
                footer,
                file_len: 140
            }
        );
    }

    #[test]
    fn exactly_footer_sized_file() {
        let mut c = Cursor::new(Footer::new_v1(0, 1).to_bytes().to_vec());
        let FooterScan::Found { footer, file_len } = scan_footer(&mut c).unwrap() else {
            panic!("footer not found");
        };
        assert_eq!(file_len, 32);
        // Nothing can precede the footer in a 32-byte file.
        assert!(footer.validate(file_len).is_err());
    }
}
