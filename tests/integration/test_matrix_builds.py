"""The whole matrix from this one Linux machine: aarch64 under qemu, darwin through
-Zbuild-std and the Mach-O check, static musl, and deliberately wrong inputs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import Farm

pytestmark = pytest.mark.integration

OFFICIAL = ("x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu", "x86_64-apple-darwin", "aarch64-apple-darwin")
MUSL = ("x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl")


def checks_of(result: dict) -> dict[str, dict]:
    return {c["check"]: c for c in result["record"]["checks"]}


def test_doctor_finds_a_route_for_every_target(farm: Farm):
    document = farm.efbuild_json("toolchain", "doctor")
    entries = {e["target"]: e for e in document["targets"]}
    for key in (*OFFICIAL, *MUSL):
        assert entries[key]["available"], entries[key]
        assert entries[key]["route"] in ("rustup", "system", "build-std")
    assert entries["aarch64-unknown-linux-gnu"]["runner"] == "qemu-aarch64"


@pytest.mark.parametrize("key", OFFICIAL)
def test_every_official_target_is_built_checked_and_installed(farm: Farm, results_by_key, key):
    result = results_by_key[key]
    assert result["state"] in ("built", "up to date"), result
    assert result["record"]["status"] == "passed"
    assert Path(result["installed"]).is_file()
    assert result["record"]["toolchain"]["route"] in ("rustup", "system", "build-std")
    # No source path of this machine (cargo registry, checkout, work dir, std source) inside.
    assert checks_of(result)["paths"]["status"] == "passed", checks_of(result)["paths"]["problems"]


def test_aarch64_linux_ran_under_qemu(results_by_key):
    checks = checks_of(results_by_key["aarch64-unknown-linux-gnu"])
    assert checks["elf"]["facts"]["machine"] == "EM_AARCH64"
    assert checks["elf"]["facts"]["policy"] == "glibc-2.36"
    run = checks["run"]
    assert run["status"] == "passed" and run["facts"]["runner"] == "qemu-aarch64"
    version_run = next(r for r in run["facts"]["runs"] if r["args"] == ["--version"])
    assert version_run["exit"] == 0
    assert "encoderfile-runtime 0.1.0 aarch64-unknown-linux-gnu" in version_run["output"]


@pytest.mark.parametrize("key,apple_arch", [("x86_64-apple-darwin", "x86_64"), ("aarch64-apple-darwin", "arm64")])
def test_darwin_binaries_pass_the_macho_check(results_by_key, key, apple_arch):
    checks = checks_of(results_by_key[key])
    macho = checks["macho"]
    assert macho["status"] == "passed", macho["problems"]
    (slice_,) = macho["facts"]["slices"]
    assert slice_["apple_arch"] == apple_arch
    assert slice_["minos"] == "11.0"
    assert all(d["path"].startswith("/usr/lib/") for d in slice_["dylibs"])
    assert checks["run"]["status"] == "skipped"


def test_publish_writes_the_four_official_assets(farm: Farm, build_all, tmp_path: Path):
    document = farm.efbuild_json("publish", "--version", "0.1.0", "--dist", str(tmp_path))
    release = Path(document["release"])
    manifest = json.loads((release / "manifest.json").read_text())
    assert sorted(a["triple"] for a in manifest["assets"]) == sorted(OFFICIAL)
    for asset in manifest["assets"]:
        assert asset["toolchain"]["route"] and asset["toolchain"]["std_source"]
    done = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=release, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.count(": OK") == 4


@pytest.fixture(scope="module")
def musl_results(farm: Farm) -> dict[str, dict]:
    document = farm.efbuild_json("targets", "build", *MUSL)
    return {r["key"]: r for r in document["results"]}


@pytest.mark.parametrize("key", MUSL)
def test_musl_targets_are_static_and_run(musl_results, key):
    result = musl_results[key]
    assert result["state"] in ("built", "up to date"), result
    checks = checks_of(result)
    elf = checks["elf"]["facts"]
    assert elf["static"] is True and elf["interpreter"] is None and elf["needed"] == []
    assert checks["paths"]["status"] == "passed", checks["paths"]["problems"]
    assert checks["run"]["status"] == "passed"


def test_universal2_is_one_fat_binary_with_both_slices(farm: Farm):
    document = farm.efbuild_json("targets", "build", "universal2-apple-darwin")
    (result,) = document["results"]
    assert result["state"] in ("built", "up to date"), result
    macho = checks_of(result)["macho"]
    assert macho["status"] == "passed" and macho["facts"]["universal"] is True
    assert sorted(s["apple_arch"] for s in macho["facts"]["slices"]) == ["arm64", "x86_64"]


def test_darwin_binary_needing_newer_macos_than_the_policy_fails(farm: Farm, results_by_key):
    binary = results_by_key["aarch64-apple-darwin"]["record"]["binary"]
    document = farm.efbuild_json("check", binary, "--macos-min", "10.15", expect_code=5)
    macho = next(r for r in document["results"] if r["check"] == "macho")
    assert macho["status"] == "failed"
    assert any("11.0" in p and "10.15" in p for p in macho["problems"]), macho["problems"]


def test_aarch64_binary_named_as_x86_64_fails(farm: Farm, results_by_key):
    binary = results_by_key["aarch64-unknown-linux-gnu"]["record"]["binary"]
    done = farm.efbuild("check", binary, "--target", "x86_64-unknown-linux-gnu")
    assert done.returncode == 5
    assert "EM_AARCH64" in done.stderr and "x86_64-unknown-linux-gnu" in done.stderr


def test_darwin_binary_named_as_the_other_arch_fails(farm: Farm, results_by_key):
    binary = results_by_key["x86_64-apple-darwin"]["record"]["binary"]
    document = farm.efbuild_json("check", binary, "--target", "aarch64-apple-darwin", expect_code=5)
    macho = next(r for r in document["results"] if r["check"] == "macho")
    assert any("x86_64" in p and "aarch64-apple-darwin" in p for p in macho["problems"]), macho["problems"]


def test_custom_glibc_floor_for_aarch64_installs_for_old_distributions(farm: Farm, tmp_path: Path):
    cache = tmp_path / "cache"
    document = farm.efbuild_json("targets", "build", "aarch64-unknown-linux-gnu", "--glibc", "2.17", "--install",
                                 "--cache-dir", str(cache))
    (result,) = document["results"]
    assert result["key"] == "aarch64-unknown-linux-gnu.2.17"
    elf = checks_of(result)["elf"]["facts"]
    assert elf["policy"] == "glibc-2.17"
    assert tuple(int(p) for p in elf["glibc_required"].split(".")) <= (2, 17)
    assert (cache / "base-binaries/encoderfile/0.1.0/aarch64-unknown-linux-gnu/encoderfile-runtime").is_file()
