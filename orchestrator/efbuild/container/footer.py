"""The 32-byte footer at the very end of an encoderfile (little-endian, no padding)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from efbuild.container.errors import ContainerError

MAGIC = b"ENCFILE\0"
FORMAT_VERSION = 1
FLAG_PROTOBUF_MANIFEST = 0x1
FOOTER_SIZE = 32

# magic, format_version (u32), metadata_offset (u64), metadata_length (u64), flags (u32)
_LAYOUT = struct.Struct("<8sIQQI")
assert _LAYOUT.size == FOOTER_SIZE


@dataclass(frozen=True, kw_only=True)
class Footer:
    """Fields in byte order; offsets are absolute file offsets."""

    magic: bytes = MAGIC
    format_version: int = FORMAT_VERSION
    metadata_offset: int
    metadata_length: int
    flags: int = FLAG_PROTOBUF_MANIFEST

    def encode(self) -> bytes:
        """The footer's bytes; raises ValueError (not ContainerError) for unrepresentable fields."""
        try:
            return _LAYOUT.pack(self.magic, self.format_version, self.metadata_offset,
                                self.metadata_length, self.flags)
        except struct.error as exc:
            raise ValueError(f"footer field out of range: {exc}") from exc


def decode(tail: bytes, *, source: str = "<bytes>") -> Footer:
    """Parse and validate the last 32 bytes of a file.

    Checks, in the contract order: length (`truncated`), magic (`no_payload`),
    format version (`unsupported_version`), protobuf flag (`missing_protobuf_flag`).
    Offsets are checked by the reader, which knows the file length. Unknown flag bits
    other than bit 0 are ignored: version 1 defines none, and the reference ignores flags.
    """
    if len(tail) != FOOTER_SIZE:
        raise ContainerError("truncated", f"{source}: footer needs {FOOTER_SIZE} bytes, got {len(tail)}")
    magic, version, metadata_offset, metadata_length, flags = _LAYOUT.unpack(tail)
    if magic != MAGIC:
        raise ContainerError("no_payload", f"{source}: no encoderfile footer (the last 32 bytes start with "
                                           f"{magic!r}, not {MAGIC!r}); a plain base binary?")
    if version != FORMAT_VERSION:
        raise ContainerError("unsupported_version",
                             f"{source}: format version {version}, only {FORMAT_VERSION} is supported")
    if not flags & FLAG_PROTOBUF_MANIFEST:
        raise ContainerError("missing_protobuf_flag",
                             f"{source}: footer flags {flags:#x} lack bit 0 (protobuf manifest)")
    return Footer(metadata_offset=metadata_offset, metadata_length=metadata_length,
                  format_version=version, flags=flags, magic=magic)
