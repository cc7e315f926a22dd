"""Pack a base binary and its artifacts into an encoderfile.

Layout (see /work/shared/reference/encoderfile-format.md):
    [base binary][manifest][artifacts in field order][32-byte footer]
Artifact offsets count from the manifest's first byte.

Large weights files are never held in memory: a first pass hashes each source in
chunks, a second pass copies it with shutil.copyfileobj. The output appears only
complete: it is written to a temp file beside `out`, fsync'd, then renamed.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable

from efbuild.container.footer import FOOTER_SIZE, Footer
from efbuild.container.manifest import (ARTIFACT_KINDS, MODEL_TYPE_NAMES, ArtifactEntry, build_manifest,
                                        encode_manifest)

CHUNK_SIZE = 1024 * 1024
_MAX_MANIFEST_PASSES = 8


@dataclass(frozen=True)
class ArtifactSource:
    """One artifact to pack: its kind and either a file path or in-memory bytes."""

    kind: str
    path: Path | None = None
    data: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in ARTIFACT_KINDS:
            raise ValueError(f"unknown artifact kind {self.kind!r} (expected one of {', '.join(ARTIFACT_KINDS)})")
        if (self.path is None) == (self.data is None):
            raise ValueError(f"artifact {self.kind}: give exactly one of path or data")
        if self.path is not None:
            object.__setattr__(self, "path", Path(self.path))

    def open(self) -> BinaryIO:
        if self.path is not None:
            return open(self.path, "rb")
        return io.BytesIO(self.data)


@dataclass(frozen=True)
class WriteResult:
    path: Path
    base_length: int
    manifest_length: int
    file_length: int
    footer: Footer
    artifacts: list[ArtifactEntry]


@dataclass(frozen=True)
class _Measured:
    source: ArtifactSource
    length: int
    sha256: bytes


def write_encoderfile(base_binary: Path, artifacts: list[ArtifactSource], *, model_type: int,
                      name: str, version: str, out: Path) -> WriteResult:
    """Write `out` = base binary + manifest + artifacts + footer, atomically.

    Raises ValueError for unusable arguments (unknown model type, duplicate or empty
    artifacts) and OSError for I/O failures; either way nothing is left at `out` or
    beside it.
    """
    if model_type not in MODEL_TYPE_NAMES:
        raise ValueError(f"unknown model_type {model_type} (expected one of {sorted(MODEL_TYPE_NAMES)})")
    base_binary, out = Path(base_binary), Path(out)
    measured = [_measure(source) for source in _in_storage_order(artifacts)]
    base_length = os.stat(base_binary).st_size
    manifest_bytes, entries = _layout_manifest(measured, model_type=model_type, name=name, version=version,
                                               metadata_offset=base_length)
    footer = Footer(metadata_offset=base_length, metadata_length=len(manifest_bytes))
    _write_atomically(out, lambda dest: _write_body(dest, base_binary, base_length, manifest_bytes,
                                                    measured, footer))
    file_length = base_length + len(manifest_bytes) + sum(item.length for item in measured) + FOOTER_SIZE
    return WriteResult(path=out, base_length=base_length, manifest_length=len(manifest_bytes),
                       file_length=file_length, footer=footer, artifacts=entries)


def _in_storage_order(artifacts: list[ArtifactSource]) -> list[ArtifactSource]:
    """Sort by manifest field order; each kind at most once, as the format requires."""
    by_kind: dict[str, ArtifactSource] = {}
    for source in artifacts:
        if source.kind in by_kind:
            raise ValueError(f"artifact {source.kind} given more than once")
        by_kind[source.kind] = source
    return [by_kind[kind] for kind in ARTIFACT_KINDS if kind in by_kind]


def _measure(source: ArtifactSource) -> _Measured:
    """First pass: length and sha256 in chunks, so a multi-GB weights file costs 1 MiB of memory."""
    digest = hashlib.sha256()
    length = 0
    with source.open() as stream:
        while chunk := stream.read(CHUNK_SIZE):
            digest.update(chunk)
            length += len(chunk)
    if length == 0:
        # An empty range has no use, and a zero length would not be encoded at all
        # (proto3 default), breaking the fixed 55-byte entry size.
        raise ValueError(f"artifact {source.kind} is empty ({source.path or 'in-memory data'})")
    return _Measured(source=source, length=length, sha256=digest.digest())


def _layout_manifest(measured: list[_Measured], *, model_type: int, name: str, version: str,
                     metadata_offset: int) -> tuple[bytes, list[ArtifactEntry]]:
    """Encode, assign offsets after the manifest, re-encode until the size stops changing.

    Offsets depend on the manifest's size and the size on the offsets; with fixed64
    fields the size is stable after one fix-up, the loop bound only guards that belief.
    """
    manifest_length = 0
    for _ in range(_MAX_MANIFEST_PASSES):
        ranges = _assign_offsets(measured, first_offset=manifest_length)
        encoded = encode_manifest(build_manifest(model_type=model_type, name=name, version=version,
                                                 ranges=ranges))
        if len(encoded) == manifest_length:
            entries = [ArtifactEntry(kind=kind, offset=offset, length=length, sha256=digest,
                                     absolute_offset=metadata_offset + offset)
                       for kind, (offset, length, digest) in ranges.items()]
            return encoded, entries
        manifest_length = len(encoded)
    raise RuntimeError(f"manifest size did not settle after {_MAX_MANIFEST_PASSES} passes")


def _assign_offsets(measured: list[_Measured], *, first_offset: int) -> dict[str, tuple[int, int, bytes]]:
    ranges = {}
    offset = first_offset
    for item in measured:
        ranges[item.source.kind] = (offset, item.length, item.sha256)
        offset += item.length
    return ranges


def _write_body(dest: BinaryIO, base_binary: Path, base_length: int, manifest_bytes: bytes,
                measured: list[_Measured], footer: Footer) -> None:
    """Second pass: copy everything in layout order, checking each source kept its length."""
    with open(base_binary, "rb") as base:
        _copy_exactly(base, dest, base_length, what=f"base binary {base_binary}")
    dest.write(manifest_bytes)
    for item in measured:
        with item.source.open() as stream:
            _copy_exactly(stream, dest, item.length, what=f"artifact {item.source.kind}")
    dest.write(footer.encode())


_NO_KERNEL_COPY = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF}


def _copy_exactly(source: BinaryIO, dest: BinaryIO, length: int, *, what: str) -> None:
    """Copy a whole stream, failing if it is not `length` bytes (changed since measured)."""
    start = dest.tell()
    if not _kernel_copy(source, dest, length):
        shutil.copyfileobj(source, dest, CHUNK_SIZE)
    copied = dest.tell() - start
    if copied != length or source.read(1):
        raise OSError(f"{what} changed while packing: measured {length} bytes, copied {copied}"
                      f"{' and more remained' if copied == length else ''}")


def _kernel_copy(source: BinaryIO, dest: BinaryIO, length: int) -> bool:
    """Copy `length` bytes file-to-file inside the kernel (no trip through Python), if possible.

    Returns False, having copied nothing, where the sources are not plain files or the
    platform or file system cannot do it; the caller then copies in user space.
    """
    copy_range = getattr(os, "copy_file_range", None)
    try:
        in_fd, out_fd = source.fileno(), dest.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return False
    if copy_range is None:
        return False
    dest.flush()
    remaining = length
    while remaining:
        try:
            copied = copy_range(in_fd, out_fd, min(remaining, 1 << 30))
        except OSError as exc:
            if remaining == length and exc.errno in _NO_KERNEL_COPY:
                return False
            raise
        if copied == 0:  # the source ended early; the length check reports it
            break
        remaining -= copied
    return True


def _write_atomically(out: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write via a temp file in out's directory, then rename: readers never see a partial file."""
    fd, temp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as dest:
            write(dest)
            dest.flush()
            os.fchmod(dest.fileno(), 0o755)
            os.fsync(dest.fileno())
        os.replace(temp, out)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_directory(out.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; best effort where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
