"""efbuild publish"""

from __future__ import annotations

from pathlib import Path

import click

from efbuild.cli.common import Context, glibc_option, json_option, pass_context, resolve_targets
from efbuild.errors import NothingToDo
from efbuild.publish import publish
from efbuild.records import BuildPaths, load_record
from efbuild.ui import emit_json, err, out

PUBLISH_HELP = """Write release assets for checked builds into DIST/v<VERSION>/.

\b
For each target: encoderfile-runtime-<triple>.tar.gz (the executable at the
archive root, plus README.md and LICENSE); then SHA256SUMS (`sha256sum -c`
accepts it) and manifest.json (schema 1). Archives are byte-reproducible.
Serve DIST over HTTP and point ENCODERFILE_BASE_BINARY_BASE_URL at it.
Without TRIPLE arguments, every official target with a passing build.
Example:
  efbuild publish --version 0.1.0 --dist dist/
"""


@click.command("publish", help=PUBLISH_HELP)
@click.argument("triples", nargs=-1)
@click.option("--version", "version", metavar="V", help="Release version (default: the runtime crate's).")
@click.option("--dist", type=click.Path(file_okay=False), required=True, help="Release root directory.")
@glibc_option
@json_option
@pass_context
def publish_command(ctx: Context, triples: tuple[str, ...], version: str | None, dist: str,
                    glibc: str | None, as_json: bool) -> None:
    settings = ctx.settings()
    targets = resolve_targets(ctx, triples, all_official=not triples, include_custom=False,
                              backend=None, glibc=glibc)
    records, missing = [], []
    for target in targets:
        record = load_record(BuildPaths.for_target(settings.work_dir, target))
        (records if record else missing).append(record or target.key)
    if missing and triples:
        raise NothingToDo(f"no build of {', '.join(missing)}",
                          hint=f"efbuild targets build {' '.join(missing)}")
    for key in missing:
        err.print(f"[yellow]{key}[/]: not built here; not in this release")
    version = version or settings.runtime_version()
    release = publish(records, version=version, dist=Path(dist).resolve(), project_dir=settings.project_dir)
    if as_json:
        emit_json("publish", {"release": str(release), "version": version,
                              "assets": sorted(p.name for p in release.iterdir())})
    else:
        for path in sorted(release.iterdir()):
            out.print(f"{path}")
