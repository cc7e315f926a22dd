"""What every command shares: settings resolved once, and target selection."""

from __future__ import annotations

from dataclasses import dataclass, field

import click

from efbuild.matrix import Matrix, Overrides
from efbuild.settings import Settings, resolve_settings
from efbuild.target import Target
from efbuild.triples import parse_glibc_version


@dataclass
class Context:
    project_dir: str | None
    work_dir: str | None
    _settings: dict[str | None, Settings] = field(default_factory=dict)

    def settings(self, cache_dir: str | None = None) -> Settings:
        if cache_dir not in self._settings:
            self._settings[cache_dir] = resolve_settings(
                project_dir=self.project_dir, work_dir=self.work_dir, cache_dir=cache_dir)
        return self._settings[cache_dir]

    def matrix(self) -> Matrix:
        return Matrix(self.settings().targets_dir)


pass_context = click.make_pass_decorator(Context)


def glibc_option(func):
    return click.option("--glibc", metavar="X.Y", callback=_glibc_callback,
                        help="glibc floor for -gnu targets: link against it and enforce it as the policy.")(func)


def _glibc_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    return parse_glibc_version(value) if value else None


def macos_min_option(func):
    return click.option("--macos-min", metavar="X.Y",
                        help="Minimum macOS for darwin targets: MACOSX_DEPLOYMENT_TARGET and the check's ceiling.")(func)


def cache_dir_option(func):
    return click.option("--cache-dir", type=click.Path(file_okay=False),
                        help="The packer's cache dir. [env ENCODERFILE_CACHE_DIR; default ~/.cache/encoderfile]")(func)


def json_option(func):
    return click.option("--json", "as_json", is_flag=True, help="Print a JSON document (schema 1).")(func)


def resolve_targets(ctx: Context, names: tuple[str, ...], *, all_official: bool, include_custom: bool,
                    backend: str | None, glibc: str | None, macos_min: str | None = None) -> list[Target]:
    matrix = ctx.matrix()
    chosen = matrix.select(list(names), all_official=all_official, include_custom=include_custom)
    if not chosen:
        raise click.UsageError("name at least one target triple, or use --all")
    overrides = Overrides(backend=backend, glibc=glibc, macos_min=macos_min)
    targets = [matrix.resolve(name, overrides) for name in chosen]
    keys = [t.key for t in targets]
    return [t for i, t in enumerate(targets) if t.key not in keys[:i]]
