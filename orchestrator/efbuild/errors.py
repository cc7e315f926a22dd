"""Every failure kind efbuild reports, each with its own exit code.

The CLI catches `EfbuildError` at the top and prints `error: <message>` (plus the
hint, when there is one) instead of a traceback; the exit code tells scripts which
kind of failure it was.
"""

from __future__ import annotations


class EfbuildError(Exception):
    exit_code = 1
    kind = "error"

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(EfbuildError):
    """A target file, policy, option or environment value is malformed or unknown."""

    exit_code = 2
    kind = "config"


class ToolchainUnavailable(EfbuildError):
    """This machine lacks what a requested build needs."""

    exit_code = 3
    kind = "toolchain"


class BuildFailed(EfbuildError):
    """cargo (or the backend around it) failed or produced nothing."""

    exit_code = 4
    kind = "build"


class CheckFailed(EfbuildError):
    """A built binary did not pass a check; it is not published."""

    exit_code = 5
    kind = "check"


class NothingToDo(EfbuildError):
    """The command was asked to act on builds that do not exist."""

    exit_code = 6
    kind = "nothing-to-do"


class PublishError(EfbuildError):
    exit_code = 7
    kind = "publish"


class CacheError(EfbuildError):
    exit_code = 8
    kind = "cache"
