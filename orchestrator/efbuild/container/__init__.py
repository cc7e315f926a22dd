"""The encoderfile container format: the one place its bytes are defined in Python.

    base binary | manifest (protobuf) | artifacts in field order | 32-byte footer

`write_encoderfile` packs one; `read_encoderfile` parses one strictly and raises
`ContainerError` (with a `kind` from ERROR_KINDS) for anything malformed.
"""

from efbuild.container.errors import ERROR_KINDS, ContainerError
from efbuild.container.footer import FOOTER_SIZE, FORMAT_VERSION, MAGIC, Footer
from efbuild.container.manifest import ARTIFACT_KINDS, MODEL_TYPE_NAMES, MODEL_TYPES, ArtifactEntry
from efbuild.container.reader import ArtifactCheck, Container, read_artifact, read_encoderfile, verify_artifacts
from efbuild.container.writer import ArtifactSource, WriteResult, write_encoderfile

__all__ = [
    "ARTIFACT_KINDS",
    "ERROR_KINDS",
    "FOOTER_SIZE",
    "FORMAT_VERSION",
    "MAGIC",
    "MODEL_TYPES",
    "MODEL_TYPE_NAMES",
    "ArtifactCheck",
    "ArtifactEntry",
    "ArtifactSource",
    "Container",
    "ContainerError",
    "Footer",
    "WriteResult",
    "read_artifact",
    "read_encoderfile",
    "verify_artifacts",
    "write_encoderfile",
]
