"""Hostile bytes never escape the reader as anything but ContainerError.

Each property mutates the valid vectors in one way and asserts the reader either
accepts the result (and then it really is consistent) or raises ContainerError with a
kind from the contract. max_examples keeps the whole file within a few seconds.
"""

from __future__ import annotations

import hashlib
import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from efbuild.container import ERROR_KINDS, FOOTER_SIZE, MAGIC, ContainerError, read_encoderfile, verify_artifacts
from efbuild.container.proto.encoderfile import manifest_pb2

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
VALID = {path.stem: path.read_bytes() for path in sorted(VECTORS.glob("valid_*.bin"))}
U64 = st.integers(min_value=0, max_value=2**64 - 1)
U32 = st.integers(min_value=0, max_value=2**32 - 1)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

valid_blobs = st.sampled_from(sorted(VALID)).map(VALID.__getitem__)


@pytest.fixture(scope="module")
def scratch() -> Path:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory) / "fuzzed.encoderfile"


def assert_reader_is_sound(path: Path, blob: bytes) -> None:
    """Accepted files must be internally consistent; rejected ones must say why with a known kind."""
    path.write_bytes(blob)
    try:
        container = read_encoderfile(path)
    except ContainerError as error:
        assert error.kind in ERROR_KINDS
        assert "\n" not in error.message
        event(error.kind)  # `pytest --hypothesis-show-statistics` shows what the mutations reach
        return
    event("accepted")
    footer = container.footer
    assert footer.metadata_offset + footer.metadata_length <= len(blob) - FOOTER_SIZE
    ranges = sorted((entry.absolute_offset, entry.absolute_offset + entry.length) for entry in container.artifacts)
    for start, end in ranges:
        assert footer.metadata_offset + footer.metadata_length <= start <= end <= len(blob) - FOOTER_SIZE
    covered = [(start, end) for start, end in ranges if end > start]  # empty ranges overlap nothing
    assert all(end <= next_start for (_, end), (next_start, _) in zip(covered, covered[1:]))
    assert all(check.ok for check in verify_artifacts(container))


def footer_of(blob: bytes) -> tuple:
    return struct.unpack("<8sIQQI", blob[-FOOTER_SIZE:])


@FUZZ
@given(blob=valid_blobs, flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(1, 255)),
                                        min_size=1, max_size=8))
def test_byte_flips(scratch, blob, flips):
    mutated = bytearray(blob)
    for index, mask in flips:
        mutated[index % len(mutated)] ^= mask
    assert_reader_is_sound(scratch, bytes(mutated))


@FUZZ
@given(blob=valid_blobs, flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(1, 255)),
                                        min_size=1, max_size=4))
def test_manifest_byte_flips(scratch, blob, flips):
    """Flips aimed at the manifest, where random flips over the whole file rarely land."""
    _, _, offset, length, _ = footer_of(blob)
    mutated = bytearray(blob)
    for index, mask in flips:
        mutated[offset + index % length] ^= mask
    assert_reader_is_sound(scratch, bytes(mutated))


@FUZZ
@given(blob=valid_blobs, cut=st.integers(min_value=0), keep_tail=st.booleans())
def test_truncations(scratch, blob, cut, keep_tail):
    cut %= len(blob)
    assert_reader_is_sound(scratch, blob[cut:] if keep_tail else blob[:cut])


@FUZZ
@given(blob=valid_blobs, at=st.integers(min_value=0), inserted=st.binary(min_size=1, max_size=64))
def test_inserted_bytes(scratch, blob, at, inserted):
    at %= len(blob) + 1
    assert_reader_is_sound(scratch, blob[:at] + inserted + blob[at:])


@FUZZ
@given(blob=valid_blobs, version=st.one_of(st.just(1), U32), offset=st.one_of(st.integers(0, 1024), U64),
       length=st.one_of(st.integers(0, 1024), U64), flags=st.one_of(st.just(1), U32),
       magic=st.one_of(st.just(MAGIC), st.binary(min_size=8, max_size=8)))
def test_random_footer_fields(scratch, blob, version, offset, length, flags, magic):
    footer = struct.pack("<8sIQQI", magic, version, offset, length, flags)
    assert_reader_is_sound(scratch, blob[:-FOOTER_SIZE] + footer)


artifact_fields = st.fixed_dictionaries({
    "offset": st.one_of(st.integers(0, 1024), U64),
    "length": st.one_of(st.integers(0, 512), U64),
    "sha256": st.one_of(st.binary(min_size=32, max_size=32), st.binary(max_size=40)),
})
# Mostly valid model types, so the checks after model_type get exercised too.
model_types = st.one_of(st.sampled_from([1, 2, 3, 4, 21]), st.integers(-5, 30))


@FUZZ
@given(blob=valid_blobs, model_type=model_types, artifacts=st.dictionaries(
    st.sampled_from(["weights", "transform", "model_config", "tokenizer", "image_preprocessor"]), artifact_fields))
def test_random_manifests(scratch, blob, model_type, artifacts):
    """Well-formed protobuf with arbitrary numbers: exercises the bounds and overlap checks."""
    _, _, offset, length, _ = footer_of(blob)
    manifest = manifest_pb2.EncoderfileManifest(model_type=model_type, name="fuzz", version="0")
    for kind, fields in artifacts.items():
        getattr(manifest, kind).CopyFrom(manifest_pb2.Artifact(**fields))
    encoded = manifest.SerializeToString()
    footer = struct.pack("<8sIQQI", MAGIC, 1, offset, len(encoded), 1)
    assert_reader_is_sound(scratch, blob[:offset] + encoded + blob[offset + length:-FOOTER_SIZE] + footer)


@FUZZ
@given(blob=valid_blobs, garbage=st.binary(min_size=1, max_size=300))
def test_random_manifest_bytes(scratch, blob, garbage):
    _, _, offset, length, _ = footer_of(blob)
    footer = struct.pack("<8sIQQI", MAGIC, 1, offset, len(garbage), 1)
    assert_reader_is_sound(scratch, blob[:offset] + garbage + blob[offset + length:-FOOTER_SIZE] + footer)



@FUZZ
@given(blob=valid_blobs, data=st.data())
def test_random_layouts(scratch, blob, data):
    """Artifacts placed anywhere near the payload, with matching digests: bounds and overlap edges."""
    _, _, offset, length, _ = footer_of(blob)
    payload = blob[offset + length:-FOOTER_SIZE]
    kinds = data.draw(st.sets(st.sampled_from(["weights", "transform", "model_config", "tokenizer"]), min_size=1))
    # Start relative to the payload (the manifest's end): slightly before it to slightly past the footer.
    placements = {kind: (data.draw(st.integers(-4, len(payload) + 2)), data.draw(st.integers(0, 64)))
                  for kind in sorted(kinds)}
    manifest = manifest_pb2.EncoderfileManifest(model_type=1, name="layout")
    for kind, (start, size) in placements.items():
        digest = hashlib.sha256(payload[max(start, 0):max(start, 0) + size]).digest()
        getattr(manifest, kind).CopyFrom(manifest_pb2.Artifact(length=size, sha256=digest))
    for kind in placements:
        getattr(manifest, kind).offset = 1  # any non-zero fixed64 encodes to the same size as the real one
    manifest_length = len(manifest.SerializeToString())
    for kind, (start, _) in placements.items():
        getattr(manifest, kind).offset = manifest_length + start
    encoded = manifest.SerializeToString()
    assert len(encoded) == manifest_length
    footer = struct.pack("<8sIQQI", MAGIC, 1, offset, manifest_length, 1)
    assert_reader_is_sound(scratch, blob[:offset] + encoded + payload + footer)
