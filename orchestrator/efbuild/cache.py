"""The packer's cache of base binaries: <cache>/base-binaries/encoderfile/<version>/<triple>/.

This is the reference packer's layout, so `encoderfile build --no-download` finds what
efbuild installs. Beside each binary efbuild keeps `encoderfile-runtime.sha256` (in
`sha256sum` format) so readers can verify it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from efbuild.backends.base import BINARY_NAME
from efbuild.errors import CacheError
from efbuild.fingerprint import file_sha256
from efbuild.fsutil import atomic_copy, atomic_write_bytes

LOCK_TIMEOUT_SECONDS = 120
CHECKSUM_SUFFIX = ".sha256"


def base_binaries_root(cache_dir: Path) -> Path:
    return cache_dir / "base-binaries" / "encoderfile"


def entry_dir(cache_dir: Path, version: str, triple: str) -> Path:
    return base_binaries_root(cache_dir) / version / triple


def _lock(cache_dir: Path) -> FileLock:
    root = base_binaries_root(cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    return FileLock(str(root / ".efbuild.lock"), timeout=LOCK_TIMEOUT_SECONDS)


def _locked(cache_dir: Path):
    lock = _lock(cache_dir)
    try:
        lock.acquire()
    except Timeout as exc:
        raise CacheError(f"another efbuild holds the cache lock {lock.lock_file} for over {LOCK_TIMEOUT_SECONDS}s") from exc
    return lock


@dataclass(frozen=True)
class CacheEntry:
    version: str
    triple: str
    path: Path
    size: int
    sha256: str
    recorded_sha256: str | None  # from the sidecar file; None when something else installed it

    @property
    def verified(self) -> bool | None:
        return None if self.recorded_sha256 is None else self.recorded_sha256 == self.sha256

    def to_json(self) -> dict[str, object]:
        return {"version": self.version, "triple": self.triple, "path": str(self.path),
                "size": self.size, "sha256": self.sha256, "verified": self.verified}


def install(cache_dir: Path, version: str, triple: str, binary: Path, digest: str | None = None) -> Path:
    """Place a checked binary where the packer looks; atomic and under a lock.

    `digest` is the binary's sha256 when the caller has just verified it.
    """
    destination = entry_dir(cache_dir, version, triple) / BINARY_NAME
    digest = digest or file_sha256(binary)
    try:
        with _locked(cache_dir):
            atomic_copy(binary, destination, mode=0o755)
            sidecar = destination.with_name(BINARY_NAME + CHECKSUM_SUFFIX)
            atomic_write_bytes(sidecar, f"{digest}  {BINARY_NAME}\n".encode())
    except OSError as exc:
        raise CacheError(f"cannot install into {destination.parent}: {exc.strerror or exc}") from exc
    return destination


def recorded_sha256(binary: Path) -> str | None:
    """The sha256 efbuild recorded when it installed `binary`; None if nothing recorded one."""
    try:
        return binary.with_name(BINARY_NAME + CHECKSUM_SUFFIX).read_text().split()[0].lower()
    except (OSError, IndexError):
        return None


def list_entries(cache_dir: Path) -> list[CacheEntry]:
    root = base_binaries_root(cache_dir)
    entries = []
    for binary in sorted(root.glob(f"*/*/{BINARY_NAME}")):
        version, triple = binary.parent.parent.name, binary.parent.name
        entries.append(CacheEntry(version, triple, binary, binary.stat().st_size,
                                  file_sha256(binary), recorded_sha256(binary)))
    return entries


def remove(cache_dir: Path, version: str, triple: str | None = None) -> list[Path]:
    """Remove one entry, or every triple of a version; returns what was removed."""
    root = base_binaries_root(cache_dir)
    version_dir = root / version
    targets = [version_dir / triple] if triple else sorted(p for p in version_dir.glob("*") if p.is_dir())
    existing = [t for t in targets if (t / BINARY_NAME).exists()]
    if not existing:
        what = f"{version}/{triple}" if triple else version
        raise CacheError(f"nothing cached for {what} under {root}")
    with _locked(cache_dir):
        for entry in existing:
            shutil.rmtree(entry)
        if version_dir.is_dir() and not any(version_dir.iterdir()):
            version_dir.rmdir()
    return existing
