"""`encoderfile inspect`: what an encoderfile holds, and whether every artifact verifies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from efbuild.container import MODEL_TYPE_NAMES, Container, ContainerError, read_encoderfile, verify_artifacts
from efbuild.container.footer import FLAG_PROTOBUF_MANIFEST
from efbuild.container.manifest import enum_name


def inspect_encoderfile(path: Path) -> dict[str, Any]:
    """The report; ContainerError (one line) when the structure is invalid.

    Artifacts whose sha256 does not match are reported with verified=false rather than
    raised, so the report shows all of them; `valid` is false then.
    """
    container = read_encoderfile(path, verify=False)
    checks = {check.kind: check for check in verify_artifacts(container)}
    artifacts = [{"kind": entry.kind, "offset": entry.offset, "absolute_offset": entry.absolute_offset,
                  "length": entry.length, "sha256": entry.sha256.hex(), "verified": checks[entry.kind].ok}
                 for entry in container.artifacts]
    return {
        "path": str(path),
        "file_length": container.file_length,
        "base_binary_length": container.base_length,
        "footer": _footer(container),
        "manifest": _manifest(container),
        "artifacts": artifacts,
        "valid": all(artifact["verified"] for artifact in artifacts),
    }


def first_mismatch_error(report: dict[str, Any]) -> ContainerError | None:
    """The error an invalid report exits with: the reader's sha256_mismatch kind."""
    for artifact in report["artifacts"]:
        if not artifact["verified"]:
            return ContainerError("sha256_mismatch", f"{report['path']}: {artifact['kind']} artifact does not match "
                                                     f"its sha256 {artifact['sha256']}")
    return None


def _footer(container: Container) -> dict[str, Any]:
    footer = container.footer
    return {"magic": footer.magic.decode("latin-1").replace("\0", "\\0"), "format_version": footer.format_version,
            "metadata_offset": footer.metadata_offset, "metadata_length": footer.metadata_length,
            "flags": footer.flags, "protobuf_manifest": bool(footer.flags & FLAG_PROTOBUF_MANIFEST)}


def _manifest(container: Container) -> dict[str, Any]:
    manifest = container.manifest
    return {"model_type": MODEL_TYPE_NAMES[manifest.model_type], "model_type_enum": enum_name(manifest.model_type),
            "model_type_value": manifest.model_type, "name": manifest.name, "version": manifest.version}
