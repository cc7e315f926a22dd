"""What efbuild remembers about each target's last build, under <work>/builds/<key>/."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from efbuild.backends.base import BINARY_NAME
from efbuild.fingerprint import file_sha256
from efbuild.fsutil import atomic_write_json
from efbuild.target import Target

RECORD_SCHEMA = 1


@dataclass(frozen=True)
class BuildPaths:
    root: Path

    @classmethod
    def for_target(cls, work_dir: Path, target: Target) -> "BuildPaths":
        """One dir per (key, backend): a native and a zig build of a triple never collide."""
        return cls(work_dir / "builds" / target.key / target.backend)

    @property
    def record(self) -> Path:
        return self.root / "record.json"

    @property
    def binary(self) -> Path:
        return self.root / BINARY_NAME

    @property
    def log(self) -> Path:
        return self.root / "build.log"

    @property
    def cargo_target(self) -> Path:
        return self.root / "cargo-target"


@dataclass(frozen=True)
class BuildRecord:
    key: str
    triple: str
    backend: str
    profile: str
    fingerprint: str
    source_hash: str
    binary: str
    sha256: str
    size: int
    status: str  # passed | failed
    checks: list[dict[str, Any]]
    toolchain: dict[str, str]
    backend_identity: dict[str, str]
    glibc_policy: str | None
    macos_min: str | None
    built_at: str
    duration_seconds: float
    schema: int = RECORD_SCHEMA
    facts: dict[str, Any] = field(default_factory=dict)

    def check_fact(self, check_name: str, fact: str) -> Any:
        for check in self.checks:
            if check.get("check") == check_name:
                return check.get("facts", {}).get(fact)
        return None

    @property
    def glibc_required(self) -> str | None:
        return self.check_fact("elf", "glibc_required")

    @property
    def macos_required(self) -> str | None:
        return self.check_fact("macho", "macos_min_required")

    @property
    def floor_required(self) -> str:
        """What the binary needs of the system it runs on, for tables."""
        if self.glibc_required:
            return f"glibc {self.glibc_required}"
        if self.macos_required:
            return f"macOS {self.macos_required}"
        return "static" if self.check_fact("elf", "static") else "-"

    def binary_intact(self) -> bool:
        path = Path(self.binary)
        return path.is_file() and file_sha256(path) == self.sha256

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"glibc_required": self.glibc_required, "macos_required": self.macos_required}


def save_record(paths: BuildPaths, record: BuildRecord) -> None:
    atomic_write_json(paths.record, record.to_json())


def load_record(paths: BuildPaths) -> BuildRecord | None:
    """The last record, or None when there is none or it is unreadable (then we rebuild)."""
    try:
        raw = json.loads(paths.record.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict) or raw.get("schema") != RECORD_SCHEMA:
        return None
    raw.pop("glibc_required", None)
    raw.pop("macos_required", None)
    try:
        return BuildRecord(**raw)
    except TypeError:
        return None
