"""zig backend: cargo-zigbuild, with zig from the `ziglang` Python package.

cargo-zigbuild links through `zig cc`, which carries libc stubs for any glibc version
(the `.2.17` triple suffix) and for macOS's libSystem, so one Linux machine can link
every target whose Rust std it has.
"""

from __future__ import annotations

import shutil
import sys
from importlib import metadata
from pathlib import Path
from typing import ClassVar, Mapping

from efbuild.backends.base import BuildRequest, Unavailable
from efbuild.backends.cargo_process import build_env, common_cargo_args, run_logged
from efbuild.target import Target
from efbuild.toolchain import Toolchain


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def find_cargo_zigbuild() -> Path | None:
    # Beside the interpreter first: a venv's bin/ need not be on PATH.
    beside = Path(sys.executable).parent / "cargo-zigbuild"
    if beside.is_file():
        return beside
    found = shutil.which("cargo-zigbuild")
    return Path(found) if found else None


def zig_triple(target: Target) -> str:
    """The triple as cargo-zigbuild wants it: a glibc floor rides as a suffix."""
    return f"{target.triple}.{target.glibc}" if target.abi == "gnu" and target.glibc else target.triple


class ZigBackend:
    name: ClassVar[str] = "zig"
    description: ClassVar[str] = "cargo-zigbuild: any glibc floor, macOS and musl from Linux"

    def unavailable(self, target: Target, toolchain: Toolchain) -> Unavailable | None:
        missing = [p for p in ("ziglang", "cargo-zigbuild") if _package_version(p) is None]
        if missing or find_cargo_zigbuild() is None:
            return Unavailable(
                f"the zig backend needs the Python packages {' and '.join(missing or ['cargo-zigbuild'])}",
                (f"{sys.executable} -m pip install ziglang cargo-zigbuild",),
            )
        return None

    def identity(self) -> Mapping[str, str]:
        return {
            "zig": _package_version("ziglang") or "missing",
            "cargo-zigbuild": _package_version("cargo-zigbuild") or "missing",
        }

    def build(self, request: BuildRequest) -> Path:
        zigbuild = find_cargo_zigbuild()
        target = request.target
        argv = [str(zigbuild), "zigbuild", *common_cargo_args(request), "--target", zig_triple(target)]
        env = {
            "CARGO": str(request.toolchain.compiler.cargo),
            # cargo-zigbuild runs `python -m ziglang`; this interpreter has the package.
            "CARGO_ZIGBUILD_PYTHON_PATH": sys.executable,
            "ZIG_GLOBAL_CACHE_DIR": str(request.work_dir / "zig" / "global-cache"),
            "ZIG_LOCAL_CACHE_DIR": str(request.work_dir / "zig" / "local-cache"),
            # Per build: parallel cargo-zigbuild runs race creating wrappers in a shared one
            # ("File exists"); zig's own cache is safe to share (it locks).
            "CARGO_ZIGBUILD_CACHE_DIR": str(request.target_dir.parent / "cargo-zigbuild"),
        }
        if target.is_darwin and target.macos_min:
            env["MACOSX_DEPLOYMENT_TARGET"] = target.macos_min
        rustflags: list[str] = []
        if target.is_darwin and not request.toolchain.compiler.can_strip_macho():
            # Without rust-objcopy the profile's `strip` makes rustc fail, so rustc may not
            # strip; the linker still drops the debug map (-S), whose stabs would name
            # object files and zig's lib dir on this machine.
            env[f"CARGO_PROFILE_{request.profile.upper().replace('-', '_')}_STRIP"] = "false"
            rustflags.append("-Clink-arg=-Wl,-S")
        return run_logged(argv, request, build_env(request, env, rustflags))
