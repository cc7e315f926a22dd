"""Every failure kind the `encoderfile` packer reports, each with its own exit code.

They extend efbuild's scheme (errors.py: 2 config ... 8 cache, 9 container) with the
packer's own kinds from 10 up, so a script can tell a bad model from a missing base
binary without parsing text. A failure that found several problems at once (a model
with a bad ONNX file *and* a bad config.json) carries them all in `details`, one line
each, so the user fixes everything in one round.
"""

from __future__ import annotations

from efbuild.errors import EfbuildError


class PackerError(EfbuildError):
    exit_code = 1
    kind = "packer"

    def __init__(self, message: str, *, hint: str | None = None, details: tuple[str, ...] | list[str] = ()):
        super().__init__(message, hint=hint)
        self.details = tuple(details)


class PackerConfigError(PackerError):
    """encoderfile.yml (or a command-line option) is missing, malformed or names unknown keys."""

    exit_code = 2
    kind = "config"


class ModelError(PackerError):
    """The model files (config.json, model.onnx, tokenizer*.json, transform) are unusable."""

    exit_code = 10
    kind = "model"


class BaseBinaryError(PackerError):
    """No usable base binary: missing, not executable, wrong architecture, already packed, changed."""

    exit_code = 11
    kind = "base-binary"


class DownloadError(PackerError):
    """Fetching or verifying a released base binary failed; nothing was cached."""

    exit_code = 12
    kind = "download"


class OutputError(PackerError):
    """The encoderfile could not be written where it was asked to go."""

    exit_code = 13
    kind = "output"


def problems_error(cls: type[PackerError], problems: list[str], *, what: str,
                   hint: str | None = None) -> PackerError:
    """One error for a list of problems: the only one as the message, or a count plus details."""
    if len(problems) == 1:
        return cls(problems[0], hint=hint)
    return cls(f"{len(problems)} problems in {what}:", hint=hint, details=problems)
