"""The manifest message: artifact kinds, model types, and a plain-dict view."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from efbuild.container.proto.encoderfile import manifest_pb2, metadata_pb2

# Field order of EncoderfileManifest (100, 110, ...): the order artifacts are stored in.
ARTIFACT_KINDS = ("weights", "transform", "model_config", "tokenizer", "image_preprocessor")

SHA256_SIZE = 32

# Build-config name -> ModelType enum value. UNSPECIFIED (0) is deliberately absent: a
# container must say what model it holds, and the reference never writes 0.
MODEL_TYPES: dict[str, int] = {
    "embedding": metadata_pb2.EMBEDDING,
    "sentence_embedding": metadata_pb2.SENTENCE_EMBEDDING,
    "sequence_classification": metadata_pb2.SEQUENCE_CLASSIFICATION,
    "token_classification": metadata_pb2.TOKEN_CLASSIFICATION,
    "image_classification": metadata_pb2.IMAGE_CLASSIFICATION,
}
MODEL_TYPE_NAMES: dict[int, str] = {value: name for name, value in MODEL_TYPES.items()}


def enum_name(model_type: int) -> str:
    """The protobuf enum name (EMBEDDING, ...) of a known model type value."""
    return metadata_pb2.ModelType.Name(model_type)


@dataclass(frozen=True)
class ArtifactEntry:
    """One artifact's byte range. `offset` counts from the manifest start, as stored."""

    kind: str
    offset: int
    length: int
    sha256: bytes
    absolute_offset: int

    def as_dict(self) -> dict[str, Any]:
        return {"offset": self.offset, "length": self.length, "sha256": self.sha256.hex(),
                "absolute_offset": self.absolute_offset}


def artifact_entries(manifest: manifest_pb2.EncoderfileManifest, metadata_offset: int) -> list[ArtifactEntry]:
    """The manifest's artifacts in storage (field) order, with absolute file offsets."""
    entries = []
    for kind in ARTIFACT_KINDS:
        if manifest.HasField(kind):
            artifact = getattr(manifest, kind)
            entries.append(ArtifactEntry(kind=kind, offset=artifact.offset, length=artifact.length,
                                         sha256=bytes(artifact.sha256),
                                         absolute_offset=metadata_offset + artifact.offset))
    return entries


def manifest_dict(manifest: manifest_pb2.EncoderfileManifest, entries: list[ArtifactEntry]) -> dict[str, Any]:
    """The JSON-friendly view used by the inspector and the test vectors."""
    return {
        "model_type": enum_name(manifest.model_type),
        "model_type_value": manifest.model_type,
        "name": manifest.name,
        "version": manifest.version,
        "artifacts": {entry.kind: entry.as_dict() for entry in entries},
    }


def build_manifest(*, model_type: int, name: str, version: str,
                   ranges: dict[str, tuple[int, int, bytes]]) -> manifest_pb2.EncoderfileManifest:
    """A manifest with `ranges` as kind -> (offset, length, sha256)."""
    manifest = manifest_pb2.EncoderfileManifest(model_type=model_type, name=name, version=version)
    for kind, (offset, length, digest) in ranges.items():
        getattr(manifest, kind).CopyFrom(manifest_pb2.Artifact(offset=offset, length=length, sha256=digest))
    return manifest


def encode_manifest(manifest: manifest_pb2.EncoderfileManifest) -> bytes:
    # deterministic=True: the bytes are part of the file's identity (and of the test vectors).
    return manifest.SerializeToString(deterministic=True)
