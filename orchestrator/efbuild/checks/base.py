"""The interface every check implements, and the result it reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping, Protocol

from efbuild.target import Target

Status = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True)
class CheckContext:
    target: Target
    runtime_version: str  # what `--version` of the binary must print
    # Directories of the build machine that must not appear in the binary.
    build_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckResult:
    check: str
    status: Status
    summary: str  # one line for tables
    problems: tuple[str, ...] = ()  # one line per offence, naming it exactly
    facts: Mapping[str, Any] = field(default_factory=dict)  # JSON-able findings

    @classmethod
    def unreadable(cls, check: str, kind: str, error: Exception, facts: Mapping[str, Any]) -> "CheckResult":
        """The result for a file the check cannot even parse."""
        return cls(check=check, status="failed", summary=f"not a readable {kind} file",
                   problems=(str(error),), facts=dict(facts))

    @property
    def passed(self) -> bool:
        return self.status != "failed"

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": self.status,
            "summary": self.summary,
            "problems": list(self.problems),
            "facts": dict(self.facts),
        }


class Check(Protocol):
    name: ClassVar[str]
    executes_binary: ClassVar[bool]  # such checks are skipped once a static check failed

    def applies_to(self, target: Target) -> bool: ...

    def run(self, binary: Path, context: CheckContext) -> CheckResult: ...
