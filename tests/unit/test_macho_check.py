"""MachOCheck against tiny real Mach-O files that `python -m ziglang cc` builds at test time.

zig links for macOS without an SDK, so these run on the Linux build machine. The first
run on a machine spends ~10 s per (arch, macOS version) building zig's libSystem stubs;
zig caches them, and later runs take a few seconds.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from macholib.MachO import MachO, MachOHeader
from macholib.mach_o import LC_BUILD_VERSION, PLATFORM_IOS

from efbuild.checks.base import CheckContext, CheckResult
from efbuild.checks.macho import (
    MachOCheck,
    MachOReadError,
    dylib_verdict,
    guess_macho_triple,
    looks_like_macho,
    read_macho_info,
    version_key,
)
from efbuild.errors import ConfigError
from efbuild.target import Target

HELLO_C = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'

# One executable linking five stand-in dylibs, each built with the install name a real
# library would have: one public framework (allowed) and four that a base binary must not
# link. Each defines a function main calls, so the linker keeps every load command.
LINKED_DYLIBS = {
    "fake": "/System/Library/Frameworks/Fake.framework/Versions/A/Fake",
    "secret": "/System/Library/PrivateFrameworks/Secret.framework/Versions/A/Secret",
    "home": "/opt/homebrew/lib/libhome.dylib",
    "build": "/root/build/lib/libbuild.dylib",
    "bundled": "@rpath/libbundled.dylib",
}
LINKS_C = "".join(f"int {name}_fn(void);\n" for name in LINKED_DYLIBS) + (
    "int main(void) { return "
    + " + ".join(f"{name}_fn()" for name in LINKED_DYLIBS)
    + "; }\n"
)

FAT_MAGIC = 0xCAFEBABE
SLICE_ALIGN_LOG2 = 14  # 16 KiB: the arm64 page size, what lipo uses


class ZigCC:
    """Builds C programs for macOS once per session; missing zig skips, never fails."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.available = importlib.util.find_spec("ziglang") is not None
        self.built: dict[str, Path | str] = {}

    def build(self, name: str, zig_target: str, source: str, *flags: str) -> Path:
        if not self.available:
            pytest.skip("ziglang is not installed in this Python (pip install ziglang)")
        if name not in self.built:
            self.built[name] = self._compile(name, zig_target, source, flags)
        result = self.built[name]
        if isinstance(result, str):
            pytest.skip(f"zig cannot build {name} for {zig_target}: {result}")
        return result

    def _compile(
        self, name: str, zig_target: str, source: str, flags: tuple[str, ...]
    ) -> Path | str:
        source_path = self.workdir / f"{name}.c"
        source_path.write_text(source)
        output = self.workdir / name
        command = [
            sys.executable, "-m", "ziglang", "cc", "-target", zig_target, "-O0",
            "-o", str(output), str(source_path), *flags,
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.workdir)
        if done.returncode != 0:
            return done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
        return output

    def dylib(self, name: str, install_name: str) -> Path:
        """lib<name>.dylib for arm64 macOS 11.0 that defines <name>_fn()."""
        return self.build(
            f"lib{name}.dylib",
            "aarch64-macos.11.0",
            f"int {name}_fn(void) {{ return 0; }}\n",
            "-shared",
            f"-Wl,-install_name,{install_name}",
        )


def make_fat(output: Path, *slices: Path) -> Path:
    """A universal file, as lipo -create would write it: fat header, aligned slices."""
    bodies = [path.read_bytes() for path in slices]
    align = 1 << SLICE_ALIGN_LOG2
    header = struct.pack(">II", FAT_MAGIC, len(bodies))
    entries, payload = b"", b""
    offset = _round_up(len(header) + 20 * len(bodies), align)
    for body in bodies:
        # A thin 64-bit Mach-O for a little-endian CPU stores its header little-endian;
        # the fat header repeats cputype and cpusubtype big-endian.
        cpu_type, cpu_subtype = struct.unpack("<ii", body[4:12])
        entries += struct.pack(">iiIII", cpu_type, cpu_subtype, offset, len(body), SLICE_ALIGN_LOG2)
        payload += body + b"\0" * (_round_up(len(body), align) - len(body))
        offset += _round_up(len(body), align)
    head = header + entries
    output.write_bytes(head + b"\0" * (_round_up(len(head), align) - len(head)) + payload)
    return output


def _round_up(value: int, align: int) -> int:
    return (value + align - 1) // align * align


def rewritten(source: Path, output: Path, edit: Callable[[MachOHeader], None]) -> Path:
    """A copy of a thin Mach-O whose load commands `edit` changed, written by macholib."""
    shutil.copyfile(source, output)
    macho = MachO(str(output))
    header = macho.headers[0]
    edit(header)
    with output.open("r+b") as stream:
        header.write(stream)
    return output


def drop_build_version(header: MachOHeader) -> None:
    index = next(i for i, (lc, _, _) in enumerate(header.commands) if lc.cmd == LC_BUILD_VERSION)
    load, _, _ = header.commands.pop(index)
    header.header.ncmds -= 1
    header.changedHeaderSizeBy(-load.cmdsize)


def build_for_ios(header: MachOHeader) -> None:
    for load, command, _ in header.commands:
        if load.cmd == LC_BUILD_VERSION:
            command.platform = PLATFORM_IOS


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def zig(tmp_path_factory: pytest.TempPathFactory) -> ZigCC:
    return ZigCC(tmp_path_factory.mktemp("macho-fixtures"))


@pytest.fixture(scope="session")
def arm64(zig: ZigCC) -> Path:
    return zig.build("hello-arm64", "aarch64-macos.11.0", HELLO_C)


@pytest.fixture(scope="session")
def x86_64(zig: ZigCC) -> Path:
    return zig.build("hello-x86_64", "x86_64-macos.11.0", HELLO_C)


@pytest.fixture(scope="session")
def arm64_13(zig: ZigCC) -> Path:
    return zig.build("hello-arm64-13", "aarch64-macos.13.0", HELLO_C)


@pytest.fixture(scope="session")
def universal2(zig: ZigCC, arm64: Path, x86_64: Path) -> Path:
    return make_fat(zig.workdir / "hello-universal2", arm64, x86_64)


def darwin_target(arch: str = "aarch64", macos_min: str | None = "11.0") -> Target:
    triple = f"{arch}-apple-darwin"
    return Target(
        key=triple,
        triple=triple,
        arch=arch,
        os="macos",
        abi="darwin",
        backend="zig",
        macos_min=macos_min,
    )


def run_check(binary: Path, target: Target) -> CheckResult:
    return MachOCheck().run(binary, CheckContext(target=target, runtime_version="0.0.0"))


# --- reading --------------------------------------------------------------------------


def test_read_macho_info_of_a_thin_arm64_executable(arm64: Path) -> None:
    info = read_macho_info(arm64)

    assert not info.universal
    (piece,) = info.slices
    assert (piece.cpu_type, piece.apple_arch, piece.arch) == ("CPU_TYPE_ARM64", "arm64", "aarch64")
    assert piece.filetype == "MH_EXECUTE"
    assert (piece.platform, piece.minos) == ("macOS", "11.0")
    assert piece.minos_source == "LC_BUILD_VERSION"
    assert [(d.path, d.command) for d in piece.dylibs] == [
        ("/usr/lib/libSystem.B.dylib", "LC_LOAD_DYLIB")
    ]
    assert piece.rpaths == ()
    assert piece.dylinker == "/usr/lib/dyld"
    assert info.macos_min_required == "11.0"


def test_read_macho_info_of_a_universal_file(universal2: Path) -> None:
    info = read_macho_info(universal2)

    assert info.universal
    assert [(s.cpu_type, s.arch) for s in info.slices] == [
        ("CPU_TYPE_ARM64", "aarch64"),
        ("CPU_TYPE_X86_64", "x86_64"),
    ]
    assert all(s.minos == "11.0" for s in info.slices)


def test_old_binaries_are_read_from_lc_version_min_macosx(zig: ZigCC) -> None:
    # zig, like ld64, writes LC_VERSION_MIN_MACOSX instead of LC_BUILD_VERSION below 10.14.
    binary = zig.build("hello-x86_64-1013", "x86_64-macos.10.13", HELLO_C)
    if read_macho_info(binary).slices[0].minos_source != "LC_VERSION_MIN_MACOSX":
        pytest.skip("this zig writes LC_BUILD_VERSION even for macOS 10.13")

    allowed = run_check(binary, darwin_target("x86_64", "11.0"))
    too_new = run_check(binary, darwin_target("x86_64", "10.12"))

    assert allowed.status == "passed", allowed.problems
    assert allowed.facts["slices"][0]["minos"] == "10.13"
    assert too_new.problems == (
        "requires macOS 10.13 (LC_VERSION_MIN_MACOSX minos) but the policy allows at most 10.12",
    )


# --- architecture ---------------------------------------------------------------------


@pytest.mark.parametrize(("fixture", "arch"), [("arm64", "aarch64"), ("x86_64", "x86_64")])
def test_hello_passes_its_own_target(
    fixture: str, arch: str, request: pytest.FixtureRequest
) -> None:
    binary = request.getfixturevalue(fixture)

    result = run_check(binary, darwin_target(arch))

    assert result.status == "passed", result.problems
    assert result.problems == ()
    apple = "arm64" if arch == "aarch64" else "x86_64"
    assert result.summary == f"{apple}, macOS >= 11.0, 1 system dylib"


def test_wrong_arch_names_both_arches(arm64: Path) -> None:
    result = run_check(arm64, darwin_target("x86_64"))

    assert result.status == "failed"
    assert result.problems == ("binary is arm64 but target x86_64-apple-darwin needs x86_64",)
    assert result.summary == "wrong arch arm64 for x86_64"


def test_universal2_passes_as_universal2(universal2: Path) -> None:
    result = run_check(universal2, darwin_target("universal2"))

    assert result.status == "passed", result.problems
    assert result.summary == "universal (arm64, x86_64), macOS >= 11.0, 1 system dylib"
    assert result.facts["universal"] is True
    assert [s["arch"] for s in result.facts["slices"]] == ["aarch64", "x86_64"]


def test_universal2_fails_as_a_thin_target(universal2: Path) -> None:
    result = run_check(universal2, darwin_target("x86_64"))

    assert result.status == "failed"
    assert result.problems == (
        "binary is universal (arm64, x86_64) but target x86_64-apple-darwin "
        "needs a thin x86_64 file",
    )


def test_thin_binary_fails_as_universal2(arm64: Path) -> None:
    result = run_check(arm64, darwin_target("universal2"))

    assert result.problems == (
        "binary is arm64 but target universal2-apple-darwin needs a universal file "
        "with exactly arm64 and x86_64 slices",
    )


@pytest.mark.parametrize("pair", ["arm64+arm64", "arm64"])
def test_universal_without_exactly_both_slices_fails_as_universal2(
    zig: ZigCC, arm64: Path, pair: str
) -> None:
    fat = make_fat(zig.workdir / f"fat-{pair}", *[arm64] * len(pair.split("+")))

    result = run_check(fat, darwin_target("universal2"))

    found = ", ".join(pair.split("+"))
    assert result.problems == (
        f"binary is universal ({found}) but target universal2-apple-darwin needs a "
        "universal file with exactly arm64 and x86_64 slices",
    )


# --- minimum macOS --------------------------------------------------------------------


def test_newer_minimum_than_the_policy_fails_naming_both(arm64_13: Path) -> None:
    result = run_check(arm64_13, darwin_target("aarch64", "11.0"))

    assert result.status == "failed"
    assert result.problems == (
        "requires macOS 13.0 (LC_BUILD_VERSION minos) but the policy allows at most 11.0",
    )
    assert result.summary == "requires macOS 13.0 > policy 11.0"
    assert result.facts["macos_min_required"] == "13.0"
    assert result.facts["policy_macos_min"] == "11.0"


@pytest.mark.parametrize("policy", ["13.0", "13", "14.2"])
def test_minimum_within_the_policy_passes(arm64_13: Path, policy: str) -> None:
    result = run_check(arm64_13, darwin_target("aarch64", policy))

    assert result.status == "passed", result.problems
    assert result.summary == "arm64, macOS >= 13.0, 1 system dylib"


def test_each_slice_of_a_universal_file_is_held_to_the_policy(
    zig: ZigCC, arm64_13: Path, x86_64: Path
) -> None:
    fat = make_fat(zig.workdir / "universal2-mixed", arm64_13, x86_64)

    result = run_check(fat, darwin_target("universal2", "11.0"))

    assert result.problems == (
        "arm64 slice: requires macOS 13.0 (LC_BUILD_VERSION minos) "
        "but the policy allows at most 11.0",
    )
    assert result.facts["macos_min_required"] == "13.0"
    assert [s["minos"] for s in result.facts["slices"]] == ["13.0", "11.0"]


def test_policy_older_than_the_binary_fails(arm64: Path) -> None:
    result = run_check(arm64, darwin_target("aarch64", "10.15"))

    assert result.problems == (
        "requires macOS 11.0 (LC_BUILD_VERSION minos) but the policy allows at most 10.15",
    )


@pytest.mark.parametrize(
    ("older", "newer"),
    [("10.15", "11.0"), ("11.0", "11.3"), ("11.3", "13.0"), ("10.9", "10.10"), ("11.0", "11.0.1")],
)
def test_versions_compare_numerically(older: str, newer: str) -> None:
    assert version_key(older) < version_key(newer)


def test_versions_compare_equal_whatever_their_length() -> None:
    assert version_key("11") == version_key("11.0") == version_key("11.0.0")


def test_binary_without_a_minimum_version_command_fails(zig: ZigCC, arm64: Path) -> None:
    binary = rewritten(arm64, zig.workdir / "hello-no-minos", drop_build_version)

    result = run_check(binary, darwin_target("aarch64"))

    assert result.status == "failed"
    assert result.problems == (
        "has no LC_BUILD_VERSION or LC_VERSION_MIN_MACOSX: its minimum macOS is unknown "
        "(the policy allows at most 11.0)",
    )
    assert result.facts["macos_min_required"] is None


def test_binary_for_another_platform_fails(zig: ZigCC, arm64: Path) -> None:
    binary = rewritten(arm64, zig.workdir / "hello-ios", build_for_ios)

    result = run_check(binary, darwin_target("aarch64"))

    assert result.problems == (
        "is built for iOS (LC_BUILD_VERSION platform 2), not macOS (platform 1)",
    )
    assert result.facts["slices"][0]["platform"] == "iOS"


# --- linked dylibs and search paths ---------------------------------------------------


def test_rpath_fails_naming_the_path(zig: ZigCC) -> None:
    binary = zig.build("hello-rpath", "aarch64-macos.11.0", HELLO_C, "-Wl,-rpath,/root/build/lib")

    result = run_check(binary, darwin_target("aarch64"))

    assert result.status == "failed"
    assert len(result.problems) == 1
    assert result.problems[0].startswith("LC_RPATH /root/build/lib is set")
    assert result.facts["slices"][0]["rpaths"] == ["/root/build/lib"]
    assert result.summary == "1 LC_RPATH set"


@pytest.fixture(scope="session")
def links(zig: ZigCC) -> Path:
    dylibs = {name: zig.dylib(name, install) for name, install in LINKED_DYLIBS.items()}
    # libhome is linked weakly (LC_LOAD_WEAK_DYLIB), the others normally.
    by_path = [str(path) for name, path in dylibs.items() if name != "home"]
    weak = (f"-L{zig.workdir}", "-Wl,-weak-lhome")
    return zig.build("hello-links", "aarch64-macos.11.0", LINKS_C, *by_path, *weak)


def test_every_non_system_dylib_is_named_with_its_command(links: Path) -> None:
    result = run_check(links, darwin_target("aarch64"))

    assert result.status == "failed"
    assert {p.split(") ")[0] + ")" for p in result.problems} == {
        "/System/Library/PrivateFrameworks/Secret.framework/Versions/A/Secret (LC_LOAD_DYLIB)",
        "/opt/homebrew/lib/libhome.dylib (LC_LOAD_WEAK_DYLIB)",
        "/root/build/lib/libbuild.dylib (LC_LOAD_DYLIB)",
        "@rpath/libbundled.dylib (LC_LOAD_DYLIB)",
    }
    assert len(result.problems) == 4
    assert result.summary == "4 dylibs not allowed"
    linked = {d["path"] for d in result.facts["slices"][0]["dylibs"]}
    assert linked == {"/usr/lib/libSystem.B.dylib", *LINKED_DYLIBS.values()}


def test_public_frameworks_and_usr_lib_are_allowed(links: Path) -> None:
    problems = run_check(links, darwin_target("aarch64")).problems

    assert not any("Fake.framework" in p or "libSystem" in p for p in problems)


@pytest.mark.parametrize(
    "path",
    [
        "/usr/lib/libSystem.B.dylib",
        "/usr/lib/libc++.1.dylib",
        "/usr/lib/swift/libswiftCore.dylib",
        "/System/Library/Frameworks/Security.framework/Versions/A/Security",
    ],
)
def test_system_dylibs_are_allowed(path: str) -> None:
    assert dylib_verdict(path) is None


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/usr/local/lib/libssl.3.dylib", "is not a system library"),
        ("/opt/homebrew/opt/openssl@3/lib/libssl.3.dylib", "is not a system library"),
        ("/home/ci/target/libfoo.dylib", "is not a system library"),
        ("/tmp/build/libfoo.dylib", "is not a system library"),
        ("/usr/lib/../local/lib/libfoo.dylib", "is not a system library"),
        ("/System/Library/PrivateFrameworks/X.framework/X", "is a private framework"),
        ("@loader_path/libfoo.dylib", "is found through @loader_path"),
        ("@executable_path/../Frameworks/Foo", "is found through @executable_path"),
        ("libfoo.dylib", "is not an absolute path"),
    ],
)
def test_other_dylibs_are_refused(path: str, why: str) -> None:
    verdict = dylib_verdict(path)

    assert verdict is not None and verdict.startswith(why)


# --- wrong or broken files ------------------------------------------------------------


def test_a_dylib_is_not_an_executable(zig: ZigCC) -> None:
    dylib = zig.dylib("fake", LINKED_DYLIBS["fake"])

    result = run_check(dylib, darwin_target("aarch64"))

    assert result.problems == ("filetype is MH_DYLIB but a base binary must be MH_EXECUTE",)
    assert result.summary == "not MH_EXECUTE"


def test_elf_file_is_a_clean_failure(tmp_path: Path) -> None:
    elf = Path(sys.executable).resolve()
    if elf.read_bytes()[:4] != b"\x7fELF":
        pytest.skip("the test Python is not an ELF file")

    result = run_check(elf, darwin_target("aarch64"))

    assert result.status == "failed"
    assert result.summary == "not a readable Mach-O file"
    assert result.problems == (f"{elf} is not a Mach-O file (starts with b'\\x7fELF')",)
    json.dumps(result.to_json())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is not a Mach-O file"),
        (b"\x00garbage bytes, not a binary\n" * 20, "is not a Mach-O file"),
        # A Java class file shares the fat magic; its version fields make an absurd count.
        (b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + b"\x00" * 64, "is not a Mach-O file"),
        (b"\xcf\xfa\xed\xfe" + b"\xff" * 60, "damaged Mach-O file"),
    ],
)
def test_garbage_is_a_clean_failure(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "binary"
    path.write_bytes(content)

    result = run_check(path, darwin_target("aarch64"))

    assert result.status == "failed"
    assert message in result.problems[0]
    assert result.facts["path"] == str(path)
    json.dumps(result.to_json())


@pytest.mark.parametrize(
    ("keep", "message"),
    [(100, "damaged Mach-O file"), (0.5, "is truncated"), (0.9, "is truncated")],
)
def test_truncated_macho_is_a_clean_failure(
    tmp_path: Path, arm64: Path, keep: float, message: str
) -> None:
    data = arm64.read_bytes()
    path = tmp_path / "truncated"
    path.write_bytes(data[: int(keep if keep >= 1 else len(data) * keep)])

    result = run_check(path, darwin_target("aarch64"))

    assert result.status == "failed"
    assert message in result.problems[0]


def test_truncated_universal_file_is_a_clean_failure(tmp_path: Path, universal2: Path) -> None:
    path = tmp_path / "truncated-fat"
    path.write_bytes(universal2.read_bytes()[:40000])

    result = run_check(path, darwin_target("universal2"))

    assert result.status == "failed"
    assert result.summary == "not a readable Mach-O file"


def test_missing_file_is_a_clean_failure(tmp_path: Path) -> None:
    result = run_check(tmp_path / "absent", darwin_target("aarch64"))

    assert result.status == "failed"
    assert "cannot read" in result.problems[0]


def test_read_macho_info_raises_its_own_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a binary\n")

    with pytest.raises(MachOReadError, match="not a Mach-O file"):
        read_macho_info(path)


# --- guessing the triple --------------------------------------------------------------


def test_guess_macho_triple(arm64: Path, x86_64: Path, universal2: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a binary\n")

    assert guess_macho_triple(arm64) == "aarch64-apple-darwin"
    assert guess_macho_triple(x86_64) == "x86_64-apple-darwin"
    assert guess_macho_triple(universal2) == "universal2-apple-darwin"
    assert guess_macho_triple(text) is None
    assert guess_macho_triple(Path(sys.executable).resolve()) is None
    assert looks_like_macho(arm64) and not looks_like_macho(text)


def test_guess_macho_triple_raises_for_a_damaged_macho(tmp_path: Path, arm64: Path) -> None:
    path = tmp_path / "truncated"
    path.write_bytes(arm64.read_bytes()[:100])

    with pytest.raises(MachOReadError):
        guess_macho_triple(path)


# --- the rest of the contract ---------------------------------------------------------


def test_facts_are_json_and_complete(universal2: Path) -> None:
    facts = run_check(universal2, darwin_target("universal2")).to_json()["facts"]

    assert json.loads(json.dumps(facts)) == facts
    assert set(facts) == {"slices", "macos_min_required", "policy_macos_min", "universal"}
    assert facts["macos_min_required"] == "11.0"
    assert facts["policy_macos_min"] == "11.0"
    libsystem = {"path": "/usr/lib/libSystem.B.dylib", "command": "LC_LOAD_DYLIB"}
    for piece in facts["slices"]:
        assert set(piece) == {
            "arch", "apple_arch", "cpu_type", "filetype", "platform", "minos", "minos_source",
            "sdk", "dylibs", "rpaths", "dylinker",
        }  # fmt: skip
        assert piece["filetype"] == "MH_EXECUTE"
        assert piece["platform"] == "macOS"
        assert piece["dylibs"] == [libsystem]
        assert piece["rpaths"] == []


def test_applies_to_macos_only() -> None:
    linux = Target(
        key="x86_64-unknown-linux-gnu",
        triple="x86_64-unknown-linux-gnu",
        arch="x86_64",
        os="linux",
        abi="gnu",
        backend="zig",
        glibc="2.36",
    )
    assert MachOCheck().applies_to(darwin_target("aarch64"))
    assert MachOCheck().applies_to(darwin_target("universal2"))
    assert not MachOCheck().applies_to(linux)


@pytest.mark.parametrize("macos_min", [None, "", "eleven"])
def test_darwin_target_without_a_usable_macos_min_is_a_config_error(
    arm64: Path, macos_min: str | None
) -> None:
    with pytest.raises(ConfigError):
        run_check(arm64, darwin_target("aarch64", macos_min))
