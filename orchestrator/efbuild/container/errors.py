"""The one exception the container reader raises, whatever the bytes.

`kind` is a contract shared with the Rust reader (see tests/vectors/README.md): both
readers must classify every malformed file into the same kind, so the list and the
order in which the reader checks them must not change casually.
"""

from __future__ import annotations

from efbuild.errors import EfbuildError

# In the order the reader checks them; the first failing check names the kind.
ERROR_KINDS = (
    "truncated",
    "no_payload",
    "unsupported_version",
    "missing_protobuf_flag",
    "manifest_out_of_bounds",
    "bad_manifest",
    "artifact_out_of_bounds",
    "artifact_overlap",
    "sha256_mismatch",
)


class ContainerError(EfbuildError):
    """A file is not a well-formed encoderfile; `kind` says which check failed."""

    exit_code = 9

    def __init__(self, kind: str, message: str, *, hint: str | None = None):
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown container error kind {kind!r}")
        super().__init__(message, hint=hint)
        self.kind = kind
