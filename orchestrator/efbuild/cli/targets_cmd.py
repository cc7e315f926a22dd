"""efbuild targets list | show | build"""

from __future__ import annotations

import sys
from dataclasses import asdict

import click
from rich.table import Table

from efbuild.build import BUILD_FAILED, CHECK_FAILED, SKIPPED, BuildOptions, build_targets
from efbuild.cli.common import (Context, cache_dir_option, glibc_option, json_option, macos_min_option, pass_context,
                                resolve_targets)
from efbuild.errors import CheckFailed, BuildFailed, ToolchainUnavailable
from efbuild.fingerprint import target_settings
from efbuild.target import Target
from efbuild.ui import emit_json, err, out, print_outcome_details, reporter_for, summary_table


@click.group("targets", help="The target matrix: list it, explain a target, build targets.")
def targets_group() -> None:
    pass


def _target_json(target: Target) -> dict:
    document = asdict(target)
    document["origin"] = dict(target.origin)
    return document


@targets_group.command("list", help="List the targets in targets/ (official first).")
@json_option
@pass_context
def list_command(ctx: Context, as_json: bool) -> None:
    matrix = ctx.matrix()
    targets = [matrix.resolve(name) for name in [*matrix.official(), *matrix.custom()]]
    if as_json:
        emit_json("targets list", {"targets": [_target_json(t) for t in targets]})
        return
    table = Table(title=f"targets in {matrix.targets_dir}", title_justify="left")
    for column in ("triple", "official", "backend", "glibc / macOS", "description"):
        table.add_column(column)
    for t in targets:
        floor = f"glibc {t.glibc}" if t.glibc else (f"macOS {t.macos_min}" if t.macos_min else
                                                   ("static" if t.static else "-"))
        table.add_row(t.key, "yes" if t.official else "custom", t.backend, floor, t.description)
    out.print(table)


@targets_group.command("show", help="Show every resolved setting of TRIPLE and where it came from.\n\n"
                       "TRIPLE may carry a glibc suffix, e.g. x86_64-unknown-linux-gnu.2.17.")
@click.argument("triple")
@click.option("--backend", help="Override the backend.")
@glibc_option
@macos_min_option
@json_option
@pass_context
def show_command(ctx: Context, triple: str, backend: str | None, glibc: str | None, macos_min: str | None,
                 as_json: bool) -> None:
    target = resolve_targets(ctx, (triple,), all_official=False, include_custom=False,
                             backend=backend, glibc=glibc, macos_min=macos_min)[0]
    if as_json:
        emit_json("targets show", {"target": _target_json(target)})
        return
    table = Table(title=target.key, title_justify="left")
    for column in ("setting", "value", "from"):
        table.add_column(column)
    for key, value in target_settings(target).items():
        table.add_row(key, str(value), target.origin.get(key, "derived from the triple"))
    for key in ("official", "description"):
        table.add_row(key, str(getattr(target, key)), target.origin.get(key, "default"))
    for index, run in enumerate(target.smoke):
        table.add_row(f"smoke[{index}]", f"args={list(run.args)} exit={run.expect_exit} "
                      f"output={list(run.expect_output)}", target.origin.get("smoke", "default"))
    out.print(table)


def _exit_for(outcomes, explicit: bool) -> None:
    states = {o.state for o in outcomes}
    if BUILD_FAILED in states:
        sys.exit(BuildFailed.exit_code)
    if CHECK_FAILED in states:
        sys.exit(CheckFailed.exit_code)
    if explicit and SKIPPED in states:
        sys.exit(ToolchainUnavailable.exit_code)


BUILD_HELP = """Build, check and record base binaries for TRIPLE... (or --all).

\b
A target whose inputs (crate sources, Cargo.lock, toolchain, backend, flags) have not
changed since its last passing build is not rebuilt: cargo is not even started.
A target this machine cannot build is reported as skipped, with the command that
would enable it. Examples:
  efbuild targets build --all --install
  efbuild targets build x86_64-unknown-linux-gnu --glibc 2.17
  efbuild targets build x86_64-unknown-linux-gnu.2.17 --backend zig --json

Exit codes: 0 ok, 2 bad input, 3 a named target cannot be built here,
4 a build failed, 5 a check failed.
"""


@targets_group.command("build", help=BUILD_HELP)
@click.argument("triples", nargs=-1)
@click.option("--all", "all_official", is_flag=True, help="Every official target.")
@click.option("--custom", "include_custom", is_flag=True, help="Also every custom (non-official) target file.")
@click.option("--backend", help="Build with this backend instead of each target's default (zig, native).")
@glibc_option
@macos_min_option
@click.option("--profile", default="release", show_default=True, help="cargo profile.")
@click.option("--force", is_flag=True, help="Rebuild even if nothing changed.")
@click.option("--install", is_flag=True, help="Install passing builds into the packer's cache.")
@click.option("--version", "install_version", metavar="V",
              help="Version dir to install under (default: the runtime crate's version).")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Targets built at once.")
@cache_dir_option
@json_option
@pass_context
def build_command(ctx: Context, triples: tuple[str, ...], all_official: bool, include_custom: bool,
                  backend: str | None, glibc: str | None, macos_min: str | None, profile: str, force: bool, install: bool,
                  install_version: str | None, jobs: int, cache_dir: str | None, as_json: bool) -> None:
    targets = resolve_targets(ctx, triples, all_official=all_official, include_custom=include_custom,
                              backend=backend, glibc=glibc, macos_min=macos_min)
    options = BuildOptions(profile=profile, force=force, install=install,
                           install_version=install_version, jobs=jobs)
    settings = ctx.settings(cache_dir)
    if as_json:
        outcomes = build_targets(settings, targets, options)
        emit_json("targets build", {"results": [o.to_json() for o in outcomes]})
    else:
        with reporter_for(targets) as reporter:
            outcomes = build_targets(settings, targets, options, reporter)
        out.print(summary_table(outcomes))
        print_outcome_details(outcomes)
        if all(o.state == "up to date" for o in outcomes):
            err.print("all targets up to date")
    _exit_for(outcomes, explicit=bool(triples))
