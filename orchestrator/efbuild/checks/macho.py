"""The Mach-O check: right CPU slices, a macOS floor within policy, system dylibs only.

A base binary for macOS must run on every Mac the policy promises (its minimum macOS
must not be newer than the target's `macos_min`), must be the architecture(s) it is
published as, and must be self-contained: it may link only what every Mac has (dylibs
under /usr/lib/ and public frameworks under /System/Library/Frameworks/) and must not
carry search paths (LC_RPATH) from the machine that built it. Every offence is named.

Headers and load commands are read with macholib, thin and fat (universal) files alike.
"""

from __future__ import annotations

import posixpath
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from macholib.MachO import MachO, MachOHeader
from macholib.mach_o import (
    CPU_TYPE_NAMES,
    FAT_MAGIC,
    FAT_MAGIC_64,
    LC_BUILD_VERSION,
    LC_LAZY_LOAD_DYLIB,
    LC_LOAD_DYLIB,
    LC_LOAD_DYLINKER,
    LC_LOAD_UPWARD_DYLIB,
    LC_LOAD_WEAK_DYLIB,
    LC_NAMES,
    LC_REEXPORT_DYLIB,
    LC_RPATH,
    LC_SEGMENT,
    LC_SEGMENT_64,
    LC_VERSION_MIN_IPHONEOS,
    LC_VERSION_MIN_MACOSX,
    LC_VERSION_MIN_TVOS,
    LC_VERSION_MIN_WATCHOS,
    MH_BUNDLE,
    MH_CIGAM,
    MH_CIGAM_64,
    MH_CORE,
    MH_DSYM,
    MH_DYLIB,
    MH_DYLIB_STUB,
    MH_DYLINKER,
    MH_EXECUTE,
    MH_FILESET,
    MH_FVMLIB,
    MH_MAGIC,
    MH_MAGIC_64,
    MH_OBJECT,
    MH_PRELOAD,
    PLATFORM_IOS,
    PLATFORM_MACOS,
    PLATFORM_NAMES,
    PLATFORM_TVOS,
    PLATFORM_WATCHOS,
)
from macholib.ptypes import sizeof

from efbuild.checks.base import CheckContext, CheckResult
from efbuild.errors import ConfigError
from efbuild.target import Target

# --- Mach-O facts ---------------------------------------------------------------------

_CPU_ARCH_ABI64 = 0x01000000
CPU_TYPE_X86_64 = 7 | _CPU_ARCH_ABI64
CPU_TYPE_ARM64 = 12 | _CPU_ARCH_ABI64
_CPU_SUBTYPE_MASK = 0xFF000000  # capability bits (LIB64, pointer-auth ABI), not the model
_CPU_SUBTYPE_X86_64_H = 8  # Haswell and newer only
_CPU_SUBTYPE_ARM64E = 2  # pointer authentication; not what a plain arm64 Mac runs

# efbuild arch -> the Apple arch name of the slice it must be (lipo/otool naming).
APPLE_ARCH = {"x86_64": "x86_64", "aarch64": "arm64"}
_EFBUILD_ARCH = {apple: arch for arch, apple in APPLE_ARCH.items()}
UNIVERSAL2_SLICES = ("arm64", "x86_64")

_CPU_TYPE_CONSTANTS = {CPU_TYPE_X86_64: "CPU_TYPE_X86_64", CPU_TYPE_ARM64: "CPU_TYPE_ARM64"}

_FILETYPES = {
    MH_OBJECT: "MH_OBJECT",
    MH_EXECUTE: "MH_EXECUTE",
    MH_FVMLIB: "MH_FVMLIB",
    MH_CORE: "MH_CORE",
    MH_PRELOAD: "MH_PRELOAD",
    MH_DYLIB: "MH_DYLIB",
    MH_DYLINKER: "MH_DYLINKER",
    MH_BUNDLE: "MH_BUNDLE",
    MH_DYLIB_STUB: "MH_DYLIB_STUB",
    MH_DSYM: "MH_DSYM",
    MH_FILESET: "MH_FILESET",
}

_DYLIB_COMMANDS = (
    LC_LOAD_DYLIB,
    LC_LOAD_WEAK_DYLIB,
    LC_REEXPORT_DYLIB,
    LC_LAZY_LOAD_DYLIB,
    LC_LOAD_UPWARD_DYLIB,
)

# The pre-LC_BUILD_VERSION commands each name their platform by being what they are.
_VERSION_MIN_PLATFORMS = {
    LC_VERSION_MIN_MACOSX: PLATFORM_MACOS,
    LC_VERSION_MIN_IPHONEOS: PLATFORM_IOS,
    LC_VERSION_MIN_TVOS: PLATFORM_TVOS,
    LC_VERSION_MIN_WATCHOS: PLATFORM_WATCHOS,
}

_THIN_MAGICS = (MH_MAGIC, MH_CIGAM, MH_MAGIC_64, MH_CIGAM_64)
_FAT_MAGICS = (FAT_MAGIC, FAT_MAGIC_64)
# A Java class file also starts with 0xCAFEBABE; its version fields then read as a slice
# count of 45 or more. No real universal file comes near this many slices.
_MAX_FAT_SLICES = 32

SYSTEM_DYLIB_PREFIXES = ("/usr/lib/", "/System/Library/Frameworks/")
SYSTEM_DYLINKER = "/usr/lib/dyld"

_VERSION_TEXT = re.compile(r"^\d+(\.\d+){0,2}$")


class MachOReadError(Exception):
    """The file is missing, unreadable, not Mach-O, or too damaged to judge."""


@dataclass(frozen=True)
class LinkedDylib:
    path: str
    command: str  # LC_LOAD_DYLIB, LC_LOAD_WEAK_DYLIB, LC_REEXPORT_DYLIB, ...

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "command": self.command}


@dataclass(frozen=True)
class BuildVersion:
    """One platform the slice is built for, from LC_BUILD_VERSION or LC_VERSION_MIN_*."""

    platform: int  # PLATFORM_MACOS = 1, ...
    minos: str  # "11.0", "10.13", "11.3.1"
    sdk: str | None  # None when the linker recorded no SDK (0)
    source: str  # the load command it came from

    @property
    def platform_name(self) -> str:
        return platform_name(self.platform)


@dataclass(frozen=True)
class MachOSlice:
    cpu_type: str  # CPU_TYPE_ARM64, CPU_TYPE_X86_64, CPU_TYPE_I386, or "cputype 0x..."
    cpu_type_value: int
    cpu_subtype_value: int  # capability bits masked off
    apple_arch: str  # arm64, arm64e, x86_64, x86_64h, i386, ...
    arch: str | None  # efbuild's name (x86_64, aarch64); None if efbuild has none
    filetype: str  # MH_EXECUTE, MH_DYLIB, ...
    build_versions: tuple[BuildVersion, ...]
    dylibs: tuple[LinkedDylib, ...]
    rpaths: tuple[str, ...]
    dylinker: str | None

    @property
    def macos_version(self) -> BuildVersion | None:
        return next((v for v in self.build_versions if v.platform == PLATFORM_MACOS), None)

    @property
    def _version(self) -> BuildVersion | None:
        return self.macos_version or (self.build_versions[0] if self.build_versions else None)

    @property
    def platform(self) -> str | None:
        version = self._version
        return version.platform_name if version else None

    @property
    def minos(self) -> str | None:
        version = self._version
        return version.minos if version else None

    @property
    def minos_source(self) -> str | None:
        version = self._version
        return version.source if version else None

    @property
    def sdk(self) -> str | None:
        version = self._version
        return version.sdk if version else None

    def to_json(self) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "apple_arch": self.apple_arch,
            "cpu_type": self.cpu_type,
            "filetype": self.filetype,
            "platform": self.platform,
            "minos": self.minos,
            "minos_source": self.minos_source,
            "sdk": self.sdk,
            "dylibs": [d.to_json() for d in self.dylibs],
            "rpaths": list(self.rpaths),
            "dylinker": self.dylinker,
        }


@dataclass(frozen=True)
class MachOInfo:
    path: str
    universal: bool  # a fat file, whatever slices it holds
    slices: tuple[MachOSlice, ...]

    @property
    def apple_arches(self) -> tuple[str, ...]:
        return tuple(s.apple_arch for s in self.slices)

    @property
    def description(self) -> str:
        """arm64, or universal (arm64, x86_64)."""
        names = ", ".join(self.apple_arches)
        return f"universal ({names})" if self.universal else names

    @property
    def macos_min_required(self) -> str | None:
        """The highest macOS minimum any slice declares; None if none declares one."""
        minimums = [s.macos_version.minos for s in self.slices if s.macos_version]
        return max(minimums, key=version_key) if minimums else None


def platform_name(platform: int) -> str:
    return PLATFORM_NAMES.get(platform, f"platform {platform}")


def version_key(version: str) -> tuple[int, ...]:
    """10.15 < 11.0 < 11.3 < 13.0, and 11 == 11.0 == 11.0.0."""
    parts = [int(part) for part in version.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def _decode_version(packed: int) -> str:
    """xxxx.yy.zz nibble encoding -> "11.0" or "11.3.1"."""
    major, minor, patch = packed >> 16, (packed >> 8) & 0xFF, packed & 0xFF
    return f"{major}.{minor}.{patch}" if patch else f"{major}.{minor}"


# --- reading --------------------------------------------------------------------------


def looks_like_macho(path: str | Path) -> bool:
    """True if the file starts like a thin or fat Mach-O file (nothing more is checked)."""
    try:
        with Path(path).open("rb") as stream:
            head = stream.read(8)
    except OSError:
        return False
    return _magic_kind(head) is not None


def _magic_kind(head: bytes) -> str | None:
    if len(head) < 4:
        return None
    (magic,) = struct.unpack(">I", head[:4])
    if magic in _THIN_MAGICS:
        return "thin"
    if magic in _FAT_MAGICS and len(head) >= 8:
        (count,) = struct.unpack(">I", head[4:8])
        return "fat" if count <= _MAX_FAT_SLICES else None
    return None


def read_macho_info(path: str | Path) -> MachOInfo:
    """Parse what the checks need from a Mach-O file; MachOReadError if that is impossible."""
    path = Path(path)
    try:
        with path.open("rb") as stream:
            head = stream.read(8)
            file_size = path.stat().st_size
    except OSError as exc:
        raise MachOReadError(f"cannot read {path}: {exc.strerror or exc}") from exc
    kind = _magic_kind(head)
    if kind is None:
        raise MachOReadError(f"{path} is not a Mach-O file (starts with {head[:4]!r})")
    try:
        macho = MachO(str(path), allow_unknown_load_commands=True)
    except OSError as exc:
        if exc.errno is not None:
            raise MachOReadError(f"cannot read {path}: {exc.strerror or exc}") from exc
        # macholib's file views raise a bare OSError when an offset points past the end.
        raise MachOReadError(f"{path} is truncated or damaged: {exc}") from exc
    except Exception as exc:
        # macholib reports damaged input as ValueError, struct.error, IOError from its
        # file views, IndexError...; all mean the same here.
        raise _damaged(path, exc) from exc
    universal = kind == "fat"
    if not macho.headers:
        raise MachOReadError(f"{path} is a universal file with no slices")
    slices = []
    for number, header in enumerate(macho.headers):
        where = f"slice {number} of {path}" if universal else str(path)
        if header.offset + header.size > file_size:
            raise MachOReadError(
                f"{path} is truncated: slice {number} ends at byte "
                f"{header.offset + header.size} but the file has {file_size} bytes"
            )
        slices.append(_read_slice(header, where))
    return MachOInfo(path=str(path), universal=universal, slices=tuple(slices))


def _damaged(path: Path, exc: Exception) -> MachOReadError:
    return MachOReadError(f"{path} is a damaged Mach-O file: {type(exc).__name__}: {exc}")


def _read_slice(header: MachOHeader, where: str) -> MachOSlice:
    cpu_type = int(header.header.cputype)
    cpu_subtype = int(header.header.cpusubtype) & ~_CPU_SUBTYPE_MASK & 0xFFFFFFFF
    apple_arch = _apple_arch(cpu_type, cpu_subtype)
    filetype = int(header.header.filetype)
    versions: list[BuildVersion] = []
    dylibs: list[LinkedDylib] = []
    rpaths: list[str] = []
    dylinker = None
    for load, command, data in header.commands:
        kind = load.cmd
        if kind in (LC_SEGMENT, LC_SEGMENT_64):
            _require_segment_in_slice(command, header.size, where)
        elif kind == LC_BUILD_VERSION:
            versions.append(
                BuildVersion(
                    platform=int(command.platform),
                    minos=_decode_version(int(command.minos)),
                    sdk=_decode_version(int(command.sdk)) if command.sdk else None,
                    source="LC_BUILD_VERSION",
                )
            )
        elif kind in _VERSION_MIN_PLATFORMS:
            versions.append(
                BuildVersion(
                    platform=_VERSION_MIN_PLATFORMS[kind],
                    minos=_decode_version(int(command.version)),
                    sdk=_decode_version(int(command.sdk)) if command.sdk else None,
                    source=LC_NAMES[kind],
                )
            )
        elif kind in _DYLIB_COMMANDS:
            path = _load_command_string(load, command, data, command.name, where)
            dylibs.append(LinkedDylib(path, LC_NAMES[kind]))
        elif kind == LC_RPATH:
            rpaths.append(_load_command_string(load, command, data, command.path, where))
        elif kind == LC_LOAD_DYLINKER:
            dylinker = _load_command_string(load, command, data, command.name, where)
    return MachOSlice(
        cpu_type=_cpu_type_name(cpu_type),
        cpu_type_value=cpu_type,
        cpu_subtype_value=cpu_subtype,
        apple_arch=apple_arch,
        arch=_EFBUILD_ARCH.get(apple_arch),
        filetype=_FILETYPES.get(filetype, f"filetype 0x{filetype:x}"),
        build_versions=tuple(versions),
        dylibs=tuple(dylibs),
        rpaths=tuple(rpaths),
        dylinker=dylinker,
    )


def _cpu_type_name(cpu_type: int) -> str:
    if cpu_type in _CPU_TYPE_CONSTANTS:
        return _CPU_TYPE_CONSTANTS[cpu_type]
    known = CPU_TYPE_NAMES.get(cpu_type)
    return f"CPU_TYPE_{known.upper()}" if known else f"cputype 0x{cpu_type & 0xFFFFFFFF:x}"


def _apple_arch(cpu_type: int, cpu_subtype: int) -> str:
    if cpu_type == CPU_TYPE_ARM64:
        return "arm64e" if cpu_subtype == _CPU_SUBTYPE_ARM64E else "arm64"
    if cpu_type == CPU_TYPE_X86_64:
        return "x86_64h" if cpu_subtype == _CPU_SUBTYPE_X86_64_H else "x86_64"
    known = CPU_TYPE_NAMES.get(cpu_type)
    return known.lower() if known else f"cputype 0x{cpu_type & 0xFFFFFFFF:x}"


def _require_segment_in_slice(segment: Any, slice_size: int, where: str) -> None:
    """macholib reads short data without complaint; a cut-off file must not pass."""
    end = int(segment.fileoff) + int(segment.filesize)
    if end > slice_size:
        name = bytes(segment.segname).rstrip(b"\0").decode("ascii", "replace") or "(unnamed)"
        raise MachOReadError(
            f"{where} is truncated: segment {name} ends at byte {end} "
            f"but the Mach-O has {slice_size} bytes"
        )


def _load_command_string(load: Any, command: Any, data: bytes, offset: int, where: str) -> str:
    """An lc_str: a NUL-terminated string at `offset` from the start of the command."""
    start = int(offset) - sizeof(load) - sizeof(command)
    if start < 0 or start >= len(data):
        raise MachOReadError(
            f"{where} is a damaged Mach-O file: {LC_NAMES.get(load.cmd, load.cmd)} "
            f"has a string offset {int(offset)} outside its {int(load.cmdsize)} bytes"
        )
    raw = bytes(data[start:]).split(b"\0", 1)[0]
    return raw.decode("utf-8", "backslashreplace")


def guess_macho_triple(path: str | Path) -> str | None:
    """The efbuild triple a Mach-O file looks built for.

    aarch64-apple-darwin / x86_64-apple-darwin for a thin file (or a fat file with one
    slice), universal2-apple-darwin for a fat file with exactly arm64 and x86_64. None if
    the file is not Mach-O at all, or its slices match no efbuild darwin target (i386,
    arm64e, ...). MachOReadError if it starts like Mach-O but cannot be read.
    """
    if not looks_like_macho(path):
        return None
    info = read_macho_info(path)
    if sorted(info.apple_arches) == list(UNIVERSAL2_SLICES) and info.universal:
        return "universal2-apple-darwin"
    if len(info.slices) == 1 and info.slices[0].arch is not None:
        return f"{info.slices[0].arch}-apple-darwin"
    return None


# --- judging --------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    kind: str  # arch | platform | minos | no-minos | dylib | rpath | filetype | dylinker
    text: str


def arch_problems(info: MachOInfo, target: Target) -> list[Problem]:
    found = info.description
    if target.arch == "universal2":
        wanted = sorted(UNIVERSAL2_SLICES)
        if info.universal and sorted(info.apple_arches) == wanted:
            return []
        need = f"a universal file with exactly {' and '.join(wanted)} slices"
        return [Problem("arch", f"binary is {found} but target {target.triple} needs {need}")]
    expected = APPLE_ARCH.get(target.arch)
    if expected is None:
        return [Problem("arch", f"efbuild knows no Mach-O CPU type for arch '{target.arch}'")]
    if info.universal:
        need = f"a thin {expected} file"
    elif info.apple_arches == (expected,):
        return []
    else:
        need = expected
    return [Problem("arch", f"binary is {found} but target {target.triple} needs {need}")]


def _prefix(info: MachOInfo, piece: MachOSlice) -> str:
    return f"{piece.apple_arch} slice: " if info.universal else ""


def filetype_problems(info: MachOInfo) -> list[Problem]:
    return [
        Problem(
            "filetype",
            f"{_prefix(info, s)}filetype is {s.filetype} but a base binary must be MH_EXECUTE",
        )
        for s in info.slices
        if s.filetype != "MH_EXECUTE"
    ]


def platform_problems(info: MachOInfo, policy: str) -> list[Problem]:
    problems = []
    for piece in info.slices:
        prefix = _prefix(info, piece)
        macos = piece.macos_version
        if not piece.build_versions:
            problems.append(
                Problem(
                    "no-minos",
                    f"{prefix}has no LC_BUILD_VERSION or LC_VERSION_MIN_MACOSX: "
                    f"its minimum macOS is unknown (the policy allows at most {policy})",
                )
            )
        elif macos is None:
            others = ", ".join(
                f"{v.platform_name} ({v.source} platform {v.platform})"
                for v in piece.build_versions
            )
            problems.append(
                Problem(
                    "platform",
                    f"{prefix}is built for {others}, not macOS (platform {PLATFORM_MACOS})",
                )
            )
        elif version_key(macos.minos) > version_key(policy):
            problems.append(
                Problem(
                    "minos",
                    f"{prefix}requires macOS {macos.minos} ({macos.source} minos) "
                    f"but the policy allows at most {policy}",
                )
            )
    return problems


def dylib_verdict(path: str) -> str | None:
    """Why a linked dylib is not allowed in a base binary; None if it is a system one."""
    if path.startswith("@"):
        anchor = path.split("/", 1)[0]
        return f"is found through {anchor}, but a base binary must be self-contained"
    normalized = posixpath.normpath(path)
    if not path.startswith("/"):
        return "is not an absolute path, so dyld searches for it"
    if normalized.startswith("/System/Library/PrivateFrameworks/"):
        return "is a private framework, which is no stable interface across macOS releases"
    if any(normalized.startswith(prefix) for prefix in SYSTEM_DYLIB_PREFIXES):
        return None
    return (
        "is not a system library (only /usr/lib/ and /System/Library/Frameworks/ "
        "exist on every Mac); link it statically or drop it"
    )


def dylib_problems(info: MachOInfo) -> list[Problem]:
    problems = []
    for piece in info.slices:
        for dylib in piece.dylibs:
            verdict = dylib_verdict(dylib.path)
            if verdict:
                text = f"{_prefix(info, piece)}{dylib.path} ({dylib.command}) {verdict}"
                problems.append(Problem("dylib", text))
    return problems


def rpath_problems(info: MachOInfo) -> list[Problem]:
    why = "a base binary must not search build-machine or relative paths for libraries"
    return [
        Problem("rpath", f"{_prefix(info, piece)}LC_RPATH {rpath} is set: {why}")
        for piece in info.slices
        for rpath in piece.rpaths
    ]


def dylinker_problems(info: MachOInfo) -> list[Problem]:
    problems = []
    for piece in info.slices:
        if piece.filetype != "MH_EXECUTE" or piece.dylinker == SYSTEM_DYLINKER:
            continue
        if piece.dylinker is None:
            text = f"has no LC_LOAD_DYLINKER: macOS starts executables through {SYSTEM_DYLINKER}"
        else:
            text = f"dynamic linker is {piece.dylinker} (LC_LOAD_DYLINKER), not {SYSTEM_DYLINKER}"
        problems.append(Problem("dylinker", _prefix(info, piece) + text))
    return problems


def collect_problems(info: MachOInfo, target: Target, policy: str) -> list[Problem]:
    return (
        arch_problems(info, target)
        + filetype_problems(info)
        + platform_problems(info, policy)
        + dylib_problems(info)
        + rpath_problems(info)
        + dylinker_problems(info)
    )


def policy_macos_min(target: Target) -> str:
    """The macOS version a darwin target's binaries may require at most."""
    if not target.macos_min:
        raise ConfigError(
            f"target {target.key} is a macOS target but has no macos_min",
            hint="set macos_min (e.g. 11.0) for this target",
        )
    if not _VERSION_TEXT.match(target.macos_min):
        raise ConfigError(
            f"target {target.key}: macos_min '{target.macos_min}' is not a macOS version",
            hint="macOS versions look like 10.15, 11.0 or 13.0",
        )
    return target.macos_min


# --- reporting ------------------------------------------------------------------------


def macho_facts(info: MachOInfo, policy: str) -> dict[str, Any]:
    return {
        "slices": [s.to_json() for s in info.slices],
        "macos_min_required": info.macos_min_required,
        "policy_macos_min": policy,
        "universal": info.universal,
    }


def _count(number: int, singular: str, plural: str) -> str:
    return f"{number} {singular if number == 1 else plural}"


def _distinct_dylibs(info: MachOInfo) -> int:
    return len({d.path for s in info.slices for d in s.dylibs})


def failure_summary(problems: list[Problem], info: MachOInfo, target: Target, policy: str) -> str:
    kinds = [p.kind for p in problems]
    parts = []
    if "arch" in kinds:
        parts.append(f"wrong arch {info.description} for {target.arch}")
    if "filetype" in kinds:
        parts.append("not MH_EXECUTE")
    if "platform" in kinds:
        parts.append("not built for macOS")
    if "no-minos" in kinds:
        parts.append("no minimum macOS recorded")
    if "minos" in kinds:
        parts.append(f"requires macOS {info.macos_min_required} > policy {policy}")
    if "dylib" in kinds:
        parts.append(f"{_count(kinds.count('dylib'), 'dylib', 'dylibs')} not allowed")
    if "rpath" in kinds:
        parts.append(f"{_count(kinds.count('rpath'), 'LC_RPATH', 'LC_RPATHs')} set")
    if "dylinker" in kinds:
        parts.append("wrong dynamic linker")
    return "; ".join(parts)


def success_summary(info: MachOInfo) -> str:
    dylibs = _count(_distinct_dylibs(info), "system dylib", "system dylibs")
    return f"{info.description}, macOS >= {info.macos_min_required}, {dylibs}"


class MachOCheck:
    name: ClassVar[str] = "macho"
    executes_binary: ClassVar[bool] = False

    def applies_to(self, target: Target) -> bool:
        return target.os == "macos"

    def run(self, binary: Path, context: CheckContext) -> CheckResult:
        target = context.target
        policy = policy_macos_min(target)
        try:
            info = read_macho_info(binary)
        except MachOReadError as exc:
            return CheckResult.unreadable(self.name, "Mach-O", exc,
                                          {"path": str(binary), "policy_macos_min": policy})
        problems = collect_problems(info, target, policy)
        return CheckResult(
            check=self.name,
            status="failed" if problems else "passed",
            summary=(
                failure_summary(problems, info, target, policy)
                if problems
                else success_summary(info)
            ),
            problems=tuple(p.text for p in problems),
            facts=macho_facts(info, policy),
        )
