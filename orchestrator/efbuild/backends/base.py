"""The interface every build backend implements.

A backend turns (target, toolchain) into one executable file. It does not decide
what to build, whether it is up to date, or whether the result is good: the build
orchestrator and the checks do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Mapping, Protocol

from efbuild.target import Target
from efbuild.toolchain import Toolchain

BINARY_NAME = "encoderfile-runtime"
PACKAGE_NAME = "encoderfile-runtime"


@dataclass(frozen=True)
class BuildRequest:
    target: Target
    toolchain: Toolchain
    profile: str  # cargo profile: release, dev, or a custom one
    project_dir: Path  # the Cargo workspace root
    target_dir: Path  # cargo --target-dir, private to this target
    log_path: Path  # everything the tools print goes here
    work_dir: Path  # efbuild's work dir, for tool caches


@dataclass(frozen=True)
class Unavailable:
    reason: str
    enable: tuple[str, ...] = ()


class Backend(Protocol):
    name: ClassVar[str]
    description: ClassVar[str]

    def unavailable(self, target: Target, toolchain: Toolchain) -> Unavailable | None:
        """Why this backend cannot build the target here, or None if it can."""
        ...

    def identity(self) -> Mapping[str, str]:
        """Versions of the backend's own tools: part of the fingerprint and manifest."""
        ...

    def build(self, request: BuildRequest) -> Path:
        """Build, append all tool output to request.log_path, return the produced binary."""
        ...


def profile_dir(profile: str) -> str:
    """cargo names the output dir of the dev profile `debug`; others by their name."""
    return "debug" if profile == "dev" else profile


def cargo_output(request: BuildRequest) -> Path:
    return request.target_dir / request.target.triple / profile_dir(request.profile) / BINARY_NAME
