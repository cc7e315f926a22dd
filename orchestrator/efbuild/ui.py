"""Terminal output: progress while building, tables after, JSON for machines."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from efbuild.build import BUILD_FAILED, BUILT, CHECK_FAILED, SKIPPED, UP_TO_DATE, Outcome
from efbuild.target import Target

JSON_SCHEMA = 1
STATE_STYLE = {BUILT: "green", UP_TO_DATE: "green", SKIPPED: "yellow",
               CHECK_FAILED: "red", BUILD_FAILED: "red"}

# Off a terminal (CI logs, pipes) rich would squeeze tables into 80 columns.
_WIDE = None if sys.stdout.isatty() else 200
out = Console(soft_wrap=True, width=_WIDE)  # results: tables
err = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else 200)  # progress, errors


def emit_json(command: str, payload: dict[str, Any]) -> None:
    document = {"schema": JSON_SCHEMA, "command": command, **payload}
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")


def seconds(value: float) -> str:
    return f"{value:.1f}s" if value < 60 else f"{int(value // 60)}m{value % 60:04.1f}s"


class LineReporter:
    """One line per step: for logs and CI, where a live display would be noise."""

    def __init__(self, console: Console = err):
        self.console = console
        self.started: dict[str, float] = {}
        self.lock = threading.Lock()

    def step(self, target: Target, text: str) -> None:
        with self.lock:
            start = self.started.setdefault(target.key, time.monotonic())
            self.console.print(f"[bold]{target.key}[/]: {text} [dim](+{seconds(time.monotonic() - start)})[/]")

    def finished(self, outcome: Outcome) -> None:
        style = STATE_STYLE.get(outcome.state, "white")
        detail = f" - {outcome.reason}" if outcome.reason and outcome.state != UP_TO_DATE else ""
        with self.lock:
            self.console.print(f"[bold]{outcome.target.key}[/]: [{style}]{outcome.state}[/]"
                               f" in {seconds(outcome.seconds)}{detail}")

    def __enter__(self) -> "LineReporter":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class LiveReporter:
    """A table of every target with its state and elapsed time, redrawn as builds go."""

    def __init__(self, targets: list[Target], console: Console = err):
        self.rows = {t.key: ["waiting", None, None] for t in targets}
        self.lock = threading.Lock()
        self.live = Live(self, console=console, refresh_per_second=4, transient=False)

    def __rich__(self) -> Table:
        table = Table(title="efbuild targets build", title_justify="left", expand=False)
        for column in ("target", "state", "elapsed"):
            table.add_column(column)
        now = time.monotonic()
        with self.lock:
            for key, (state, start, end) in self.rows.items():
                elapsed = seconds((end or now) - start) if start else ""
                table.add_row(key, Text(state, style=STATE_STYLE.get(state, "cyan")), elapsed)
        return table

    def step(self, target: Target, text: str) -> None:
        with self.lock:
            row = self.rows[target.key]
            row[0], row[1] = text, row[1] or time.monotonic()

    def finished(self, outcome: Outcome) -> None:
        with self.lock:
            self.rows[outcome.target.key] = [outcome.state, time.monotonic() - outcome.seconds, time.monotonic()]

    def __enter__(self) -> "LiveReporter":
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(*exc)


def reporter_for(targets: list[Target]):
    return LiveReporter(targets) if err.is_terminal else LineReporter()


def summary_table(outcomes: list[Outcome]) -> Table:
    table = Table(title="summary", title_justify="left")
    for column in ("target", "backend", "route", "state", "time", "needs", "size", "detail"):
        table.add_column(column)
    for outcome in outcomes:
        record = outcome.record
        detail = outcome.reason if outcome.state != BUILT else ""
        if outcome.installed:
            detail = f"installed: {outcome.installed}"
        table.add_row(
            outcome.target.key,
            outcome.target.backend,
            record.toolchain.get("route", "-") if record else "-",
            Text(outcome.state, style=STATE_STYLE.get(outcome.state, "white")),
            seconds(outcome.seconds),
            record.floor_required if record else "-",
            f"{record.size / 1e6:.1f} MB" if record else "-",
            detail,
        )
    return table


def print_outcome_details(outcomes: list[Outcome]) -> None:
    """What to do about each target that did not end well."""
    for outcome in outcomes:
        if outcome.state == SKIPPED and outcome.enable:
            err.print(f"[yellow]{outcome.target.key}[/]: skipped: {outcome.reason}")
            for command in outcome.enable:
                err.print(f"    to enable: {command}")
        for problem in outcome.problems:
            err.print(f"[red]{outcome.target.key}[/]: {problem}")
        if outcome.state == BUILD_FAILED:
            err.print(f"[red]{outcome.target.key}[/]: {outcome.reason}")


def render(renderables: list[Any]) -> Group:
    return Group(*renderables)
