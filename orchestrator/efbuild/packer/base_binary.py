"""Which base binary a build appends to, and whether it is fit for it.

Resolution, in the reference packer's order:
  1. an explicit path (--base-binary-path, or base_binary_path in encoderfile.yml);
  2. the cache: <cache>/base-binaries/encoderfile/<version>/<triple>/encoderfile-runtime;
  3. a download from $ENCODERFILE_BASE_BINARY_BASE_URL, verified, then installed into
     the cache with efbuild.cache.install (atomic, locked).

The reference only checks that the file exists and is executable. Before use this packer
also checks that its object format and architecture match the target (ELF machine for
linux, Mach-O CPU type for darwin), that a cached copy still matches the sha256 recorded
beside it, and that it carries no encoderfile payload already (packing onto a packed
file would bury the first model where nothing reads it).
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from efbuild import cache
from efbuild.backends.base import BINARY_NAME
from efbuild.checks.elf import ElfReadError, read_elf_info
from efbuild.checks.macho import MachOReadError, guess_macho_triple
from efbuild.container import ContainerError, read_encoderfile
from efbuild.errors import ConfigError
from efbuild.fingerprint import file_sha256
from efbuild.packer.download import BASE_URL_ENV, ReleaseAsset, base_url_from_env, fetch_base_binary
from efbuild.packer.errors import BaseBinaryError, PackerConfigError
from efbuild.triples import parse_triple

SOURCE_PATH = "path"
SOURCE_CACHE = "cache"
SOURCE_DOWNLOAD = "download"
# Version strings become directory names and URL segments: keep them to what versions use.
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]*$")


@dataclass(frozen=True)
class BaseBinaryRequest:
    target: str  # a cargo triple, checked by validate_target
    version: str  # the runtime release to use from the cache or the release server
    cache_dir: Path
    cache_dir_from_user: bool  # given as an option or in the config, so efbuild needs it too
    explicit_path: Path | None = None
    no_download: bool = False


@dataclass(frozen=True)
class ResolvedBaseBinary:
    path: Path
    source: str  # path | cache | download
    target: str
    version: str
    sha256: str
    size: int

    def to_json(self) -> dict[str, object]:
        return {"path": str(self.path), "source": self.source, "target": self.target, "version": self.version,
                "sha256": self.sha256, "size": self.size}


def validate_target(text: str) -> str:
    """A plain cargo triple: what the cache and the release assets are named by."""
    try:
        triple = parse_triple(text)
    except ConfigError as exc:
        raise PackerConfigError(f"target: {exc.message}", hint=exc.hint) from None
    if triple.glibc:
        raise PackerConfigError(f"target '{text}': base binaries are named by the plain triple",
                                hint=f"use --target {triple.cargo}; the glibc floor is the base binary's business")
    return triple.cargo


def validate_version(text: str) -> str:
    if not _VERSION.match(text):
        raise PackerConfigError(f"runtime version '{text}' is not a version (e.g. 0.1.0)")
    return text


def efbuild_command(request: BaseBinaryRequest) -> str:
    """The efbuild command that builds and caches the missing base binary."""
    command = f"efbuild targets build {request.target} --install --version {request.version}"
    return command + (f" --cache-dir {request.cache_dir}" if request.cache_dir_from_user else "")


def resolve_base_binary(request: BaseBinaryRequest, *, log: Callable[[str], None] = lambda _: None
                        ) -> ResolvedBaseBinary:
    if request.explicit_path is not None:
        check_base_binary(request.explicit_path, request.target)
        return _resolved(request.explicit_path, SOURCE_PATH, request)
    cached = cache.entry_dir(request.cache_dir, request.version, request.target) / BINARY_NAME
    if cached.exists():
        check_base_binary(cached, request.target, verify_sidecar=True)
        return _resolved(cached, SOURCE_CACHE, request)
    if request.no_download:
        raise BaseBinaryError(f"no base binary for {request.target} version {request.version} in the cache "
                              f"({cached.parent}) and --no-download was given",
                              hint=f"build and cache it: {efbuild_command(request)}")
    return _resolved(_download_into_cache(request, log), SOURCE_DOWNLOAD, request)


def _resolved(path: Path, source: str, request: BaseBinaryRequest) -> ResolvedBaseBinary:
    return ResolvedBaseBinary(path=path, source=source, target=request.target, version=request.version,
                              sha256=file_sha256(path), size=path.stat().st_size)


def _download_into_cache(request: BaseBinaryRequest, log: Callable[[str], None]) -> Path:
    base_url = base_url_from_env()
    if base_url is None:
        raise BaseBinaryError(
            f"no base binary for {request.target} version {request.version} in the cache ({request.cache_dir}), "
            f"and nowhere to download one: this project publishes no default release location, and "
            f"{BASE_URL_ENV} is not set",
            hint=f"build and cache it: {efbuild_command(request)}  (or set {BASE_URL_ENV} to a release server)")
    asset = ReleaseAsset(base_url=base_url, version=request.version, triple=request.target)
    log(f"downloading {asset.archive_url}")
    # Outside the cache: a half-finished download must never look like a cache entry.
    with tempfile.TemporaryDirectory(prefix="encoderfile-download-") as work_dir:
        extracted = fetch_base_binary(asset, Path(work_dir))
        check_base_binary(extracted, request.target, label=f"{asset.archive_url} ({BINARY_NAME})")
        installed = cache.install(request.cache_dir, request.version, request.target, extracted)
    log(f"verified and cached {installed}")
    check_base_binary(installed, request.target, verify_sidecar=True)
    return installed


# --- checks --------------------------------------------------------------------------


def check_base_binary(path: Path, target: str, *, verify_sidecar: bool = False, label: str | None = None) -> None:
    """Raise BaseBinaryError unless `path` is a bare runtime executable for `target`."""
    label = label or str(path)
    _require_executable_file(path, label)
    if verify_sidecar:
        _require_sidecar_match(path, label)
    _require_no_payload(path, label)
    _require_target_format(path, target, label)


def _require_executable_file(path: Path, label: str) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise BaseBinaryError(f"base binary {label} does not exist") from None
    except OSError as exc:
        raise BaseBinaryError(f"base binary {label}: cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise BaseBinaryError(f"base binary {label} is not a regular file")
    if not info.st_mode & 0o111 or not os.access(path, os.R_OK):
        raise BaseBinaryError(f"base binary {label} is not executable (or not readable)",
                              hint=f"chmod +x {path}")


def _require_sidecar_match(path: Path, label: str) -> None:
    """efbuild records each cached binary's sha256 beside it; a mismatch means it changed since."""
    recorded = cache.recorded_sha256(path)
    if recorded is None:
        return  # installed by something that records no checksum (the reference packer)
    actual = file_sha256(path)
    if actual != recorded:
        raise BaseBinaryError(f"cached base binary {label} has sha256 {actual}, but "
                              f"{BINARY_NAME}{cache.CHECKSUM_SUFFIX} recorded "
                              f"{recorded}; it changed since it was installed, refusing it",
                              hint="reinstall it (encoderfile runtime remove, then build or add it again)")


def _require_no_payload(path: Path, label: str) -> None:
    try:
        container = read_encoderfile(path, verify=False)
    except ContainerError as exc:
        if exc.kind in ("no_payload", "truncated"):
            return  # a bare binary (or too small to be one: the format check says so)
        raise BaseBinaryError(f"base binary {label} ends with an encoderfile footer but a damaged payload "
                              f"({exc.kind}); use a bare encoderfile-runtime") from None
    raise BaseBinaryError(f"base binary {label} already carries an encoderfile payload (model "
                          f"'{container.manifest.name}'); packing onto it is refused",
                          hint="use the bare encoderfile-runtime as the base binary")


def _require_target_format(path: Path, target: str, label: str) -> None:
    triple = parse_triple(target)
    if triple.os == "linux":
        _require_elf_arch(path, triple.arch, target, label)
    elif triple.os == "darwin":
        _require_macho_arch(path, target, label)
    else:
        raise BaseBinaryError(f"cannot check a base binary for {target}: only linux (ELF) and darwin (Mach-O) "
                              "targets are known")


def _require_elf_arch(path: Path, arch: str, target: str, label: str) -> None:
    try:
        info = read_elf_info(path)
    except ElfReadError as exc:
        raise BaseBinaryError(f"base binary {label} is not a usable ELF executable for {target}: {exc}") from None
    if info.arch != arch:
        found = info.arch or f"{info.elf_class} {info.machine}"
        raise BaseBinaryError(f"base binary {label} is built for {found} ({info.machine}), not for {target}",
                              hint=f"use a base binary built for {target}, or pass the --target it was built for")


def _require_macho_arch(path: Path, target: str, label: str) -> None:
    try:
        found = guess_macho_triple(path)
    except MachOReadError as exc:
        raise BaseBinaryError(f"base binary {label} is not a usable Mach-O executable for {target}: {exc}") from None
    if found is None:
        raise BaseBinaryError(f"base binary {label} is not a Mach-O executable for {target}")
    if found != target:
        raise BaseBinaryError(f"base binary {label} is built for {found}, not for {target}",
                              hint=f"use a base binary built for {target}, or pass the --target it was built for")
