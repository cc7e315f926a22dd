"""The small artifacts, built the way the reference packer builds them.

- model_config: the reference's ModelConfig struct serialized from config.json:
  model_type (required), num_labels, id2label, label2id, height, width, image_size,
  num_channels, in that order, absent ones as null.
- tokenizer: {"tokenizer": <tokenizer.json>, "config": {"padding": PaddingParams,
  "truncation": TruncationParams}} with the HF tokenizers field names and enum spellings.
  Padding/truncation start from tokenizer_config.json when there is one (padding_side,
  pad_to_multiple_of, pad_token, pad_token_type_id, truncation_strategy, truncation_side,
  model_max_length or max_length, stride; pad_id is the pad token's id in tokenizer.json),
  else from tokenizer.json's own `padding`/`truncation`, else the library defaults; the
  build config's `tokenizer:` block then overrides single values.
- transform: a protobuf Transform {transform_type: LUA, transform: <trimmed source>,
  lua_libs}.

JSON is written compactly (no spaces), UTF-8, NaN refused; maps whose order the
reference leaves to a Rust HashMap (id2label, label2id) are sorted, so one input always
gives the same bytes.

Every function here reports problems by appending one line naming the file to a
`problems` list, so a build reports all of them at once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from efbuild.container.proto.encoderfile import manifest_pb2
from efbuild.packer.config import TokenizerOverrides, TransformSource

MODEL_CONFIG_FIELDS = ("model_type", "num_labels", "id2label", "label2id", "height", "width", "image_size",
                       "num_channels")
_OPTIONAL_INT_FIELDS = ("num_labels", "height", "width", "image_size", "num_channels")

# HF tokenizers' PaddingParams / TruncationParams defaults, fields in serialization order.
DEFAULT_PADDING = {"strategy": "BatchLongest", "direction": "Right", "pad_to_multiple_of": None, "pad_id": 0,
                   "pad_type_id": 0, "pad_token": "[PAD]"}
DEFAULT_TRUNCATION = {"direction": "Right", "max_length": 512, "strategy": "LongestFirst", "stride": 0}
DIRECTIONS = {"left": "Left", "right": "Right"}
TRUNCATION_STRATEGIES = {"longest_first": "LongestFirst", "only_first": "OnlyFirst", "only_second": "OnlySecond"}
# transformers writes this (int(1e30)) as model_max_length when a model has no limit.
_NO_LIMIT_THRESHOLD = 2**64
_POSTPROCESS_DEFINED = re.compile(r"\bfunction\s+Postprocess\s*\(|\bPostprocess\s*=\s*function\b")


def compact_json(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def read_text(path: Path, problems: list[str], *, missing_note: str = "") -> str | None:
    """A file's UTF-8 text, or None after recording why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(f"{path}: no such file{missing_note}")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}")
    return None


def load_json(path: Path, problems: list[str]) -> Any | None:
    """A JSON document, or None after recording why it cannot be read."""
    text = read_text(path, problems)
    if text is None:
        return None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        problems.append(f"{path}: not valid JSON: {exc}")
        return None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


# --- model_config ----------------------------------------------------------------------


def model_config_document(config: dict, path: Path, problems: list[str]) -> dict | None:
    """The reference's ModelConfig view of config.json, or None after recording problems."""
    before = len(problems)
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        problems.append(f"{path}: no model_type (a string such as \"bert\"); the runtime needs it")
    for field in _OPTIONAL_INT_FIELDS:
        value = config.get(field)
        if value is not None and not _is_count(value):
            problems.append(f"{path}: {field} must be a non-negative integer, found {value!r}")
    id2label = _id2label(config.get("id2label"), path, problems)
    label2id = _label2id(config.get("label2id"), path, problems)
    if len(problems) > before:
        return None
    document = {field: config.get(field) for field in MODEL_CONFIG_FIELDS}
    document["id2label"], document["label2id"] = id2label, label2id
    return document


def _id2label(value: Any, path: Path, problems: list[str]) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.append(f"{path}: id2label must be an object of id -> label")
        return None
    entries = []
    for key, label in value.items():
        if not str(key).isdigit() or not isinstance(label, str):
            problems.append(f"{path}: id2label entry {key!r}: {label!r} is not <non-negative integer>: <label>")
            return None
        entries.append((int(key), label))
    return {str(key): label for key, label in sorted(entries)}


def _label2id(value: Any, path: Path, problems: list[str]) -> dict[str, int] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(_is_count(class_id) for class_id in value.values()):
        problems.append(f"{path}: label2id must be an object of label -> non-negative integer id")
        return None
    return dict(sorted(value.items()))


def model_config_artifact(document: dict) -> bytes:
    return compact_json(document)


# --- tokenizer -------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenizerParams:
    padding: dict[str, Any]
    truncation: dict[str, Any]
    origin: str  # where padding/truncation came from, before the build config's overrides
    notes: tuple[str, ...] = ()  # what the user should know (defaults were used, ...)

    def config_document(self) -> dict[str, Any]:
        return {"padding": self.padding, "truncation": self.truncation}


def tokenizer_problems(tokenizer: Any, path: Path) -> list[str]:
    if not isinstance(tokenizer, dict) or not isinstance(tokenizer.get("model"), dict):
        return [f"{path}: not a Hugging Face tokenizer.json (no \"model\" object)"]
    return []


def tokenizer_params(tokenizer: dict, tokenizer_path: Path, tokenizer_config: dict | None,
                     tokenizer_config_path: Path | None, overrides: TokenizerOverrides,
                     problems: list[str]) -> TokenizerParams | None:
    """Padding and truncation as the reference derives them; None after recording problems."""
    before = len(problems)
    if tokenizer_config is not None and tokenizer_config_path is not None:
        base = _from_tokenizer_config(tokenizer_config, tokenizer_config_path, tokenizer, tokenizer_path,
                                      overrides, problems)
    else:
        base = _from_tokenizer_json(tokenizer, tokenizer_path, problems)
    if base is None or len(problems) > before:
        return None
    return _apply_overrides(base, overrides)


def tokenizer_artifact(tokenizer: dict, params: TokenizerParams) -> bytes:
    return compact_json({"tokenizer": tokenizer, "config": params.config_document()})


def token_id(tokenizer: dict, token: str) -> int | None:
    """The id HF tokenizers' token_to_id gives: added tokens first, then the model's vocabulary."""
    for added in tokenizer.get("added_tokens") or []:
        if isinstance(added, dict) and added.get("content") == token and _is_count(added.get("id")):
            return added["id"]
    vocab = (tokenizer.get("model") or {}).get("vocab")
    if isinstance(vocab, dict):
        found = vocab.get(token)
        return found if _is_count(found) else None
    if isinstance(vocab, list):  # Unigram: [[piece, score], ...], the id is the index
        return next((index for index, entry in enumerate(vocab)
                     if isinstance(entry, list) and entry and entry[0] == token), None)
    return None


def _from_tokenizer_config(config: Any, path: Path, tokenizer: dict, tokenizer_path: Path,
                           overrides: TokenizerOverrides, problems: list[str]) -> TokenizerParams | None:
    if not isinstance(config, dict):
        problems.append(f"{path}: must be a JSON object")
        return None
    padding, truncation = dict(DEFAULT_PADDING), dict(DEFAULT_TRUNCATION)
    _read_padding_fields(config, path, padding, problems)
    _read_truncation_fields(config, path, truncation, overrides, problems)
    pad_id = token_id(tokenizer, padding["pad_token"])
    if pad_id is None:
        problems.append(f"{path}: pad_token {padding['pad_token']!r} is not in {tokenizer_path}'s vocabulary")
    else:
        padding["pad_id"] = pad_id
    return TokenizerParams(padding=padding, truncation=truncation, origin=str(path))


def _read_padding_fields(config: dict, path: Path, padding: dict, problems: list[str]) -> None:
    # A key present with null counts as present (and wrong), as in the reference, except
    # pad_to_multiple_of, whose null means "no multiple".
    if "padding_side" in config:
        side = config["padding_side"]
        if side in DIRECTIONS:
            padding["direction"] = DIRECTIONS[side]
        else:
            problems.append(f"{path}: padding_side must be \"left\" or \"right\", found {side!r}")
    if "pad_to_multiple_of" in config:
        multiple = config["pad_to_multiple_of"]
        if multiple is None or _is_count(multiple):
            padding["pad_to_multiple_of"] = multiple
        else:
            problems.append(f"{path}: pad_to_multiple_of must be a non-negative integer or null, found {multiple!r}")
    if "pad_token" in config:
        token = _token_text(config["pad_token"])
        if token is None:
            problems.append(f"{path}: pad_token must be a string, found {config['pad_token']!r}")
        else:
            padding["pad_token"] = token
    if "pad_token_type_id" in config:
        type_id = config["pad_token_type_id"]
        if _is_count(type_id):
            padding["pad_type_id"] = type_id
        else:
            problems.append(f"{path}: pad_token_type_id must be a non-negative integer, found {type_id!r}")


def _read_truncation_fields(config: dict, path: Path, truncation: dict, overrides: TokenizerOverrides,
                            problems: list[str]) -> None:
    if "truncation_strategy" in config:
        strategy = config["truncation_strategy"]
        if strategy in TRUNCATION_STRATEGIES:
            truncation["strategy"] = TRUNCATION_STRATEGIES[strategy]
        else:
            problems.append(f"{path}: truncation_strategy must be one of {', '.join(TRUNCATION_STRATEGIES)}, "
                            f"found {strategy!r}")
    if "truncation_side" in config:
        side = config["truncation_side"]
        if side in DIRECTIONS:
            truncation["direction"] = DIRECTIONS[side]
        else:
            problems.append(f"{path}: truncation_side must be \"left\" or \"right\", found {side!r}")
    _read_max_length(config, path, truncation, overrides, problems)
    if "stride" in config:
        if _is_count(config["stride"]):
            truncation["stride"] = config["stride"]
        else:
            problems.append(f"{path}: stride must be a non-negative integer, found {config['stride']!r}")


def _read_max_length(config: dict, path: Path, truncation: dict, overrides: TokenizerOverrides,
                     problems: list[str]) -> None:
    """model_max_length (or max_length) is required by the reference: it bounds every input."""
    key = next((key for key in ("model_max_length", "max_length") if key in config), None)
    if key is None:
        if overrides.max_length is None:
            problems.append(f"{path}: has neither model_max_length nor max_length; "
                            "set encoderfile.tokenizer.max_length")
        return
    value = config[key]
    if not _is_count(value):
        problems.append(f"{path}: {key} must be a non-negative integer, found {value!r}")
    elif value >= _NO_LIMIT_THRESHOLD:
        # transformers' "no limit" marker; the reference cannot read it. An explicit
        # max_length in the build config makes it irrelevant.
        if overrides.max_length is None:
            problems.append(f"{path}: {key} {value} means \"no limit\"; set encoderfile.tokenizer.max_length "
                            "to the longest input the model accepts (e.g. max_position_embeddings)")
    else:
        truncation["max_length"] = value


def _token_text(value: Any) -> str | None:
    """A token as a string; old tokenizer_config.json files store an AddedToken object instead."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    return None


def _from_tokenizer_json(tokenizer: dict, path: Path, problems: list[str]) -> TokenizerParams | None:
    """No tokenizer_config.json: tokenizer.json's own settings, else the library defaults."""
    notes = []
    padding, truncation = tokenizer.get("padding"), tokenizer.get("truncation")
    if padding is None:
        padding = dict(DEFAULT_PADDING)
        notes.append(f"{path} has no padding settings and there is no tokenizer_config.json: "
                     f"using the defaults ({_describe_padding(padding)})")
        default_id = token_id(tokenizer, padding["pad_token"])
        if default_id != padding["pad_id"]:
            notes.append(f"the default pad token {padding['pad_token']} is id {default_id} in {path}, not "
                         f"{padding['pad_id']}; add a tokenizer_config.json with pad_token to fix")
    else:
        padding = _normalized_padding(padding, path, problems)
    if truncation is None:
        truncation = dict(DEFAULT_TRUNCATION)
        notes.append(f"{path} has no truncation settings: using the defaults (max_length "
                     f"{truncation['max_length']}, LongestFirst, right)")
    else:
        truncation = _normalized_truncation(truncation, path, problems)
    if padding is None or truncation is None:
        return None
    return TokenizerParams(padding=padding, truncation=truncation, origin=str(path), notes=tuple(notes))


def _normalized_padding(padding: Any, path: Path, problems: list[str]) -> dict | None:
    """tokenizer.json's padding object in PaddingParams field order, every field checked."""
    if not isinstance(padding, dict):
        problems.append(f"{path}: padding must be an object or null")
        return None
    checks = {
        "strategy": lambda v: v == "BatchLongest" or (isinstance(v, dict) and list(v) == ["Fixed"]
                                                      and _is_count(v["Fixed"])),
        "direction": lambda v: v in ("Left", "Right"),
        "pad_to_multiple_of": lambda v: v is None or _is_count(v),
        "pad_id": _is_count,
        "pad_type_id": _is_count,
        "pad_token": lambda v: isinstance(v, str),
    }
    return _checked_fields(padding, checks, path, "padding", problems, optional=("pad_to_multiple_of",))


def _normalized_truncation(truncation: Any, path: Path, problems: list[str]) -> dict | None:
    if not isinstance(truncation, dict):
        problems.append(f"{path}: truncation must be an object or null")
        return None
    checks = {
        "direction": lambda v: v in ("Left", "Right"),
        "max_length": _is_count,
        "strategy": lambda v: v in TRUNCATION_STRATEGIES.values(),
        "stride": _is_count,
    }
    # Older tokenizer.json files have no direction; the library then truncates on the right.
    with_default = {"direction": "Right", **truncation}
    return _checked_fields(with_default, checks, path, "truncation", problems, optional=())


def _checked_fields(document: dict, checks: dict, path: Path, where: str, problems: list[str], *,
                    optional: tuple[str, ...]) -> dict | None:
    before = len(problems)
    for field, valid in checks.items():
        if field not in document and field not in optional:
            problems.append(f"{path}: {where}.{field} is missing")
        elif not valid(document.get(field)):
            problems.append(f"{path}: {where}.{field} has an invalid value {document[field]!r}")
    if len(problems) > before:
        return None
    return {field: document.get(field) for field in checks}


def _apply_overrides(params: TokenizerParams, overrides: TokenizerOverrides) -> TokenizerParams:
    padding, truncation = dict(params.padding), dict(params.truncation)
    if overrides.pad_strategy is not None:
        fixed = overrides.pad_strategy.fixed
        padding["strategy"] = "BatchLongest" if fixed is None else {"Fixed": fixed}
    if overrides.truncation_side is not None:
        truncation["direction"] = DIRECTIONS[overrides.truncation_side]
    if overrides.truncation_strategy is not None:
        truncation["strategy"] = TRUNCATION_STRATEGIES[overrides.truncation_strategy]
    if overrides.max_length is not None:
        truncation["max_length"] = overrides.max_length
    if overrides.stride is not None:
        truncation["stride"] = overrides.stride
    return TokenizerParams(padding=padding, truncation=truncation, origin=params.origin, notes=params.notes)


def _describe_padding(padding: dict) -> str:
    return (f"{padding['strategy']}, {padding['direction'].lower()}, "
            f"pad token {padding['pad_token']} id {padding['pad_id']}")


# --- transform -------------------------------------------------------------------------


def read_transform(source: TransformSource, problems: list[str]) -> str | None:
    """The Lua source, trimmed as the reference trims it; None after recording a problem."""
    if source.path is not None:
        text = read_text(source.path, problems, missing_note=" (encoderfile.transform.path)")
        if text is None:
            return None
    else:
        text = source.inline or ""
    text = text.strip()
    if not text:
        problems.append(f"{source.origin}: the transform is empty")
        return None
    return text


def transform_problems(text: str, source: TransformSource, *, validate: bool) -> list[str]:
    """The reference insists on a Postprocess function unless validate_transform is false.

    It also dry-runs the Lua; this packer has no Lua interpreter, so only the function's
    presence is checked here.
    """
    if not validate or _POSTPROCESS_DEFINED.search(text):
        return []
    return [f"{source.origin}: the transform defines no Postprocess function "
            "(set encoderfile.validate_transform: false to pack it anyway)"]


def transform_artifact(text: str, lua_libs: tuple[str, ...] | None) -> bytes:
    transform = manifest_pb2.Transform(transform_type=manifest_pb2.LUA, transform=text)
    if lua_libs is not None:
        transform.lua_libs.CopyFrom(manifest_pb2.LuaLibs(libs=list(lua_libs)))
    return transform.SerializeToString(deterministic=True)


def _is_count(value: Any) -> bool:
    """A non-negative integer, and not a bool (which Python counts as an int)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
