//! Bounded property-based fuzzing of the container reader: valid containers
//! mutated (byte flips, truncation, random footer fields, hostile manifests)
//! must give `Ok` or an error with a kind: never a panic, never an I/O error
//! on in-memory data, and never an `Ok` that breaks the format's invariants.
//!
//! Case counts keep the whole file well under ~20 s in a debug `cargo test`.
//! A coverage-guided cargo-fuzz target lives in `runtime-crate/fuzz/`.

use std::io::Cursor;

use encoderfile_runtime::format::pack::{pack, Packed};
use encoderfile_runtime::format::proto::manifest::{
    Artifact as ProtoArtifact, EncoderfileManifest,
};
use encoderfile_runtime::format::proto::metadata::ModelType;
use encoderfile_runtime::format::{ArtifactKind, Container, Footer, ReadError};
use proptest::prelude::*;
use prost::Message;
use sha2::{Digest, Sha256};

const BASE: &[u8] = b"BASEBIN!BASEBIN!BASEBIN!BASEBIN!";

fn sample() -> Packed {
    pack(
        BASE,
        ModelType::TokenClassification,
        "fuzz-model",
        "9.9.9",
        &[
            (ArtifactKind::Weights, b"0123456789abcdef".as_slice()),
            (ArtifactKind::Transform, b"\x08\x01\x12\x03lua".as_slice()),
            (
                ArtifactKind::ModelConfig,
                br#"{"model_type":"bert"}"#.as_slice(),
            ),
            (ArtifactKind::Tokenizer, b"{\"tokenizer\":{}}".as_slice()),
        ],
    )
}

/// Reads `bytes`; fails the property on an I/O error, and checks the
/// invariants of every accepted container independently of the reader.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    match Container::read(&mut Cursor::new(bytes)) {
        Err(ReadError::Format(_)) => Ok(()),
        Err(ReadError::Io { action, source }) => Err(TestCaseError::fail(format!(
            "I/O error on in-memory data: {action}: {source}"
        ))),
        Ok(c) => {
            let len = bytes.len() as u64;
            prop_assert_eq!(c.file_len, len);
            prop_assert_eq!(c.footer.format_version, 1);
            prop_assert!(c.footer.flags & 1 == 1);
            prop_assert!(c.model_type != ModelType::Unspecified);
            let m_start = c.footer.metadata_offset;
            let m_end = m_start + c.footer.metadata_length;
            prop_assert!(c.footer.metadata_length > 0 && m_end <= len - 32);
            for (i, a) in c.artifacts.iter().enumerate() {
                prop_assert_eq!(a.absolute_offset, m_start + a.offset);
                let end = a.absolute_offset + a.length;
                prop_assert!(a.absolute_offset >= m_end && end <= len - 32);
                let data = &bytes[a.absolute_offset as usize..end as usize];
                let digest: [u8; 32] = Sha256::digest(data).into();
                prop_assert_eq!(digest, a.sha256);
                for b in &c.artifacts[i + 1..] {
                    let b_end = b.absolute_offset + b.length;
                    prop_assert!(
                        a.absolute_offset.max(b.absolute_offset) >= end.min(b_end),
                        "overlap accepted"
                    );
                }
            }
            Ok(())
        }
    }
}

/// Footer values that hit the edges: zero, small, around the file, huge.
fn footer_u64(file_len: u64) -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        0u64..=file_len + 64,
        (0u64..64).prop_map(|d| u64::MAX - d),
        any::<u64>(),
    ]
}

fn footer_u32() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0u32), Just(1), Just(2), Just(3), any::<u32>()]
}

/// An arbitrary artifact entry with offsets/lengths near the real layout.
fn proto_artifact(span: u64) -> impl Strategy<Value = Option<ProtoArtifact>> {
    let edge = prop_oneof![
        0u64..=span,
        (0u64..64).prop_map(|d| u64::MAX - d),
        any::<u64>()
    ];
    let digest = prop_oneof![
        proptest::collection::vec(any::<u8>(), 32..=32),
        proptest::collection::vec(any::<u8>(), 0..40),
    ];
    proptest::option::of(
        (edge.clone(), edge, digest).prop_map(|(offset, length, sha256)| ProtoArtifact {
            offset,
            length,
            sha256,
        }),
    )
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(4000))]

    /// Up to 8 bytes anywhere XORed with non-zero values.
    #[test]
    fn byte_flips(flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..8)) {
        let mut bytes = sample().bytes;
        for (at, x) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= x;
        }
        check(&bytes)?;
    }

    /// Flips confined to the payload (manifest, artifacts, footer), where
    /// they matter most.
    #[test]
    fn payload_flips(flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4)) {
        let mut bytes = sample().bytes;
        let start = BASE.len();
        for (at, x) in flips {
            let i = start + at.index(bytes.len() - start);
            bytes[i] ^= x;
        }
        check(&bytes)?;
    }

    /// Cut anywhere, optionally with a valid footer re-appended (so the
    /// reader gets past the magic and meets out-of-bounds regions).
    #[test]
    fn truncation(keep in any::<prop::sample::Index>(), refooter in any::<bool>()) {
        let packed = sample();
        let mut bytes = packed.bytes.clone();
        bytes.truncate(keep.index(bytes.len() + 1));
        if refooter {
            let f = Footer::new_v1(packed.base_len, packed.manifest_len);
            bytes.extend_from_slice(&f.to_bytes());
        }
        check(&bytes)?;
    }

    /// Every footer field random (magic kept).
    #[test]
    fn random_footer(
        version in footer_u32(),
        flags in footer_u32(),
        offset in footer_u64(400),
        length in footer_u64(400),
    ) {
        let mut bytes = sample().bytes;
        let at = bytes.len() - 32;
        let footer = Footer { format_version: version, metadata_offset: offset, metadata_length: length, flags };
        bytes[at..].copy_from_slice(&footer.to_bytes());
        check(&bytes)?;
    }

    /// A hostile manifest (random model type, offsets, lengths, digests)
    /// over the real artifact bytes, with a consistent footer.
    #[test]
    fn hostile_manifest(
        model_type in prop_oneof![0i32..=25, any::<i32>()],
        weights in proto_artifact(300),
        transform in proto_artifact(300),
        model_config in proto_artifact(300),
        tokenizer in proto_artifact(300),
        image_preprocessor in proto_artifact(300),
    ) {
        let packed = sample();
        let body_start = (packed.base_len + packed.manifest_len) as usize;
        let body = &packed.bytes[body_start..packed.bytes.len() - 32];
        let manifest = EncoderfileManifest {
            model_type,
            name: String::from("n"),
            version: String::from("v"),
            weights,
            transform,
            model_config,
            tokenizer,
            image_preprocessor,
        }
        .encode_to_vec();
        let mut bytes = BASE.to_vec();
        bytes.extend_from_slice(&manifest);
        bytes.extend_from_slice(body);
        let f = Footer::new_v1(BASE.len() as u64, manifest.len() as u64);
        bytes.extend_from_slice(&f.to_bytes());
        check(&bytes)?;
    }

    /// Random bytes as a manifest, with a consistent footer.
    #[test]
    fn random_manifest_bytes(manifest in proptest::collection::vec(any::<u8>(), 1..200)) {
        let mut bytes = BASE.to_vec();
        bytes.extend_from_slice(&manifest);
        bytes.extend_from_slice(&[0x5A; 64]);
        let f = Footer::new_v1(BASE.len() as u64, manifest.len() as u64);
        bytes.extend_from_slice(&f.to_bytes());
        check(&bytes)?;
    }

    /// Arbitrary files, with and without a valid-looking footer.
    #[test]
    fn random_files(mut bytes in proptest::collection::vec(any::<u8>(), 0..300), magic in any::<bool>()) {
        if magic && bytes.len() >= 32 {
            let at = bytes.len() - 32;
            bytes[at..at + 8].copy_from_slice(b"ENCFILE\0");
        }
        check(&bytes)?;
    }
}

/// The unmutated sample is valid (so the mutations start from a valid file).
#[test]
fn sample_is_valid() {
    let c = Container::read(&mut Cursor::new(sample().bytes)).unwrap();
    assert_eq!(c.artifacts.len(), 4);
}
