"""Content hashes of everything a build depends on.

If none of these changed, the binary from last time is the binary cargo would
produce, so the build is skipped without starting cargo.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Mapping

from efbuild import __version__
from efbuild.target import Target
from efbuild.toolchain import Toolchain

WORKSPACE_FILES = ("Cargo.toml", "Cargo.lock", "rust-toolchain", "rust-toolchain.toml", ".cargo/config.toml")
IGNORED_DIRS = {"target", ".git", "__pycache__"}
# Environment that changes what cargo produces.
RELEVANT_ENV = ("RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_PROFILE_RELEASE_LTO", "CARGO_BUILD_RUSTFLAGS")


PATH_VALUED_ENV = {"RUSTC", "CARGO"}


def _crate_files(crate_dir: Path) -> Iterable[Path]:
    for path in sorted(crate_dir.rglob("*")):
        if path.is_file() and not IGNORED_DIRS.intersection(path.relative_to(crate_dir).parts):
            yield path


def source_hash(project_dir: Path, crate_dir: Path) -> str:
    """sha256 over the workspace manifest, lock file and every file of the crate."""
    digest = hashlib.sha256()
    files = [project_dir / name for name in WORKSPACE_FILES if (project_dir / name).is_file()]
    for path in [*files, *_crate_files(crate_dir)]:
        digest.update(str(path.relative_to(project_dir)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def target_settings(target: Target) -> dict[str, Any]:
    """The settings that shape the binary (not the description or where they came from)."""
    settings = asdict(target)
    for key in ("origin", "description", "official", "smoke"):
        settings.pop(key)
    return settings


def build_fingerprint(*, source: str, target: Target, toolchain: Toolchain, backend: str,
                      backend_identity: Mapping[str, str], profile: str,
                      environ: Mapping[str, str]) -> str:
    material = {
        "efbuild": __version__,
        "source": source,
        "target": target_settings(target),
        # Versions, not paths: the same compiler reached through another path (a wrapper,
        # a different PATH) builds the same binary.
        "toolchain": {
            "route": toolchain.route,
            "rustc_verbose": toolchain.compiler.verbose_version,
            "cargo_version": toolchain.compiler.cargo_version,
            "std_source": toolchain.std_source,
        },
        "toolchain_env": {k: v for k, v in toolchain.env.items() if k not in PATH_VALUED_ENV},
        "toolchain_args": list(toolchain.cargo_args),
        "backend": backend,
        "backend_identity": dict(backend_identity),
        "profile": profile,
        # Bumped when efbuild changes the flags it adds itself (1: --remap-path-prefix).
        "efbuild_flags": 1,
        "env": {name: environ.get(name) for name in RELEVANT_ENV},
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
