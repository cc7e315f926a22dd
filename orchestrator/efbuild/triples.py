"""Rust target triples, including cargo-zigbuild's glibc suffix (`...-gnu.2.17`)."""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass

from efbuild.errors import ConfigError

KNOWN_ARCHES = ("x86_64", "aarch64", "universal2")
_GLIBC_SUFFIX = re.compile(r"^(?P<triple>.+-gnu)\.(?P<glibc>\d+\.\d+)$")
_GLIBC_VERSION = re.compile(r"^2\.(\d+)$")


@dataclass(frozen=True)
class Triple:
    arch: str
    vendor: str
    os: str
    env: str
    glibc: str | None = None

    @property
    def cargo(self) -> str:
        """The triple cargo knows; cargo-zigbuild's glibc suffix stripped."""
        parts = [self.arch, self.vendor, self.os] + ([self.env] if self.env else [])
        return "-".join(parts)

    @property
    def family(self) -> str:
        """linux or macos: what decides the object format and the checks."""
        return "macos" if self.os == "darwin" else self.os

    def __str__(self) -> str:
        return self.cargo + (f".{self.glibc}" if self.glibc else "")


def parse_glibc_version(text: str) -> str:
    match = _GLIBC_VERSION.match(text.strip())
    if not match:
        raise ConfigError(
            f"'{text}' is not a glibc version",
            hint="glibc versions look like 2.17 or 2.36",
        )
    return f"2.{int(match.group(1))}"


def parse_triple(text: str) -> Triple:
    """Parse `arch-vendor-os[-env][.glibc]`; reject what cargo could never build."""
    glibc = None
    match = _GLIBC_SUFFIX.match(text)
    if match:
        text, glibc = match.group("triple"), parse_glibc_version(match.group("glibc"))
    if "." in text:
        raise ConfigError(f"'{text}': a glibc suffix (.X.Y) only applies to -gnu triples")
    parts = text.split("-")
    if len(parts) not in (3, 4) or not all(parts):
        raise ConfigError(
            f"'{text}' is not a target triple",
            hint="triples look like x86_64-unknown-linux-gnu or aarch64-apple-darwin",
        )
    arch, vendor, os_name = parts[:3]
    env = parts[3] if len(parts) == 4 else ""
    if glibc and env != "gnu":
        raise ConfigError(f"a glibc suffix only applies to -gnu triples, not '{text}'")
    return Triple(arch=arch, vendor=vendor, os=os_name, env=env, glibc=glibc)


def host_arch() -> str:
    """This machine's architecture, by the name triples use."""
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def host_triple() -> str:
    """The triple of the machine efbuild runs on (linux-gnu or apple-darwin)."""
    arch = host_arch()
    system = platform.system()
    if system == "Darwin":
        return f"{arch}-apple-darwin"
    if system == "Linux":
        libc, _ = platform.libc_ver()
        env = "gnu" if libc == "glibc" else "musl"
        return f"{arch}-unknown-linux-{env}"
    raise ConfigError(f"efbuild does not know the triple of a {system} host")
