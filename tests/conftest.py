"""Shared fixtures: the project checkout, and isolated efbuild dirs per test session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def project_dir() -> Path:
    return PROJECT_DIR


def run_efbuild(*args: str, env: dict[str, str] | None = None, cwd: Path = PROJECT_DIR,
                check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the real `efbuild` CLI in a subprocess, as a user would."""
    done = subprocess.run([sys.executable, "-m", "efbuild", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd)
    if check and done.returncode != 0:
        raise AssertionError(f"efbuild {' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done
