"""glibc policies: packaged data, judged by set membership, kept in sync with the facts."""

from __future__ import annotations

import itertools
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerDefSection

from efbuild.errors import ConfigError
from efbuild.policies import GlibcPolicy, available_policies, load_policy

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / "tools" / "gen_glibc_policies.py"
POLICIES_DIR = REPO / "orchestrator" / "efbuild" / "data" / "policies"
ARCHES = ("x86_64", "aarch64")
ALL_VERSIONS = [f"2.{minor}" for minor in range(17, 41)]


def all_policies() -> list[GlibcPolicy]:
    return [load_policy(version) for version in available_policies()]


def test_available_policies_are_2_17_to_2_40_in_numeric_order() -> None:
    assert available_policies() == ALL_VERSIONS


@pytest.mark.parametrize("version", [f"2.{minor}" for minor in range(17, 40)])
def test_each_policy_loads(version: str) -> None:
    policy = load_policy(version)

    assert policy.glibc == version
    assert policy.arches == ("aarch64", "x86_64")
    assert "libc.so.6" in policy.allowed_libraries


def test_glibc_private_fails_every_policy() -> None:
    for policy in all_policies():
        for arch in ARCHES:
            assert not policy.allows(arch, "GLIBC_PRIVATE"), policy.glibc


@pytest.mark.parametrize("arch", ARCHES)
def test_dt_relr_node_is_allowed_from_2_36_on(arch: str) -> None:
    assert not load_policy("2.35").allows(arch, "GLIBC_ABI_DT_RELR")
    assert load_policy("2.36").allows(arch, "GLIBC_ABI_DT_RELR")
    assert load_policy("2.40").allows(arch, "GLIBC_ABI_DT_RELR")


def test_x86_64_only_node_is_not_allowed_on_aarch64() -> None:
    for policy in all_policies():
        assert policy.allows("x86_64", "GLIBC_2.2.5")
        assert not policy.allows("aarch64", "GLIBC_2.2.5")


def test_a_node_is_allowed_from_its_release_on() -> None:
    assert not load_policy("2.33").allows("x86_64", "GLIBC_2.34")
    assert load_policy("2.34").allows("x86_64", "GLIBC_2.34")
    assert load_policy("2.17").allows("aarch64", "GLIBC_2.17")
    assert not load_policy("2.17").allows("aarch64", "GLIBC_2.18")


def test_a_node_that_never_existed_on_the_arch_is_refused() -> None:
    # glibc 2.19 added no node on x86_64: a numeric comparison would wave GLIBC_2.19 through.
    assert not load_policy("2.36").allows("x86_64", "GLIBC_2.19")


@pytest.mark.parametrize("tag", ["ZLIB_1.2.0", "GLIBC", "", "GLIBC_", "OPENSSL_3.0.0"])
def test_unknown_prefix_or_malformed_tag_is_refused(tag: str) -> None:
    assert not load_policy("2.40").allows("x86_64", tag)


def test_unknown_arch_is_refused() -> None:
    assert not load_policy("2.36").allows("riscv64", "GLIBC_2.17")


@pytest.mark.parametrize("tag", ["GCC_3.0", "GCC_3.3", "GCC_4.2.0", "GLIBCXX_3.4", "CXXABI_1.3"])
def test_gcc_runtime_baseline_every_rust_binary_needs_is_always_allowed(tag: str) -> None:
    for policy in all_policies():
        for arch in ARCHES:
            assert policy.allows(arch, tag), (policy.glibc, arch)


def test_companion_levels_follow_the_representative_distribution() -> None:
    assert not load_policy("2.17").allows("x86_64", "GLIBCXX_3.4.20")
    assert load_policy("2.28").allows("x86_64", "GLIBCXX_3.4.25")
    assert not load_policy("2.35").allows("x86_64", "GLIBCXX_3.4.31")
    assert load_policy("2.39").allows("x86_64", "GLIBCXX_3.4.33")
    assert load_policy("2.36").allows("x86_64", "GCC_12.0.0")
    assert not load_policy("2.36").allows("aarch64", "GCC_12.0.0")


def test_each_policy_allows_everything_the_previous_one_did() -> None:
    policies = all_policies()
    for older, newer in itertools.pairwise(policies):
        for arch in ARCHES:
            for prefix, tags in older.symbol_versions[arch].items():
                missing = tags - newer.symbol_versions[arch][prefix]
                assert not missing, (older.glibc, newer.glibc, arch, missing)


def test_allowed_libraries() -> None:
    policy = load_policy("2.17")

    for soname in (
        "libc.so.6",
        "libm.so.6",
        "libpthread.so.0",
        "libdl.so.2",
        "librt.so.1",
        "libgcc_s.so.1",
        "ld-linux-x86-64.so.2",
        "ld-linux-aarch64.so.1",
    ):
        assert policy.allows_library(soname), soname
    assert not policy.allows_library("libz.so.1")
    assert not policy.allows_library("libstdc++.so.6")


@pytest.mark.parametrize("version", ["2.16", "2.41", "3.0", "banana", "../policies/x"])
def test_unknown_version_is_a_config_error_listing_the_choices(version: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_policy(version)

    assert version in caught.value.message
    assert "2.17" in caught.value.hint and "2.40" in caught.value.hint


# --- the generator --------------------------------------------------------------------


def run_generator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GENERATOR), *args], capture_output=True, text=True, cwd=REPO
    )


def test_committed_policies_match_the_generator() -> None:
    done = run_generator("--check")

    assert done.returncode == 0, done.stderr


def test_generator_check_notices_an_edited_or_stale_file(tmp_path: Path) -> None:
    copy = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, copy)
    edited = copy / "glibc-2.17.toml"
    edited.write_text(edited.read_text().replace('"GLIBC_2.17",\n', ""))
    (copy / "glibc-2.99.toml").write_text("")

    done = run_generator("--check", "--policies-dir", str(copy))

    assert done.returncode == 1
    assert "glibc-2.17.toml" in done.stderr
    assert "glibc-2.99.toml" in done.stderr


def test_generated_files_say_they_are_generated() -> None:
    first_line = (POLICIES_DIR / "glibc-2.17.toml").read_text().splitlines()[0]

    assert "generated by tools/gen_glibc_policies.py" in first_line
    assert "do not edit" in first_line


# --- cross-check against the running system's glibc -----------------------------------


def host_glibc_libraries() -> tuple[str, list[Path]]:
    libc_name, libc_version = platform.libc_ver()
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine(), platform.machine())
    if libc_name != "glibc" or arch not in ARCHES:
        pytest.skip("needs a glibc host on x86_64 or aarch64")
    version = ".".join(libc_version.split(".")[:2])
    if version not in available_policies():
        pytest.skip(f"no policy for the host's glibc {version}")
    libdir = Path(f"/lib/{arch}-linux-gnu")
    names = ["libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1"]
    paths = [libdir / name for name in names if (libdir / name).exists()]
    if not paths:
        pytest.skip(f"glibc libraries not found in {libdir}")
    return version, paths


def defined_version_nodes(path: Path) -> set[str]:
    nodes = set()
    with open(os.path.realpath(path), "rb") as stream:
        for section in ELFFile(stream).iter_sections():
            if isinstance(section, GNUVerDefSection):
                for definition, auxiliaries in section.iter_versions():
                    if not definition["vd_flags"] & 0x1:  # VER_FLG_BASE names the file itself
                        nodes.add(next(auxiliaries).name)
    return nodes


def test_host_glibc_nodes_are_all_in_the_host_version_policy() -> None:
    version, libraries = host_glibc_libraries()
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine(), platform.machine())
    policy = load_policy(version)

    for library in libraries:
        for node in defined_version_nodes(library) - {"GLIBC_PRIVATE"}:
            assert policy.allows(arch, node), (library.name, node)
