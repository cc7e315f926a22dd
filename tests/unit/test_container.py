"""The encoderfile container: shared vectors, writer round trip, byte layout, atomic output."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from efbuild.container import (ARTIFACT_KINDS, ERROR_KINDS, FOOTER_SIZE, MAGIC, MODEL_TYPES, ArtifactSource,
                               ContainerError, Footer, read_artifact, read_encoderfile, verify_artifacts,
                               write_encoderfile)
from efbuild.container import footer as footer_codec
from efbuild.container.proto.encoderfile import manifest_pb2, metadata_pb2
from efbuild.errors import EfbuildError

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "tests" / "vectors"
VECTOR_NAMES = sorted(path.stem for path in VECTORS.glob("*.json"))
ARTIFACT_ENTRY_SIZE = 55  # 2-byte tag (fields >= 16), 1-byte length, 9 + 9 + 34
BASE = b"#!fake-runtime\n" + bytes(range(256)) * 3


def load_vector(name: str) -> tuple[Path, dict]:
    return VECTORS / f"{name}.bin", json.loads((VECTORS / f"{name}.json").read_text())


def test_vectors_exist_and_cover_every_error_kind():
    kinds = {load_vector(name)[1].get("error_kind") for name in VECTOR_NAMES}
    assert set(ERROR_KINDS) <= kinds
    assert any(load_vector(name)[1]["valid"] for name in VECTOR_NAMES)


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_reader_agrees_with_vector(name):
    path, expected = load_vector(name)
    if expected["valid"]:
        container = read_encoderfile(path)
        assert container.manifest_dict == expected["manifest"]
        assert container.base_length == expected["base_length"]
        assert container.file_length == expected["file_length"] == path.stat().st_size
        footer = container.footer
        assert {"format_version": footer.format_version, "metadata_offset": footer.metadata_offset,
                "metadata_length": footer.metadata_length, "flags": footer.flags} == expected["footer"]
    else:
        with pytest.raises(ContainerError) as caught:
            read_encoderfile(path)
        assert caught.value.kind == expected["error_kind"]
        assert "\n" not in caught.value.message and str(path) in caught.value.message


def test_container_error_is_an_efbuild_error_with_its_own_exit_code():
    error = ContainerError("truncated", "x: 3 bytes")
    assert isinstance(error, EfbuildError) and error.exit_code == 9 and error.kind == "truncated"
    with pytest.raises(ValueError):
        ContainerError("nonsense", "x")


@pytest.mark.parametrize("name", [name for name in VECTOR_NAMES if name.startswith("valid_")])
def test_valid_vector_artifacts_hash_and_read_back(name):
    path, expected = load_vector(name)
    container = read_encoderfile(path)
    assert all(check.ok for check in verify_artifacts(container))
    for kind, facts in expected["manifest"]["artifacts"].items():
        data = read_artifact(container, kind)
        assert hashlib.sha256(data).hexdigest() == facts["sha256"]
        raw = path.read_bytes()
        assert raw[facts["absolute_offset"]:facts["absolute_offset"] + facts["length"]] == data


def test_transform_artifact_is_a_transform_message():
    container = read_encoderfile(VECTORS / "valid_all_artifacts.bin")
    transform = manifest_pb2.Transform.FromString(read_artifact(container, "transform"))
    assert transform.transform_type == manifest_pb2.LUA
    assert "Postprocess" in transform.transform and list(transform.lua_libs.libs) == ["table", "string"]


def test_verify_false_skips_hashes_and_verify_artifacts_reports_the_mismatch():
    container = read_encoderfile(VECTORS / "sha256_mismatch_weights.bin", verify=False)
    checks = {check.kind: check for check in verify_artifacts(container)}
    assert not checks["weights"].ok and checks["weights"].actual_sha256 != checks["weights"].expected_sha256
    assert checks["tokenizer"].ok and checks["model_config"].ok
    with pytest.raises(ContainerError) as caught:
        read_artifact(container, "weights")
    assert caught.value.kind == "sha256_mismatch"


def test_read_artifact_refuses_absent_and_oversized_artifacts():
    container = read_encoderfile(VECTORS / "valid_text_model.bin")
    with pytest.raises(KeyError):
        read_artifact(container, "transform")
    with pytest.raises(ValueError):
        read_artifact(container, "tokenizer", max_length=10)


# --- footer ---------------------------------------------------------------------------------

def test_footer_round_trip_and_field_layout():
    footer = Footer(metadata_offset=0x0102030405060708, metadata_length=0x1112)
    encoded = footer.encode()
    assert len(encoded) == FOOTER_SIZE == 32
    assert encoded[:8] == MAGIC == b"ENCFILE\0"
    assert struct.unpack("<I", encoded[8:12]) == (1,)
    assert struct.unpack("<Q", encoded[12:20]) == (0x0102030405060708,)
    assert struct.unpack("<Q", encoded[20:28]) == (0x1112,)
    assert struct.unpack("<I", encoded[28:32]) == (1,)
    assert footer_codec.decode(encoded) == footer


def test_footer_decode_needs_exactly_32_bytes():
    with pytest.raises(ContainerError) as caught:
        footer_codec.decode(b"ENCFILE\0")
    assert caught.value.kind == "truncated"


def test_model_types_map_config_names_to_enum_values():
    assert MODEL_TYPES == {"embedding": 1, "sentence_embedding": 4, "sequence_classification": 2,
                           "token_classification": 3, "image_classification": 21}
    assert all(metadata_pb2.ModelType.Name(value) == name.upper() for name, value in MODEL_TYPES.items())


# --- writer -----------------------------------------------------------------------------------

@pytest.fixture
def base_binary(tmp_path) -> Path:
    path = tmp_path / "encoderfile-runtime"
    path.write_bytes(BASE)
    return path


def sample_artifacts(tmp_path: Path) -> list[ArtifactSource]:
    weights = tmp_path / "model.onnx"
    weights.write_bytes(b"\x08\x07onnx" * 100)
    # Deliberately out of storage order: the writer sorts by field number.
    return [ArtifactSource("tokenizer", data=b'{"tokenizer": {}, "config": {}}'),
            ArtifactSource("weights", path=weights),
            ArtifactSource("model_config", data=b'{"model_type": "bert"}')]


def write_sample(tmp_path: Path, base_binary: Path, **overrides) -> Path:
    out = tmp_path / "out" / "tiny.encoderfile"
    out.parent.mkdir(exist_ok=True)
    args = dict(model_type=MODEL_TYPES["sentence_embedding"], name="tiny", version="0.1.0", out=out)
    artifacts = overrides.pop("artifacts", None)
    if artifacts is None:
        artifacts = sample_artifacts(tmp_path)
    write_encoderfile(base_binary, artifacts, **{**args, **overrides})
    return out


def test_writer_round_trip(tmp_path, base_binary):
    out = write_sample(tmp_path, base_binary)
    container = read_encoderfile(out)
    assert container.manifest_dict["model_type"] == "SENTENCE_EMBEDDING"
    assert (container.manifest.name, container.manifest.version) == ("tiny", "0.1.0")
    assert [entry.kind for entry in container.artifacts] == ["weights", "model_config", "tokenizer"]
    assert read_artifact(container, "weights") == (tmp_path / "model.onnx").read_bytes()
    assert read_artifact(container, "model_config") == b'{"model_type": "bert"}'


def test_writer_byte_layout(tmp_path, base_binary):
    artifacts = sample_artifacts(tmp_path)
    out = write_sample(tmp_path, base_binary, artifacts=artifacts)
    raw = out.read_bytes()
    magic, version, metadata_offset, metadata_length, flags = struct.unpack("<8sIQQI", raw[-32:])
    assert (magic, version, flags) == (MAGIC, 1, 1)
    assert raw[:metadata_offset] == BASE and metadata_offset == len(BASE)
    header = 2 + (2 + len("tiny")) + (2 + len("0.1.0"))  # model_type, name, version fields
    assert metadata_length == header + 3 * ARTIFACT_ENTRY_SIZE
    contents = [(tmp_path / "model.onnx").read_bytes(), b'{"model_type": "bert"}', b'{"tokenizer": {}, "config": {}}']
    assert len(raw) == len(BASE) + metadata_length + sum(map(len, contents)) + FOOTER_SIZE
    # Artifacts back to back right after the manifest, in field order.
    assert raw[metadata_offset + metadata_length:-FOOTER_SIZE] == b"".join(contents)
    manifest = manifest_pb2.EncoderfileManifest.FromString(raw[metadata_offset:metadata_offset + metadata_length])
    assert manifest.weights.offset == metadata_length
    assert manifest.model_config.offset == metadata_length + len(contents[0])
    assert manifest.tokenizer.sha256 == hashlib.sha256(contents[2]).digest()


def test_artifact_entry_is_55_bytes():
    entry = manifest_pb2.EncoderfileManifest(
        tokenizer=manifest_pb2.Artifact(offset=1, length=1, sha256=bytes(32))).SerializeToString()
    assert len(entry) == ARTIFACT_ENTRY_SIZE
    assert entry[:3] == b"\x92\x08\x34"  # field 130 length-delimited, 52-byte body


def test_output_is_executable_and_no_temp_file_remains(tmp_path, base_binary):
    out = write_sample(tmp_path, base_binary)
    assert out.stat().st_mode & 0o777 == 0o755
    assert sorted(path.name for path in out.parent.iterdir()) == [out.name]


def test_writer_replaces_an_existing_output(tmp_path, base_binary):
    out = tmp_path / "out" / "tiny.encoderfile"
    out.parent.mkdir()
    out.write_bytes(b"old")
    write_sample(tmp_path, base_binary)
    assert read_encoderfile(out).manifest.name == "tiny"


@pytest.mark.parametrize("bad_artifacts, error", [
    ([ArtifactSource("weights", path=Path("/nonexistent/model.onnx"))], FileNotFoundError),
    ([ArtifactSource("weights", data=b"x"), ArtifactSource("weights", data=b"y")], ValueError),
    ([ArtifactSource("weights", data=b"")], ValueError),
])
def test_failed_write_leaves_nothing_behind(tmp_path, base_binary, bad_artifacts, error):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(error):
        write_sample(tmp_path, base_binary, artifacts=bad_artifacts)
    assert list(out_dir.iterdir()) == []


def test_failure_during_copy_removes_the_temp_file(tmp_path, base_binary, monkeypatch):
    import efbuild.container.writer as writer

    def broken_copy(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(writer.shutil, "copyfileobj", broken_copy)
    with pytest.raises(OSError, match="disk full"):
        write_sample(tmp_path, base_binary)
    assert list((tmp_path / "out").iterdir()) == []


def test_writer_rejects_unknown_model_type_and_kind(tmp_path, base_binary):
    with pytest.raises(ValueError):
        write_sample(tmp_path, base_binary, model_type=0)
    with pytest.raises(ValueError):
        ArtifactSource("vocab", data=b"x")
    with pytest.raises(ValueError):
        ArtifactSource("weights")


def test_all_five_artifacts_in_field_order(tmp_path, base_binary):
    artifacts = [ArtifactSource(kind, data=kind.encode()) for kind in reversed(ARTIFACT_KINDS)]
    out = write_sample(tmp_path, base_binary, artifacts=artifacts, model_type=MODEL_TYPES["image_classification"])
    container = read_encoderfile(out)
    assert [entry.kind for entry in container.artifacts] == list(ARTIFACT_KINDS)
    assert container.footer.metadata_length == 2 + 6 + 7 + 5 * ARTIFACT_ENTRY_SIZE
    assert all(read_artifact(container, kind) == kind.encode() for kind in ARTIFACT_KINDS)


def test_large_weights_are_streamed(tmp_path, base_binary):
    size = 50 * 1024 * 1024
    weights = tmp_path / "model.onnx"
    block = hashlib.sha256(b"seed").digest() * (1024 * 1024 // 32)
    with open(weights, "wb") as stream:
        for _ in range(size // len(block)):
            stream.write(block)
    artifacts = [ArtifactSource("weights", path=weights), ArtifactSource("model_config", data=b"{}"),
                 ArtifactSource("tokenizer", data=b"{}")]
    tracemalloc.start()
    try:
        out = write_sample(tmp_path, base_binary, artifacts=artifacts)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < size // 10, f"writer peaked at {peak} bytes for a {size}-byte file"
    container = read_encoderfile(out)
    assert container.artifact("weights").length == size
    assert out.stat().st_size == len(BASE) + container.footer.metadata_length + size + 4 + FOOTER_SIZE


def test_generated_code_is_fresh():
    pytest.importorskip("grpc_tools", reason="grpcio-tools (test extra) regenerates the protobuf modules")
    for script in ("gen_proto.py", "gen_vectors.py"):
        done = subprocess.run([sys.executable, str(REPO / "tools" / script), "--check"],
                              capture_output=True, text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        assert done.returncode == 0, f"{script} --check: {done.stderr}"
