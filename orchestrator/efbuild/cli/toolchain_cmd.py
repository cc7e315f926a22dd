"""efbuild toolchain doctor | install"""

from __future__ import annotations

import subprocess

import click
from rich.table import Table
from rich.text import Text

from efbuild import provision
from efbuild.backends import get_backend
from efbuild.checks.run import runner_for
from efbuild.cli.common import Context, json_option, pass_context, resolve_targets
from efbuild.errors import ToolchainUnavailable
from efbuild.target import Target
from efbuild.toolchain import Missing, resolve_toolchain
from efbuild.ui import emit_json, err, out


def _diagnose(target: Target) -> dict:
    toolchain = resolve_toolchain(target)
    runner, how = runner_for(target)
    entry: dict = {"target": target.key, "backend": target.backend, "runner": how if runner is not None else None,
                   "run_note": None if runner is not None else how}
    if isinstance(toolchain, Missing):
        entry.update(available=False, route=None, reason=toolchain.reason, enable=list(toolchain.enable))
        return entry
    blocked = get_backend(target.backend).unavailable(target, toolchain)
    entry.update(available=blocked is None, route=toolchain.route, toolchain=toolchain.describe(),
                 reason=blocked.reason if blocked else "", enable=list(blocked.enable) if blocked else [])
    if runner is None and target.is_linux:
        entry["enable"] = entry["enable"] + [" ".join(c) for c in provision.plan_for(target).commands()]
    return entry


DOCTOR_HELP = """For every target: which route gives it a Rust std here (rustup, system,
build-std), whether its backend can run, how its smoke run would execute, and the exact
command that would provide whatever is missing."""


@click.group("toolchain", help="What this machine can build, and installing what it lacks.")
def toolchain_group() -> None:
    pass


@toolchain_group.command("doctor", help=DOCTOR_HELP)
@click.argument("triples", nargs=-1)
@json_option
@pass_context
def doctor_command(ctx: Context, triples: tuple[str, ...], as_json: bool) -> None:
    targets = resolve_targets(ctx, triples, all_official=not triples, include_custom=not triples,
                              backend=None, glibc=None)
    entries = [_diagnose(t) for t in targets]
    if as_json:
        emit_json("toolchain doctor", {"targets": entries})
        return
    table = Table(title="toolchain doctor", title_justify="left")
    for column in ("target", "buildable", "route", "compiler", "smoke run"):
        table.add_column(column)
    for e in entries:
        compiler = e.get("toolchain", {}).get("rustc_version", "-") if e["available"] or e["route"] else "-"
        table.add_row(e["target"], Text("yes" if e["available"] else "no", style="green" if e["available"] else "red"),
                      e["route"] or "-", compiler, e["runner"] or f"no: {e['run_note']}")
    out.print(table)
    for e in entries:
        if e["reason"]:
            err.print(f"[yellow]{e['target']}[/]: {e['reason']}", highlight=False)
        for command in e["enable"]:
            err.print(f"    to enable: {command}", highlight=False)


INSTALL_HELP = """Install what TRIPLE... (default: every target in targets/) need here.

\b
On Debian as root it runs, non-interactively, the dpkg/apt-get commands it prints:
Debian's rustc-web with prebuilt std for other Debian architectures
(libstd-rust-web-dev:arm64), rust-web-src for -Zbuild-std targets (apple-darwin, musl),
and qemu-user to run foreign binaries. Anything already installed is skipped.
Elsewhere it prints the commands and exits 3.
"""


@toolchain_group.command("install", help=INSTALL_HELP)
@click.argument("triples", nargs=-1)
@click.option("--dry-run", is_flag=True, help="Print the commands without running them.")
@pass_context
def install_command(ctx: Context, triples: tuple[str, ...], dry_run: bool) -> None:
    targets = resolve_targets(ctx, triples, all_official=not triples, include_custom=not triples,
                              backend=None, glibc=None)
    plan = provision.Plan((), ())
    for target in targets:
        plan = plan.merged(provision.plan_for(target))
    todo = provision.missing_part(plan)
    if not todo.commands():
        err.print("nothing to install: every target's toolchain needs are met")
        return
    allowed, why = provision.can_install()
    if dry_run or not allowed:
        for command in todo.commands():
            out.print(" ".join(command), highlight=False)
        if not dry_run:
            raise ToolchainUnavailable(f"cannot install here: {why}", hint="run the commands above yourself")
        return
    try:
        provision.run_plan(todo, lambda line: err.print(f"[bold]running[/]: {line}", highlight=False))
    except subprocess.CalledProcessError as exc:
        raise ToolchainUnavailable(f"`{' '.join(exc.cmd)}` failed with exit code {exc.returncode}") from exc
    err.print("installed: " + " ".join(todo.packages))
