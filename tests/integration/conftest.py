"""The heavy part, done once per session: real builds, shared by every integration test.

efbuild's work dir for tests lives outside the clone (EFBUILD_TEST_WORK_DIR, default
~/.cache/efbuild-tests) so that a second CI run on the same machine reuses cargo's
and zig's work; a fresh machine simply builds everything.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import run_efbuild

HOST = "x86_64-unknown-linux-gnu"


@dataclass(frozen=True)
class Farm:
    work_dir: Path
    cache_dir: Path

    @property
    def env(self) -> dict[str, str]:
        return {"EFBUILD_WORK_DIR": str(self.work_dir), "ENCODERFILE_CACHE_DIR": str(self.cache_dir)}

    def efbuild(self, *args: str, env: dict[str, str] | None = None, check: bool = False):
        return run_efbuild(*args, env={**self.env, **(env or {})}, check=check)

    def efbuild_json(self, *args: str, env: dict[str, str] | None = None, expect_code: int = 0) -> dict:
        done = self.efbuild(*args, "--json", env=env)
        assert done.returncode == expect_code, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return json.loads(done.stdout)

    def build_dir(self, key: str, backend: str = "zig") -> Path:
        return self.work_dir / "builds" / key / backend


@pytest.fixture(scope="session")
def farm(tmp_path_factory) -> Farm:
    default = Path.home() / ".cache" / "efbuild-tests"
    work_dir = Path(os.environ.get("EFBUILD_TEST_WORK_DIR", default))
    return Farm(work_dir=work_dir, cache_dir=tmp_path_factory.mktemp("encoderfile-cache"))


@pytest.fixture(scope="session")
def build_all(farm: Farm) -> dict:
    """`efbuild targets build --all --install`: what the README's first command runs."""
    return farm.efbuild_json("targets", "build", "--all", "--install", "--jobs", "2")


@pytest.fixture(scope="session")
def results_by_key(build_all: dict) -> dict[str, dict]:
    return {r["key"]: r for r in build_all["results"]}
