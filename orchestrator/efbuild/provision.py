"""What a target needs installed on this machine, and installing it (Debian, as root).

The needs are data (data/provisioning.toml). `efbuild toolchain install` runs apt-get
only when it can do so without asking anything: as root, on Debian, non-interactively.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from efbuild.target import Target
from efbuild.toolchain import DEBIAN_ARCH
from efbuild.triples import host_arch, host_triple


@dataclass(frozen=True)
class Plan:
    architectures: tuple[str, ...]  # dpkg --add-architecture
    packages: tuple[str, ...]  # apt-get install

    def commands(self) -> list[list[str]]:
        steps = [["dpkg", "--add-architecture", arch] for arch in self.architectures]
        if self.packages:
            steps.append(["apt-get", "update"])
            steps.append(["apt-get", "install", "-y", "--no-install-recommends", *self.packages])
        return steps

    def merged(self, other: "Plan") -> "Plan":
        return Plan(_unique(self.architectures + other.architectures), _unique(self.packages + other.packages))


def _unique(items: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _needs() -> dict:
    return tomllib.loads(resources.files("efbuild.data").joinpath("provisioning.toml").read_text())


def _section(name: str, debarch: str) -> Plan:
    section = _needs()[name]
    expand = lambda values: tuple(v.replace("{debarch}", debarch) for v in values)  # noqa: E731
    return Plan(expand(section.get("architectures", [])), expand(section.get("packages", [])))


def plan_for(target: Target) -> Plan:
    """Everything the target could need here (installed or not)."""
    arches = ("x86_64", "aarch64") if target.arch == "universal2" else (target.arch,)
    foreign = [a for a in arches if a != host_arch()]
    debarch = DEBIAN_ARCH.get(target.arch, target.arch)
    if target.abi == "gnu" and foreign and target.triple != host_triple():
        return _section("foreign-gnu", debarch)
    plan = Plan((), ())
    if target.abi != "gnu" or target.triple != host_triple():
        plan = _section("build-std", debarch)
    if target.is_linux and foreign:
        plan = plan.merged(_section("foreign-run", debarch))
    return plan


def _installed(package: str) -> bool:
    done = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return done.returncode == 0 and "install ok installed" in done.stdout


def _foreign_architectures() -> set[str]:
    done = subprocess.run(["dpkg", "--print-foreign-architectures"], capture_output=True, text=True)
    return set(done.stdout.split()) if done.returncode == 0 else set()


def missing_part(plan: Plan) -> Plan:
    """The part of a plan not yet done on this machine."""
    if not is_debian():
        return plan
    known = _foreign_architectures() | {_native_debarch()}
    return Plan(tuple(a for a in plan.architectures if a not in known),
                tuple(p for p in plan.packages if not _installed(p)))


def _native_debarch() -> str:
    return DEBIAN_ARCH.get(host_arch(), host_arch())


def is_debian() -> bool:
    return Path("/etc/debian_version").exists() and shutil.which("apt-get") is not None


def can_install() -> tuple[bool, str]:
    if not is_debian():
        return False, "this is not a Debian machine with apt-get"
    if os.geteuid() != 0:
        return False, "installing packages needs root"
    return True, ""


def run_plan(plan: Plan, log) -> None:
    """Run each step, non-interactively; raise CalledProcessError on the first failure."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in plan.commands():
        log(" ".join(command))
        subprocess.run(command, check=True, env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL if command[:2] == ["apt-get", "update"] else None)
