"""A resolved build target: one row of the matrix with every setting decided."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SmokeRun:
    """One execution of a built binary and what it must show.

    `expect_output` entries are substrings looked for in stdout+stderr; `{version}`
    and `{triple}` in them are replaced by the runtime version and cargo triple.
    """

    args: tuple[str, ...]
    expect_exit: int
    expect_output: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    key: str  # unique name of this build: the triple, plus `.X.Y` for a custom glibc floor
    triple: str  # what cargo knows (no glibc suffix)
    arch: str  # x86_64 | aarch64 | universal2
    os: str  # linux | macos
    abi: str  # gnu | musl | darwin
    backend: str
    glibc: str | None = None  # policy and link floor for -gnu targets
    macos_min: str | None = None  # LC_BUILD_VERSION minos ceiling for darwin targets
    static: bool = False
    official: bool = False
    description: str = ""
    smoke: tuple[SmokeRun, ...] = ()
    rustflags: tuple[str, ...] = ()  # extra rustc flags for this target's own code and std
    # setting name -> where its value came from: default, file:<path>, command line, env:<VAR>
    origin: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def is_linux(self) -> bool:
        return self.os == "linux"

    @property
    def is_darwin(self) -> bool:
        return self.os == "macos"
