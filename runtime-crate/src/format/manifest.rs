//! The protobuf manifest: `encoderfile.manifest.EncoderfileManifest`.
//!
//! [`decode`] turns the manifest bytes into a [`Manifest`] and checks what
//! can be checked without the rest of the file: the message decodes, the
//! model type is one this runtime knows (and not 0, UNSPECIFIED), and every
//! artifact's sha256 is exactly 32 bytes. Unknown field numbers are skipped
//! (proto3 forward compatibility). Artifact offsets are checked against the file by
//! [`super::container`].

use std::fmt;

use prost::Message;

use super::proto::manifest::{Artifact as ProtoArtifact, EncoderfileManifest};
use super::proto::metadata::ModelType;

/// The artifacts a manifest can name, in field-number order (which is also
/// the order the packer lays them out in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ArtifactKind {
    Weights,
    Transform,
    ModelConfig,
    Tokenizer,
    ImagePreprocessor,
}

impl ArtifactKind {
    /// Every kind, in field-number order.
    pub const ALL: [ArtifactKind; 5] = [
        ArtifactKind::Weights,
        ArtifactKind::Transform,
        ArtifactKind::ModelConfig,
        ArtifactKind::Tokenizer,
        ArtifactKind::ImagePreprocessor,
    ];

    /// The manifest field name (`"weights"`, `"model_config"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Weights => "weights",
            ArtifactKind::Transform => "transform",
            ArtifactKind::ModelConfig => "model_config",
            ArtifactKind::Tokenizer => "tokenizer",
            ArtifactKind::ImagePreprocessor => "image_preprocessor",
        }
    }

    /// The kind whose field is named `name`.
    pub fn from_name(name: &str) -> Option<ArtifactKind> {
        ArtifactKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The protobuf field number.
    pub fn field_number(self) -> u32 {
        match self {
            ArtifactKind::Weights => 100,
            ArtifactKind::Transform => 110,
            ArtifactKind::ModelConfig => 120,
            ArtifactKind::Tokenizer => 130,
            ArtifactKind::ImagePreprocessor => 140,
        }
    }

    /// This kind's entry in a decoded manifest message.
    pub fn field(self, manifest: &EncoderfileManifest) -> Option<&ProtoArtifact> {
        match self {
            ArtifactKind::Weights => manifest.weights.as_ref(),
            ArtifactKind::Transform => manifest.transform.as_ref(),
            ArtifactKind::ModelConfig => manifest.model_config.as_ref(),
            ArtifactKind::Tokenizer => manifest.tokenizer.as_ref(),
            ArtifactKind::ImagePreprocessor => manifest.image_preprocessor.as_ref(),
        }
    }

    /// Mutable access to this kind's entry in a manifest message.
    pub fn field_mut(self, manifest: &mut EncoderfileManifest) -> &mut Option<ProtoArtifact> {
        match self {
            ArtifactKind::Weights => &mut manifest.weights,
            ArtifactKind::Transform => &mut manifest.transform,
            ArtifactKind::ModelConfig => &mut manifest.model_config,
            ArtifactKind::Tokenizer => &mut manifest.tokenizer,
            ArtifactKind::ImagePreprocessor => &mut manifest.image_preprocessor,
        }
    }
}

impl fmt::Display for ArtifactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One artifact entry of a decoded manifest. `offset` is relative to the
/// manifest's first byte; nothing about the range is checked yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArtifactRef {
    pub kind: ArtifactKind,
    pub offset: u64,
    pub length: u64,
    pub sha256: [u8; 32],
}

/// A decoded manifest whose model type is known (never `Unspecified`) and
/// whose digests are 32 bytes each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub model_type: ModelType,
    pub name: String,
    pub version: String,
    /// The artifacts present, in field-number order.
    pub artifacts: Vec<ArtifactRef>,
}

impl Manifest {
    /// The entry for `kind`, if the manifest has one.
    pub fn artifact(&self, kind: ArtifactKind) -> Option<&ArtifactRef> {
        self.artifacts.iter().find(|a| a.kind == kind)
    }
}

/// Why manifest bytes are not a valid manifest (kind `bad_manifest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestError {
    /// The bytes are not a valid `EncoderfileManifest` protobuf message.
    Decode(prost::DecodeError),
    /// model_type is 0 (`MODEL_TYPE_UNSPECIFIED`, also what an absent field
    /// decodes to): a manifest must say what kind of model it carries.
    UnspecifiedModelType,
    /// model_type is not a value of `encoderfile.metadata.ModelType`.
    UnknownModelType(i32),
    /// An artifact's sha256 field is not exactly 32 bytes.
    BadDigestLength { artifact: ArtifactKind, len: usize },
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestError::Decode(e) => write!(f, "cannot decode the protobuf manifest: {e}"),
            ManifestError::UnspecifiedModelType => write!(
                f,
                "manifest has model_type 0 (MODEL_TYPE_UNSPECIFIED); a model type is required"
            ),
            ManifestError::UnknownModelType(v) => {
                write!(f, "manifest has unknown model_type {v}")
            }
            ManifestError::BadDigestLength { artifact, len } => write!(
                f,
                "artifact {artifact} has a {len}-byte sha256 in the manifest, expected 32"
            ),
        }
    }
}

impl std::error::Error for ManifestError {}

/// Decodes and validates manifest bytes: decoding, then the model type, then
/// each artifact's digest length (in field order).
pub fn decode(bytes: &[u8]) -> Result<Manifest, ManifestError> {
    let message = EncoderfileManifest::decode(bytes).map_err(ManifestError::Decode)?;
    from_message(message)
}

/// Validates an already decoded manifest message.
pub fn from_message(message: EncoderfileManifest) -> Result<Manifest, ManifestError> {
    let model_type = match ModelType::try_from(message.model_type) {
        Ok(ModelType::Unspecified) => return Err(ManifestError::UnspecifiedModelType),
        Ok(known) => known,
        Err(_) => return Err(ManifestError::UnknownModelType(message.model_type)),
    };
    let mut artifacts = Vec::with_capacity(ArtifactKind::ALL.len());
    for kind in ArtifactKind::ALL {
        if let Some(entry) = kind.field(&message) {
            let sha256: [u8; 32] =
                entry
                    .sha256
                    .as_slice()
                    .try_into()
                    .map_err(|_| ManifestError::BadDigestLength {
                        artifact: kind,
                        len: entry.sha256.len(),
                    })?;
            artifacts.push(ArtifactRef {
                kind,
                offset: entry.offset,
                length: entry.length,
                sha256,
            });
        }
    }
    Ok(Manifest {
        model_type,
        name: message.name,
        version: message.version,
        artifacts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(offset: u64, length: u64, digest_len: usize) -> Option<ProtoArtifact> {
        Some(ProtoArtifact {
            offset,
            length,
            sha256: vec![0xAB; digest_len],
        })
    }

    #[test]
    fn decodes_a_full_manifest() {
        let message = EncoderfileManifest {
            model_type: ModelType::SentenceEmbedding as i32,
            name: String::from("my-model"),
            version: String::from("0.1.0"),
            weights: entry(300, 10, 32),
            transform: None,
            model_config: entry(310, 20, 32),
            tokenizer: entry(330, 30, 32),
            image_preprocessor: None,
        };
        let manifest = decode(&message.encode_to_vec()).unwrap();
        assert_eq!(manifest.model_type, ModelType::SentenceEmbedding);
        assert_eq!(manifest.name, "my-model");
        assert_eq!(manifest.version, "0.1.0");
        let kinds: Vec<ArtifactKind> = manifest.artifacts.iter().map(|a| a.kind).collect();
        assert_eq!(
            kinds,
            [
                ArtifactKind::Weights,
                ArtifactKind::ModelConfig,
                ArtifactKind::Tokenizer
            ]
        );
        assert_eq!(
            manifest.artifact(ArtifactKind::Tokenizer),
            Some(&ArtifactRef {
                kind: ArtifactKind::Tokenizer,
                offset: 330,
                length: 30,
                sha256: [0xAB; 32]
            })
        );
    }

    #[test]
    fn artifact_entry_is_55_bytes_on_the_wire() {
        // The packer relies on this (format reference, "Artifact order and offsets").
        let message = EncoderfileManifest {
            weights: entry(1, 1, 32),
            ..Default::default()
        };
        assert_eq!(message.encode_to_vec().len(), 55);
    }

    #[test]
    fn field_numbers_match_the_schema() {
        // Field 100, wire type 2 (length-delimited): tag varint (100 << 3 | 2).
        for kind in ArtifactKind::ALL {
            let mut message = EncoderfileManifest::default();
            *kind.field_mut(&mut message) = entry(1, 1, 32);
            let bytes = message.encode_to_vec();
            let tag = (kind.field_number() << 3) | 2;
            assert_eq!(bytes[0], (tag as u8 & 0x7f) | 0x80, "{kind}");
            assert_eq!(bytes[1], (tag >> 7) as u8, "{kind}");
            assert_eq!(ArtifactKind::from_name(kind.as_str()), Some(kind));
        }
    }

    #[test]
    fn model_type_is_required() {
        // Proto3: empty bytes are every field at its default, model_type 0.
        assert_eq!(decode(&[]), Err(ManifestError::UnspecifiedModelType));
        let message = EncoderfileManifest {
            name: String::from("x"),
            weights: entry(1, 1, 32),
            ..Default::default()
        };
        assert_eq!(
            decode(&message.encode_to_vec()),
            Err(ManifestError::UnspecifiedModelType)
        );
        // Explicitly encoded 0 (field 1, varint 0), as another writer may do.
        assert_eq!(
            decode(&[0x08, 0x00]),
            Err(ManifestError::UnspecifiedModelType)
        );
        let only_type = decode(&[0x08, 21]).unwrap();
        assert_eq!(only_type.model_type, ModelType::ImageClassification);
        assert!(only_type.artifacts.is_empty());
    }

    #[test]
    fn unknown_fields_are_skipped() {
        // model_type = 1, then field 9 (varint 5), then field 200 (bytes "ab").
        let bytes = [0x08, 0x01, 0x48, 0x05, 0xC2, 0x0C, 0x02, b'a', b'b'];
        let manifest = decode(&bytes).unwrap();
        assert_eq!(manifest.model_type, ModelType::Embedding);
    }

    #[test]
    fn known_field_with_wrong_wire_type_is_rejected() {
        // name (field 2) sent as a varint.
        assert!(matches!(
            decode(&[0x08, 0x01, 0x10, 0x05]),
            Err(ManifestError::Decode(_))
        ));
    }

    #[test]
    fn garbage_does_not_decode() {
        for bytes in [&[0xFFu8; 12][..], &[0x0A, 0x05, 0x41][..], &[0x08][..]] {
            assert!(matches!(decode(bytes), Err(ManifestError::Decode(_))));
        }
        // A truncated valid manifest.
        let full = EncoderfileManifest {
            name: String::from("abc"),
            weights: entry(1, 1, 32),
            ..Default::default()
        }
        .encode_to_vec();
        let err = decode(&full[..full.len() - 1]).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("cannot decode the protobuf manifest"));
    }

    #[test]
    fn invalid_utf8_name_is_rejected() {
        // name (field 2) = 0xFF: not UTF-8.
        assert!(matches!(
            decode(&[0x12, 0x01, 0xFF]),
            Err(ManifestError::Decode(_))
        ));
    }

    #[test]
    fn unknown_model_type() {
        for value in [5, 20, 22, -1, i32::MAX] {
            let message = EncoderfileManifest {
                model_type: value,
                ..Default::default()
            };
            assert_eq!(
                decode(&message.encode_to_vec()),
                Err(ManifestError::UnknownModelType(value))
            );
        }
        let err = ManifestError::UnknownModelType(7);
        assert_eq!(err.to_string(), "manifest has unknown model_type 7");
    }

    #[test]
    fn digest_must_be_32_bytes() {
        for len in [0, 31, 33, 64] {
            let message = EncoderfileManifest {
                model_type: 1,
                weights: entry(1, 1, 32),
                tokenizer: entry(2, 1, len),
                ..Default::default()
            };
            assert_eq!(
                decode(&message.encode_to_vec()),
                Err(ManifestError::BadDigestLength {
                    artifact: ArtifactKind::Tokenizer,
                    len
                })
            );
        }
    }

    #[test]
    fn model_type_is_checked_before_digests() {
        let message = EncoderfileManifest {
            model_type: 99,
            weights: entry(1, 1, 3),
            ..Default::default()
        };
        assert_eq!(
            decode(&message.encode_to_vec()),
            Err(ManifestError::UnknownModelType(99))
        );
    }
}
