"""Bad input on the command line gets one clear line and its own exit code, never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import run_efbuild


@pytest.fixture()
def broken_project(project_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    (copy / "targets").mkdir(parents=True)
    shutil.copytree(project_dir / "runtime-crate", copy / "runtime-crate",
                    ignore=shutil.ignore_patterns("target", "fuzz"))
    (copy / "targets" / "bad.toml").write_text('triple = "x86_64-unknown-linux-gnu"\nbakend = "zig"\n')
    return copy


def assert_clean_failure(done, code: int, *fragments: str) -> None:
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, done.stderr


def test_unknown_key_in_a_target_file(broken_project: Path):
    done = run_efbuild("--project-dir", str(broken_project), "targets", "list")
    assert_clean_failure(done, 2, "bad.toml", "unknown key 'bakend'", "did you mean 'backend'?")


def test_unknown_backend_on_the_command_line(tmp_path):
    done = run_efbuild("targets", "build", "x86_64-unknown-linux-gnu", "--backend", "nativ",
                       env={"EFBUILD_WORK_DIR": str(tmp_path)})
    assert_clean_failure(done, 2, "unknown backend 'nativ'", "did you mean 'native'?")


def test_glibc_without_a_policy():
    assert_clean_failure(run_efbuild("targets", "show", "x86_64-unknown-linux-gnu", "--glibc", "2.5"), 2,
                         "no glibc policy for '2.5'", "2.17")


def test_unsupported_triple():
    assert_clean_failure(run_efbuild("targets", "show", "x86_64-pc-windows-msvc"), 2, "only linux-gnu")


def test_no_project_found(tmp_path):
    done = run_efbuild("targets", "list", cwd=tmp_path, env={"EFBUILD_PROJECT_DIR": str(tmp_path)})
    assert_clean_failure(done, 2, "no efbuild project")


def test_check_on_a_file_that_is_no_binary(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert_clean_failure(run_efbuild("check", str(text)), 2, "not an ELF or Mach-O file")


def test_publish_of_a_target_never_built(tmp_path):
    done = run_efbuild("publish", "aarch64-unknown-linux-musl", "--dist", str(tmp_path / "d"),
                       env={"EFBUILD_WORK_DIR": str(tmp_path / "w")})
    assert_clean_failure(done, 6, "no build of aarch64-unknown-linux-musl")
