"""Read an encoderfile strictly: every byte of a hostile file ends in ContainerError.

The checks run in the order of ERROR_KINDS (errors.py), each over all artifacts
before the next one starts, so one file always gets one well-defined kind. The Rust
reader follows the same order; tests/vectors/ pins it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from google.protobuf.unknown_fields import UnknownFieldSet

from efbuild.container import footer as footer_codec
from efbuild.container.errors import ContainerError
from efbuild.container.footer import FOOTER_SIZE, Footer
from efbuild.container.manifest import (ARTIFACT_KINDS, MODEL_TYPE_NAMES, SHA256_SIZE, ArtifactEntry,
                                        artifact_entries, manifest_dict)
from efbuild.container.proto.encoderfile import manifest_pb2

CHUNK_SIZE = 1024 * 1024
# A real manifest is a few hundred bytes; refusing giant ones keeps a hostile footer
# from making the reader allocate most of a multi-GB file.
MAX_MANIFEST_LENGTH = 64 * 1024 * 1024
# read_artifact returns bytes; weights go through verify_artifacts / offsets instead.
MAX_READ_ARTIFACT_LENGTH = 256 * 1024 * 1024

_MANIFEST_FIELD_NUMBERS = frozenset(field.number for field in manifest_pb2.EncoderfileManifest.DESCRIPTOR.fields)
_ARTIFACT_FIELD_NUMBERS = frozenset(field.number for field in manifest_pb2.Artifact.DESCRIPTOR.fields)


@dataclass(frozen=True)
class Container:
    """A parsed encoderfile. Artifact entries are in storage order, with absolute offsets."""

    path: Path
    file_length: int
    footer: Footer
    manifest: manifest_pb2.EncoderfileManifest
    artifacts: list[ArtifactEntry]

    @property
    def base_length(self) -> int:
        return self.footer.metadata_offset

    @property
    def manifest_dict(self) -> dict[str, Any]:
        return manifest_dict(self.manifest, self.artifacts)

    def artifact(self, kind: str) -> ArtifactEntry | None:
        return next((entry for entry in self.artifacts if entry.kind == kind), None)


@dataclass(frozen=True)
class ArtifactCheck:
    kind: str
    ok: bool
    expected_sha256: str
    actual_sha256: str


def read_encoderfile(path: Path | str, *, verify: bool = True) -> Container:
    """Parse and validate `path`; with verify=True also check every artifact's sha256."""
    path = Path(path)
    with open(path, "rb") as stream:
        file_length = os.fstat(stream.fileno()).st_size
        footer = _read_footer(stream, file_length, path)
        _check_manifest_bounds(footer, file_length, path)
        manifest = _decode_manifest(_read_exactly(stream, footer.metadata_offset, footer.metadata_length, path), path)
    entries = artifact_entries(manifest, footer.metadata_offset)
    _check_manifest_content(manifest, entries, path)
    _check_artifact_bounds(entries, footer, file_length, path)
    _check_no_overlap(entries, path)
    container = Container(path=path, file_length=file_length, footer=footer, manifest=manifest, artifacts=entries)
    if verify:
        _raise_on_mismatch(verify_artifacts(container), path)
    return container


def verify_artifacts(container: Container) -> list[ArtifactCheck]:
    """Stream every artifact through sha256; reports, does not raise, on mismatch."""
    checks = []
    with open(container.path, "rb") as stream:
        for entry in container.artifacts:
            actual = _hash_range(stream, entry.absolute_offset, entry.length)
            checks.append(ArtifactCheck(kind=entry.kind, ok=actual == entry.sha256,
                                        expected_sha256=entry.sha256.hex(), actual_sha256=actual.hex()))
    return checks


def read_artifact(container: Container, kind: str, *, max_length: int = MAX_READ_ARTIFACT_LENGTH) -> bytes:
    """The bytes of one (small) artifact, checked against its sha256.

    Raises KeyError if the container has no such artifact, ValueError if it is larger
    than max_length (stream large ones instead), ContainerError on a sha256 mismatch.
    """
    if kind not in ARTIFACT_KINDS:
        raise ValueError(f"unknown artifact kind {kind!r}")
    entry = container.artifact(kind)
    if entry is None:
        raise KeyError(f"{container.path}: no {kind} artifact")
    if entry.length > max_length:
        raise ValueError(f"{container.path}: {kind} artifact is {entry.length} bytes, over the {max_length} limit")
    with open(container.path, "rb") as stream:
        data = _read_exactly(stream, entry.absolute_offset, entry.length, container.path)
    actual = hashlib.sha256(data).digest()
    if actual != entry.sha256:
        raise _mismatch_error(entry, actual, container.path)
    return data


# --- checks, in contract order ---------------------------------------------------

def _read_footer(stream: BinaryIO, file_length: int, path: Path) -> Footer:
    if file_length < FOOTER_SIZE:
        raise ContainerError("truncated", f"{path}: {file_length} bytes, shorter than the {FOOTER_SIZE}-byte footer")
    tail = _read_exactly(stream, file_length - FOOTER_SIZE, FOOTER_SIZE, path)
    return footer_codec.decode(tail, source=str(path))


def _check_manifest_bounds(footer: Footer, file_length: int, path: Path) -> None:
    # Python ints cannot overflow; the sum exceeding the limit is what overflow means in u64 code.
    limit = file_length - FOOTER_SIZE
    end = footer.metadata_offset + footer.metadata_length
    if footer.metadata_length == 0:
        raise ContainerError("manifest_out_of_bounds", f"{path}: footer gives the manifest length 0")
    if end > limit:
        raise ContainerError("manifest_out_of_bounds",
                             f"{path}: manifest at offset {footer.metadata_offset} length {footer.metadata_length} "
                             f"does not fit in the {limit} bytes before the footer")
    if footer.metadata_length > MAX_MANIFEST_LENGTH:
        # Checked before reading, so a hostile length never becomes an allocation.
        raise ContainerError("manifest_out_of_bounds",
                             f"{path}: manifest of {footer.metadata_length} bytes exceeds the "
                             f"{MAX_MANIFEST_LENGTH}-byte limit (the Rust runtime's too)")


def _decode_manifest(data: bytes, path: Path) -> manifest_pb2.EncoderfileManifest:
    manifest = manifest_pb2.EncoderfileManifest()
    try:
        manifest.ParseFromString(data)
        _reject_mistyped_fields(manifest, path)
    except ContainerError:
        raise
    except Exception as exc:  # noqa: BLE001 - protobuf backends raise different types for bad input
        raise ContainerError("bad_manifest", f"{path}: manifest ({len(data)} bytes) is not a valid "
                                             f"protobuf: {_one_line(exc)}") from None
    return manifest


def _reject_mistyped_fields(manifest: manifest_pb2.EncoderfileManifest, path: Path) -> None:
    """Fail on a known field number sent with the wrong wire type.

    Python's protobuf keeps such a field as an unknown field and parses on; prost (the
    Rust reader) rejects it. Rejecting here keeps both readers in agreement.
    """
    _reject_known_numbers(manifest, _MANIFEST_FIELD_NUMBERS, "manifest", path)
    for kind in ARTIFACT_KINDS:
        if manifest.HasField(kind):
            _reject_known_numbers(getattr(manifest, kind), _ARTIFACT_FIELD_NUMBERS, f"{kind} artifact", path)


def _reject_known_numbers(message, known_numbers: frozenset[int], where: str, path: Path) -> None:
    for unknown in UnknownFieldSet(message):
        if unknown.field_number in known_numbers:
            raise ContainerError("bad_manifest", f"{path}: {where} field {unknown.field_number} has wire type "
                                                 f"{unknown.wire_type}, not the one its schema declares")


def _check_manifest_content(manifest: manifest_pb2.EncoderfileManifest, entries: list[ArtifactEntry],
                            path: Path) -> None:
    if manifest.model_type not in MODEL_TYPE_NAMES:
        raise ContainerError("bad_manifest", f"{path}: model_type {manifest.model_type} is not one of "
                                             f"{sorted(MODEL_TYPE_NAMES)}")
    for entry in entries:
        if len(entry.sha256) != SHA256_SIZE:
            raise ContainerError("bad_manifest", f"{path}: {entry.kind} sha256 is {len(entry.sha256)} bytes, "
                                                 f"not {SHA256_SIZE}")


def _check_artifact_bounds(entries: list[ArtifactEntry], footer: Footer, file_length: int, path: Path) -> None:
    """Every artifact must lie between the manifest's end and the footer's start."""
    payload_end = file_length - FOOTER_SIZE - footer.metadata_offset  # relative to the manifest start
    for entry in entries:
        if entry.offset < footer.metadata_length or entry.offset + entry.length > payload_end:
            raise ContainerError("artifact_out_of_bounds",
                                 f"{path}: {entry.kind} at offset {entry.offset} length {entry.length} is outside "
                                 f"the payload [{footer.metadata_length}, {payload_end}) (offsets from the manifest)")


def _check_no_overlap(entries: list[ArtifactEntry], path: Path) -> None:
    # Empty ranges cover no byte, so they cannot overlap anything.
    ordered = sorted((entry for entry in entries if entry.length > 0), key=lambda entry: entry.offset)
    for before, after in zip(ordered, ordered[1:]):
        if before.offset + before.length > after.offset:
            raise ContainerError("artifact_overlap",
                                 f"{path}: {before.kind} [{before.offset}, {before.offset + before.length}) overlaps "
                                 f"{after.kind} [{after.offset}, {after.offset + after.length})")


def _raise_on_mismatch(checks: list[ArtifactCheck], path: Path) -> None:
    for check in checks:
        if not check.ok:
            raise ContainerError("sha256_mismatch", f"{path}: {check.kind} sha256 is {check.actual_sha256}, "
                                                    f"the manifest says {check.expected_sha256}")


def _mismatch_error(entry: ArtifactEntry, actual: bytes, path: Path) -> ContainerError:
    return ContainerError("sha256_mismatch", f"{path}: {entry.kind} sha256 is {actual.hex()}, "
                                             f"the manifest says {entry.sha256.hex()}")


# --- I/O helpers -------------------------------------------------------------------

def _read_exactly(stream: BinaryIO, offset: int, length: int, path: Path) -> bytes:
    """Read a range already checked against the file length; a shorter read means the file shrank."""
    stream.seek(offset)
    data = stream.read(length)
    if len(data) != length:
        raise ContainerError("truncated", f"{path}: wanted {length} bytes at offset {offset}, got {len(data)} "
                                          f"(file changed while reading?)")
    return data


def _hash_range(stream: BinaryIO, offset: int, length: int) -> bytes:
    digest = hashlib.sha256()
    stream.seek(offset)
    remaining = length
    while remaining > 0:
        chunk = stream.read(min(CHUNK_SIZE, remaining))
        if not chunk:
            break  # file shrank: the digest then cannot match, which is the right verdict
        digest.update(chunk)
        remaining -= len(chunk)
    return digest.digest()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
