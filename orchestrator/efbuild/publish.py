"""Release assets: deterministic archives, SHA256SUMS and a manifest, per version.

DIR/v<version>/ is laid out like the reference project's release page, so an HTTP
server over DIR can stand in for it (ENCODERFILE_BASE_BINARY_BASE_URL=http://host/).
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from efbuild import __version__
from efbuild.backends.base import BINARY_NAME
from efbuild.errors import NothingToDo, PublishError
from efbuild.fingerprint import file_sha256
from efbuild.fsutil import atomic_write_json
from efbuild.records import BuildRecord

MANIFEST_SCHEMA = 1
# 2000-01-01T00:00:00Z: a fixed time so two publishes of one binary are identical.
FIXED_MTIME = 946684800


@dataclass(frozen=True)
class ArchiveMember:
    name: str
    path: Path
    mode: int


def asset_name(triple: str) -> str:
    return f"{BINARY_NAME}-{triple}.tar.gz"


def _tar_info(member: ArchiveMember) -> tarfile.TarInfo:
    info = tarfile.TarInfo(member.name)
    info.size = member.path.stat().st_size
    info.mode = member.mode
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


def write_archive(destination: Path, members: list[ArchiveMember]) -> None:
    """A .tar.gz whose bytes depend only on the members' names, modes and contents."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for member in sorted(members, key=lambda m: m.name):
            with member.path.open("rb") as handle:
                tar.addfile(_tar_info(member), handle)
    with destination.open("wb") as out:
        # No file name and a zero mtime in the gzip header: `gzip -n`.
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
            gz.write(raw.getvalue())


def _members(record: BuildRecord, project_dir: Path) -> list[ArchiveMember]:
    readme = project_dir / "runtime-crate" / "README.md"
    license_file = project_dir / "LICENSE"
    for required in (readme, license_file):
        if not required.is_file():
            raise PublishError(f"cannot publish: {required} is missing")
    return [
        ArchiveMember(BINARY_NAME, Path(record.binary), 0o755),
        ArchiveMember("README.md", readme, 0o644),
        ArchiveMember("LICENSE", license_file, 0o644),
    ]


def _usable(record: BuildRecord) -> None:
    if record.status != "passed":
        raise PublishError(f"{record.key}: its last build failed a check; it is not published")
    if not record.binary_intact():
        raise PublishError(f"{record.key}: {record.binary} is missing or changed since it was checked",
                           hint=f"rebuild it: efbuild targets build {record.key}")


def _asset_entry(record: BuildRecord, archive: Path) -> dict[str, Any]:
    return {
        "name": archive.name,
        "triple": record.triple,
        "key": record.key,
        "sha256": file_sha256(archive),
        "size": archive.stat().st_size,
        "binary_sha256": record.sha256,
        "binary_size": record.size,
        "glibc_required": record.glibc_required,
        "glibc_policy": record.glibc_policy,
        "macos_min": record.macos_min,
        "macos_required": record.macos_required,
        "backend": record.backend,
        "backend_tools": record.backend_identity,
        "toolchain": record.toolchain,
        "profile": record.profile,
        "source_hash": record.source_hash,
        "checks": {c["check"]: c["status"] for c in record.checks},
    }


def _sha256sums(entries: list[dict[str, Any]]) -> bytes:
    lines = sorted(f"{e['sha256']}  {e['name']}\n" for e in entries)
    return "".join(lines).encode()


def publish(records: list[BuildRecord], *, version: str, dist: Path, project_dir: Path) -> Path:
    """Write DIR/v<version>/ whole into a temp dir, then swap it into place."""
    if not records:
        raise NothingToDo("nothing to publish: no checked builds were selected",
                          hint="build first: efbuild targets build --all")
    triples = [r.triple for r in records]
    duplicates = {t for t in triples if triples.count(t) > 1}
    if duplicates:
        raise PublishError(f"two builds of {', '.join(sorted(duplicates))} selected; asset names would clash")
    for record in records:
        _usable(record)
    dist.mkdir(parents=True, exist_ok=True)
    release = dist / f"v{version}"
    staging = Path(tempfile.mkdtemp(dir=dist, prefix=f".v{version}.", suffix=".tmp"))
    try:
        entries = []
        for record in sorted(records, key=lambda r: r.triple):
            archive = staging / asset_name(record.triple)
            write_archive(archive, _members(record, project_dir))
            entries.append(_asset_entry(record, archive))
        (staging / "SHA256SUMS").write_bytes(_sha256sums(entries))
        atomic_write_json(staging / "manifest.json",
                          {"schema": MANIFEST_SCHEMA, "version": version,
                           "generator": f"efbuild {__version__}", "assets": entries})
        _swap_into_place(staging, release)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return release


def _swap_into_place(staging: Path, release: Path) -> None:
    os.chmod(staging, 0o755)
    if release.exists():
        old = release.with_name(f".{release.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(release, old)
        os.replace(staging, release)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, release)
