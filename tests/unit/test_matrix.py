"""The target matrix: loading, the resolution cascade, and errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from efbuild.errors import ConfigError
from efbuild.matrix import Matrix, Overrides
from efbuild.triples import parse_triple

OFFICIAL = {"x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu", "x86_64-apple-darwin", "aarch64-apple-darwin"}


def write_target(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.toml"
    path.write_text(text)
    return path


def test_project_matrix_has_the_four_official_targets(project_dir):
    matrix = Matrix(project_dir / "targets")
    assert OFFICIAL <= set(matrix.official())


def test_official_linux_targets_default_to_the_bookworm_glibc_policy(project_dir):
    target = Matrix(project_dir / "targets").resolve("aarch64-unknown-linux-gnu", environ={})
    assert (target.key, target.glibc, target.arch, target.os, target.abi) == (
        "aarch64-unknown-linux-gnu", "2.36", "aarch64", "linux", "gnu")
    assert target.origin["glibc"].startswith("file:")


def test_darwin_targets_carry_a_macos_floor_not_a_glibc_one(project_dir):
    target = Matrix(project_dir / "targets").resolve("aarch64-apple-darwin", environ={})
    assert target.glibc is None and target.macos_min == "11.0" and target.os == "macos"


def test_glibc_suffix_makes_a_separate_build_with_that_policy(project_dir):
    target = Matrix(project_dir / "targets").resolve("x86_64-unknown-linux-gnu.2.17", environ={})
    assert target.key == "x86_64-unknown-linux-gnu.2.17"
    assert target.triple == "x86_64-unknown-linux-gnu"
    assert target.glibc == "2.17"
    assert target.origin["glibc"] == "command line (triple suffix)"


def test_command_line_beats_environment_beats_file(project_dir):
    matrix = Matrix(project_dir / "targets")
    env = {"EFBUILD_GLIBC": "2.28", "EFBUILD_BACKEND": "native"}
    from_env = matrix.resolve("x86_64-unknown-linux-gnu", environ=env)
    assert (from_env.glibc, from_env.origin["glibc"]) == ("2.28", "env:EFBUILD_GLIBC")
    assert from_env.backend == "native"
    from_cli = matrix.resolve("x86_64-unknown-linux-gnu", Overrides(glibc="2.17"), environ=env)
    assert (from_cli.glibc, from_cli.origin["glibc"], from_cli.key) == (
        "2.17", "command line", "x86_64-unknown-linux-gnu.2.17")


def test_a_triple_without_a_file_resolves_from_defaults(tmp_path):
    target = Matrix(tmp_path).resolve("x86_64-unknown-linux-musl", environ={})
    assert target.static and target.abi == "musl" and target.glibc is None
    assert not target.official
    assert target.origin["backend"] == "default"


def test_unknown_key_names_file_key_and_suggestion(tmp_path):
    path = write_target(tmp_path, "t", 'triple = "x86_64-unknown-linux-gnu"\nglbc = "2.17"\n')
    with pytest.raises(ConfigError) as caught:
        Matrix(tmp_path)
    assert str(path) in caught.value.message and "'glbc'" in caught.value.message
    assert caught.value.hint == "did you mean 'glibc'?"


def test_unknown_smoke_key_is_reported_with_its_index(tmp_path):
    write_target(tmp_path, "t", 'triple = "x86_64-unknown-linux-gnu"\n[[smoke]]\nargs = []\nexpect_exti = 3\n')
    with pytest.raises(ConfigError) as caught:
        Matrix(tmp_path)
    assert "smoke[0]" in caught.value.message and caught.value.hint == "did you mean 'expect_exit'?"


def test_malformed_toml_names_the_file(tmp_path):
    path = write_target(tmp_path, "t", 'triple = "x86_64-unknown-linux-gnu\n')
    with pytest.raises(ConfigError) as caught:
        Matrix(tmp_path)
    assert str(path) in caught.value.message and "not valid TOML" in caught.value.message


def test_settings_that_contradict_the_triple_are_rejected(tmp_path):
    write_target(tmp_path, "t", 'triple = "aarch64-unknown-linux-gnu"\narch = "x86_64"\n')
    with pytest.raises(ConfigError, match="'arch' is 'x86_64' but triple aarch64-unknown-linux-gnu means 'aarch64'"):
        Matrix(tmp_path)


def test_wrong_value_type_is_rejected(tmp_path):
    write_target(tmp_path, "t", 'triple = "x86_64-unknown-linux-gnu"\nofficial = "yes"\n')
    with pytest.raises(ConfigError, match="'official' must be a bool"):
        Matrix(tmp_path)


def test_two_files_for_one_triple_are_rejected(tmp_path):
    write_target(tmp_path, "a", 'triple = "x86_64-unknown-linux-gnu"\n')
    write_target(tmp_path, "b", 'triple = "x86_64-unknown-linux-gnu"\n')
    with pytest.raises(ConfigError, match="already defined"):
        Matrix(tmp_path)


@pytest.mark.parametrize("bad", ["x86_64", "x86_64-linux", "x86_64-apple-darwin.2.17", "x86_64-unknown-linux-gnu.3.1"])
def test_bad_triples_are_config_errors(bad):
    with pytest.raises(ConfigError):
        parse_triple(bad)


def test_unsupported_os_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="only linux-gnu, linux-musl and apple-darwin"):
        Matrix(tmp_path).resolve("x86_64-pc-windows-msvc", environ={})


def test_custom_file_is_selected_only_with_custom(tmp_path):
    write_target(tmp_path, "off", 'triple = "x86_64-unknown-linux-gnu"\nofficial = true\n')
    write_target(tmp_path, "musl", 'triple = "x86_64-unknown-linux-musl"\n')
    matrix = Matrix(tmp_path)
    assert matrix.select([], all_official=True, include_custom=False) == ["x86_64-unknown-linux-gnu"]
    assert matrix.select([], all_official=True, include_custom=True) == [
        "x86_64-unknown-linux-gnu", "x86_64-unknown-linux-musl"]
