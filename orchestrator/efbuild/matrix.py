"""The target matrix: defaults, then targets/*.toml, then environment, then command line.

Every setting of a resolved `Target` remembers where its value came from, so that
`efbuild targets show` can explain it.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from efbuild.errors import ConfigError
from efbuild.hints import did_you_mean
from efbuild.policies import load_policy
from efbuild.target import SmokeRun, Target
from efbuild.triples import Triple, parse_glibc_version, parse_triple

TARGET_KEYS = frozenset(
    {"triple", "arch", "os", "abi", "official", "description", "backend", "glibc",
     "macos_min", "static", "smoke", "rustflags"}
)
SMOKE_KEYS = frozenset({"args", "expect_exit", "expect_output"})
ABI_SECTIONS = ("gnu", "musl", "darwin")
ENV_OVERRIDES = {"backend": "EFBUILD_BACKEND", "glibc": "EFBUILD_GLIBC", "macos_min": "EFBUILD_MACOS_MIN"}


@dataclass(frozen=True)
class Overrides:
    """What the command line says about every selected target."""

    backend: str | None = None
    glibc: str | None = None
    macos_min: str | None = None


def _reject_unknown_keys(table: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            hint = did_you_mean(key, allowed) or f"known keys: {', '.join(sorted(allowed))}"
            raise ConfigError(f"{where}: unknown key '{key}'", hint=hint)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc


def _load_defaults() -> dict[str, Any]:
    text = resources.files("efbuild.data").joinpath("target-defaults.toml").read_text()
    return tomllib.loads(text)


def abi_of(triple: Triple) -> str:
    if triple.os == "darwin":
        return "darwin"
    if triple.env in ("gnu", "musl"):
        return triple.env
    raise ConfigError(
        f"efbuild cannot build '{triple.cargo}': only linux-gnu, linux-musl and apple-darwin triples are supported"
    )


def _check_backend(name: str, origin: str) -> None:
    from efbuild.backends import REGISTRY  # backends import the matrix's users, not the reverse

    if name not in REGISTRY:
        hint = did_you_mean(name, REGISTRY) or f"backends: {', '.join(sorted(REGISTRY))}"
        raise ConfigError(f"unknown backend '{name}' (from {origin})", hint=hint)


class _Layer:
    """Collects values with their origin as the cascade is applied."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.origin: dict[str, str] = {}

    def apply(self, table: Mapping[str, Any], origin: str) -> None:
        for key, value in table.items():
            if value is not None:
                self.values[key] = value
                self.origin[key] = origin


def _defaults_for(abi: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
    base = {k: v for k, v in defaults.items() if k not in ABI_SECTIONS}
    base.update(defaults.get(abi, {}))
    return base


def _parse_smoke(raw: Any, where: str) -> tuple[SmokeRun, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: 'smoke' must be an array of tables ([[smoke]])")
    runs = []
    for index, entry in enumerate(raw):
        here = f"{where}: smoke[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{here}: must be a table")
        _reject_unknown_keys(entry, SMOKE_KEYS, here)
        args, expect_exit = entry.get("args", []), entry.get("expect_exit", 0)
        output = entry.get("expect_output", [])
        if not (isinstance(args, list) and all(isinstance(a, str) for a in args)):
            raise ConfigError(f"{here}: 'args' must be a list of strings")
        if not isinstance(expect_exit, int) or isinstance(expect_exit, bool):
            raise ConfigError(f"{here}: 'expect_exit' must be an integer")
        if not (isinstance(output, list) and all(isinstance(o, str) for o in output)):
            raise ConfigError(f"{here}: 'expect_output' must be a list of strings")
        runs.append(SmokeRun(tuple(args), expect_exit, tuple(output)))
    return tuple(runs)


def _expect_type(values: Mapping[str, Any], key: str, kind: type, where: str) -> None:
    if key in values and not isinstance(values[key], kind):
        raise ConfigError(f"{where}: '{key}' must be a {kind.__name__}, not {values[key]!r}")


def _validate_consistency(triple: Triple, values: Mapping[str, Any], where: str) -> None:
    derived = {"arch": triple.arch, "os": triple.family, "abi": abi_of(triple)}
    for key, expected in derived.items():
        if key in values and values[key] != expected:
            raise ConfigError(
                f"{where}: '{key}' is '{values[key]}' but triple {triple.cargo} means '{expected}'"
            )
    for key in ("official", "static"):
        _expect_type(values, key, bool, where)
    for key in ("backend", "description", "glibc", "macos_min"):
        _expect_type(values, key, str, where)
    flags = values.get("rustflags", [])
    if not (isinstance(flags, list) and all(isinstance(f, str) for f in flags)):
        raise ConfigError(f"{where}: 'rustflags' must be a list of strings")


def _build_key(triple: Triple, glibc: str | None, macos_min: str | None, file_floor: Mapping[str, Any]) -> str:
    """A floor other than the file's own is a different build of the same triple."""
    key = triple.cargo
    if glibc is not None and glibc != file_floor.get("glibc"):
        key += f".{glibc}"
    if macos_min is not None and macos_min != file_floor.get("macos_min"):
        key += f".macos-{macos_min}"
    return key


def _finish(triple: Triple, layer: _Layer, file_floor: Mapping[str, Any]) -> Target:
    values, abi = layer.values, abi_of(triple)
    glibc = parse_glibc_version(values["glibc"]) if abi == "gnu" and "glibc" in values else None
    if glibc is not None:
        load_policy(glibc)  # a floor without a policy could never be checked
    _check_backend(values["backend"], layer.origin.get("backend", "default"))
    macos_min = values.get("macos_min") if abi == "darwin" else None
    if macos_min is not None and not re.fullmatch(r"\d+(\.\d+){0,2}", str(macos_min)):
        raise ConfigError(f"'{macos_min}' is not a macOS version", hint="macOS versions look like 11.0 or 13.3")
    return Target(
        key=_build_key(triple, glibc, macos_min, file_floor),
        triple=triple.cargo,
        arch=triple.arch,
        os=triple.family,
        abi=abi,
        backend=values["backend"],
        glibc=glibc,
        macos_min=macos_min,
        static=bool(values.get("static", False)) if abi == "musl" else False,
        official=bool(values.get("official", False)),
        description=values.get("description", ""),
        smoke=values["smoke"],
        rustflags=tuple(values.get("rustflags", ())),
        origin=dict(layer.origin),
    )


@dataclass(frozen=True)
class TargetFile:
    path: Path
    triple: Triple
    values: Mapping[str, Any]


class Matrix:
    """All target files of a project, resolvable into `Target`s."""

    def __init__(self, targets_dir: Path):
        self.targets_dir = targets_dir
        self.defaults = _load_defaults()
        self.files = self._load_files()

    def _load_files(self) -> dict[str, TargetFile]:
        if not self.targets_dir.is_dir():
            raise ConfigError(f"no target matrix at {self.targets_dir}")
        files: dict[str, TargetFile] = {}
        for path in sorted(self.targets_dir.rglob("*.toml")):
            entry = self._load_file(path)
            if entry.triple.cargo in files:
                raise ConfigError(
                    f"{path}: triple {entry.triple.cargo} is already defined by {files[entry.triple.cargo].path}"
                )
            files[entry.triple.cargo] = entry
        return files

    @staticmethod
    def _load_file(path: Path) -> TargetFile:
        raw = _read_toml(path)
        _reject_unknown_keys(raw, TARGET_KEYS, str(path))
        if "triple" not in raw:
            raise ConfigError(f"{path}: missing key 'triple'", hint=f"add: triple = \"{path.stem}\"")
        triple = parse_triple(str(raw["triple"]))
        if triple.glibc:
            raise ConfigError(f"{path}: write the glibc floor as glibc = \"{triple.glibc}\", not as a triple suffix")
        _validate_consistency(triple, raw, str(path))
        values = dict(raw)
        if "smoke" in values:
            values["smoke"] = _parse_smoke(values["smoke"], str(path))
        return TargetFile(path=path, triple=triple, values=MappingProxyType(values))

    def official(self) -> list[str]:
        return [t for t, f in self.files.items() if f.values.get("official", False)]

    def custom(self) -> list[str]:
        return [t for t, f in self.files.items() if not f.values.get("official", False)]

    def resolve(self, name: str, overrides: Overrides = Overrides(),
                environ: Mapping[str, str] | None = None) -> Target:
        """Resolve one triple (file-backed or not) through the whole cascade."""
        environ = os.environ if environ is None else environ
        triple = parse_triple(name)
        file = self.files.get(triple.cargo)
        layer = _Layer()
        defaults = _defaults_for(abi_of(triple), self.defaults)
        defaults["smoke"] = _parse_smoke(defaults.get("smoke", []), "built-in defaults")
        layer.apply(defaults, "default")
        if file is not None:
            layer.apply(file.values, f"file:{file.path}")
        for key, var in ENV_OVERRIDES.items():
            layer.apply({key: environ.get(var) or None}, f"env:{var}")
        layer.apply({"glibc": triple.glibc}, "command line (triple suffix)")
        layer.apply(
            {"backend": overrides.backend, "glibc": overrides.glibc, "macos_min": overrides.macos_min},
            "command line",
        )
        source = file.values if file else {}
        file_floor = {k: source.get(k, defaults.get(k)) for k in ("glibc", "macos_min")}
        return _finish(triple, layer, file_floor)

    def select(self, names: list[str], *, all_official: bool, include_custom: bool) -> list[str]:
        """The triples a command acts on, in matrix order, without duplicates."""
        chosen: list[str] = []
        if all_official:
            chosen += self.official()
        if include_custom:
            chosen += self.custom()
        chosen += names
        seen: set[str] = set()
        return [n for n in chosen if not (n in seen or seen.add(n))]
