"""The paths check finds the build machine's directories in a binary's bytes."""

from __future__ import annotations

from pathlib import Path

from efbuild.checks.base import CheckContext
from efbuild.checks.paths import BuildPathsCheck, find_build_paths
from efbuild.target import Target

TARGET = Target(key="x86_64-unknown-linux-gnu", triple="x86_64-unknown-linux-gnu", arch="x86_64", os="linux",
                abi="gnu", backend="zig", glibc="2.36")


def check(tmp_path: Path, content: bytes, *dirs: str):
    binary = tmp_path / "bin"
    binary.write_bytes(content)
    return BuildPathsCheck().run(binary, CheckContext(TARGET, "0.1.0", dirs))


def test_a_clean_binary_passes(tmp_path):
    result = check(tmp_path, b"\x7fELF...\x00/cargo/registry/src/x.rs\x00/rustc/library/core.rs\x00",
                   "/root/.cargo", "/work/main")
    assert result.status == "passed"


def test_leaked_paths_are_named_by_directory_with_examples(tmp_path):
    content = (b"\x00/root/.cargo/registry/src/clap/lib.rs\x00called unwrap\x00"
               b"/work/main/runtime-crate/src/main.rs\x00/root/.cargo/registry/src/clap/lib.rs\x00")
    result = check(tmp_path, content, "/root/.cargo", "/work/main", "/root")
    assert result.status == "failed"
    assert result.facts["found"] == {"/root/.cargo/": 1, "/work/main/": 1}
    assert any("under /root/.cargo/" in p and "/root/.cargo/registry/src/clap/lib.rs" in p for p in result.problems)
    assert any("/work/main/runtime-crate/src/main.rs" in p for p in result.problems)


def test_the_most_specific_directory_claims_a_hit():
    found = find_build_paths(b"x/root/.cargo/a.rs\x00y/root/other\x00", [b"/root/.cargo/", b"/root/"])
    assert found == {"/root/.cargo/": ["/root/.cargo/a.rs"], "/root/": ["/root/other"]}


def test_a_directory_name_without_its_slash_is_not_a_hit(tmp_path):
    assert check(tmp_path, b"/work/mainframe.rs\x00", "/work/main").status == "passed"
