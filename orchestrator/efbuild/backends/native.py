"""native backend: plain `cargo build` for the machine efbuild runs on.

It links against this machine's own glibc, so the result needs at least that version;
the glibc check then tells whether the target's policy allows it.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import ClassVar, Mapping

from efbuild.backends.base import BuildRequest, Unavailable
from efbuild.backends.cargo_process import build_env, common_cargo_args, run_logged
from efbuild.target import Target
from efbuild.toolchain import Toolchain
from efbuild.triples import host_triple


def host_glibc() -> str | None:
    libc, version = platform.libc_ver()
    return version if libc == "glibc" and version else None


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


class NativeBackend:
    name: ClassVar[str] = "native"
    description: ClassVar[str] = "plain cargo for this machine's own target"

    def unavailable(self, target: Target, toolchain: Toolchain) -> Unavailable | None:
        host = host_triple()
        if target.triple != host:
            return Unavailable(
                f"the native backend builds only for this machine ({host})",
                (f"efbuild targets build {target.key} --backend zig",),
            )
        glibc = host_glibc()
        if target.abi == "gnu" and target.glibc and glibc and _version_tuple(glibc) > _version_tuple(target.glibc):
            return Unavailable(
                f"the native backend links against this machine's glibc {glibc}, newer than the floor {target.glibc}",
                (f"efbuild targets build {target.triple} --glibc {target.glibc} --backend zig",),
            )
        return None

    def identity(self) -> Mapping[str, str]:
        return {"host_glibc": host_glibc() or "none"}

    def build(self, request: BuildRequest) -> Path:
        cargo = str(request.toolchain.compiler.cargo)
        argv = [cargo, "build", *common_cargo_args(request), "--target", request.target.triple]
        return run_logged(argv, request, build_env(request, {}))
