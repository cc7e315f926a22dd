//! The encoderfile container format: what is appended to the base binary.
//!
//! ```text
//! [ base binary ][ manifest ][ artifact 1 ]...[ artifact n ][ footer: 32 bytes ]
//! ```
//!
//! - [`footer`]: the fixed 32-byte footer (magic, version, manifest region, flags).
//! - [`manifest`]: decoding and validating the protobuf manifest.
//! - [`container`]: the whole file, footer -> manifest -> artifacts, with
//!   every artifact's sha256 verified.
//! - [`pack`]: a minimal writer (for tests and fuzzing; mirrors the packer).
//! - [`proto`]: the prost types generated from `proto/encoderfile/*.proto`.
//!
//! Every validation failure is a [`FormatError`] whose [`FormatError::kind`]
//! is one of the [`ErrorKind`]s, a contract shared with the Python reader and
//! the test vectors in `tests/vectors/`.

pub mod container;
pub mod footer;
pub mod manifest;
pub mod pack;
pub mod proto;

use std::fmt;
use std::io;

pub use container::{Artifact, Container, MAX_MANIFEST_LEN};
pub use footer::{Footer, FooterError, ManifestRegion, FOOTER_LEN, FOOTER_LEN_U64};
pub use manifest::{ArtifactKind, ArtifactRef, Manifest, ManifestError};

/// Why a file is not a valid encoderfile. The checks run in this order and
/// the first failure is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The file is shorter than the 32-byte footer.
    Truncated,
    /// The last 32 bytes do not start with the magic `ENCFILE\0`: a bare base
    /// binary (or not an encoderfile at all).
    NoPayload,
    /// The footer's format_version is not 1.
    UnsupportedVersion,
    /// Footer flag bit 0 (protobuf manifest) is clear.
    MissingProtobufFlag,
    /// The manifest is empty, its offset + length overflows, it runs into the
    /// footer or past the end of the file, or it exceeds [`MAX_MANIFEST_LEN`].
    ManifestOutOfBounds,
    /// The manifest does not decode, names an unknown model type, or an
    /// artifact's sha256 is not exactly 32 bytes.
    BadManifest,
    /// An artifact starts inside the manifest, its range overflows, or it runs
    /// past the start of the footer.
    ArtifactOutOfBounds,
    /// Two artifacts' byte ranges overlap.
    ArtifactOverlap,
    /// An artifact's content does not hash to the sha256 in the manifest.
    Sha256Mismatch,
}

impl ErrorKind {
    /// Every kind, in validation order.
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::Truncated,
        ErrorKind::NoPayload,
        ErrorKind::UnsupportedVersion,
        ErrorKind::MissingProtobufFlag,
        ErrorKind::ManifestOutOfBounds,
        ErrorKind::BadManifest,
        ErrorKind::ArtifactOutOfBounds,
        ErrorKind::ArtifactOverlap,
        ErrorKind::Sha256Mismatch,
    ];

    /// The kind's name in the shared contract (e.g. `"sha256_mismatch"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Truncated => "truncated",
            ErrorKind::NoPayload => "no_payload",
            ErrorKind::UnsupportedVersion => "unsupported_version",
            ErrorKind::MissingProtobufFlag => "missing_protobuf_flag",
            ErrorKind::ManifestOutOfBounds => "manifest_out_of_bounds",
            ErrorKind::BadManifest => "bad_manifest",
            ErrorKind::ArtifactOutOfBounds => "artifact_out_of_bounds",
            ErrorKind::ArtifactOverlap => "artifact_overlap",
            ErrorKind::Sha256Mismatch => "sha256_mismatch",
        }
    }

    /// The kind named `name`, if any.
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A byte range `[start, end)` of the file, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: u64,
    pub end: u64,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bytes {}..{}", self.start, self.end)
    }
}

/// A file that is not a valid encoderfile (as opposed to one that could not
/// be read: see [`ReadError`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// The footer is missing or invalid (truncated, no_payload,
    /// unsupported_version, missing_protobuf_flag, manifest_out_of_bounds).
    Footer(FooterError),
    /// The manifest region is valid but larger than this reader accepts.
    ManifestTooLarge { length: u64, limit: u64 },
    /// The manifest bytes are invalid (bad_manifest).
    Manifest(ManifestError),
    /// An artifact's offset points into the manifest.
    ArtifactInManifest {
        artifact: ArtifactKind,
        offset: u64,
        metadata_length: u64,
    },
    /// An artifact's offset + length (or its absolute end) overflows a u64.
    ArtifactOverflow {
        artifact: ArtifactKind,
        offset: u64,
        length: u64,
    },
    /// An artifact runs past the start of the footer.
    ArtifactPastEnd {
        artifact: ArtifactKind,
        span: Span,
        footer_start: u64,
    },
    /// Two artifacts share bytes.
    ArtifactOverlap {
        first: ArtifactKind,
        first_span: Span,
        second: ArtifactKind,
        second_span: Span,
    },
    /// An artifact's content hashes to something else than the manifest says.
    Sha256Mismatch {
        artifact: ArtifactKind,
        expected: [u8; 32],
        actual: [u8; 32],
    },
}

impl FormatError {
    /// The shared error kind of this failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            FormatError::Footer(e) => e.kind(),
            FormatError::ManifestTooLarge { .. } => ErrorKind::ManifestOutOfBounds,
            FormatError::Manifest(_) => ErrorKind::BadManifest,
            FormatError::ArtifactInManifest { .. }
            | FormatError::ArtifactOverflow { .. }
            | FormatError::ArtifactPastEnd { .. } => ErrorKind::ArtifactOutOfBounds,
            FormatError::ArtifactOverlap { .. } => ErrorKind::ArtifactOverlap,
            FormatError::Sha256Mismatch { .. } => ErrorKind::Sha256Mismatch,
        }
    }

    /// Which part of the file the failure is in: `footer`, `manifest` or
    /// `artifact`.
    pub fn section(&self) -> &'static str {
        match self.kind() {
            ErrorKind::Truncated
            | ErrorKind::NoPayload
            | ErrorKind::UnsupportedVersion
            | ErrorKind::MissingProtobufFlag
            | ErrorKind::ManifestOutOfBounds => "footer",
            ErrorKind::BadManifest => "manifest",
            ErrorKind::ArtifactOutOfBounds
            | ErrorKind::ArtifactOverlap
            | ErrorKind::Sha256Mismatch => "artifact",
        }
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Footer(e) => e.fmt(f),
            FormatError::ManifestTooLarge { length, limit } => write!(
                f,
                "manifest length {length} exceeds the {} MiB this runtime accepts",
                limit / (1024 * 1024)
            ),
            FormatError::Manifest(e) => e.fmt(f),
            FormatError::ArtifactInManifest {
                artifact,
                offset,
                metadata_length,
            } => write!(
                f,
                "artifact {artifact} at manifest-relative offset {offset} starts inside the \
                 {metadata_length}-byte manifest"
            ),
            FormatError::ArtifactOverflow {
                artifact,
                offset,
                length,
            } => write!(
                f,
                "artifact {artifact} at manifest-relative offset {offset} with length {length} \
                 overflows a 64-bit file offset"
            ),
            FormatError::ArtifactPastEnd {
                artifact,
                span,
                footer_start,
            } => write!(
                f,
                "artifact {artifact} ({span}) runs past the start of the footer (byte \
                 {footer_start})"
            ),
            FormatError::ArtifactOverlap {
                first,
                first_span,
                second,
                second_span,
            } => write!(
                f,
                "artifacts {first} ({first_span}) and {second} ({second_span}) overlap"
            ),
            FormatError::Sha256Mismatch {
                artifact,
                expected,
                actual,
            } => write!(
                f,
                "artifact {artifact} has sha256 {}, but the manifest says {}",
                hex(actual),
                hex(expected)
            ),
        }
    }
}

impl std::error::Error for FormatError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FormatError::Footer(e) => Some(e),
            FormatError::Manifest(e) => Some(e),
            _ => None,
        }
    }
}

impl From<FooterError> for FormatError {
    fn from(e: FooterError) -> Self {
        FormatError::Footer(e)
    }
}

impl From<ManifestError> for FormatError {
    fn from(e: ManifestError) -> Self {
        FormatError::Manifest(e)
    }
}

/// Reading a container failed: either the file is invalid, or reading it
/// failed.
#[derive(Debug)]
pub enum ReadError {
    /// The file is not a valid encoderfile.
    Format(FormatError),
    /// An I/O error; `action` says what was being done ("read the manifest").
    Io {
        action: &'static str,
        source: io::Error,
    },
}

impl ReadError {
    /// The error kind, for format errors; `None` for I/O errors.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            ReadError::Format(e) => Some(e.kind()),
            ReadError::Io { .. } => None,
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Format(e) => write!(f, "{e} [{}]", e.kind()),
            ReadError::Io { action, source } => write!(f, "cannot {action}: {source}"),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Format(e) => Some(e),
            ReadError::Io { source, .. } => Some(source),
        }
    }
}

impl From<FormatError> for ReadError {
    fn from(e: FormatError) -> Self {
        ReadError::Format(e)
    }
}

impl From<FooterError> for ReadError {
    fn from(e: FooterError) -> Self {
        ReadError::Format(FormatError::Footer(e))
    }
}

impl From<ManifestError> for ReadError {
    fn from(e: ManifestError) -> Self {
        ReadError::Format(FormatError::Manifest(e))
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        let names: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "truncated",
                "no_payload",
                "unsupported_version",
                "missing_protobuf_flag",
                "manifest_out_of_bounds",
                "bad_manifest",
                "artifact_out_of_bounds",
                "artifact_overlap",
                "sha256_mismatch",
            ]
        );
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_name(kind.as_str()), Some(kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
        assert_eq!(ErrorKind::from_name("io"), None);
    }

    #[test]
    fn hex_digits() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex(&[]), "");
    }
}
