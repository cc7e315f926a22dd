"""The `efbuild` command. Each command group lives in its own module."""

from __future__ import annotations

import click

from efbuild import __version__
from efbuild.cli.cache_cmd import cache_group
from efbuild.cli.check_cmd import check_command
from efbuild.cli.common import Context
from efbuild.cli.publish_cmd import publish_command
from efbuild.cli.runner import run_click
from efbuild.cli.targets_cmd import targets_group
from efbuild.cli.toolchain_cmd import toolchain_group

HELP = """Build, check, publish and install encoderfile base binaries for every target.

\b
Typical flow:
  efbuild targets list                 # the target matrix
  efbuild targets build --all --install
  efbuild publish --version 0.1.0 --dist dist/
"""


@click.group(help=HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="efbuild")
@click.option("--project-dir", type=click.Path(file_okay=False), envvar="EFBUILD_PROJECT_DIR",
              help="The efbuild checkout (targets/, runtime-crate/). Default: found from the current dir.")
@click.option("--work-dir", type=click.Path(file_okay=False),
              help="efbuild's own cache: builds, logs, zig caches. [env EFBUILD_WORK_DIR; default ~/.cache/efbuild]")
@click.pass_context
def cli(ctx: click.Context, project_dir: str | None, work_dir: str | None) -> None:
    ctx.obj = Context(project_dir=project_dir, work_dir=work_dir)


cli.add_command(targets_group)
cli.add_command(check_command)
cli.add_command(publish_command)
cli.add_command(cache_group)
cli.add_command(toolchain_group)


def main(argv: list[str] | None = None) -> None:
    run_click(cli, "efbuild", argv)
