//! The fixed 32-byte footer at the very end of an encoderfile.
//!
//! Layout (little-endian, no padding):
//!
//! | bytes | field                  |
//! |-------|------------------------|
//! | 0-7   | magic `ENCFILE\0`      |
//! | 8-11  | format_version (u32)   |
//! | 12-19 | metadata_offset (u64)  |
//! | 20-27 | metadata_length (u64)  |
//! | 28-31 | flags (u32)            |
//!
//! `metadata_offset` is the absolute file offset of the protobuf manifest
//! (= size of the base binary) and `metadata_length` its size in bytes.
//!
//! The magic is the first 8 bytes of the footer, i.e. bytes `len-32..len-24`
//! of the file.

use std::fmt;

use super::{hex, ErrorKind};

/// Size of the footer in bytes.
pub const FOOTER_LEN: usize = 32;
/// Footer size as a file offset.
pub const FOOTER_LEN_U64: u64 = FOOTER_LEN as u64;
/// Magic bytes opening the footer.
pub const MAGIC: [u8; 8] = *b"ENCFILE\0";
/// The only footer format version this runtime understands.
pub const SUPPORTED_FORMAT_VERSION: u32 = 1;
/// Flag bit 0: the manifest is a protobuf message. Always set in version 1.
pub const FLAG_PROTOBUF_MANIFEST: u32 = 1 << 0;

/// A decoded footer. `parse` checks only size and magic; call
/// [`Footer::validate`] against the file length before trusting any field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    pub format_version: u32,
    pub metadata_offset: u64,
    pub metadata_length: u64,
    pub flags: u32,
}

/// Where the manifest lives, once the footer has been validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManifestRegion {
    /// Absolute file offset of the first manifest byte.
    pub offset: u64,
    /// Manifest size in bytes (> 0).
    pub length: u64,
}

/// Everything that can be wrong with a footer. [`FooterError::kind`] maps
/// each to its shared error kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FooterError {
    /// Not exactly 32 bytes were given to [`Footer::parse`].
    TooShort { len: usize },
    /// The first 8 bytes are not `ENCFILE\0`: no payload (a bare base binary).
    BadMagic { found: [u8; 8] },
    /// A format version other than 1.
    UnsupportedVersion { found: u32 },
    /// Flag bit 0 (protobuf manifest) is not set.
    MissingProtobufFlag { flags: u32 },
    /// The manifest is declared empty.
    EmptyManifest { offset: u64 },
    /// metadata_offset + metadata_length does not fit in a u64.
    RegionOverflow { offset: u64, length: u64 },
    /// The file is too short to hold a footer at all.
    FileTooShort { file_len: u64 },
    /// The manifest would extend into the footer or past the end of the file.
    RegionPastEnd {
        offset: u64,
        length: u64,
        end: u64,
        limit: u64,
    },
}

impl fmt::Display for FooterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FooterError::TooShort { len } => {
                write!(f, "footer is {len} bytes, expected {FOOTER_LEN}")
            }
            FooterError::BadMagic { found } => {
                write!(f, "bad footer magic {}, expected ", hex(found))?;
                write!(f, "{} (\"ENCFILE\\0\")", hex(&MAGIC))
            }
            FooterError::UnsupportedVersion { found } => write!(
                f,
                "unsupported format version {found} (this runtime supports version \
                 {SUPPORTED_FORMAT_VERSION} only)"
            ),
            FooterError::MissingProtobufFlag { flags } => write!(
                f,
                "footer flags {flags:#010x} lack bit 0 (protobuf manifest), which version \
                 {SUPPORTED_FORMAT_VERSION} requires"
            ),
            FooterError::EmptyManifest { offset } => {
                write!(f, "manifest at offset {offset} has length 0")
            }
            FooterError::RegionOverflow { offset, length } => write!(
                f,
                "manifest offset {offset} + length {length} overflows a 64-bit file offset"
            ),
            FooterError::FileTooShort { file_len } => write!(
                f,
                "file is {file_len} bytes, too short for a {FOOTER_LEN}-byte footer"
            ),
            FooterError::RegionPastEnd {
                offset,
                length,
                end,
                limit,
            } => write!(
                f,
                "manifest at offset {offset} with length {length} ends at byte {end}, past the \
                 end of the data before the footer (byte {limit})"
            ),
        }
    }
}

impl std::error::Error for FooterError {}

impl FooterError {
    /// The shared error kind of this failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            FooterError::TooShort { .. } | FooterError::FileTooShort { .. } => ErrorKind::Truncated,
            FooterError::BadMagic { .. } => ErrorKind::NoPayload,
            FooterError::UnsupportedVersion { .. } => ErrorKind::UnsupportedVersion,
            FooterError::MissingProtobufFlag { .. } => ErrorKind::MissingProtobufFlag,
            FooterError::EmptyManifest { .. }
            | FooterError::RegionOverflow { .. }
            | FooterError::RegionPastEnd { .. } => ErrorKind::ManifestOutOfBounds,
        }
    }
}

/// True if `bytes` starts with the footer magic.
pub fn has_magic(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

fn u32_at(bytes: &[u8; FOOTER_LEN], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

fn u64_at(bytes: &[u8; FOOTER_LEN], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

impl Footer {
    /// A version-1 footer with the protobuf flag set. (The runtime only reads
    /// footers; writing is for tests and [`super::pack`], mirroring the packer.)
    pub fn new_v1(metadata_offset: u64, metadata_length: u64) -> Self {
        Footer {
            format_version: SUPPORTED_FORMAT_VERSION,
            metadata_offset,
            metadata_length,
            flags: FLAG_PROTOBUF_MANIFEST,
        }
    }

    /// Decodes a footer from exactly the last 32 bytes of a file. Only the
    /// length and the magic are checked here.
    pub fn parse(bytes: &[u8]) -> Result<Footer, FooterError> {
        let bytes: &[u8; FOOTER_LEN] = bytes
            .try_into()
            .map_err(|_| FooterError::TooShort { len: bytes.len() })?;
        if !has_magic(bytes) {
            let mut found = [0u8; 8];
            found.copy_from_slice(&bytes[..8]);
            return Err(FooterError::BadMagic { found });
        }
        Ok(Footer {
            format_version: u32_at(bytes, 8),
            metadata_offset: u64_at(bytes, 12),
            metadata_length: u64_at(bytes, 20),
            flags: u32_at(bytes, 28),
        })
    }

    /// Encodes the footer (the inverse of [`Footer::parse`]).
    pub fn to_bytes(self) -> [u8; FOOTER_LEN] {
        let mut out = [0u8; FOOTER_LEN];
        out[..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&self.format_version.to_le_bytes());
        out[12..20].copy_from_slice(&self.metadata_offset.to_le_bytes());
        out[20..28].copy_from_slice(&self.metadata_length.to_le_bytes());
        out[28..32].copy_from_slice(&self.flags.to_le_bytes());
        out
    }

    /// Checks the footer against the length of the file it ends: version,
    /// flags, and that the manifest lies wholly before the footer.
    pub fn validate(&self, file_len: u64) -> Result<ManifestRegion, FooterError> {
        if self.format_version != SUPPORTED_FORMAT_VERSION {
            return Err(FooterError::UnsupportedVersion {
                found: self.format_version,
            });
        }
        if self.flags & FLAG_PROTOBUF_MANIFEST == 0 {
            return Err(FooterError::MissingProtobufFlag { flags: self.flags });
        }
        let (offset, length) = (self.metadata_offset, self.metadata_length);
        if length == 0 {
            return Err(FooterError::EmptyManifest { offset });
        }
        let end = offset
            .checked_add(length)
            .ok_or(FooterError::RegionOverflow { offset, length })?;
        let limit = file_len
            .checked_sub(FOOTER_LEN_U64)
            .ok_or(FooterError::FileTooShort { file_len })?;
        if end > limit {
            return Err(FooterError::RegionPastEnd {
                offset,
                length,
                end,
                limit,
            });
        }
        Ok(ManifestRegion { offset, length })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A footer built byte by byte, independently of `to_bytes`.
    fn hand_built(version: u32, offset: u64, length: u64, flags: u32) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(b"ENCFILE\0");
        b[8..12].copy_from_slice(&version.to_le_bytes());
        b[12..20].copy_from_slice(&offset.to_le_bytes());
        b[20..28].copy_from_slice(&length.to_le_bytes());
        b[28..32].copy_from_slice(&flags.to_le_bytes());
        b
    }

    #[test]
    fn round_trip_valid_footer() {
        #[rustfmt::skip]
        let bytes: [u8; 32] = [
            b'E', b'N', b'C', b'F', b'I', b'L', b'E', 0,
            1, 0, 0, 0,                                   // format_version = 1
            0x00, 0x10, 0, 0, 0, 0, 0, 0,                 // metadata_offset = 4096
            0x2c, 0x01, 0, 0, 0, 0, 0, 0,                 // metadata_length = 300
            1, 0, 0, 0,                                   // flags = protobuf
        ];
        let footer = Footer::parse(&bytes).unwrap();
        assert_eq!(footer, Footer::new_v1(4096, 300));
        assert_eq!(footer.to_bytes(), bytes);
        let region = footer.validate(4096 + 300 + 500 + 32).unwrap();
        assert_eq!(
            region,
            ManifestRegion {
                offset: 4096,
                length: 300
            }
        );
        // The manifest may end exactly where the footer starts.
        assert!(footer.validate(4096 + 300 + 32).is_ok());
    }

    #[test]
    fn short_and_long_input() {
        let full = hand_built(1, 0, 1, 1);
        assert_eq!(
            Footer::parse(&full[..31]),
            Err(FooterError::TooShort { len: 31 })
        );
        assert_eq!(Footer::parse(&[]), Err(FooterError::TooShort { len: 0 }));
        let mut long = full.to_vec();
        long.push(0);
        assert_eq!(Footer::parse(&long), Err(FooterError::TooShort { len: 33 }));
    }

    #[test]
    fn bad_magic() {
        let mut bytes = hand_built(1, 0, 1, 1);
        bytes[7] = b'!';
        assert!(!has_magic(&bytes));
        let err = Footer::parse(&bytes).unwrap_err();
        assert!(matches!(err, FooterError::BadMagic { .. }));
        assert!(err.to_string().contains("bad footer magic"));
    }

    #[test]
    fn version_2_is_rejected() {
        let footer = Footer::parse(&hand_built(2, 100, 10, 1)).unwrap();
        let err = footer.validate(1000).unwrap_err();
        assert_eq!(err, FooterError::UnsupportedVersion { found: 2 });
        assert!(err.to_string().contains("unsupported format version 2"));
        let footer = Footer::parse(&hand_built(0, 100, 10, 1)).unwrap();
        assert!(footer.validate(1000).is_err());
    }

    #[test]
    fn protobuf_flag_missing() {
        let footer = Footer::parse(&hand_built(1, 100, 10, 0)).unwrap();
        assert_eq!(
            footer.validate(1000),
            Err(FooterError::MissingProtobufFlag { flags: 0 })
        );
        let footer = Footer::parse(&hand_built(1, 100, 10, 0b10)).unwrap();
        assert!(matches!(
            footer.validate(1000),
            Err(FooterError::MissingProtobufFlag { flags: 2 })
        ));
    }

    #[test]
    fn offset_plus_length_overflow() {
        let footer = Footer::parse(&hand_built(1, u64::MAX - 5, 10, 1)).unwrap();
        let err = footer.validate(u64::MAX).unwrap_err();
        assert_eq!(
            err,
            FooterError::RegionOverflow {
                offset: u64::MAX - 5,
                length: 10
            }
        );
        assert!(err.to_string().contains("overflows"));
        let footer = Footer::parse(&hand_built(1, u64::MAX, u64::MAX, 1)).unwrap();
        assert!(matches!(
            footer.validate(u64::MAX),
            Err(FooterError::RegionOverflow { .. })
        ));
    }

    #[test]
    fn region_past_end() {
        // File of 100 bytes: data is bytes 0..68, footer 68..100.
        let footer = Footer::parse(&hand_built(1, 60, 9, 1)).unwrap();
        assert_eq!(
            footer.validate(100),
            Err(FooterError::RegionPastEnd {
                offset: 60,
                length: 9,
                end: 69,
                limit: 68
            })
        );
        assert!(Footer::new_v1(60, 8).validate(100).is_ok());
        // Offset alone beyond the file.
        assert!(matches!(
            Footer::new_v1(1 << 40, 1).validate(100),
            Err(FooterError::RegionPastEnd { .. })
        ));
    }

    #[test]
    fn kinds() {
        assert_eq!(
            FooterError::TooShort { len: 3 }.kind(),
            ErrorKind::Truncated
        );
        assert_eq!(
            FooterError::FileTooShort { file_len: 3 }.kind(),
            ErrorKind::Truncated
        );
        assert_eq!(
            Footer::parse(&[0u8; 32]).unwrap_err().kind(),
            ErrorKind::NoPayload
        );
        let cases = [
            (hand_built(2, 10, 10, 1), ErrorKind::UnsupportedVersion),
            (hand_built(1, 10, 10, 2), ErrorKind::MissingProtobufFlag),
            (hand_built(1, 10, 0, 1), ErrorKind::ManifestOutOfBounds),
            (
                hand_built(1, u64::MAX, 2, 1),
                ErrorKind::ManifestOutOfBounds,
            ),
            (hand_built(1, 10, 100, 1), ErrorKind::ManifestOutOfBounds),
        ];
        for (bytes, kind) in cases {
            let err = Footer::parse(&bytes).unwrap().validate(64).unwrap_err();
            assert_eq!(err.kind(), kind, "{err}");
        }
    }

    #[test]
    fn empty_manifest_and_tiny_file() {
        assert_eq!(
            Footer::new_v1(10, 0).validate(100),
            Err(FooterError::EmptyManifest { offset: 10 })
        );
        assert_eq!(
            Footer::new_v1(0, 1).validate(31),
            Err(FooterError::FileTooShort { file_len: 31 })
        );
    }
}
