#!/usr/bin/env python3
"""Generate the shared encoderfile test vectors in tests/vectors/.

    python tools/gen_vectors.py            # (re)write tests/vectors/<name>.{bin,json}
    python tools/gen_vectors.py --check    # exit 1 if the committed vectors differ

Valid vectors come from the real writer (efbuild.container.write_encoderfile); each
invalid one is a valid vector with one defect (or, for the precedence_* vectors, two
defects whose expected kind pins the reader's check order). Both the Python and the
Rust reader must classify every vector as its JSON says. Output is deterministic:
fixed contents, no timestamps, no randomness.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "orchestrator"))

from efbuild.container import ArtifactSource, write_encoderfile  # noqa: E402
from efbuild.container.footer import FOOTER_SIZE, Footer  # noqa: E402
from efbuild.container.footer import decode as decode_footer  # noqa: E402
from efbuild.container.manifest import ARTIFACT_KINDS, artifact_entries, encode_manifest, manifest_dict  # noqa: E402
from efbuild.container.proto.encoderfile import manifest_pb2, metadata_pb2  # noqa: E402

VECTORS_DIR = REPO / "tests" / "vectors"
HANDWRITTEN = {"README.md"}
BASE_BINARY = b"BASEBIN!" * 8  # stands in for the runtime executable: 64 recognisable bytes
U64_MAX = 2**64 - 1

WEIGHTS = b"ONNX:tiny!"
MODEL_CONFIG = b'{"model_type":"bert","num_labels":null,"id2label":null,"label2id":null}'
CLASSIFIER_CONFIG = (b'{"model_type":"bert","num_labels":2,"id2label":{"0":"NEGATIVE","1":"POSITIVE"},'
                     b'"label2id":{"NEGATIVE":0,"POSITIVE":1}}')
IMAGE_CONFIG = (b'{"model_type":"vit","num_labels":2,"id2label":{"0":"cat","1":"dog"},'
                b'"label2id":{"cat":0,"dog":1},"image_size":4,"num_channels":3}')
TOKENIZER = (b'{"tokenizer":{"version":"1.0","model":{"type":"WordLevel","vocab":{"[PAD]":0,"[UNK]":1,'
             b'"hello":2},"unk_token":"[UNK]"}},"config":{"padding":{"strategy":"BatchLongest",'
             b'"direction":"Right","pad_to_multiple_of":null,"pad_id":0,"pad_type_id":0,"pad_token":"[PAD]"},'
             b'"truncation":{"direction":"Right","max_length":512,"strategy":"LongestFirst","stride":0}}}')
IMAGE_PREPROCESSOR = b'{"do_resize":true,"size":{"height":4,"width":4},"image_mean":[0.5,0.5,0.5],"image_std":[0.5,0.5,0.5]}'
TRANSFORM = manifest_pb2.Transform(
    transform_type=manifest_pb2.LUA,
    transform="function Postprocess(arr)\n  return arr\nend\n",
    lua_libs=manifest_pb2.LuaLibs(libs=["table", "string"]),
).SerializeToString(deterministic=True)


@dataclass
class Parts:
    """A container split into its regions, for building defective variants."""

    base: bytes
    manifest: manifest_pb2.EncoderfileManifest
    manifest_bytes: bytes
    payload: bytes
    footer: Footer

    def assemble(self) -> bytes:
        return self.base + self.manifest_bytes + self.payload + self.footer.encode()

    def replace(self, **changes: Any) -> "Parts":
        return Parts(**{**self.__dict__, **changes})


@dataclass
class Vector:
    name: str
    description: str
    blob: bytes
    error_kind: str | None = None  # None: valid


# --- valid vectors, from the real writer -----------------------------------------------

def pack(artifacts: dict[str, bytes], *, model_type: int, name: str, version: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        base.write_bytes(BASE_BINARY)
        out = Path(tmp) / "out.encoderfile"
        sources = [ArtifactSource(kind, data=data) for kind, data in artifacts.items()]
        write_encoderfile(base, sources, model_type=model_type, name=name, version=version, out=out)
        return out.read_bytes()


def text_model() -> bytes:
    return pack({"weights": WEIGHTS, "model_config": MODEL_CONFIG, "tokenizer": TOKENIZER},
                model_type=metadata_pb2.EMBEDDING, name="tiny", version="0.1.0")


def all_artifacts() -> bytes:
    return pack({"weights": WEIGHTS, "transform": TRANSFORM, "model_config": CLASSIFIER_CONFIG,
                 "tokenizer": TOKENIZER, "image_preprocessor": IMAGE_PREPROCESSOR},
                model_type=metadata_pb2.SEQUENCE_CLASSIFICATION, name="tiny-classifier", version="0.2.0")


def image_model() -> bytes:
    return pack({"weights": WEIGHTS, "model_config": IMAGE_CONFIG, "image_preprocessor": IMAGE_PREPROCESSOR},
                model_type=metadata_pb2.IMAGE_CLASSIFICATION, name="tiny-vit", version="1.0.0")


def long_strings() -> bytes:
    # > 127 bytes: the name's length prefix takes two varint bytes; non-ASCII: UTF-8 is checked.
    name = "mod\u00e8le-" * 25
    return pack({"weights": WEIGHTS, "model_config": MODEL_CONFIG, "tokenizer": TOKENIZER},
                model_type=metadata_pb2.TOKEN_CLASSIFICATION, name=name, version="1.2.3-rc.1+build.5")


# --- taking containers apart and putting them back ----------------------------------------

def split(blob: bytes) -> Parts:
    footer = decode_footer(blob[-FOOTER_SIZE:])
    start, end = footer.metadata_offset, footer.metadata_offset + footer.metadata_length
    manifest = manifest_pb2.EncoderfileManifest.FromString(blob[start:end])
    return Parts(base=blob[:start], manifest=manifest, manifest_bytes=blob[start:end],
                 payload=blob[end:-FOOTER_SIZE], footer=footer)


def with_manifest(blob: bytes, edit: Callable[[manifest_pb2.EncoderfileManifest], None], *,
                  extra: bytes = b"", relayout: bool = True) -> bytes:
    """Apply `edit` to the manifest (plus `extra` raw bytes after it) and reassemble.

    With relayout the artifact offsets are recomputed for the new manifest size, so the
    vector has only the defect `edit` introduces; without it they are kept as edited.
    """
    parts = split(blob)
    manifest = manifest_pb2.EncoderfileManifest()
    manifest.CopyFrom(parts.manifest)
    edit(manifest)
    encoded = relayout_offsets(manifest, extra) if relayout else encode_manifest(manifest) + extra
    footer = Footer(metadata_offset=parts.footer.metadata_offset, metadata_length=len(encoded))
    return parts.replace(manifest_bytes=encoded, footer=footer).assemble()


def relayout_offsets(manifest: manifest_pb2.EncoderfileManifest, extra: bytes) -> bytes:
    """Offsets back to back after the manifest, re-encoding until the size is stable."""
    size = -1
    encoded = encode_manifest(manifest) + extra
    while len(encoded) != size:
        size = len(encoded)
        offset = size
        for kind in ARTIFACT_KINDS:
            if manifest.HasField(kind):
                getattr(manifest, kind).offset = offset
                offset += getattr(manifest, kind).length
        encoded = encode_manifest(manifest) + extra
    return encoded


def with_footer(blob: bytes, **fields: int) -> bytes:
    parts = split(blob)
    footer = Footer(**{**parts.footer.__dict__, **fields})
    return parts.replace(footer=footer).assemble()


def flip_byte(blob: bytes, index: int, mask: int = 0x01) -> bytes:
    return blob[:index] + bytes([blob[index] ^ mask]) + blob[index + 1:]


def set_artifact(kind: str, **fields: Any) -> Callable[[manifest_pb2.EncoderfileManifest], None]:
    def edit(manifest: manifest_pb2.EncoderfileManifest) -> None:
        for name, value in fields.items():
            setattr(getattr(manifest, kind), name, value)
    return edit


def set_field(**fields: Any) -> Callable[[manifest_pb2.EncoderfileManifest], None]:
    def edit(manifest: manifest_pb2.EncoderfileManifest) -> None:
        for name, value in fields.items():
            setattr(manifest, name, value)
    return edit


def both(*edits: Callable[[manifest_pb2.EncoderfileManifest], None]):
    def edit(manifest: manifest_pb2.EncoderfileManifest) -> None:
        for each in edits:
            each(manifest)
    return edit


def unchanged(manifest: manifest_pb2.EncoderfileManifest) -> None:
    return None


def artifact_range(blob: bytes, kind: str) -> tuple[int, int]:
    """(offset from manifest start, length) of one artifact."""
    artifact = getattr(split(blob).manifest, kind)
    return artifact.offset, artifact.length


# --- the vectors ---------------------------------------------------------------------------

def valid_vectors() -> list[Vector]:
    text = text_model()
    unknown_field = with_manifest(text, set_field(model_type=metadata_pb2.SENTENCE_EMBEDDING),
                                  extra=b"\xc0\x0c\x2a")  # field 200, varint 42: not in the schema
    return [
        Vector("valid_text_model", "embedding model with weights, model_config, tokenizer: the worked layout "
               "(55-byte artifact entries, offsets from the manifest start, artifacts in field order)", text),
        Vector("valid_all_artifacts", "sequence classifier with all five artifacts; the transform artifact is a "
               "serialized encoderfile.manifest.Transform (LUA, with lua_libs)", all_artifacts()),
        Vector("valid_image_model", "image classifier (model_type 21) with weights, model_config, "
               "image_preprocessor", image_model()),
        Vector("valid_long_strings", "token classifier whose 200-byte non-ASCII UTF-8 name needs a two-byte "
               "length prefix", long_strings()),
        Vector("valid_unknown_manifest_field", "manifest carrying a field number the schema does not define "
               "(200, varint): ignored, as proto3 readers must", unknown_field),
        Vector("valid_extra_flag_bits", "footer flags 0x3: bit 0 set; other bits are undefined in version 1 "
               "and ignored", with_footer(text, flags=0x3)),
    ]


def invalid_vectors() -> list[Vector]:
    text = text_model()
    parts = split(text)
    base, size = parts.footer.metadata_offset, len(text)
    manifest_length = parts.footer.metadata_length
    payload_end = size - FOOTER_SIZE - base  # relative to the manifest start
    weights_offset, weights_length = artifact_range(text, "weights")
    config_offset, config_length = artifact_range(text, "model_config")
    tokenizer_offset, tokenizer_length = artifact_range(text, "tokenizer")
    garbage = parts.replace(manifest_bytes=b"\xff" * manifest_length).assemble()
    unspecified = with_manifest(text, set_field(model_type=0))

    def bad(name: str, kind: str, description: str, blob: bytes) -> Vector:
        return Vector(name, description, blob, error_kind=kind)

    return [
        bad("truncated_empty", "truncated", "an empty file", b""),
        bad("truncated_20_bytes", "truncated", "the first 20 bytes of a container", text[:20]),
        bad("truncated_31_bytes", "truncated", "the last 31 bytes of a container: one short of a footer",
            text[-31:]),
        bad("no_payload_plain_base", "no_payload", "a plain 64-byte base binary with nothing appended",
            BASE_BINARY),
        bad("no_payload_bad_magic", "no_payload", "valid_text_model with the first magic byte flipped",
            flip_byte(text, size - FOOTER_SIZE)),
        bad("no_payload_last_byte_cut", "no_payload", "valid_text_model minus its last byte: the footer "
            "window no longer starts with the magic", text[:-1]),
        bad("unsupported_version_2", "unsupported_version", "footer format_version 2",
            with_footer(text, format_version=2)),
        bad("unsupported_version_0", "unsupported_version", "footer format_version 0",
            with_footer(text, format_version=0)),
        bad("missing_protobuf_flag_0", "missing_protobuf_flag", "footer flags 0",
            with_footer(text, flags=0)),
        bad("missing_protobuf_flag_2", "missing_protobuf_flag", "footer flags 0x2: a bit set, but not bit 0",
            with_footer(text, flags=0x2)),
        bad("manifest_offset_past_end", "manifest_out_of_bounds", "metadata_offset equals the file length",
            with_footer(text, metadata_offset=size)),
        bad("manifest_length_overflow", "manifest_out_of_bounds", "metadata_length 2^64-1: offset + length "
            "overflows u64", with_footer(text, metadata_length=U64_MAX)),
        bad("manifest_offset_overflow", "manifest_out_of_bounds", "metadata_offset 2^64-8: offset + length "
            "overflows u64", with_footer(text, metadata_offset=U64_MAX - 7)),
        bad("manifest_into_footer", "manifest_out_of_bounds", "manifest range ends one byte inside the footer",
            with_footer(text, metadata_length=size - FOOTER_SIZE - base + 1)),
        bad("manifest_length_zero", "manifest_out_of_bounds", "metadata_length 0", with_footer(text, metadata_length=0)),
        bad("bad_manifest_garbage", "bad_manifest", "manifest bytes replaced by 0xFF (an over-long varint tag)",
            garbage),
        bad("bad_manifest_cut", "bad_manifest", "metadata_length one short: the last entry's sha256 is cut",
            with_footer(text, metadata_length=manifest_length - 1)),
        bad("bad_manifest_wrong_wire_type", "bad_manifest", "a second `name` field (2) sent as a varint: wrong "
            "wire type for a known field (prost rejects it; the Python reader does too)",
            with_manifest(text, unchanged, extra=b"\x10\x05")),
        bad("bad_manifest_invalid_utf8_name", "bad_manifest", "name is not valid UTF-8",
            with_manifest(text, set_field(name=""), extra=b"\x12\x02\xff\xfe")),
        bad("bad_manifest_model_type_unspecified", "bad_manifest", "model_type 0 (MODEL_TYPE_UNSPECIFIED)",
            with_manifest(text, set_field(model_type=0))),
        bad("bad_manifest_model_type_unknown", "bad_manifest", "model_type 7: not a ModelType value",
            with_manifest(text, set_field(model_type=7))),
        bad("bad_manifest_sha256_31_bytes", "bad_manifest", "tokenizer sha256 is 31 bytes",
            with_manifest(text, lambda m: setattr(m.tokenizer, "sha256", m.tokenizer.sha256[:31]))),
        bad("bad_manifest_sha256_empty", "bad_manifest", "weights sha256 is absent (0 bytes)",
            with_manifest(text, set_artifact("weights", sha256=b""))),
        bad("artifact_past_end", "artifact_out_of_bounds", "tokenizer length 1000 past the end of the payload",
            with_manifest(text, set_artifact("tokenizer", length=tokenizer_length + 1000), relayout=False)),
        bad("artifact_into_footer", "artifact_out_of_bounds", "tokenizer ends one byte inside the footer",
            with_manifest(text, set_artifact("tokenizer", length=tokenizer_length + 1), relayout=False)),
        bad("artifact_inside_manifest", "artifact_out_of_bounds", "weights offset points 10 bytes before the "
            "manifest's end", with_manifest(text, set_artifact("weights", offset=manifest_length - 10),
                                            relayout=False)),
        bad("artifact_offset_overflow", "artifact_out_of_bounds", "weights offset 2^64-4: offset + length "
            "overflows u64", with_manifest(text, set_artifact("weights", offset=U64_MAX - 3), relayout=False)),
        bad("artifact_overlap_same_start", "artifact_overlap", "tokenizer starts where model_config starts",
            with_manifest(text, set_artifact("tokenizer", offset=config_offset), relayout=False)),
        bad("artifact_overlap_partial", "artifact_overlap", "model_config starts 5 bytes before weights ends "
            "(leaving a 5-byte gap before tokenizer; everything in bounds)",
            with_manifest(text, set_artifact("model_config", offset=weights_offset + weights_length - 5),
                          relayout=False)),
        bad("sha256_mismatch_weights", "sha256_mismatch", "one byte flipped inside the weights artifact",
            flip_byte(text, base + weights_offset + 3)),
        bad("sha256_mismatch_tokenizer", "sha256_mismatch", "last byte of the tokenizer artifact flipped",
            flip_byte(text, base + tokenizer_offset + tokenizer_length - 1)),
        bad("precedence_version_before_flags", "unsupported_version", "format_version 2 AND flags 0",
            with_footer(text, format_version=2, flags=0)),
        bad("precedence_flags_before_manifest_bounds", "missing_protobuf_flag", "flags 0 AND metadata_length 0",
            with_footer(text, flags=0, metadata_length=0)),
        bad("precedence_bad_manifest_before_bounds", "bad_manifest", "weights out of bounds (checked per artifact "
            "in field order) AND tokenizer sha256 of 31 bytes: every bad_manifest check precedes every bounds check",
            with_manifest(text, both(set_artifact("weights", offset=payload_end),
                                     lambda m: setattr(m.tokenizer, "sha256", m.tokenizer.sha256[:31])),
                          relayout=False)),
        bad("precedence_bounds_before_overlap", "artifact_out_of_bounds", "model_config overlaps weights AND "
            "tokenizer runs past the end: every bounds check precedes the overlap check",
            with_manifest(text, both(set_artifact("model_config", offset=weights_offset),
                                     set_artifact("tokenizer", length=tokenizer_length + 1000)),
                          relayout=False)),
        bad("precedence_model_type_before_sha256", "bad_manifest", "model_type 0 AND a flipped weights byte",
            flip_byte(unspecified, base + artifact_range(unspecified, "weights")[0] + 2)),
    ]


# --- JSON descriptions ----------------------------------------------------------------------

def describe(vector: Vector) -> dict[str, Any]:
    if vector.error_kind is not None:
        return {"description": vector.description, "valid": False, "error_kind": vector.error_kind}
    parts = split(vector.blob)
    entries = artifact_entries(parts.manifest, parts.footer.metadata_offset)
    return {
        "description": vector.description,
        "valid": True,
        "base_length": len(parts.base),
        "file_length": len(vector.blob),
        "footer": {"format_version": parts.footer.format_version, "metadata_offset": parts.footer.metadata_offset,
                   "metadata_length": parts.footer.metadata_length, "flags": parts.footer.flags},
        "manifest": manifest_dict(parts.manifest, entries),
    }


def rendered_files() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for vector in valid_vectors() + invalid_vectors():
        if f"{vector.name}.bin" in files:
            raise SystemExit(f"duplicate vector name {vector.name}")
        files[f"{vector.name}.bin"] = vector.blob
        files[f"{vector.name}.json"] = (json.dumps(describe(vector), indent=2) + "\n").encode("utf-8")
    return files


def differences(expected: dict[str, bytes]) -> list[str]:
    problems = [f"stale or missing: {name}" for name, content in sorted(expected.items())
                if not (VECTORS_DIR / name).is_file() or (VECTORS_DIR / name).read_bytes() != content]
    on_disk = {path.name for path in VECTORS_DIR.glob("*")} if VECTORS_DIR.is_dir() else set()
    problems += [f"not generated (remove it): {name}" for name in sorted(on_disk - set(expected) - HANDWRITTEN)]
    return problems


def write_files(expected: dict[str, bytes]) -> None:
    VECTORS_DIR.mkdir(parents=True, exist_ok=True)
    for path in VECTORS_DIR.glob("*"):
        if path.name not in expected and path.name not in HANDWRITTEN:
            path.unlink()
    for name, content in expected.items():
        (VECTORS_DIR / name).write_bytes(content)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed vectors are stale")
    args = parser.parse_args(argv)
    expected = rendered_files()
    if args.check:
        problems = differences(expected)
        for problem in problems:
            print(f"tests/vectors: {problem} (run tools/gen_vectors.py)", file=sys.stderr)
        return 1 if problems else 0
    write_files(expected)
    return 0


if __name__ == "__main__":
    sys.exit(main())
