"""Does model.onnx fit the declared model type?

The reference packer opens the model with onnxruntime and requires, by model type, an
output named `last_hidden_state` of rank 3 (embedding, sentence_embedding) or `logits`
of rank 2 (sequence_classification) or 3 (token_classification). This module checks the
same from the ONNX graph's declared outputs with the `onnx` package, without loading
external data or running anything, and goes further: classifiers need an id2label
table that fits the logits, and weights stored outside model.onnx are refused (an
encoderfile carries model.onnx only, so the runtime would never find them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

# model_type -> (output name, rank) the runtime reads.
EXPECTED_OUTPUTS: dict[str, tuple[str, int]] = {
    "embedding": ("last_hidden_state", 3),
    "sentence_embedding": ("last_hidden_state", 3),
    "sequence_classification": ("logits", 2),
    "token_classification": ("logits", 3),
}
CLASSIFIERS = ("sequence_classification", "token_classification")

Dim = int | str | None  # a size, a symbolic name (batch_size), or unknown


class OnnxReadError(Exception):
    """The file is not a readable ONNX model; the message is one line naming it."""


@dataclass(frozen=True)
class OnnxOutput:
    name: str
    dims: tuple[Dim, ...] | None  # None: the output declares no tensor shape

    @property
    def rank(self) -> int | None:
        return None if self.dims is None else len(self.dims)

    def describe(self) -> str:
        if self.dims is None:
            return f"{self.name} (no declared shape)"
        return f"{self.name} [{', '.join('?' if d is None else str(d) for d in self.dims)}]"


@dataclass(frozen=True)
class OnnxSummary:
    path: Path
    ir_version: int
    outputs: tuple[OnnxOutput, ...]
    external_tensors: tuple[str, ...]  # initializers whose bytes live in other files

    def output(self, name: str) -> OnnxOutput | None:
        return next((output for output in self.outputs if output.name == name), None)


def read_onnx_summary(path: Path) -> OnnxSummary:
    """The declared outputs of an ONNX model; OnnxReadError if it is not one."""
    import onnx  # imported here: only `build` needs it, and it pulls in numpy

    try:
        # format="protobuf": onnx would otherwise guess the format from the file name.
        model = onnx.load(str(path), format="protobuf", load_external_data=False)
    except OSError as exc:
        raise OnnxReadError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 - protobuf backends raise different types for bad bytes
        raise OnnxReadError(f"{path}: not an ONNX model (protobuf parse failed: {_one_line(exc)})") from None
    # Protobuf parses many non-ONNX byte strings "successfully" into an empty message;
    # a real model always names its IR version and declares graph outputs.
    if model.ir_version <= 0 or not model.HasField("graph") or not model.graph.output:
        raise OnnxReadError(f"{path}: not an ONNX model (no IR version or no graph outputs)")
    return OnnxSummary(path=Path(path), ir_version=model.ir_version,
                       outputs=tuple(_output(value_info) for value_info in model.graph.output),
                       external_tensors=_external_tensors(model.graph))


def _output(value_info: Any) -> OnnxOutput:
    value_type = value_info.type
    if value_type.WhichOneof("value") != "tensor_type" or not value_type.tensor_type.HasField("shape"):
        return OnnxOutput(name=value_info.name, dims=None)
    return OnnxOutput(name=value_info.name, dims=tuple(_dim(dim) for dim in value_type.tensor_type.shape.dim))


def _dim(dim: Any) -> Dim:
    kind = dim.WhichOneof("value")
    if kind == "dim_value":
        return int(dim.dim_value)
    if kind == "dim_param":
        return dim.dim_param or None
    return None


def _external_tensors(graph: Any) -> tuple[str, ...]:
    import onnx

    return tuple(tensor.name for tensor in graph.initializer if tensor.data_location == onnx.TensorProto.EXTERNAL)


def output_problems(summary: OnnxSummary, model_type: str) -> list[str]:
    """What keeps this model from running as `model_type`; empty when it fits."""
    problems = []
    if summary.external_tensors:
        names = ", ".join(summary.external_tensors[:3]) + (", ..." if len(summary.external_tensors) > 3 else "")
        problems.append(f"{summary.path}: {len(summary.external_tensors)} tensors ({names}) are stored in external "
                        "data files, which an encoderfile cannot carry; re-export the model as a single file")
    expected = EXPECTED_OUTPUTS.get(model_type)
    if expected is None:
        return problems + [f"{summary.path}: model_type {model_type} has no ONNX output check in this packer"]
    name, rank = expected
    output = summary.output(name)
    found = ", ".join(o.describe() for o in summary.outputs)
    if output is None:
        problems.append(f"{summary.path}: model_type {model_type} needs an output named '{name}' of rank {rank}; "
                        f"the model's outputs are: {found}")
    elif output.rank != rank:
        problems.append(f"{summary.path}: model_type {model_type} needs output '{name}' of rank {rank}; "
                        f"the model declares {output.describe()}")
    return problems


def label_problems(summary: OnnxSummary, model_type: str, model_config: dict, config_path: Path) -> list[str]:
    """Classifiers name their classes with config.json's id2label; it must fit the logits."""
    if model_type not in CLASSIFIERS:
        return []
    id2label = model_config.get("id2label")
    if not isinstance(id2label, dict) or not id2label:
        return [f"{config_path}: model_type {model_type} needs an id2label table naming each class"]
    ids = _label_ids(id2label)
    if ids is None:
        return []  # malformed tables are reported by the model_config checks
    problems = []
    if ids != set(range(len(ids))):
        problems.append(f"{config_path}: id2label ids must be 0..{len(ids) - 1}, found {sorted(ids)}")
    classes = _logits_classes(summary, model_type)
    if classes is not None and classes != len(ids):
        problems.append(f"{config_path}: id2label names {len(ids)} classes but {summary.path.name}'s logits "
                        f"have {classes}")
    num_labels = model_config.get("num_labels")
    if isinstance(num_labels, int) and not isinstance(num_labels, bool) and num_labels != len(ids):
        problems.append(f"{config_path}: num_labels is {num_labels} but id2label names {len(ids)} classes")
    return problems


def _label_ids(id2label: dict) -> set[int] | None:
    try:
        return {int(key) for key in id2label}
    except (TypeError, ValueError):
        return None


def _logits_classes(summary: OnnxSummary, model_type: str) -> int | None:
    """The logits' last dimension when the model declares it as a number."""
    output = summary.output(EXPECTED_OUTPUTS[model_type][0])
    if output is None or not output.dims:
        return None
    last = output.dims[-1]
    return last if isinstance(last, int) and last > 0 else None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
