"""Build backends, by name. Adding one means adding a module and a line here."""

from __future__ import annotations

from efbuild.backends.base import Backend, BuildRequest, Unavailable
from efbuild.backends.native import NativeBackend
from efbuild.backends.zig import ZigBackend
from efbuild.errors import ConfigError
from efbuild.hints import did_you_mean

REGISTRY: dict[str, Backend] = {
    backend.name: backend for backend in (ZigBackend(), NativeBackend())
}


def get_backend(name: str) -> Backend:
    try:
        return REGISTRY[name]
    except KeyError:
        hint = did_you_mean(name, set(REGISTRY)) or f"backends: {', '.join(sorted(REGISTRY))}"
        raise ConfigError(f"unknown backend '{name}'", hint=hint) from None


__all__ = ["Backend", "BuildRequest", "Unavailable", "REGISTRY", "get_backend"]
