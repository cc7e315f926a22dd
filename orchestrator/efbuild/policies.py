"""glibc policies: which symbol versions and libraries a binary for glibc 2.NN may need.

The policies are packaged data (data/policies/glibc-2.NN.toml, generated from
data/glibc-releases.toml by tools/gen_glibc_policies.py). A requirement is judged by
set membership, never by comparing against a maximum version: GLIBC_PRIVATE must fail
every policy, GLIBC_ABI_DT_RELR exists only from 2.36 on, and a tag such as GLIBC_2.2.5
exists on x86_64 but never on aarch64; a "highest version" comparison gets all three wrong.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from types import MappingProxyType
from typing import Any

from efbuild.errors import ConfigError

_POLICY_FILE = re.compile(r"^glibc-(2\.\d+)\.toml$")
_GLIBC_VERSION = re.compile(r"^2\.\d+$")
# glibc-internal interfaces: no policy may allow them, whatever a data file says.
NEVER_ALLOWED = frozenset({"GLIBC_PRIVATE"})


def split_tag(tag: str) -> tuple[str, str]:
    """`GLIBC_2.17` -> (`GLIBC`, `2.17`); `CXXABI_TM_1` -> (`CXXABI`, `TM_1`)."""
    prefix, _, version = tag.partition("_")
    return prefix, version


@dataclass(frozen=True)
class GlibcPolicy:
    glibc: str
    # arch -> prefix (GLIBC, GLIBCXX, CXXABI, GCC) -> allowed full tags such as "GLIBC_2.17"
    symbol_versions: Mapping[str, Mapping[str, frozenset[str]]]
    allowed_libraries: frozenset[str]

    def allows(self, arch: str, tag: str) -> bool:
        if tag in NEVER_ALLOWED:
            return False
        prefix, version = split_tag(tag)
        if not version:
            return False
        allowed = self.symbol_versions.get(arch, {}).get(prefix)
        return allowed is not None and tag in allowed

    def allows_library(self, soname: str) -> bool:
        return soname in self.allowed_libraries

    @property
    def arches(self) -> tuple[str, ...]:
        return tuple(sorted(self.symbol_versions))


def _policies_dir() -> Traversable:
    return resources.files("efbuild").joinpath("data", "policies")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def available_policies() -> list[str]:
    """glibc versions with a packaged policy, oldest first (2.9 before 2.17)."""
    versions = []
    for entry in _policies_dir().iterdir():
        match = _POLICY_FILE.match(entry.name)
        if match:
            versions.append(match.group(1))
    return sorted(versions, key=_version_key)


def load_policy(glibc: str) -> GlibcPolicy:
    """The policy for glibc `glibc` ("2.17"); ConfigError naming the choices if none."""
    return _load_policy(str(glibc).strip())


@functools.cache
def _load_policy(glibc: str) -> GlibcPolicy:
    entry = _policies_dir().joinpath(f"glibc-{glibc}.toml")
    if not _GLIBC_VERSION.match(glibc) or not entry.is_file():
        raise ConfigError(
            f"no glibc policy for '{glibc}'",
            hint="available glibc policies: " + ", ".join(available_policies()),
        )
    try:
        document = tomllib.loads(entry.read_text(encoding="utf-8"))
        return _policy_from_document(document, expected_glibc=glibc)
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"glibc policy file {entry.name} is malformed: {exc}",
            hint="regenerate it with: python tools/gen_glibc_policies.py",
        ) from exc


def _policy_from_document(document: dict[str, Any], *, expected_glibc: str) -> GlibcPolicy:
    if document["glibc"] != expected_glibc:
        raise ValueError(f"it declares glibc {document['glibc']!r}")
    symbol_versions = MappingProxyType(
        {
            arch: MappingProxyType({prefix: frozenset(tags) for prefix, tags in prefixes.items()})
            for arch, prefixes in document["symbol_versions"].items()
        }
    )
    return GlibcPolicy(
        glibc=document["glibc"],
        symbol_versions=symbol_versions,
        allowed_libraries=frozenset(document["allowed_libraries"]),
    )
