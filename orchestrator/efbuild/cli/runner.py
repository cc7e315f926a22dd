"""Running a click group so that every failure is one clear line and an exit code."""

from __future__ import annotations

import os
import sys

import click
from rich.markup import escape

from efbuild.errors import EfbuildError
from efbuild.ui import err

INTERNAL_ERROR_EXIT = 70


def report(exc: EfbuildError) -> None:
    err.print(f"[bold red]error[/]: {escape(exc.message)}", highlight=False)
    for detail in getattr(exc, "details", ()):
        err.print(f"  - {detail}", markup=False, highlight=False)
    if exc.hint:
        err.print(f"  hint: {exc.hint}", markup=False, highlight=False)


def run_click(group: click.Group, prog_name: str, argv: list[str] | None = None) -> None:
    try:
        group.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        err.print("interrupted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except EfbuildError as exc:
        report(exc)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug: one line, and the trace on request
        if os.environ.get("EFBUILD_DEBUG"):
            raise
        err.print(f"[bold red]internal error[/]: {escape(f'{type(exc).__name__}: {exc}')}", highlight=False)
        err.print("  hint: rerun with EFBUILD_DEBUG=1 for the traceback, and report it", highlight=False)
        sys.exit(INTERNAL_ERROR_EXIT)
