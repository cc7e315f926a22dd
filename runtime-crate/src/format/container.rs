//! The whole container: footer -> manifest -> artifacts.
//!
//! [`Container::read`] validates a file strictly, in this order, and reports
//! the first failure:
//!
//! 1. `truncated`: the file is shorter than the 32-byte footer;
//! 2. `no_payload`: the footer does not start with the magic `ENCFILE\0`;
//! 3. `unsupported_version`: format_version is not 1;
//! 4. `missing_protobuf_flag`: flags bit 0 is clear;
//! 5. `manifest_out_of_bounds`: the manifest is empty, its offset + length
//!    overflows, it extends past the footer start, or it is larger than
//!    [`MAX_MANIFEST_LEN`];
//! 6. `bad_manifest`: the protobuf does not decode, the model type is unknown,
//!    or an artifact's sha256 is not 32 bytes;
//! 7. `artifact_out_of_bounds`, for each artifact in field order: its offset is
//!    inside the manifest (< metadata_length), its offset + length (or the
//!    absolute end) overflows, or it runs past the footer start;
//! 8. `artifact_overlap`: two artifacts share at least one byte;
//! 9. `sha256_mismatch`: an artifact's content, hashed in bounded chunks, does
//!    not match its digest.
//!
//! Nothing is read or allocated from a length before that length has been
//! checked against the file, all arithmetic is checked, and artifacts are
//! never held in memory whole.

use std::io::{Read, Seek, SeekFrom};

use sha2::{Digest, Sha256};

use super::footer::{Footer, FooterError, FOOTER_LEN, FOOTER_LEN_U64};
use super::manifest::{self, ArtifactKind};
use super::proto::metadata::ModelType;
use super::{FormatError, ReadError, Span};

/// The largest manifest this reader allocates. Real manifests are a few
/// hundred bytes (a header plus at most five 55-byte artifact entries).
pub const MAX_MANIFEST_LEN: u64 = 64 * 1024 * 1024;

/// Artifacts are hashed through a buffer of this size.
const HASH_CHUNK: usize = 64 * 1024;

/// An artifact whose range has been checked and whose digest verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Artifact {
    pub kind: ArtifactKind,
    /// Offset relative to the manifest's first byte, as stored.
    pub offset: u64,
    pub length: u64,
    /// Offset from the start of the file (metadata_offset + offset).
    pub absolute_offset: u64,
    pub sha256: [u8; 32],
}

impl Artifact {
    /// The artifact's bytes in the file.
    pub fn span(&self) -> Span {
        Span {
            start: self.absolute_offset,
            // Checked not to overflow when the container was read.
            end: self.absolute_offset.saturating_add(self.length),
        }
    }
}

/// A fully validated encoderfile: footer, manifest and verified artifacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub file_len: u64,
    pub footer: Footer,
    pub model_type: ModelType,
    pub name: String,
    pub version: String,
    /// The artifacts present, in field-number order, all verified.
    pub artifacts: Vec<Artifact>,
}

impl Container {
    /// Reads and validates a whole container (see the module docs for the
    /// checks and their order). The reader's position is unspecified after.
    pub fn read<R: Read + Seek>(reader: &mut R) -> Result<Container, ReadError> {
        let (footer, file_len) = read_footer(reader)?;
        let region = footer.validate(file_len)?;
        if region.length > MAX_MANIFEST_LEN {
            return Err(FormatError::ManifestTooLarge {
                length: region.length,
                limit: MAX_MANIFEST_LEN,
            }
            .into());
        }
        let manifest_bytes = read_range(reader, region.offset, region.length, "read the manifest")?;
        let manifest = manifest::decode(&manifest_bytes)?;
        drop(manifest_bytes);

        // Bounds of every artifact, in field order.
        let footer_start = file_len
            .checked_sub(FOOTER_LEN_U64)
            .ok_or(FooterError::FileTooShort { file_len })?;
        let mut artifacts = Vec::with_capacity(manifest.artifacts.len());
        for entry in &manifest.artifacts {
            let artifact = entry.kind;
            if entry.offset < region.length {
                return Err(FormatError::ArtifactInManifest {
                    artifact,
                    offset: entry.offset,
                    metadata_length: region.length,
                }
                .into());
            }
            let overflow = || FormatError::ArtifactOverflow {
                artifact,
                offset: entry.offset,
                length: entry.length,
            };
            let relative_end = entry
                .offset
                .checked_add(entry.length)
                .ok_or_else(overflow)?;
            let absolute_offset = region
                .offset
                .checked_add(entry.offset)
                .ok_or_else(overflow)?;
            let absolute_end = region
                .offset
                .checked_add(relative_end)
                .ok_or_else(overflow)?;
            if absolute_end > footer_start {
                return Err(FormatError::ArtifactPastEnd {
                    artifact,
                    span: Span {
                        start: absolute_offset,
                        end: absolute_end,
                    },
                    footer_start,
                }
                .into());
            }
            artifacts.push(Artifact {
                kind: artifact,
                offset: entry.offset,
                length: entry.length,
                absolute_offset,
                sha256: entry.sha256,
            });
        }

        // Pairwise overlap, first pair in field order. Empty ranges share no
        // byte with anything.
        for (i, first) in artifacts.iter().enumerate() {
            for second in &artifacts[i + 1..] {
                let (a, b) = (first.span(), second.span());
                if a.start.max(b.start) < a.end.min(b.end) {
                    return Err(FormatError::ArtifactOverlap {
                        first: first.kind,
                        first_span: a,
                        second: second.kind,
                        second_span: b,
                    }
                    .into());
                }
            }
        }

        // Digests, streamed.
        let mut buf = vec![0u8; HASH_CHUNK];
        for artifact in &artifacts {
            let actual = hash_range(reader, artifact, &mut buf)?;
            if actual != artifact.sha256 {
                return Err(FormatError::Sha256Mismatch {
                    artifact: artifact.kind,
                    expected: artifact.sha256,
                    actual,
                }
                .into());
            }
        }

        Ok(Container {
            file_len,
            footer,
            model_type: manifest.model_type,
            name: manifest.name,
            version: manifest.version,
            artifacts,
        })
    }

    /// The artifact of `kind`, if present.
    pub fn artifact(&self, kind: ArtifactKind) -> Option<&Artifact> {
        self.artifacts.iter().find(|a| a.kind == kind)
    }
}

/// Reads the last 32 bytes and parses them as a footer: `truncated` if the
/// file is shorter, `no_payload` if the magic is missing. Returns the footer
/// (not yet validated) and the file length.
pub fn read_footer<R: Read + Seek>(reader: &mut R) -> Result<(Footer, u64), ReadError> {
    let file_len = reader
        .seek(SeekFrom::End(0))
        .map_err(|source| ReadError::Io {
            action: "find the end of the file",
            source,
        })?;
    let footer_start = file_len
        .checked_sub(FOOTER_LEN_U64)
        .ok_or(FooterError::FileTooShort { file_len })?;
    let io = |source| ReadError::Io {
        action: "read the footer",
        source,
    };
    reader.seek(SeekFrom::Start(footer_start)).map_err(io)?;
    let mut buf = [0u8; FOOTER_LEN];
    reader.read_exact(&mut buf).map_err(io)?;
    Ok((Footer::parse(&buf)?, file_len))
}

/// Reads `length` bytes at `offset`; the caller has bounded `length`.
fn read_range<R: Read + Seek>(
    reader: &mut R,
    offset: u64,
    length: u64,
    action: &'static str,
) -> Result<Vec<u8>, ReadError> {
    let io = |source| ReadError::Io { action, source };
    let len = usize::try_from(length).map_err(|_| {
        io(std::io::Error::new(
            std::io::ErrorKind::OutOfMemory,
            "length does not fit in memory",
        ))
    })?;
    reader.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut bytes = vec![0u8; len];
    reader.read_exact(&mut bytes).map_err(io)?;
    Ok(bytes)
}

/// The sha256 of an artifact's (bounds-checked) range, read in chunks.
fn hash_range<R: Read + Seek>(
    reader: &mut R,
    artifact: &Artifact,
    buf: &mut [u8],
) -> Result<[u8; 32], ReadError> {
    let io = |source| ReadError::Io {
        action: "read an artifact",
        source,
    };
    reader
        .seek(SeekFrom::Start(artifact.absolute_offset))
        .map_err(io)?;
    let mut hasher = Sha256::new();
    let mut remaining = artifact.length;
    while remaining > 0 {
        // min(remaining, buf.len()) always fits in usize.
        let n = usize::try_from(remaining).map_or(buf.len(), |r| r.min(buf.len()));
        let chunk = &mut buf[..n];
        reader.read_exact(chunk).map_err(io)?;
        hasher.update(&*chunk);
        remaining -= n as u64;
    }
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::super::pack::{self, Packed};
    use super::super::proto::manifest::{Artifact as ProtoArtifact, EncoderfileManifest};
    use super::super::ErrorKind;
    use super::*;
    use prost::Message;
    use std::io::Cursor;

    const BASE: &[u8] = b"#!fake base binary\x00\x01\x02";

    fn sample() -> Packed {
        pack::pack(
            BASE,
            ModelType::Embedding,
            "tiny",
            "1.2.3",
            &[
                (ArtifactKind::Weights, b"weights bytes".as_slice()),
                (
                    ArtifactKind::ModelConfig,
                    br#"{"model_type":"bert"}"#.as_slice(),
                ),
                (ArtifactKind::Tokenizer, b"{}".as_slice()),
            ],
        )
    }

    fn read(bytes: &[u8]) -> Result<Container, ReadError> {
        Container::read(&mut Cursor::new(bytes))
    }

    fn kind_of(bytes: &[u8]) -> ErrorKind {
        match read(bytes) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.kind().unwrap_or_else(|| panic!("I/O error: {e}")),
        }
    }

    /// A container with a hand-made manifest: `base`, then `manifest`, then
    /// `body`, then a v1 footer for the manifest.
    fn assemble(manifest: &EncoderfileManifest, body: &[u8]) -> Vec<u8> {
        let bytes = manifest.encode_to_vec();
        let mut out = BASE.to_vec();
        out.extend_from_slice(&bytes);
        out.extend_from_slice(body);
        out.extend_from_slice(&Footer::new_v1(BASE.len() as u64, bytes.len() as u64).to_bytes());
        out
    }

    fn digest(data: &[u8]) -> Vec<u8> {
        Sha256::digest(data).to_vec()
    }

    #[test]
    fn reads_a_valid_container() {
        let packed = sample();
        let c = read(&packed.bytes).unwrap();
        assert_eq!(c.file_len, packed.bytes.len() as u64);
        assert_eq!(c.footer.metadata_offset, BASE.len() as u64);
        assert_eq!(c.footer.metadata_length, packed.manifest_len);
        assert_eq!(c.model_type, ModelType::Embedding);
        assert_eq!((c.name.as_str(), c.version.as_str()), ("tiny", "1.2.3"));
        assert_eq!(c.artifacts.len(), 3);
        let w = c.artifact(ArtifactKind::Weights).unwrap();
        assert_eq!(w.offset, packed.manifest_len);
        assert_eq!(w.absolute_offset, BASE.len() as u64 + packed.manifest_len);
        let start = usize::try_from(w.absolute_offset).unwrap();
        assert_eq!(&packed.bytes[start..start + 13], b"weights bytes");
        assert_eq!(w.sha256.to_vec(), digest(b"weights bytes"));
        let t = c.artifact(ArtifactKind::Tokenizer).unwrap();
        assert_eq!(t.span().end, c.file_len - 32);
        assert!(c.artifact(ArtifactKind::Transform).is_none());
    }

    #[test]
    fn large_artifact_is_hashed_in_chunks() {
        let big: Vec<u8> = (0..(3 * HASH_CHUNK + 17))
            .map(|i| (i % 251) as u8)
            .collect();
        let packed = pack::pack(
            BASE,
            ModelType::SentenceEmbedding,
            "big",
            "",
            &[(ArtifactKind::Weights, big.as_slice())],
        );
        let c = read(&packed.bytes).unwrap();
        assert_eq!(c.artifacts[0].sha256.to_vec(), digest(&big));
        let mut corrupt = packed.bytes.clone();
        let at = corrupt.len() - 32 - 1;
        corrupt[at] ^= 1;
        assert_eq!(kind_of(&corrupt), ErrorKind::Sha256Mismatch);
    }

    // The three `read_footer` tests below keep what payload.rs's scan tests
    // checked before the reader moved here.
    #[test]
    fn short_file_is_truncated() {
        for len in [0, 1, 31] {
            let err = read_footer(&mut Cursor::new(vec![0u8; len])).unwrap_err();
            assert_eq!(err.kind(), Some(ErrorKind::Truncated), "{len}");
        }
    }

    #[test]
    fn file_without_magic_has_no_payload() {
        let err = read_footer(&mut Cursor::new(vec![0x7fu8; 4096])).unwrap_err();
        assert_eq!(err.kind(), Some(ErrorKind::NoPayload));
        // The magic must start the footer: at the very end it is not found.
        let mut data = vec![0u8; 100];
        data.extend_from_slice(b"ENCFILE\0");
        assert_eq!(kind_of(&data), ErrorKind::NoPayload);
    }

    #[test]
    fn finds_footer_at_end() {
        let mut data = vec![0xAAu8; 100];
        data.extend_from_slice(b"manifest");
        let footer = Footer::new_v1(100, 8);
        data.extend_from_slice(&footer.to_bytes());
        let (found, file_len) = read_footer(&mut Cursor::new(data)).unwrap();
        assert_eq!((found, file_len), (footer, 140));
    }

    #[test]
    fn exactly_footer_sized_file() {
        let data = Footer::new_v1(0, 1).to_bytes().to_vec();
        let (footer, file_len) = read_footer(&mut Cursor::new(data.clone())).unwrap();
        assert_eq!(file_len, 32);
        // Nothing can precede the footer in a 32-byte file.
        assert!(footer.validate(file_len).is_err());
        assert_eq!(kind_of(&data), ErrorKind::ManifestOutOfBounds);
    }

    #[test]
    fn footer_checks_in_order() {
        let packed = sample();
        let tail = packed.bytes.len() - 32;
        let with_footer = |version: u32, offset: u64, length: u64, flags: u32| {
            let mut b = packed.bytes.clone();
            b[tail..].copy_from_slice(
                &Footer {
                    format_version: version,
                    metadata_offset: offset,
                    metadata_length: length,
                    flags,
                }
                .to_bytes(),
            );
            b
        };
        let (off, len) = (BASE.len() as u64, packed.manifest_len);
        // Version is checked before the flag, the flag before the bounds.
        assert_eq!(
            kind_of(&with_footer(2, off, 0, 0)),
            ErrorKind::UnsupportedVersion
        );
        assert_eq!(
            kind_of(&with_footer(1, off, 0, 0)),
            ErrorKind::MissingProtobufFlag
        );
        assert_eq!(
            kind_of(&with_footer(1, off, 0, 1)),
            ErrorKind::ManifestOutOfBounds
        );
        assert_eq!(
            kind_of(&with_footer(1, u64::MAX, len, 1)),
            ErrorKind::ManifestOutOfBounds
        );
        assert_eq!(
            kind_of(&with_footer(1, off, tail as u64, 1)),
            ErrorKind::ManifestOutOfBounds
        );
        // Extra flag bits are allowed.
        assert!(read(&with_footer(1, off, len, 0xFFFF_FFFF)).is_ok());
        // A manifest region that is in bounds but shifted decodes as garbage.
        assert_eq!(
            kind_of(&with_footer(1, off - 3, len, 1)),
            ErrorKind::BadManifest
        );
    }

    #[test]
    fn huge_manifest_length_is_rejected_without_allocating() {
        // In bounds of a (sparse) 1 TiB "file" but over the cap.
        struct Sparse {
            len: u64,
            pos: u64,
            footer: [u8; 32],
        }
        impl Read for Sparse {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let start = self.len - 32;
                let mut n = 0;
                while n < buf.len() && self.pos < self.len {
                    buf[n] = if self.pos >= start {
                        self.footer[(self.pos - start) as usize]
                    } else {
                        0
                    };
                    n += 1;
                    self.pos += 1;
                }
                Ok(n)
            }
        }
        impl Seek for Sparse {
            fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
                self.pos = match pos {
                    SeekFrom::Start(p) => p,
                    SeekFrom::End(d) => self.len.checked_add_signed(d).unwrap(),
                    SeekFrom::Current(d) => self.pos.checked_add_signed(d).unwrap(),
                };
                Ok(self.pos)
            }
        }
        let len = 1u64 << 40;
        let mut sparse = Sparse {
            len,
            pos: 0,
            footer: Footer::new_v1(0, len - 32).to_bytes(),
        };
        let err = Container::read(&mut sparse).unwrap_err();
        assert_eq!(err.kind(), Some(ErrorKind::ManifestOutOfBounds));
        assert!(err.to_string().contains("exceeds the 64 MiB"), "{err}");
    }

    fn entry(offset: u64, data: &[u8]) -> Option<ProtoArtifact> {
        Some(ProtoArtifact {
            offset,
            length: data.len() as u64,
            sha256: digest(data),
        })
    }

    /// A manifest whose encoded size does not depend on offsets (fixed64).
    fn manifest_with(
        weights: Option<ProtoArtifact>,
        tokenizer: Option<ProtoArtifact>,
    ) -> EncoderfileManifest {
        EncoderfileManifest {
            model_type: ModelType::Embedding as i32,
            name: String::from("m"),
            version: String::from("v"),
            weights,
            tokenizer,
            ..Default::default()
        }
    }

    #[test]
    fn artifact_bounds() {
        let body = b"0123456789";
        let m_len = manifest_with(entry(1, body), None).encode_to_vec().len() as u64;
        // Valid: weights right after the manifest.
        let ok = assemble(&manifest_with(entry(m_len, body), None), body);
        assert!(read(&ok).is_ok());
        // Offset inside the manifest.
        let bad = assemble(&manifest_with(entry(m_len - 1, body), None), body);
        assert_eq!(kind_of(&bad), ErrorKind::ArtifactOutOfBounds);
        let msg = read(&bad).unwrap_err().to_string();
        assert!(msg.contains("starts inside the"), "{msg}");
        // Runs one byte into the footer.
        let bad = assemble(&manifest_with(entry(m_len + 1, body), None), body);
        assert_eq!(kind_of(&bad), ErrorKind::ArtifactOutOfBounds);
        // offset + length overflows.
        let mut huge = manifest_with(entry(m_len, body), None);
        if let Some(w) = huge.weights.as_mut() {
            w.offset = u64::MAX - 4;
        }
        assert_eq!(
            kind_of(&assemble(&huge, body)),
            ErrorKind::ArtifactOutOfBounds
        );
        // metadata_offset + offset overflows (offset + length does not).
        if let Some(w) = huge.weights.as_mut() {
            w.offset = u64::MAX - 20;
        }
        assert_eq!(
            kind_of(&assemble(&huge, body)),
            ErrorKind::ArtifactOutOfBounds
        );
        // Huge length, in-range offset.
        if let Some(w) = huge.weights.as_mut() {
            w.offset = m_len;
            w.length = 1 << 60;
        }
        assert_eq!(
            kind_of(&assemble(&huge, body)),
            ErrorKind::ArtifactOutOfBounds
        );
    }

    #[test]
    fn digest_length_is_checked_before_bounds() {
        // A digest of the wrong size is bad_manifest even when the range is
        // also out of bounds: the manifest is checked first.
        let mut m = manifest_with(entry(0, b"x"), None);
        if let Some(w) = m.weights.as_mut() {
            w.sha256.pop();
        }
        assert_eq!(kind_of(&assemble(&m, b"x")), ErrorKind::BadManifest);
    }

    #[test]
    fn overlap() {
        let body = b"abcdefghij";
        let m_len = manifest_with(entry(1, body), entry(1, body))
            .encode_to_vec()
            .len() as u64;
        // Same range twice.
        let m = manifest_with(entry(m_len, body), entry(m_len, body));
        let bad = assemble(&m, body);
        assert_eq!(kind_of(&bad), ErrorKind::ArtifactOverlap);
        let msg = read(&bad).unwrap_err().to_string();
        assert!(msg.starts_with("artifacts weights ("), "{msg}");
        // One shared byte.
        let m = manifest_with(entry(m_len, &body[..5]), entry(m_len + 4, &body[4..]));
        assert_eq!(kind_of(&assemble(&m, body)), ErrorKind::ArtifactOverlap);
        // Adjacent: fine.
        let m = manifest_with(entry(m_len, &body[..5]), entry(m_len + 5, &body[5..]));
        assert!(read(&assemble(&m, body)).is_ok());
        // An empty artifact inside another shares no byte. (Its zero length
        // is omitted on the wire: 9 bytes less of manifest.)
        let m = manifest_with(entry(m_len - 9, body), entry(m_len - 9 + 3, b""));
        assert_eq!(m.encode_to_vec().len() as u64, m_len - 9);
        assert!(read(&assemble(&m, body)).is_ok());
        // Overlap is reported before a digest mismatch.
        let mut m = manifest_with(entry(m_len, body), entry(m_len, body));
        if let Some(w) = m.weights.as_mut() {
            w.sha256[0] ^= 1;
        }
        assert_eq!(kind_of(&assemble(&m, body)), ErrorKind::ArtifactOverlap);
    }

    #[test]
    fn gaps_between_artifacts_are_allowed() {
        let m_len = manifest_with(entry(1, b"a"), entry(1, b"b"))
            .encode_to_vec()
            .len() as u64;
        let m = manifest_with(entry(m_len + 2, b"a"), entry(m_len + 5, b"b"));
        let c = read(&assemble(&m, b"..a..b")).unwrap();
        assert_eq!(c.artifacts.len(), 2);
    }

    #[test]
    fn digest_mismatch_names_the_artifact() {
        let packed = sample();
        let c = read(&packed.bytes).unwrap();
        let t = c.artifact(ArtifactKind::ModelConfig).unwrap();
        let mut bad = packed.bytes.clone();
        bad[usize::try_from(t.absolute_offset).unwrap()] ^= 0x20;
        let err = read(&bad).unwrap_err();
        assert_eq!(err.kind(), Some(ErrorKind::Sha256Mismatch));
        let msg = err.to_string();
        assert!(
            msg.starts_with("artifact model_config has sha256 "),
            "{msg}"
        );
        assert!(msg.ends_with("[sha256_mismatch]"), "{msg}");
    }

    #[test]
    fn io_errors_are_not_format_errors() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk on fire"))
            }
        }
        impl Seek for Failing {
            fn seek(&mut self, _: SeekFrom) -> std::io::Result<u64> {
                Ok(1000)
            }
        }
        let err = Container::read(&mut Failing).unwrap_err();
        assert!(err.kind().is_none());
        assert_eq!(err.to_string(), "cannot read the footer: disk on fire");
    }
}
