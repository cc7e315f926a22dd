//! A minimal encoderfile writer: base binary + manifest + artifacts + footer,
//! laid out as the reference packer does (artifacts in field order right
//! after the manifest, no padding).
//!
//! The runtime itself only reads containers; this exists for tests, fuzzing
//! and tools that need valid containers to start from.

use prost::Message;
use sha2::{Digest, Sha256};

use super::footer::Footer;
use super::manifest::ArtifactKind;
use super::proto::manifest::{Artifact as ProtoArtifact, EncoderfileManifest};
use super::proto::metadata::ModelType;

/// A packed container and where its parts are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    /// The whole file.
    pub bytes: Vec<u8>,
    /// The base binary's size (= metadata_offset).
    pub base_len: u64,
    /// The manifest's size (= metadata_length).
    pub manifest_len: u64,
    /// The manifest message as written, offsets filled in.
    pub manifest: EncoderfileManifest,
}

/// Builds the manifest for `artifacts` (sorted into field order; a kind
/// given twice keeps its last data) starting right after the manifest.
/// Returns the message and its encoded bytes.
pub fn manifest_for(
    model_type: ModelType,
    name: &str,
    version: &str,
    artifacts: &[(ArtifactKind, &[u8])],
) -> (EncoderfileManifest, Vec<u8>) {
    let mut ordered: Vec<(ArtifactKind, &[u8])> = Vec::new();
    for kind in ArtifactKind::ALL {
        if let Some((_, data)) = artifacts.iter().rev().find(|(k, _)| *k == kind) {
            ordered.push((kind, data));
        }
    }
    let mut message = EncoderfileManifest {
        model_type: model_type as i32,
        name: name.to_owned(),
        version: version.to_owned(),
        ..Default::default()
    };
    for (kind, data) in &ordered {
        *kind.field_mut(&mut message) = Some(ProtoArtifact {
            offset: 0,
            length: data.len() as u64,
            sha256: Sha256::digest(data).to_vec(),
        });
    }
    // The offsets depend on the manifest's size, which with fixed64 fields
    // does not depend on the offsets (except for zero values, which proto3
    // omits): re-encode until the size is stable.
    let mut encoded = message.encode_to_vec();
    loop {
        let mut offset = encoded.len() as u64;
        for (kind, data) in &ordered {
            if let Some(entry) = kind.field_mut(&mut message).as_mut() {
                entry.offset = offset;
            }
            offset += data.len() as u64;
        }
        let again = message.encode_to_vec();
        if again.len() == encoded.len() {
            return (message, again);
        }
        encoded = again;
    }
}

/// Packs `artifacts` onto `base`.
pub fn pack(
    base: &[u8],
    model_type: ModelType,
    name: &str,
    version: &str,
    artifacts: &[(ArtifactKind, &[u8])],
) -> Packed {
    let (manifest, manifest_bytes) = manifest_for(model_type, name, version, artifacts);
    let mut bytes = base.to_vec();
    bytes.extend_from_slice(&manifest_bytes);
    for kind in ArtifactKind::ALL {
        if let Some((_, data)) = artifacts.iter().rev().find(|(k, _)| *k == kind) {
            bytes.extend_from_slice(data);
        }
    }
    let footer = Footer::new_v1(base.len() as u64, manifest_bytes.len() as u64);
    bytes.extend_from_slice(&footer.to_bytes());
    Packed {
        bytes,
        base_len: base.len() as u64,
        manifest_len: manifest_bytes.len() as u64,
        manifest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_reference() {
        let packed = pack(
            b"BASE",
            ModelType::TokenClassification,
            "n",
            "1",
            &[
                (ArtifactKind::Tokenizer, b"tok".as_slice()),
                (ArtifactKind::Weights, b"weights".as_slice()),
            ],
        );
        // Header (2 + 1 + 3 + 3 bytes) + two 55-byte entries.
        assert_eq!(packed.manifest_len, 2 + 3 + 3 + 2 * 55);
        let m = packed.manifest_len;
        let w = packed.manifest.weights.as_ref().unwrap();
        let t = packed.manifest.tokenizer.as_ref().unwrap();
        assert_eq!((w.offset, w.length), (m, 7));
        assert_eq!((t.offset, t.length), (m + 7, 3));
        let total = 4 + m as usize + 7 + 3 + 32;
        assert_eq!(packed.bytes.len(), total);
        assert_eq!(&packed.bytes[..4], b"BASE");
        assert_eq!(&packed.bytes[4 + m as usize..][..10], b"weightstok");
        assert_eq!(&packed.bytes[total - 32..total - 24], b"ENCFILE\0");
    }

    #[test]
    fn no_artifacts() {
        let packed = pack(b"", ModelType::Unspecified, "", "", &[]);
        // An all-default manifest encodes to nothing; the footer then has a
        // zero manifest length, which readers reject.
        assert_eq!(packed.manifest_len, 0);
        assert_eq!(packed.bytes.len(), 32);
    }
}
