"""Guessing a binary's target triple from its header, for `efbuild check` without --target."""

from __future__ import annotations

from pathlib import Path

from efbuild.checks.elf import ElfReadError, read_elf_info
from efbuild.checks.macho import MachOReadError, guess_macho_triple, looks_like_macho
from efbuild.errors import ConfigError

ELF_MAGIC = b"\x7fELF"


def guess_triple(path: Path) -> str:
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic == ELF_MAGIC:
        try:
            info = read_elf_info(path)
        except ElfReadError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        if info.arch is None:
            raise ConfigError(f"{path}: an ELF file for {info.machine}, which efbuild has no target for")
        return f"{info.arch}-unknown-linux-{'musl' if info.is_static else 'gnu'}"
    if looks_like_macho(path):
        try:
            triple = guess_macho_triple(path)
        except MachOReadError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        if triple is None:
            raise ConfigError(f"{path}: a Mach-O file for an architecture efbuild has no target for")
        return triple
    raise ConfigError(f"{path}: not an ELF or Mach-O file; pass --target to say what it is meant to be")
