"""Where things live: the project, efbuild's work dir, the packer's cache. Resolved once."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import platformdirs

from efbuild.errors import ConfigError

RUNTIME_CRATE_DIR = "runtime-crate"
CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file marks a cache directory created by efbuild.\n"
    "# Everything here can be rebuilt; backup tools may skip it.\n"
)


@dataclass(frozen=True)
class Settings:
    project_dir: Path  # holds targets/, runtime-crate/ and the Cargo workspace
    work_dir: Path  # efbuild's own: builds, logs, zig caches
    cache_dir: Path  # the encoderfile packer's cache (base-binaries/ lives under it)
    origin: Mapping[str, str]

    @property
    def targets_dir(self) -> Path:
        return self.project_dir / "targets"

    @property
    def crate_dir(self) -> Path:
        return self.project_dir / RUNTIME_CRATE_DIR

    def runtime_version(self) -> str:
        """The runtime crate's version: what its binary prints and the default release."""
        manifest = self.crate_dir / "Cargo.toml"
        try:
            return str(tomllib.loads(manifest.read_text())["package"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read the runtime crate's version from {manifest}: {exc}") from exc


def _is_project(path: Path) -> bool:
    return (path / "targets").is_dir() and (path / RUNTIME_CRATE_DIR / "Cargo.toml").is_file()


def find_project_dir(start: Path) -> Path | None:
    for candidate in (start, *start.parents):
        if _is_project(candidate):
            return candidate
    # An editable install runs from the checkout: orchestrator/efbuild/settings.py.
    source_root = Path(__file__).resolve().parents[2]
    return source_root if _is_project(source_root) else None


def default_cache_dir() -> Path:
    """The reference packer's per-user cache dir for the application "encoderfile"."""
    return Path(platformdirs.user_cache_dir("encoderfile", appauthor=False))


def _pick(cli: str | Path | None, env_var: str, fallback: Path, environ: Mapping[str, str]
          ) -> tuple[Path, str]:
    if cli is not None:
        return Path(cli).expanduser().resolve(), "command line"
    if environ.get(env_var):
        return Path(environ[env_var]).expanduser().resolve(), f"env:{env_var}"
    return fallback, "default"


def resolve_settings(*, project_dir: str | None = None, work_dir: str | None = None,
                     cache_dir: str | None = None, environ: Mapping[str, str] | None = None
                     ) -> Settings:
    environ = os.environ if environ is None else environ
    origin: dict[str, str] = {}
    if project_dir is None and environ.get("EFBUILD_PROJECT_DIR"):
        project_dir = environ["EFBUILD_PROJECT_DIR"]
    found = Path(project_dir).resolve() if project_dir else find_project_dir(Path.cwd())
    if found is None or not _is_project(found):
        raise ConfigError(
            f"no efbuild project at {found or Path.cwd()}",
            hint="run inside the efbuild checkout or pass --project-dir (a dir with targets/ and runtime-crate/)",
        )
    work, origin["work_dir"] = _pick(
        work_dir, "EFBUILD_WORK_DIR", Path(platformdirs.user_cache_dir("efbuild", appauthor=False)), environ
    )
    cache, origin["cache_dir"] = _pick(cache_dir, "ENCODERFILE_CACHE_DIR", default_cache_dir(), environ)
    return Settings(project_dir=found, work_dir=work, cache_dir=cache, origin=origin)


def ensure_work_dir(path: Path) -> Path:
    """Create efbuild's work dir, tagged so backup tools and `rm` scripts know it is a cache."""
    path.mkdir(parents=True, exist_ok=True)
    tag = path / "CACHEDIR.TAG"
    if not tag.exists():
        tag.write_text(CACHEDIR_TAG)
    return path
