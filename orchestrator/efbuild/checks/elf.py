"""The ELF check: right machine, only allowed libraries and symbol versions, no rpath.

Every required symbol version is judged by set membership against the target's glibc
policy (see efbuild.policies), and every offence is named: symbol, version and the
library that provides it, so a failing build says exactly what to fix.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from elftools.elf.dynamic import DynamicSegment
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection, GNUVerSymSection
from elftools.elf.segments import InterpSegment

from efbuild.checks.base import CheckContext, CheckResult
from efbuild.errors import ConfigError
from efbuild.policies import GlibcPolicy, available_policies, load_policy
from efbuild.target import Target

_ELF_MAGIC = b"\x7fELF"
_NUMERIC_GLIBC = re.compile(r"^GLIBC_(\d+(?:\.\d+)+)$")
_VERSYM_HIDDEN = 0x8000  # high bit of a .gnu.version entry; not part of the index


@dataclass(frozen=True)
class ElfArch:
    elf_class: str
    machine: str
    loader: str  # PT_INTERP of glibc's dynamic loader on this arch


ELF_ARCHES: dict[str, ElfArch] = {
    "x86_64": ElfArch("ELFCLASS64", "EM_X86_64", "/lib64/ld-linux-x86-64.so.2"),
    "aarch64": ElfArch("ELFCLASS64", "EM_AARCH64", "/lib/ld-linux-aarch64.so.1"),
}


class ElfReadError(Exception):
    """The file is missing, unreadable, not ELF, or too damaged to judge."""


@dataclass(frozen=True)
class VersionRequirement:
    """One version node the binary needs from one library, and the symbols bound to it.

    `symbols` is empty for nodes required without a symbol, such as GLIBC_ABI_DT_RELR.
    """

    library: str
    version: str
    symbols: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"library": self.library, "version": self.version, "symbols": list(self.symbols)}


@dataclass(frozen=True)
class ElfInfo:
    path: str
    elf_class: str  # ELFCLASS64
    machine: str  # EM_X86_64
    arch: str | None  # efbuild's name for (elf_class, machine); None if efbuild has none
    elf_type: str  # ET_EXEC, ET_DYN
    interpreter: str | None
    needed: tuple[str, ...]
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    requirements: tuple[VersionRequirement, ...]

    @property
    def is_static(self) -> bool:
        return self.interpreter is None and not self.needed

    @property
    def glibc_required(self) -> str | None:
        """Highest numeric GLIBC_x.y[.z] needed; ABI and PRIVATE nodes have no number."""
        numbers = [
            match.group(1)
            for match in (_NUMERIC_GLIBC.match(r.version) for r in self.requirements)
            if match
        ]
        return max(numbers, key=_version_key) if numbers else None


# --- reading --------------------------------------------------------------------------


def read_elf_info(path: str | Path) -> ElfInfo:
    """Parse what the checks need from an ELF file; ElfReadError if that is impossible."""
    path = Path(path)
    try:
        with path.open("rb") as stream:
            _require_elf_magic(stream, path)
            return _parse_elf(stream, path)
    except OSError as exc:
        raise ElfReadError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _require_elf_magic(stream: BinaryIO, path: Path) -> None:
    head = stream.read(len(_ELF_MAGIC))
    if head != _ELF_MAGIC:
        raise ElfReadError(f"{path} is not an ELF file (starts with {head!r})")
    stream.seek(0)


def _parse_elf(stream: BinaryIO, path: Path) -> ElfInfo:
    try:
        elf = ELFFile(stream)
        return _elf_info(elf, path)
    except ElfReadError:
        raise
    except Exception as exc:
        # pyelftools reports damaged input through many exception types (its own,
        # construct's, struct's, IndexError, UnicodeDecodeError...); all mean the same here.
        raise ElfReadError(f"{path} is a damaged ELF file: {type(exc).__name__}: {exc}") from exc


def _elf_info(elf: ELFFile, path: Path) -> ElfInfo:
    elf_class = elf.header["e_ident"]["EI_CLASS"]
    machine = elf["e_machine"]
    dynamic = _dynamic_tags(elf)
    return ElfInfo(
        path=str(path),
        elf_class=elf_class,
        machine=machine,
        arch=arch_for_machine(elf_class, machine),
        elf_type=elf["e_type"],
        interpreter=_interpreter(elf),
        needed=tuple(dynamic["DT_NEEDED"]),
        rpath=tuple(_split_search_path(dynamic["DT_RPATH"])),
        runpath=tuple(_split_search_path(dynamic["DT_RUNPATH"])),
        requirements=_version_requirements(elf, path, has_verneed=bool(dynamic["DT_VERNEED"])),
    )


def arch_for_machine(elf_class: str, machine: str) -> str | None:
    for arch, spec in ELF_ARCHES.items():
        if (spec.elf_class, spec.machine) == (elf_class, machine):
            return arch
    return None


def _interpreter(elf: ELFFile) -> str | None:
    for segment in elf.iter_segments():
        if isinstance(segment, InterpSegment):
            return segment.get_interp_name()
    return None


# DT_* tags whose string pyelftools resolves onto the tag under this attribute name.
_DYNAMIC_STRINGS = {"DT_NEEDED": "needed", "DT_RPATH": "rpath", "DT_RUNPATH": "runpath"}


def _dynamic_tags(elf: ELFFile) -> dict[str, list[Any]]:
    """DT_NEEDED/DT_RPATH/DT_RUNPATH strings and DT_VERNEED, read from PT_DYNAMIC so
    that a binary without section headers is still judged."""
    found: dict[str, list[Any]] = defaultdict(list)
    for segment in elf.iter_segments():
        if not isinstance(segment, DynamicSegment):
            continue
        for tag in segment.iter_tags():
            kind = tag.entry.d_tag
            if kind in _DYNAMIC_STRINGS:
                found[kind].append(getattr(tag, _DYNAMIC_STRINGS[kind]))
            elif kind == "DT_VERNEED":
                found[kind].append(tag.entry.d_val)
    return found


def _split_search_path(values: Iterable[str]) -> Iterator[str]:
    for value in values:
        yield from (entry for entry in value.split(":") if entry)


def _version_requirements(
    elf: ELFFile, path: Path, *, has_verneed: bool
) -> tuple[VersionRequirement, ...]:
    verneed = _first_section(elf, GNUVerNeedSection)
    versym = _first_section(elf, GNUVerSymSection)
    if verneed is None:
        if has_verneed:
            # Without the sections the requirements cannot be listed; passing the binary
            # anyway would wave through exactly what this check exists to catch.
            raise ElfReadError(
                f"{path} needs symbol versions (DT_VERNEED) but has no section headers "
                "to read them from; check the unstripped binary"
            )
        return ()
    nodes = _needed_version_nodes(verneed)
    symbols = _symbols_by_version_index(versym, set(nodes)) if versym else {}
    requirements = [
        VersionRequirement(library, version, tuple(sorted(symbols.get(index, ()))))
        for index, (library, version) in nodes.items()
    ]
    return tuple(sorted(requirements, key=lambda r: (r.library, _tag_key(r.version))))


def _first_section(elf: ELFFile, kind: type) -> Any:
    return next((s for s in elf.iter_sections() if isinstance(s, kind)), None)


def _needed_version_nodes(verneed: GNUVerNeedSection) -> dict[int, tuple[str, str]]:
    """Version index (as used in .gnu.version) -> (library, version name)."""
    nodes: dict[int, tuple[str, str]] = {}
    for needed_file, auxiliaries in verneed.iter_versions():
        for aux in auxiliaries:
            nodes[aux["vna_other"]] = (needed_file.name or "", aux.name)
    return nodes


def _symbols_by_version_index(versym: GNUVerSymSection, wanted: set[int]) -> dict[int, set[str]]:
    found: dict[int, set[str]] = defaultdict(set)
    # Defined symbols count too: a copy-relocated variable (stdout@GLIBC_2.2.5) lives in
    # the executable yet still binds to the library's version node.
    for number, symbol in enumerate(versym.symboltable.iter_symbols()):
        index = versym.get_symbol(number)["ndx"]
        if isinstance(index, int) and (index & ~_VERSYM_HIDDEN) in wanted and symbol.name:
            found[index & ~_VERSYM_HIDDEN].add(symbol.name)
    return found


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _tag_key(tag: str) -> tuple[Any, ...]:
    tokens = re.split(r"[._]", tag)
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in tokens)


# --- judging --------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    kind: str  # machine | version | library | rpath | static | dynamic | interpreter
    text: str
    symbol: str | None = None
    too_new: bool = False  # version problems: a newer glibc policy would allow the tag


def machine_problems(info: ElfInfo, target: Target) -> list[Problem]:
    expected = ELF_ARCHES.get(target.arch)
    if expected is None:
        return [Problem("machine", f"efbuild knows no ELF machine for arch '{target.arch}'")]
    if (info.elf_class, info.machine) == (expected.elf_class, expected.machine):
        return []
    same_class = info.elf_class == expected.elf_class
    found = info.machine if same_class else f"{info.elf_class} {info.machine}"
    wanted = expected.machine if same_class else f"{expected.elf_class} {expected.machine}"
    return [
        Problem(
            "machine",
            f"binary is {found} ({info.arch or 'unknown to efbuild'}) "
            f"but target {target.triple} needs {wanted}",
        )
    ]


def search_path_problems(info: ElfInfo) -> list[Problem]:
    why = "a published binary must not search build-machine paths for libraries"
    return [Problem("rpath", f"DT_RPATH {entry} is set: {why}") for entry in info.rpath] + [
        Problem("rpath", f"DT_RUNPATH {entry} is set: {why}") for entry in info.runpath
    ]


def static_problems(info: ElfInfo, target: Target) -> list[Problem]:
    problems = []
    if info.interpreter is not None:
        problems.append(
            Problem(
                "static",
                f"target {target.triple} must be static but the binary has "
                f"PT_INTERP {info.interpreter}",
            )
        )
    problems += [
        Problem("static", f"target {target.triple} must be static but the binary needs {lib}")
        for lib in info.needed
    ]
    return problems


def interpreter_problems(info: ElfInfo, target: Target) -> list[Problem]:
    if info.interpreter is None:
        return [
            Problem(
                "dynamic",
                f"target {target.triple} links glibc dynamically but the binary has no "
                "PT_INTERP: it is static",
            )
        ]
    expected = ELF_ARCHES.get(target.arch)
    if expected is not None and info.interpreter != expected.loader:
        return [
            Problem(
                "interpreter",
                f"interpreter {info.interpreter} is not glibc's loader for {target.arch} "
                f"({expected.loader}); the binary would not start on other systems",
            )
        ]
    return []


def library_problems(info: ElfInfo, policy: GlibcPolicy) -> list[Problem]:
    return [
        Problem(
            "library",
            f"{lib} (DT_NEEDED) is not allowed by the glibc {policy.glibc} policy; "
            "link it statically or drop it",
        )
        for lib in info.needed
        if not policy.allows_library(lib)
    ]


def version_problems(info: ElfInfo, policy: GlibcPolicy, arch: str) -> list[Problem]:
    problems = []
    for req in info.requirements:
        # A library that is itself not allowed is reported once, by library_problems.
        if not policy.allows_library(req.library) or policy.allows(arch, req.version):
            continue
        too_new = _allowed_by_newer_policy(req.version, arch, policy.glibc)
        problems += _requirement_problems(req, policy.glibc, too_new)
    return problems


def _requirement_problems(req: VersionRequirement, glibc: str, too_new: bool) -> list[Problem]:
    verdict = f"is not allowed by the glibc {glibc} policy"
    if not req.symbols:
        text = f"{req.version} ({req.library}) {verdict} (needed by the binary itself, no symbol)"
        return [Problem("version", text, too_new=too_new)]
    return [
        Problem("version", f"{symbol}@{req.version} ({req.library}) {verdict}", symbol, too_new)
        for symbol in req.symbols
    ]


def _allowed_by_newer_policy(tag: str, arch: str, glibc: str) -> bool:
    newer = [v for v in available_policies() if _version_key(v) > _version_key(glibc)]
    return any(load_policy(v).allows(arch, tag) for v in newer)


def collect_problems(info: ElfInfo, target: Target, policy: GlibcPolicy | None) -> list[Problem]:
    wrong_machine = machine_problems(info, target)
    problems = wrong_machine + search_path_problems(info)
    if target.static:
        return problems + static_problems(info, target)
    if policy is None:
        return problems
    problems += library_problems(info, policy)
    if wrong_machine:
        # Another machine's loader and version nodes say nothing about this arch's
        # policy; listing them would bury the one problem that matters.
        return problems
    problems += interpreter_problems(info, target)
    return problems + version_problems(info, policy, target.arch)


# --- reporting ------------------------------------------------------------------------


def elf_facts(info: ElfInfo, policy: GlibcPolicy | None) -> dict[str, Any]:
    return {
        "machine": info.machine,
        "elf_class": info.elf_class,
        "interpreter": info.interpreter,
        "needed": list(info.needed),
        "rpath": list(info.rpath),
        "runpath": list(info.runpath),
        "static": info.is_static,
        "glibc_required": info.glibc_required,
        "requirements": [r.to_json() for r in info.requirements],
        "policy": f"glibc-{policy.glibc}" if policy else None,
    }


def _count(number: int, singular: str, plural: str) -> str:
    return f"{number} {singular if number == 1 else plural}"


def _offence_count(problems: list[Problem]) -> str:
    symbols = sum(1 for p in problems if p.symbol)
    tags = len(problems) - symbols
    parts = [_count(symbols, "symbol", "symbols")] if symbols else []
    parts += [_count(tags, "version tag", "version tags")] if tags else []
    return " and ".join(parts)


def failure_summary(problems: list[Problem], target: Target, info: ElfInfo) -> str:
    kinds = {p.kind for p in problems}
    parts = []
    if "machine" in kinds:
        parts.append(f"wrong machine {info.machine} for {target.arch}")
    versions = [p for p in problems if p.kind == "version"]
    too_new = [p for p in versions if p.too_new]
    other = [p for p in versions if not p.too_new]
    if too_new:
        parts.append(f"{_offence_count(too_new)} too new for glibc {target.glibc}")
    if other:
        parts.append(f"{_offence_count(other)} not allowed by glibc {target.glibc}")
    libraries = sum(1 for p in problems if p.kind == "library")
    if libraries:
        parts.append(f"{_count(libraries, 'library', 'libraries')} not allowed")
    labels = {
        "rpath": "rpath/runpath set",
        "static": "not static",
        "dynamic": "static, but the target is dynamic",
        "interpreter": "wrong interpreter",
    }
    parts += [label for kind, label in labels.items() if kind in kinds]
    return "; ".join(parts)


def success_summary(info: ElfInfo, target: Target, policy: GlibcPolicy | None) -> str:
    if target.static:
        return f"static {info.machine}; no interpreter, no libraries"
    libraries = _count(len(info.needed), "library", "libraries")
    if policy is None:
        return f"{info.machine}; {libraries}"
    required = info.glibc_required
    needs = f"needs glibc {required}" if required else "needs no versioned glibc symbol"
    return f"{needs} <= policy {policy.glibc}; {libraries}"


def policy_for(target: Target) -> GlibcPolicy | None:
    """The glibc policy a dynamically linked -gnu target is held to; None otherwise."""
    if target.abi != "gnu" or target.static:
        return None
    if not target.glibc:
        raise ConfigError(
            f"target {target.key} links glibc dynamically but has no glibc floor",
            hint="set glibc (e.g. 2.17) for this target",
        )
    return load_policy(target.glibc)


class ElfCheck:
    name: ClassVar[str] = "elf"
    executes_binary: ClassVar[bool] = False

    def applies_to(self, target: Target) -> bool:
        return target.os == "linux"

    def run(self, binary: Path, context: CheckContext) -> CheckResult:
        target = context.target
        policy = policy_for(target)
        try:
            info = read_elf_info(binary)
        except ElfReadError as exc:
            return CheckResult.unreadable(self.name, "ELF", exc, {"path": str(binary)})
        problems = collect_problems(info, target, policy)
        summary = (
            failure_summary(problems, target, info)
            if problems
            else success_summary(info, target, policy)
        )
        return CheckResult(
            check=self.name,
            status="failed" if problems else "passed",
            summary=summary,
            problems=tuple(p.text for p in problems),
            facts=elf_facts(info, policy),
        )
