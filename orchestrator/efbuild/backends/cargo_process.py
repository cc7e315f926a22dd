"""Running cargo (or a cargo wrapper) with its output kept in a log file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Mapping, Sequence

from efbuild.backends.base import BuildRequest, cargo_output
from efbuild.errors import BuildFailed

LOG_TAIL_LINES = 40


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def common_cargo_args(request: BuildRequest) -> list[str]:
    return [
        "--locked",
        "-p", "encoderfile-runtime",
        "--profile", request.profile,
        "--manifest-path", str(request.project_dir / "Cargo.toml"),
        "--target-dir", str(request.target_dir),
        *request.toolchain.cargo_args,
    ]


def cargo_home(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("CARGO_HOME") or Path.home() / ".cargo")


def build_machine_paths(request: BuildRequest, environ: Mapping[str, str]) -> dict[Path, str]:
    """Directories of this machine that end up in panic locations, and what they become.

    The same sources then give the same bytes wherever they were built, and a base binary
    does not tell its users where the farm keeps its files.
    """
    mapping = {
        cargo_home(environ): "/cargo",
        request.project_dir: "/encoderfile",
        request.work_dir: "/efbuild-work",
    }
    if request.toolchain.route == "build-std":
        source = Path(request.toolchain.std_source)
        mapping[source] = "/rustc/library"
        mapping[source.resolve()] = "/rustc/library"
    return mapping


def remap_flags(request: BuildRequest, environ: Mapping[str, str]) -> list[str]:
    # RUSTFLAGS splits on spaces, so a directory with one in its name cannot be remapped.
    return [f"--remap-path-prefix={path}={alias}"
            for path, alias in build_machine_paths(request, environ).items() if " " not in str(path)]


def build_env(request: BuildRequest, extra: Mapping[str, str], rustflags: Sequence[str] = ()) -> dict[str, str]:
    env = {**os.environ, **request.toolchain.env, **extra}
    # RUSTFLAGS, not target.<triple>.rustflags: cargo-zigbuild sets its own flags through
    # the environment, which would shadow the config. With --target, RUSTFLAGS reaches
    # the target's code (and a -Zbuild-std std) but not build scripts.
    flags = [env.get("RUSTFLAGS", ""), *remap_flags(request, env), *rustflags, *request.target.rustflags]
    env["RUSTFLAGS"] = " ".join(filter(None, flags))
    # Colour codes make the kept log unreadable.
    env["CARGO_TERM_COLOR"] = "never"
    return env


def run_logged(argv: Sequence[str], request: BuildRequest, env: Mapping[str, str]) -> Path:
    """Run a cargo build, append its output to the log, return the binary it made."""
    request.log_path.parent.mkdir(parents=True, exist_ok=True)
    with request.log_path.open("a") as log:
        log.write(f"$ {' '.join(argv)}\n")
        log.flush()
        try:
            code = subprocess.run(list(argv), stdout=log, stderr=subprocess.STDOUT,
                                  env=dict(env), cwd=request.project_dir).returncode
        except OSError as exc:
            raise BuildFailed(f"{request.target.key}: cannot run {argv[0]}: {exc.strerror}") from exc
    if code != 0:
        raise BuildFailed(
            f"{request.target.key}: {Path(argv[0]).name} exited with {code}; log: {request.log_path}\n"
            + tail(request.log_path)
        )
    binary = cargo_output(request)
    if not binary.is_file():
        raise BuildFailed(f"{request.target.key}: cargo succeeded but produced no {binary}")
    return binary
