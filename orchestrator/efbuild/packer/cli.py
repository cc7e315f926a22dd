"""The `encoderfile` command: pack a model onto a base binary, inspect the result, manage runtimes.

Mirrors the `efbuild` command's style: click, rich output on stdout, progress and errors
on stderr, `--json` documents with schema 1, one exit code per failure kind.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from efbuild import __version__, cache
from efbuild.cli.runner import run_click
from efbuild.container import FORMAT_VERSION
from efbuild.packer import build as build_module
from efbuild.packer.base_binary import check_base_binary, validate_target, validate_version
from efbuild.packer.config import load_config
from efbuild.packer.errors import PackerError
from efbuild.packer.inspect import first_mismatch_error, inspect_encoderfile
from efbuild.settings import default_cache_dir
from efbuild.ui import emit_json, err, out

PROG = "encoderfile"
HELP = """Pack a model into an encoderfile: a base binary (encoderfile-runtime) with the model appended.

\b
Typical flow:
  encoderfile build -f encoderfile.yml            # host target, cached or downloaded runtime
  encoderfile build -f encoderfile.yml --target aarch64-unknown-linux-gnu --no-download
  encoderfile inspect my-model.encoderfile
  encoderfile runtime list
"""

BUILD_HELP = """Check the model described by encoderfile.yml and pack it onto a base binary.

\b
The base binary is, in order: --base-binary-path (or base_binary_path in the config);
the cache <cache>/base-binaries/encoderfile/<version>/<triple>/encoderfile-runtime;
a download from $ENCODERFILE_BASE_BINARY_BASE_URL (verified against SHA256SUMS, then
cached). Command-line options beat config values.

\b
Exit codes: 0 ok, 2 bad config or option, 8 cache, 10 model files, 11 base binary,
12 download, 13 output.
"""


def _cache_dir_option(func):
    return click.option("--cache-dir", type=click.Path(file_okay=False),
                        help="The base-binary cache. [env ENCODERFILE_CACHE_DIR; default ~/.cache/encoderfile]")(func)


def _json_option(func):
    return click.option("--json", "as_json", is_flag=True, help="Print a JSON document (schema 1).")(func)


def _runtime_version_option(func):
    return click.option("--runtime-version", metavar="V",
                        help=f"Base binary release. [default: {build_module.DEFAULT_RUNTIME_VERSION}]")(func)


@click.group(help=HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name=PROG)
def cli() -> None:
    pass


# --- build -----------------------------------------------------------------------------


@cli.command("build", help=BUILD_HELP)
@click.option("-f", "--config", "config_file", required=True, metavar="FILE",
              help="The build config (encoderfile.yml).")
@click.option("-o", "--output-path", "output", metavar="PATH",
              help="Where to write the encoderfile. [default: ./<name>.encoderfile]")
@click.option("--target", metavar="TRIPLE", help="Rust target triple of the base binary. [default: this machine's]")
@click.option("--base-binary-path", metavar="PATH", help="Use this base binary instead of the cache.")
@click.option("--no-download", is_flag=True, help="Never download: use the given path or the cache only.")
@_runtime_version_option
@_cache_dir_option
@_json_option
def build_command(config_file: str, output: str | None, target: str | None, base_binary_path: str | None,
                  no_download: bool, runtime_version: str | None, cache_dir: str | None, as_json: bool) -> None:
    config = load_config(config_file)
    options = build_module.resolve_build_options(config, output=output, target=target,
                                                 base_binary_path=base_binary_path, cache_dir=cache_dir,
                                                 runtime_version=runtime_version, no_download=no_download)
    log = (lambda _: None) if as_json else (lambda text: err.print(f"[dim]{escape(text)}[/]", highlight=False))
    result = build_module.build(options, log=log)
    for note in result.notes:
        err.print(f"[yellow]warning[/]: {escape(note)}", highlight=False)
    if as_json:
        emit_json("build", result.to_json())
        return
    _print_build_result(result)


def _print_build_result(result: build_module.BuildResult) -> None:
    base = result.base
    out.print(f"[green]wrote[/] {escape(str(result.output))} ({_size(result.size)})", highlight=False)
    out.print(f"  model      {result.name} {result.version} ({result.model_type})", markup=False, highlight=False)
    out.print(f"  target     {base.target}", markup=False, highlight=False)
    out.print(f"  base       {base.source}: {base.path} (runtime {base.version}, sha256 {base.sha256[:16]})",
              markup=False, highlight=False)
    artifacts = ", ".join(f"{entry.kind} {_size(entry.length)}" for entry in result.artifacts)
    out.print(f"  artifacts  {artifacts}", markup=False, highlight=False)


# --- inspect ---------------------------------------------------------------------------


@cli.command("inspect", help="Show an encoderfile's footer, manifest and artifacts, verifying each artifact.\n\n"
                             "Exit code 9 when the file is not a valid encoderfile.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@_json_option
def inspect_command(file: str, as_json: bool) -> None:
    try:
        report = inspect_encoderfile(Path(file))
    except OSError as exc:
        raise PackerError(f"cannot read {file}: {exc.strerror or exc}") from None
    if as_json:
        emit_json("inspect", report)
    else:
        _print_inspect_report(report)
    mismatch = first_mismatch_error(report)
    if mismatch is not None:
        raise mismatch


def _print_inspect_report(report: dict) -> None:
    footer, manifest = report["footer"], report["manifest"]
    out.print(f"{report['path']}: {_size(report['file_length'])}, base binary {report['base_binary_length']} bytes",
              markup=False, highlight=False)
    out.print(f"  footer    magic {footer['magic']}, format version {footer['format_version']}, manifest at "
              f"{footer['metadata_offset']} ({footer['metadata_length']} bytes), flags {footer['flags']:#x}",
              markup=False, highlight=False)
    out.print(f"  manifest  {manifest['name']} {manifest['version']} ({manifest['model_type']})",
              markup=False, highlight=False)
    table = Table(title="artifacts", title_justify="left")
    for column in ("kind", "offset", "absolute offset", "length", "sha256", "verified"):
        table.add_column(column)
    for artifact in report["artifacts"]:
        table.add_row(artifact["kind"], str(artifact["offset"]), str(artifact["absolute_offset"]),
                      str(artifact["length"]), artifact["sha256"],
                      "[green]yes[/]" if artifact["verified"] else "[red]NO[/]")
    out.print(table)


# --- runtime ---------------------------------------------------------------------------


@cli.group("runtime", help="Base binaries in the cache: <cache>/base-binaries/encoderfile/<version>/<triple>/.")
def runtime_group() -> None:
    pass


def _resolve_cache_dir(option: str | None) -> Path:
    if option:
        return Path(option).expanduser().absolute()
    env = os.environ.get(build_module.CACHE_DIR_ENV)
    return Path(env).expanduser().absolute() if env else default_cache_dir()


@runtime_group.command("list", help="List cached base binaries and whether their checksums verify.")
@_cache_dir_option
@_json_option
def runtime_list_command(cache_dir: str | None, as_json: bool) -> None:
    directory = _resolve_cache_dir(cache_dir)
    entries = cache.list_entries(directory)
    if as_json:
        emit_json("runtime list", {"cache_dir": str(directory), "entries": [e.to_json() for e in entries]})
        return
    table = Table(title=escape(str(cache.base_binaries_root(directory))), title_justify="left")
    for column in ("version", "triple", "size", "sha256", "verified"):
        table.add_column(column)
    for entry in entries:
        verified = {True: "yes", False: "NO: changed since install", None: "no checksum"}[entry.verified]
        table.add_row(entry.version, entry.triple, _size(entry.size), entry.sha256[:16], verified)
    out.print(table)
    if not entries:
        err.print("no base binaries cached; add one with: encoderfile runtime add PATH --target TRIPLE")


@runtime_group.command("add", help="Check the base binary at PATH and install it into the cache.")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--target", required=True, metavar="TRIPLE", help="The triple PATH is built for.")
@_runtime_version_option
@_cache_dir_option
def runtime_add_command(path: str, target: str, runtime_version: str | None, cache_dir: str | None) -> None:
    triple = validate_target(target)
    version = validate_version(runtime_version or build_module.DEFAULT_RUNTIME_VERSION)
    check_base_binary(Path(path), triple)
    installed = cache.install(_resolve_cache_dir(cache_dir), version, triple, Path(path))
    out.print(f"installed {installed}", markup=False, highlight=False)


@runtime_group.command("remove", help="Remove VERSION's cached base binaries, or only TRIPLE's.")
@click.argument("version")
@click.argument("triple", required=False)
@_cache_dir_option
def runtime_remove_command(version: str, triple: str | None, cache_dir: str | None) -> None:
    validate_version(version)
    for removed in cache.remove(_resolve_cache_dir(cache_dir), version, validate_target(triple) if triple else None):
        out.print(f"removed {removed}", markup=False, highlight=False)


# --- version ---------------------------------------------------------------------------


@cli.command("version", help="Print the packer's version and the container format version it writes.")
@_json_option
def version_command(as_json: bool) -> None:
    if as_json:
        emit_json("version", {"packer_version": __version__, "format_version": FORMAT_VERSION,
                              "default_runtime_version": build_module.DEFAULT_RUNTIME_VERSION})
        return
    out.print(f"{PROG} (efbuild packer) {__version__}", highlight=False)
    out.print(f"format version {FORMAT_VERSION}", highlight=False)
    out.print(f"default runtime version {build_module.DEFAULT_RUNTIME_VERSION}", highlight=False)


def _size(length: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if length >= scale:
            return f"{length / scale:.1f} {unit}"
    return f"{length} B"


# --- entry point -----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    run_click(cli, PROG, argv)


__all__ = ["cli", "main"]
