"""efbuild check PATH"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from efbuild.backends.cargo_process import cargo_home
from efbuild.checks import CheckContext, run_checks
from efbuild.checks.detect import guess_triple
from efbuild.cli.common import Context, glibc_option, json_option, macos_min_option, pass_context, resolve_targets
from efbuild.errors import CheckFailed
from efbuild.ui import STATE_STYLE, emit_json, err, out

CHECK_HELP = """Check a base binary the way every build is checked before publishing.

\b
Linux (ELF): machine and class, every versioned symbol against the glibc policy
(naming each offending symbol, its version and library), DT_NEEDED libraries,
no RPATH/RUNPATH. macOS (Mach-O): CPU type, minimum macOS no newer than the
target's, only system dylibs, no LC_RPATH. Then the binary is run (under
qemu-user for a foreign arch; darwin binaries cannot run here).
Without --target the triple is guessed from the file header. Examples:
  efbuild check ./encoderfile-runtime --glibc 2.17
  efbuild check dist/x86_64/encoderfile-runtime --target x86_64-unknown-linux-gnu --json
Exit code 5 when a check fails.
"""


def _status_style(status: str) -> str:
    return {"passed": STATE_STYLE["built"], "failed": "red", "skipped": "yellow"}[status]


@click.command("check", help=CHECK_HELP)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--target", "triple", help="Target triple the binary is meant for (default: from its header).")
@glibc_option
@macos_min_option
@click.option("--no-run", is_flag=True, help="Do not execute the binary.")
@click.option("--runtime-version", help="Version `--version` must print (default: the runtime crate's).")
@json_option
@pass_context
def check_command(ctx: Context, path: Path, triple: str | None, glibc: str | None, macos_min: str | None,
                  no_run: bool,
                  runtime_version: str | None, as_json: bool) -> None:
    triple = triple or guess_triple(path)
    target = resolve_targets(ctx, (triple,), all_official=False, include_custom=False,
                             backend=None, glibc=glibc, macos_min=macos_min)[0]
    if no_run:
        target = type(target)(**{**target.__dict__, "smoke": ()})
    version = runtime_version or ctx.settings().runtime_version()
    settings = ctx.settings()
    leak_dirs = (str(settings.project_dir), str(settings.work_dir), str(cargo_home(os.environ)), str(Path.home()))
    results = run_checks(path, CheckContext(target, version, leak_dirs))
    passed = all(r.passed for r in results)
    if as_json:
        emit_json("check", {"path": str(path), "target": target.key, "passed": passed,
                            "results": [r.to_json() for r in results]})
    else:
        table = Table(title=f"{path} as {target.key}", title_justify="left")
        for column in ("check", "status", "summary"):
            table.add_column(column)
        for result in results:
            table.add_row(result.check, Text(result.status, style=_status_style(result.status)), result.summary)
        out.print(table)
        for result in results:
            for problem in result.problems:
                err.print(f"[red]{result.check}[/]: {problem}", highlight=False)
    if not passed:
        sys.exit(CheckFailed.exit_code)
