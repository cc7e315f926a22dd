"""The paths check: a base binary must not carry the build machine's directories.

Source paths land in binaries through panic locations and debug info. efbuild remaps
them at build time (--remap-path-prefix); this check proves it worked, for every
object format, by looking for the machine's own directories in the file's bytes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from efbuild.checks.base import CheckContext, CheckResult
from efbuild.target import Target

EXAMPLES_SHOWN = 3
# A path runs until a byte that cannot be part of one (NUL, quote, control, space).
_PATH_TAIL = rb"[^\x00-\x20\"'<>|]*"


def _prefixes(context: CheckContext) -> list[bytes]:
    # Longest first, so a hit is attributed to the most specific directory.
    unique = {str(p).rstrip("/") + "/" for p in context.build_paths if str(p) not in ("", "/")}
    return sorted((p.encode() for p in unique), key=len, reverse=True)


def find_build_paths(data: bytes, prefixes: list[bytes]) -> dict[str, list[str]]:
    """prefix -> the distinct paths under it found in `data`."""
    found: dict[str, list[str]] = {}
    claimed: set[int] = set()
    for prefix in prefixes:
        for match in re.finditer(re.escape(prefix) + _PATH_TAIL, data):
            if match.start() in claimed:
                continue
            claimed.add(match.start())
            path = match.group().decode("utf-8", errors="replace")
            paths = found.setdefault(prefix.decode(errors="replace"), [])
            if path not in paths:
                paths.append(path)
    return found


class BuildPathsCheck:
    name: ClassVar[str] = "paths"
    executes_binary: ClassVar[bool] = False

    def applies_to(self, target: Target) -> bool:
        return True

    def run(self, binary: Path, context: CheckContext) -> CheckResult:
        prefixes = _prefixes(context)
        try:
            data = binary.read_bytes()
        except OSError as exc:
            return CheckResult(self.name, "failed", "cannot read the binary", (f"{binary}: {exc.strerror}",))
        found = find_build_paths(data, prefixes)
        facts = {"looked_for": [p.decode(errors="replace") for p in prefixes],
                 "found": {prefix: len(paths) for prefix, paths in found.items()}}
        if not found:
            return CheckResult(self.name, "passed", f"no build-machine paths ({len(prefixes)} dirs looked for)",
                               facts=facts)
        problems = tuple(
            f"contains {len(paths)} path(s) of the build machine under {prefix}, e.g. "
            + ", ".join(paths[:EXAMPLES_SHOWN])
            for prefix, paths in found.items()
        )
        total = sum(len(paths) for paths in found.values())
        return CheckResult(self.name, "failed", f"{total} build-machine path(s)", problems, facts)
