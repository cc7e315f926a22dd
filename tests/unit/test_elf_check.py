"""ElfCheck against tiny real binaries that the host gcc builds at test time."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from efbuild.checks.base import CheckContext, CheckResult
from efbuild.checks.elf import ElfCheck, ElfReadError, read_elf_info
from efbuild.errors import ConfigError
from efbuild.target import Target

HELLO_C = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'

# Symbols from four glibc releases after 2.24, plus a copy-relocated variable (stdout),
# so a 2.24 policy has several offenders to name.
MANY_VERSIONS_C = """
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/random.h>
int main(void) {
    char buf[4];
    void *p = reallocarray(NULL, 2, 8);
    int fd = memfd_create("efbuild", 0);
    long n = getrandom(buf, sizeof buf, 0);
    fprintf(stdout, "%p %d %ld\\n", p, fd, n);
    return 0;
}
"""

# Declared by hand so the test needs libz.so but not zlib.h.
ZLIB_C = "const char *zlibVersion(void);\nint main(void) { return zlibVersion()[0] == 0; }\n"


class Compiler:
    """Builds C programs once per session; a missing toolchain piece skips, never fails."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.gcc = shutil.which("gcc")
        self.built: dict[str, Path | str] = {}

    def build(self, name: str, source: str, *flags: str) -> Path:
        if self.gcc is None:
            pytest.skip("gcc is not installed")
        if name not in self.built:
            self.built[name] = self._compile(name, source, flags)
        result = self.built[name]
        if isinstance(result, str):
            pytest.skip(f"cannot build {name} with the host gcc: {result}")
        return result

    def _compile(self, name: str, source: str, flags: tuple[str, ...]) -> Path | str:
        source_path = self.workdir / f"{name}.c"
        source_path.write_text(source)
        output = self.workdir / name
        command = [self.gcc, "-O0", "-o", str(output), str(source_path), *flags]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            return done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
        return output


@pytest.fixture(scope="session")
def compiler(tmp_path_factory: pytest.TempPathFactory) -> Compiler:
    return Compiler(tmp_path_factory.mktemp("elf-fixtures"))


@pytest.fixture(scope="session")
def hello(compiler: Compiler) -> Path:
    binary = compiler.build("hello", HELLO_C)
    if read_elf_info(binary).machine != "EM_X86_64":
        pytest.skip("these fixtures assume an x86_64 host")
    return binary


def gnu_target(glibc: str | None = "2.36", arch: str = "x86_64") -> Target:
    triple = f"{arch}-unknown-linux-gnu"
    return Target(
        key=f"{triple}.{glibc}" if glibc else triple,
        triple=triple,
        arch=arch,
        os="linux",
        abi="gnu",
        backend="zig",
        glibc=glibc,
    )


def musl_static_target(arch: str = "x86_64") -> Target:
    triple = f"{arch}-unknown-linux-musl"
    return Target(
        key=triple, triple=triple, arch=arch, os="linux", abi="musl", backend="zig", static=True
    )


def run_check(binary: Path, target: Target) -> CheckResult:
    return ElfCheck().run(binary, CheckContext(target=target, runtime_version="0.0.0"))


# --- reading --------------------------------------------------------------------------


def test_read_elf_info_joins_versions_with_symbols_and_libraries(hello: Path) -> None:
    info = read_elf_info(hello)

    assert (info.elf_class, info.machine, info.arch) == ("ELFCLASS64", "EM_X86_64", "x86_64")
    assert info.interpreter == "/lib64/ld-linux-x86-64.so.2"
    assert info.needed == ("libc.so.6",)
    by_version = {(r.library, r.version): r.symbols for r in info.requirements}
    assert "__libc_start_main" in by_version[("libc.so.6", "GLIBC_2.34")]
    assert "puts" in by_version[("libc.so.6", "GLIBC_2.2.5")]
    assert info.glibc_required == "2.34"
    assert not info.is_static


def test_copy_relocated_variable_counts_as_a_requirement(compiler: Compiler, hello: Path) -> None:
    binary = compiler.build("many-versions", MANY_VERSIONS_C, "-no-pie")

    by_version = {r.version: r.symbols for r in read_elf_info(binary).requirements}

    assert "stdout" in by_version["GLIBC_2.2.5"]


def test_read_elf_info_rejects_a_non_elf_file(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a binary\n")

    with pytest.raises(ElfReadError, match="not an ELF file"):
        read_elf_info(text)


# --- glibc policy ---------------------------------------------------------------------


def test_hello_fails_the_217_policy_naming_symbol_version_and_library(hello: Path) -> None:
    result = run_check(hello, gnu_target("2.17"))

    assert result.status == "failed"
    assert result.problems == (
        "__libc_start_main@GLIBC_2.34 (libc.so.6) is not allowed by the glibc 2.17 policy",
    )
    assert result.summary == "1 symbol too new for glibc 2.17"
    assert result.facts["policy"] == "glibc-2.17"


def test_hello_passes_the_236_policy(hello: Path) -> None:
    result = run_check(hello, gnu_target("2.36"))

    assert result.status == "passed", result.problems
    assert result.problems == ()
    assert result.summary == "needs glibc 2.34 <= policy 2.36; 1 library"


def test_every_offending_symbol_is_named_not_only_the_newest(
    compiler: Compiler, hello: Path
) -> None:
    binary = compiler.build("many-versions", MANY_VERSIONS_C, "-no-pie")

    result = run_check(binary, gnu_target("2.24"))

    assert result.status == "failed"
    assert set(result.problems) == {
        f"{symbol} (libc.so.6) is not allowed by the glibc 2.24 policy"
        for symbol in (
            "getrandom@GLIBC_2.25",
            "reallocarray@GLIBC_2.26",
            "memfd_create@GLIBC_2.27",
            "__libc_start_main@GLIBC_2.34",
        )
    }
    assert result.summary == "4 symbols too new for glibc 2.24"


def test_version_node_without_symbols_is_judged_too(compiler: Compiler, hello: Path) -> None:
    binary = compiler.build("hello-relr", HELLO_C, "-Wl,-z,pack-relative-relocs")
    if not any(r.version == "GLIBC_ABI_DT_RELR" for r in read_elf_info(binary).requirements):
        pytest.skip("the host linker does not emit DT_RELR")

    too_old = run_check(binary, gnu_target("2.35"))
    new_enough = run_check(binary, gnu_target("2.36"))

    assert too_old.status == "failed"
    relr = "GLIBC_ABI_DT_RELR (libc.so.6) is not allowed"
    assert any(p.startswith(relr) for p in too_old.problems)
    assert new_enough.status == "passed", new_enough.problems


@pytest.mark.parametrize(
    ("flags", "tag", "fact"),
    [
        (("-Wl,-rpath,/opt/x", "-Wl,--enable-new-dtags"), "DT_RUNPATH", "runpath"),
        (("-Wl,-rpath,/opt/x", "-Wl,--disable-new-dtags"), "DT_RPATH", "rpath"),
    ],
)
def test_any_search_path_fails(
    compiler: Compiler, hello: Path, flags: tuple[str, ...], tag: str, fact: str
) -> None:
    binary = compiler.build(f"hello-{fact}", HELLO_C, *flags)

    result = run_check(binary, gnu_target("2.36"))

    assert result.status == "failed"
    assert any(p.startswith(f"{tag} /opt/x is set") for p in result.problems)
    assert result.facts[fact] == ["/opt/x"]


def test_a_library_outside_the_policy_fails_by_name(compiler: Compiler, hello: Path) -> None:
    binary = compiler.build("hello-zlib", ZLIB_C, "-lz")

    result = run_check(binary, gnu_target("2.36"))

    assert result.status == "failed"
    assert any(p.startswith("libz.so.1 (DT_NEEDED) is not allowed") for p in result.problems)
    assert "libz.so.1" in result.facts["needed"]
    assert result.summary == "1 library not allowed"


# --- static targets -------------------------------------------------------------------


def test_static_binary_passes_as_a_static_target(compiler: Compiler, hello: Path) -> None:
    binary = compiler.build("hello-static", HELLO_C, "-static")

    result = run_check(binary, musl_static_target())

    assert result.status == "passed", result.problems
    assert result.facts["static"] is True
    assert result.facts["interpreter"] is None
    assert result.facts["needed"] == []
    assert result.facts["policy"] is None


def test_static_binary_fails_as_a_dynamic_glibc_target(compiler: Compiler, hello: Path) -> None:
    binary = compiler.build("hello-static", HELLO_C, "-static")

    result = run_check(binary, gnu_target("2.36"))

    assert result.status == "failed"
    assert any("no PT_INTERP" in p for p in result.problems)


def test_dynamic_binary_fails_as_a_static_target(hello: Path) -> None:
    result = run_check(hello, musl_static_target())

    assert result.status == "failed"
    assert any("PT_INTERP /lib64/ld-linux-x86-64.so.2" in p for p in result.problems)
    assert any(p.endswith("needs libc.so.6") for p in result.problems)


# --- wrong or broken files ------------------------------------------------------------


def test_wrong_machine_is_named(hello: Path) -> None:
    result = run_check(hello, gnu_target("2.36", arch="aarch64"))

    assert result.status == "failed"
    assert result.problems == (
        "binary is EM_X86_64 (x86_64) but target aarch64-unknown-linux-gnu needs EM_AARCH64",
    )
    assert result.facts["machine"] == "EM_X86_64"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"#!/bin/sh\necho hi\n", "is not an ELF file"),
        (b"", "is not an ELF file"),
    ],
)
def test_non_elf_file_is_a_clean_failure(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "binary"
    path.write_bytes(content)

    result = run_check(path, gnu_target("2.36"))

    assert result.status == "failed"
    assert message in result.problems[0]
    json.dumps(result.to_json())


def test_truncated_elf_is_a_clean_failure(tmp_path: Path, hello: Path) -> None:
    path = tmp_path / "truncated"
    path.write_bytes(hello.read_bytes()[:200])

    result = run_check(path, gnu_target("2.36"))

    assert result.status == "failed"
    assert "damaged ELF file" in result.problems[0]


def test_missing_file_is_a_clean_failure(tmp_path: Path) -> None:
    result = run_check(tmp_path / "absent", gnu_target("2.36"))

    assert result.status == "failed"
    assert "cannot read" in result.problems[0]


# --- the rest of the contract ---------------------------------------------------------


def test_facts_are_json_and_complete(hello: Path) -> None:
    facts = run_check(hello, gnu_target("2.36")).to_json()["facts"]

    assert json.loads(json.dumps(facts)) == facts
    assert set(facts) == {
        "machine",
        "elf_class",
        "interpreter",
        "needed",
        "rpath",
        "runpath",
        "static",
        "glibc_required",
        "requirements",
        "policy",
    }
    assert {"library": "libc.so.6", "version": "GLIBC_2.34", "symbols": ["__libc_start_main"]} in (
        facts["requirements"]
    )


def test_applies_to_linux_only() -> None:
    darwin = Target(
        key="aarch64-apple-darwin",
        triple="aarch64-apple-darwin",
        arch="aarch64",
        os="macos",
        abi="darwin",
        backend="zig",
    )
    assert ElfCheck().applies_to(gnu_target())
    assert ElfCheck().applies_to(musl_static_target())
    assert not ElfCheck().applies_to(darwin)


def test_glibc_target_without_known_policy_is_a_config_error(hello: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        run_check(hello, gnu_target("2.5"))
    assert "2.17" in (caught.value.hint or "")

    with pytest.raises(ConfigError):
        run_check(hello, gnu_target(None))
