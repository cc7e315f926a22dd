"""The smoke check: actually run the binary, under qemu-user for a foreign arch."""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path
from typing import ClassVar

from efbuild.checks.base import CheckContext, CheckResult
from efbuild.target import SmokeRun, Target
from efbuild.triples import host_arch

RUN_TIMEOUT_SECONDS = 60
OUTPUT_KEPT = 2000


def runner_for(target: Target) -> tuple[list[str] | None, str]:
    """The command prefix that runs this target's binaries here, or None and why not."""
    if platform.system() != "Linux" or not target.is_linux:
        return None, f"a {target.os} binary cannot run on this {platform.system()} machine"
    if target.arch == host_arch():
        return [], "native"
    qemu = shutil.which(f"qemu-{target.arch}")
    if qemu is None:
        return None, f"no qemu-{target.arch} to run a {target.arch} binary (apt-get install -y qemu-user)"
    return [qemu], f"qemu-{target.arch}"


def _expand(text: str, context: CheckContext) -> str:
    return text.replace("{version}", context.runtime_version).replace("{triple}", context.target.triple)


def _execute(command: list[str]) -> tuple[int | None, str]:
    try:
        done = subprocess.run(command, capture_output=True, text=True, errors="replace",
                              timeout=RUN_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {RUN_TIMEOUT_SECONDS}s"
    except OSError as exc:
        return None, f"cannot execute: {exc.strerror}"
    return done.returncode, done.stdout + done.stderr


def _judge(run: SmokeRun, code: int | None, output: str, context: CheckContext) -> list[str]:
    shown = " ".join(["encoderfile-runtime", *run.args])
    problems = []
    if code != run.expect_exit:
        problems.append(f"`{shown}` exited {code} (expected {run.expect_exit}): {output.strip()[:300]}")
    for wanted in (_expand(w, context) for w in run.expect_output):
        if wanted not in output:
            problems.append(f"`{shown}` did not print {wanted!r}; it printed {output.strip()[:300]!r}")
    return problems


class RunCheck:
    name: ClassVar[str] = "run"
    executes_binary: ClassVar[bool] = True

    def applies_to(self, target: Target) -> bool:
        return bool(target.smoke)

    def run(self, binary: Path, context: CheckContext) -> CheckResult:
        runner, how = runner_for(context.target)
        if runner is None:
            return CheckResult(self.name, "skipped", f"not run: {how}", facts={"runner": None, "reason": how})
        problems: list[str] = []
        runs = []
        for smoke in context.target.smoke:
            code, output = _execute([*runner, str(binary), *smoke.args])
            problems += _judge(smoke, code, output, context)
            runs.append({"args": list(smoke.args), "exit": code, "output": output[:OUTPUT_KEPT]})
        facts = {"runner": how, "runs": runs}
        if problems:
            return CheckResult(self.name, "failed", f"{len(problems)} smoke problem(s) ({how})",
                               tuple(problems), facts)
        return CheckResult(self.name, "passed", f"{len(runs)} run(s) passed ({how})", facts=facts)
