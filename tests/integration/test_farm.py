"""The farm end to end on real builds: build, check, no-op rebuild, publish, cache."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.integration.conftest import HOST, Farm

pytestmark = pytest.mark.integration

VERSION_LINE = "encoderfile-runtime 0.1.0 x86_64-unknown-linux-gnu"


def glibc_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def test_build_all_builds_checks_and_installs_the_host_target(farm: Farm, results_by_key):
    host = results_by_key[HOST]
    assert host["state"] in ("built", "up to date"), host
    record = host["record"]
    assert record["status"] == "passed"
    checks = {c["check"]: c for c in record["checks"]}
    assert checks["elf"]["status"] == "passed"
    assert checks["run"]["status"] == "passed"
    assert glibc_tuple(record["glibc_required"]) <= (2, 36)
    installed = farm.cache_dir / "base-binaries/encoderfile/0.1.0" / HOST / "encoderfile-runtime"
    assert host["installed"] == str(installed)
    assert os.access(installed, os.X_OK)
    done = subprocess.run([installed, "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == VERSION_LINE


def test_targets_this_machine_cannot_build_are_reported_not_dropped(results_by_key):
    for key in ("aarch64-unknown-linux-gnu", "x86_64-apple-darwin", "aarch64-apple-darwin"):
        result = results_by_key[key]
        assert result["state"] in ("built", "up to date", "skipped"), result
        if result["state"] == "skipped":
            assert result["reason"] and result["enable"], result


def test_glibc_floor_build_needs_nothing_newer_than_2_17(farm: Farm):
    document = farm.efbuild_json("targets", "build", HOST, "--glibc", "2.17")
    (result,) = document["results"]
    assert result["key"] == f"{HOST}.2.17" and result["state"] in ("built", "up to date")
    elf = next(c for c in result["record"]["checks"] if c["check"] == "elf")
    assert elf["facts"]["policy"] == "glibc-2.17"
    assert glibc_tuple(elf["facts"]["glibc_required"]) <= (2, 17)
    for requirement in elf["facts"]["requirements"]:
        if requirement["version"].startswith("GLIBC_2."):
            assert glibc_tuple(requirement["version"][len("GLIBC_"):]) <= (2, 17), requirement
    binary = Path(result["record"]["binary"])
    checked = farm.efbuild_json("check", str(binary), "--glibc", "2.17")
    assert checked["passed"] is True


@pytest.fixture(scope="module")
def native_binary(farm: Farm) -> Path:
    """A runtime linked against this machine's glibc 2.36: too new for a 2.17 floor."""
    document = farm.efbuild_json("targets", "build", HOST, "--backend", "native")
    (result,) = document["results"]
    assert result["state"] in ("built", "up to date"), result
    return Path(result["record"]["binary"])


def test_check_names_every_symbol_too_new_for_the_policy(farm: Farm, native_binary: Path):
    document = farm.efbuild_json("check", str(native_binary), "--glibc", "2.17", expect_code=5)
    assert document["passed"] is False
    elf = next(r for r in document["results"] if r["check"] == "elf")
    assert elf["status"] == "failed"
    too_new = [r for r in elf["facts"]["requirements"]
               if r["version"].startswith("GLIBC_2.") and glibc_tuple(r["version"][6:]) > (2, 17)]
    assert too_new, "the native build should need a glibc newer than 2.17"
    for requirement in too_new:
        for symbol in requirement["symbols"]:
            assert any(symbol in p and requirement["version"] in p and requirement["library"] in p
                       for p in elf["problems"]), (symbol, elf["problems"])
    run = next(r for r in document["results"] if r["check"] == "run")
    assert run["status"] == "skipped"  # a binary known to be wrong is not executed


def test_check_failure_in_plain_text_names_the_symbol(farm: Farm, native_binary: Path):
    done = farm.efbuild("check", str(native_binary), "--glibc", "2.17")
    assert done.returncode == 5
    assert "GLIBC_2.34" in done.stderr and "libc.so.6" in done.stderr and "Traceback" not in done.stderr


def test_native_backend_refuses_a_floor_below_the_host_glibc(farm: Farm):
    document = farm.efbuild_json("targets", "build", HOST, "--backend", "native", "--glibc", "2.17",
                                 expect_code=3)
    (result,) = document["results"]
    assert result["state"] == "skipped" and "2.17" in result["reason"]
    assert any("--backend zig" in command for command in result["enable"])


def write_cargo_spy(directory: Path, log: Path) -> Path:
    """A `cargo` first on PATH that records every real invocation, then runs the real one."""
    real = subprocess.run(["bash", "-lc", "command -v cargo"], capture_output=True, text=True).stdout.strip()
    spy = directory / "cargo"
    spy.write_text(f'#!/bin/sh\n[ "$1" = "-V" ] || echo "$@" >> "{log}"\nexec "{real}" "$@"\n')
    spy.chmod(0o755)
    return directory


def test_unchanged_rebuild_does_not_start_cargo(farm: Farm, build_all, tmp_path: Path):
    log = tmp_path / "cargo-calls.log"
    spy_dir = write_cargo_spy(tmp_path, log)
    env = {"PATH": f"{spy_dir}:{os.environ['PATH']}"}
    build_log = farm.build_dir(HOST) / "build.log"
    log_before = build_log.stat().st_mtime_ns
    started = time.monotonic()
    document = farm.efbuild_json("targets", "build", HOST, env=env)
    elapsed = time.monotonic() - started
    (result,) = document["results"]
    assert result["state"] == "up to date", result
    assert not log.exists(), f"cargo was started: {log.read_text()}"
    assert build_log.stat().st_mtime_ns == log_before
    print(f"no-op rebuild took {elapsed:.2f}s")


def test_a_source_change_is_noticed(farm: Farm, tmp_path: Path, project_dir: Path):
    """Copy the project, touch one source file: the same target is no longer up to date."""
    import shutil

    copy = tmp_path / "project"
    shutil.copytree(project_dir, copy, ignore=shutil.ignore_patterns("target", ".venv", ".git"))
    with (copy / "runtime-crate" / "src" / "main.rs").open("a") as handle:
        handle.write("\n// a change\n")
    log = tmp_path / "cargo-calls.log"
    env = {"PATH": f"{write_cargo_spy(tmp_path, log)}:{os.environ['PATH']}"}
    document = farm.efbuild_json("--project-dir", str(copy), "targets", "build", HOST, env=env)
    assert document["results"][0]["state"] == "built"
    assert log.exists(), "a changed source must start cargo"
    # Restore the shared record for the real project so later tests see it up to date.
    farm.efbuild_json("targets", "build", HOST)


def test_publish_twice_gives_identical_bytes_that_sha256sum_accepts(farm: Farm, build_all, tmp_path: Path):
    dists = [tmp_path / "one", tmp_path / "two"]
    for dist in dists:
        farm.efbuild_json("publish", HOST, "--version", "0.1.0", "--dist", str(dist))
    one, two = (d / "v0.1.0" for d in dists)
    names = sorted(p.name for p in one.iterdir())
    assert names == ["SHA256SUMS", f"encoderfile-runtime-{HOST}.tar.gz", "manifest.json"]
    for name in names:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    verified = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=one, capture_output=True, text=True)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    with tarfile.open(one / f"encoderfile-runtime-{HOST}.tar.gz") as archive:
        members = {m.name: m for m in archive.getmembers()}
        assert sorted(members) == ["LICENSE", "README.md", "encoderfile-runtime"]
        binary = members["encoderfile-runtime"]
        assert binary.mode & stat.S_IXUSR and binary.uid == 0 and binary.mtime == 946684800
        archive.extract("encoderfile-runtime", tmp_path / "x", filter="data")
    extracted = tmp_path / "x" / "encoderfile-runtime"
    done = subprocess.run([extracted, "--version"], capture_output=True, text=True)
    assert done.stdout.strip() == VERSION_LINE
    manifest = json.loads((one / "manifest.json").read_text())
    (asset,) = manifest["assets"]
    assert manifest["schema"] == 1 and manifest["version"] == "0.1.0"
    assert asset["triple"] == HOST and asset["binary_sha256"] == hashlib.sha256(extracted.read_bytes()).hexdigest()
    assert asset["glibc_policy"] == "2.36" and asset["glibc_required"]
    assert asset["backend_tools"]["zig"] and asset["toolchain"]["rustc_version"].startswith("rustc ")
    assert len(asset["source_hash"]) == 64


def test_cache_layout_list_and_remove(farm: Farm, build_all, tmp_path: Path):
    cache = tmp_path / "cache"
    env = {"ENCODERFILE_CACHE_DIR": str(cache)}
    farm.efbuild("cache", "install", HOST, "--version", "9.9.9", env=env, check=True)
    entry = cache / "base-binaries" / "encoderfile" / "9.9.9" / HOST
    binary = entry / "encoderfile-runtime"
    assert binary.stat().st_mode & 0o111
    digest = hashlib.sha256(binary.read_bytes()).hexdigest()
    assert (entry / "encoderfile-runtime.sha256").read_text() == f"{digest}  encoderfile-runtime\n"
    listed = farm.efbuild_json("cache", "list", env=env)
    assert [(e["version"], e["triple"], e["verified"]) for e in listed["entries"]] == [("9.9.9", HOST, True)]
    binary.write_bytes(binary.read_bytes() + b"tampered")
    listed = farm.efbuild_json("cache", "list", env=env)
    assert listed["entries"][0]["verified"] is False
    farm.efbuild("cache", "remove", "9.9.9", HOST, env=env, check=True)
    assert not entry.exists()
    gone = farm.efbuild("cache", "remove", "9.9.9", env=env)
    assert gone.returncode == 8 and "nothing cached" in gone.stderr


def test_concurrent_installs_leave_one_intact_entry(farm: Farm, build_all, tmp_path: Path):
    cache = tmp_path / "cache"
    env = {**os.environ, **farm.env, "ENCODERFILE_CACHE_DIR": str(cache)}
    import sys

    command = [sys.executable, "-m", "efbuild", "cache", "install", HOST, "--version", "1.0.0"]
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(4)]
    assert all(p.wait() == 0 for p in processes)
    listed = farm.efbuild_json("cache", "list", env={"ENCODERFILE_CACHE_DIR": str(cache)})
    assert [(e["triple"], e["verified"]) for e in listed["entries"]] == [(HOST, True)]
    leftovers = [p.name for p in (cache / "base-binaries/encoderfile/1.0.0" / HOST).iterdir()]
    assert sorted(leftovers) == ["encoderfile-runtime", "encoderfile-runtime.sha256"]


def test_same_sources_elsewhere_give_identical_binaries(farm: Farm, build_all, tmp_path: Path, project_dir: Path):
    """Another checkout path and a cold work dir, two targets at once: the same bytes.

    Building both in parallel on a cold work dir also guards against tool caches that
    parallel builds would race on.
    """
    import shutil

    copy = tmp_path / "elsewhere"
    shutil.copytree(project_dir, copy, ignore=shutil.ignore_patterns("target", ".venv", ".git", "__pycache__"))
    keys = ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"]
    env = {"EFBUILD_WORK_DIR": str(tmp_path / "work")}
    document = farm.efbuild_json("--project-dir", str(copy), "targets", "build", *keys, "--jobs", "2", env=env)
    for result in document["results"]:
        assert result["state"] == "built", result
        shared = json.loads((farm.build_dir(result["key"]) / "record.json").read_text())
        assert result["record"]["sha256"] == shared["sha256"], result["key"]
