"""Checks every build passes before it is published, by name, in the order they run."""

from __future__ import annotations

from pathlib import Path

from efbuild.checks.base import Check, CheckContext, CheckResult
from efbuild.checks.elf import ElfCheck
from efbuild.checks.macho import MachOCheck
from efbuild.checks.paths import BuildPathsCheck
from efbuild.checks.run import RunCheck

# Static checks first: never execute a binary that is already known to be wrong.
REGISTRY: dict[str, Check] = {check.name: check for check in (ElfCheck(), MachOCheck(), BuildPathsCheck(), RunCheck())}


def run_checks(binary: Path, context: CheckContext) -> list[CheckResult]:
    results: list[CheckResult] = []
    for check in REGISTRY.values():
        if not check.applies_to(context.target):
            continue
        if check.executes_binary and any(r.status == "failed" for r in results):
            results.append(CheckResult(check.name, "skipped", "not run: an earlier check failed"))
            continue
        results.append(check.run(binary, context))
    return results


__all__ = ["Check", "CheckContext", "CheckResult", "REGISTRY", "run_checks"]
