"""efbuild cache list | install | remove"""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from efbuild import cache
from efbuild.cli.common import Context, cache_dir_option, glibc_option, json_option, pass_context, resolve_targets
from efbuild.errors import NothingToDo
from efbuild.records import BuildPaths, load_record
from efbuild.ui import emit_json, err, out


@click.group("cache", help="The packer's cache: <cache>/base-binaries/encoderfile/<version>/<triple>/.")
def cache_group() -> None:
    pass


def _verified_text(entry: cache.CacheEntry) -> str:
    return {True: "yes", False: "NO: changed since install", None: "no checksum"}[entry.verified]


@cache_group.command("list", help="List cached base binaries and whether their checksums verify.")
@cache_dir_option
@json_option
@pass_context
def list_command(ctx: Context, cache_dir: str | None, as_json: bool) -> None:
    settings = ctx.settings(cache_dir)
    entries = cache.list_entries(settings.cache_dir)
    if as_json:
        emit_json("cache list", {"cache_dir": str(settings.cache_dir), "entries": [e.to_json() for e in entries]})
        return
    table = Table(title=str(cache.base_binaries_root(settings.cache_dir)), title_justify="left")
    for column in ("version", "triple", "size", "sha256", "verified"):
        table.add_column(column)
    for e in entries:
        table.add_row(e.version, e.triple, f"{e.size / 1e6:.1f} MB", e.sha256[:16], _verified_text(e))
    out.print(table)
    if not entries:
        err.print("the cache holds no base binaries; efbuild targets build --all --install adds them")


@cache_group.command("install", help="Install the last passing builds of TRIPLE... (default: official targets).")
@click.argument("triples", nargs=-1)
@click.option("--version", "version", metavar="V", help="Version dir (default: the runtime crate's version).")
@glibc_option
@cache_dir_option
@pass_context
def install_command(ctx: Context, triples: tuple[str, ...], version: str | None, glibc: str | None,
                    cache_dir: str | None) -> None:
    settings = ctx.settings(cache_dir)
    targets = resolve_targets(ctx, triples, all_official=not triples, include_custom=False,
                              backend=None, glibc=glibc)
    version = version or settings.runtime_version()
    installed = 0
    for target in targets:
        record = load_record(BuildPaths.for_target(settings.work_dir, target))
        if record is None or record.status != "passed" or not record.binary_intact():
            err.print(f"[yellow]{target.key}[/]: no passing build to install (efbuild targets build {target.key})")
            continue
        path = cache.install(settings.cache_dir, version, target.triple, Path(record.binary), record.sha256)
        out.print(f"{target.key}: {path}")
        installed += 1
    if not installed:
        raise NothingToDo("nothing installed", hint="build first: efbuild targets build --all")


@cache_group.command("remove", help="Remove VERSION's base binaries, or only TRIPLE's.")
@click.argument("version")
@click.argument("triple", required=False)
@cache_dir_option
@pass_context
def remove_command(ctx: Context, version: str, triple: str | None, cache_dir: str | None) -> None:
    settings = ctx.settings(cache_dir)
    for path in cache.remove(settings.cache_dir, version, triple):
        out.print(f"removed {path}")
