"""Which Rust compiler and standard library a target builds with on this machine.

Three routes give a target its std, tried in order:
  rustup     the rustup toolchain on PATH has the target's std installed
  system     a system rustc (Debian's rustc-web at /usr/bin) has the target's std
             (e.g. libstd-rust-web-dev:arm64)
  build-std  a rustc whose exactly matching library source is installed (rust-web-src)
             compiles std itself: -Zbuild-std, under RUSTC_BOOTSTRAP for a stable compiler
The chosen route is part of the build's fingerprint and of the published manifest.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from efbuild.target import Target
from efbuild.triples import host_triple

SYSTEM_RUSTC = Path("/usr/bin/rustc")
SYSTEM_CARGO = Path("/usr/bin/cargo")
DEBIAN_RUST_PACKAGES = "rustc-web cargo-web"
DEBIAN_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


@dataclass(frozen=True)
class Compiler:
    rustc: Path
    cargo: Path
    verbose_version: str  # `rustc -vV`: part of every fingerprint
    cargo_version: str
    sysroot: Path

    @property
    def release(self) -> str:
        match = re.search(r"^release: (\S+)", self.verbose_version, re.M)
        return match.group(1) if match else "unknown"

    @property
    def version_line(self) -> str:
        return self.verbose_version.splitlines()[0] if self.verbose_version else "unknown"

    @property
    def host(self) -> str:
        match = re.search(r"^host: (\S+)", self.verbose_version, re.M)
        return match.group(1) if match else "unknown"

    def can_strip_macho(self) -> bool:
        """rustc strips Mach-O output with the rust-objcopy of its own sysroot; Debian's lacks it."""
        return (self.sysroot / "lib" / "rustlib" / self.host / "bin" / "rust-objcopy").is_file()

    def has_std(self, triple: str) -> bool:
        return (self.sysroot / "lib" / "rustlib" / triple / "lib").is_dir()

    def library_source(self) -> Path | None:
        """The std source that exactly matches this compiler, if installed."""
        candidates = [
            self.sysroot / "lib" / "rustlib" / "src" / "rust" / "library",
            Path(f"/usr/src/rustc-{self.release}") / "library",
        ]
        return next((c for c in candidates if (c / "std" / "Cargo.toml").is_file()), None)


@dataclass(frozen=True)
class Toolchain:
    route: str  # rustup | system | build-std
    compiler: Compiler
    std_source: str  # where std comes from: a sysroot dir or a library source dir
    env: Mapping[str, str] = field(default_factory=dict)
    cargo_args: tuple[str, ...] = ()

    def describe(self) -> dict[str, str]:
        return {
            "route": self.route,
            "rustc": str(self.compiler.rustc),
            "rustc_version": self.compiler.version_line,
            "cargo": str(self.compiler.cargo),
            "cargo_version": self.compiler.cargo_version,
            "std_source": self.std_source,
        }


@dataclass(frozen=True)
class Missing:
    """No route can build this target here: why, and what would enable one."""

    reason: str
    enable: tuple[str, ...]


def _run_quiet(argv: list[str], env: Mapping[str, str] | None = None) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                              env=None if env is None else {**os.environ, **env})
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@functools.lru_cache(maxsize=None)
def probe_compiler(rustc: str, cargo: str) -> Compiler | None:
    verbose = _run_quiet([rustc, "-vV"])
    sysroot = _run_quiet([rustc, "--print", "sysroot"])
    # cargo asks RUSTC for nothing here, but rustup's cargo shim must run the matching cargo.
    cargo_version = _run_quiet([cargo, "-V"])
    if not (verbose and sysroot and cargo_version):
        return None
    return Compiler(Path(rustc), Path(cargo), verbose, cargo_version, Path(sysroot))


def _path_compiler() -> Compiler | None:
    rustc = os.environ.get("RUSTC") or shutil.which("rustc")
    cargo = os.environ.get("CARGO") or shutil.which("cargo")
    return probe_compiler(rustc, cargo) if rustc and cargo else None


def _system_compiler() -> Compiler | None:
    if not SYSTEM_RUSTC.exists():
        return None
    # Debian's rustc works with rustup's cargo too; prefer Debian's own cargo when present.
    cargo = SYSTEM_CARGO if SYSTEM_CARGO.exists() else shutil.which("cargo")
    return probe_compiler(str(SYSTEM_RUSTC), str(cargo)) if cargo else None


def _distinct_compilers() -> list[tuple[str, Compiler]]:
    found: list[tuple[str, Compiler]] = []
    for route, compiler in (("rustup", _path_compiler()), ("system", _system_compiler())):
        if compiler and all(c.sysroot != compiler.sysroot for _, c in found):
            found.append((route, compiler))
    return found


def _prebuilt(route: str, compiler: Compiler, triple: str) -> Toolchain:
    env = {"RUSTC": str(compiler.rustc)}
    std_dir = compiler.sysroot / "lib" / "rustlib" / triple
    return Toolchain(route=route, compiler=compiler, std_source=str(std_dir), env=env)


def _build_std(compiler: Compiler, source: Path) -> Toolchain:
    return Toolchain(
        route="build-std",
        compiler=compiler,
        std_source=str(source),
        # A stable compiler accepts -Z flags only under RUSTC_BOOTSTRAP.
        env={"RUSTC": str(compiler.rustc), "RUSTC_BOOTSTRAP": "1"},
        cargo_args=("-Zbuild-std=std,panic_abort",),
    )


def enable_commands(target: Target) -> tuple[str, ...]:
    """What a user would run to give this machine a route for the target."""
    rustup = f"rustup target add {target.triple}  (needs rustup's download server)"
    if target.abi == "gnu" and target.arch in DEBIAN_ARCH and target.triple != host_triple():
        arch = DEBIAN_ARCH[target.arch]
        apt = (f"dpkg --add-architecture {arch} && apt-get update && "
               f"apt-get install -y {DEBIAN_RUST_PACKAGES} libstd-rust-web-dev:{arch}")
    else:
        apt = f"apt-get update && apt-get install -y {DEBIAN_RUST_PACKAGES} rust-web-src"
    return (f"efbuild toolchain install {target.triple}", apt, rustup)


def resolve_toolchain(target: Target) -> Toolchain | Missing:
    compilers = _distinct_compilers()
    if not compilers:
        return Missing("no Rust compiler found (rustc and cargo on PATH)",
                       ("install Rust: https://rustup.rs, or apt-get install -y rustc-web cargo-web",))
    for route, compiler in compilers:
        if compiler.has_std(target.triple):
            return _prebuilt(route, compiler, target.triple)
    for _, compiler in compilers:
        source = compiler.library_source()
        if source is not None:
            return _build_std(compiler, source)
    tried = ", ".join(f"{c.rustc} ({c.version_line})" for _, c in compilers)
    return Missing(f"no Rust std for {target.triple} and no matching std source to build one (tried {tried})",
                   enable_commands(target))
