"""encoderfile.yml -> frozen dataclasses.

The schema is the reference packer's (see /work/shared/reference/encoderfile-format.md):

    encoderfile:
      name: my-model                  # required
      version: "0.1.0"
      path: ./model-dir               # or a map of model_config_path, model_weights_path, ...
      model_type: embedding           # required
      output_path / target / base_binary_path / cache_dir
      transform: "lua source" | {path: file.lua}
      lua_libs: [string, table]       # reference key: Lua stdlibs the transform may use
      validate_transform: true        # reference key
      tokenizer: {pad_strategy, truncation_side, truncation_strategy, max_length, stride}

Where the reference silently accepts mistakes (unknown keys, duplicate keys, a float
version), this loader refuses them: every problem in the file is reported, one line
each, naming the file and the dotted key, with a did-you-mean hint for misspellings.
Relative paths are relative to the working directory, as the reference resolves them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from efbuild.container import MODEL_TYPES
from efbuild.hints import did_you_mean
from efbuild.packer.errors import PackerConfigError, problems_error

TOP_LEVEL_KEY = "encoderfile"
CONFIG_KEYS = ("name", "version", "path", "model_type", "output_path", "target", "base_binary_path",
               "cache_dir", "transform", "lua_libs", "validate_transform", "tokenizer")
PATH_MAP_KEYS = ("model_config_path", "model_weights_path", "tokenizer_path", "tokenizer_config_path")
REQUIRED_PATH_MAP_KEYS = PATH_MAP_KEYS[:3]
TOKENIZER_KEYS = ("pad_strategy", "truncation_side", "truncation_strategy", "max_length", "stride")
TRANSFORM_MAP_KEYS = ("path",)
PAD_STRATEGY_KEYS = ("fixed",)
BATCH_LONGEST = "batch_longest"
TRUNCATION_SIDES = ("left", "right")
TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second")
# The Lua standard libraries the reference runtime lets a transform opt into.
LUA_LIBS = ("coroutine", "table", "io", "os", "string", "utf8", "math", "package", "debug")
# The reference's default for encoderfile.version (informational only).
DEFAULT_VERSION = "0.1.0"

# File names inside a model directory (the `path: DIR` form).
MODEL_CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"


@dataclass(frozen=True)
class ModelFiles:
    """Where the model's files are; existence is checked later, with the other model problems."""

    model_config: Path
    weights: Path
    tokenizer: Path
    tokenizer_config: Path | None  # optional: padding/truncation then come from tokenizer.json
    directory: Path | None = None  # set for the `path: DIR` form


@dataclass(frozen=True)
class PadStrategy:
    fixed: int | None = None  # None: pad each batch to its longest sequence

    @property
    def batch_longest(self) -> bool:
        return self.fixed is None


@dataclass(frozen=True)
class TokenizerOverrides:
    """The `tokenizer:` block: each value set here beats tokenizer_config.json and tokenizer.json."""

    pad_strategy: PadStrategy | None = None
    truncation_side: str | None = None  # left | right
    truncation_strategy: str | None = None  # longest_first | only_first | only_second
    max_length: int | None = None
    stride: int | None = None


@dataclass(frozen=True)
class TransformSource:
    """Lua post-processing: inline source or a file; exactly one is set."""

    inline: str | None = None
    path: Path | None = None

    @property
    def origin(self) -> str:
        return str(self.path) if self.path is not None else "inline transform"


@dataclass(frozen=True)
class EncoderfileConfig:
    source: Path  # the encoderfile.yml this came from
    name: str
    version: str
    model_type: str  # a key of efbuild.container.MODEL_TYPES
    files: ModelFiles
    output_path: Path | None = None
    target: str | None = None
    base_binary_path: Path | None = None
    cache_dir: Path | None = None
    transform: TransformSource | None = None
    lua_libs: tuple[str, ...] | None = None
    validate_transform: bool = True
    tokenizer: TokenizerOverrides = TokenizerOverrides()


def load_config(path: Path | str, *, cwd: Path | None = None) -> EncoderfileConfig:
    """Parse encoderfile.yml; PackerConfigError listing every problem found."""
    source = Path(path)
    document = _read_yaml(source)
    problems = _Problems(source)
    config = _parse_document(document, problems, Path.cwd() if cwd is None else cwd)
    if problems.lines or config is None:
        raise problems_error(PackerConfigError, problems.lines, what=str(source))
    return config


# --- reading -------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, which PyYAML would silently let the last one win."""


def _construct_mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # an unhashable key: construct_mapping reports it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping_without_duplicates)


def _read_yaml(source: Path) -> Any:
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PackerConfigError(f"{source}: no such file",
                                hint="pass the build config with -f encoderfile.yml") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PackerConfigError(f"{source}: cannot read: {getattr(exc, 'strerror', None) or exc}") from exc
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        raise PackerConfigError(f"{source}:{_yaml_position(exc)} {_yaml_problem(exc)}") from None
    except yaml.YAMLError as exc:
        raise PackerConfigError(f"{source}: not valid YAML: {' '.join(str(exc).split())}") from None


def _yaml_position(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    return f"{mark.line + 1}:{mark.column + 1}:" if mark else ""


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    parts = [part for part in (exc.context, exc.problem) if part]
    return "not valid YAML: " + " ".join(" ".join(parts).split())


# --- parsing -------------------------------------------------------------------------


class _Problems:
    def __init__(self, source: Path):
        self.source = source
        self.lines: list[str] = []

    def add(self, where: str, text: str) -> None:
        self.lines.append(f"{self.source}: {where}: {text}")

    def unknown_keys(self, mapping: dict, known: tuple[str, ...], prefix: str) -> None:
        for key in mapping:
            if key not in known:
                hint = did_you_mean(str(key), known)
                suggestion = f" ({hint})" if hint else f"; known keys: {', '.join(known)}"
                self.lines.append(f"{self.source}: unknown key '{prefix}.{key}'{suggestion}")


def _parse_document(document: Any, problems: _Problems, cwd: Path) -> EncoderfileConfig | None:
    if document is None:
        problems.lines.append(f"{problems.source}: is empty; expected a top-level '{TOP_LEVEL_KEY}:' mapping")
        return None
    if not isinstance(document, dict):
        problems.lines.append(f"{problems.source}: expected a top-level '{TOP_LEVEL_KEY}:' mapping, "
                              f"found {_type_name(document)}")
        return None
    for key in document:
        if key != TOP_LEVEL_KEY:
            hint = did_you_mean(str(key), (TOP_LEVEL_KEY,))
            problems.lines.append(f"{problems.source}: unknown top-level key '{key}'" + (f" ({hint})" if hint else "")
                                  + f"; the file holds one '{TOP_LEVEL_KEY}:' mapping")
    body = document.get(TOP_LEVEL_KEY)
    if not isinstance(body, dict):
        problems.add(TOP_LEVEL_KEY, "missing, or not a mapping" if body is None else
                     f"expected a mapping, found {_type_name(body)}")
        return None
    return _parse_encoderfile(body, problems, cwd)


def _parse_encoderfile(body: dict, problems: _Problems, cwd: Path) -> EncoderfileConfig | None:
    problems.unknown_keys(body, CONFIG_KEYS, TOP_LEVEL_KEY)
    name = _required_string(body, "name", problems)
    if name is not None and ("/" in name or name in (".", "..")):
        problems.add("encoderfile.name", f"'{name}' names the default output file <name>.encoderfile; "
                                         "it cannot contain '/' or be '.' or '..'")
    version = _optional_string(body, "version", problems, quote_hint=True) or DEFAULT_VERSION
    model_type = _model_type(body, problems)
    files = _model_files(body.get("path"), problems, cwd)
    config = dict(
        output_path=_optional_path(body, "output_path", problems, cwd),
        target=_optional_string(body, "target", problems),
        base_binary_path=_optional_path(body, "base_binary_path", problems, cwd),
        cache_dir=_optional_path(body, "cache_dir", problems, cwd),
        transform=_transform(body.get("transform"), problems, cwd),
        lua_libs=_lua_libs(body.get("lua_libs"), problems),
        validate_transform=_optional_bool(body, "validate_transform", problems, default=True),
        tokenizer=_tokenizer_overrides(body.get("tokenizer"), problems),
    )
    if name is None or model_type is None or files is None:
        return None
    return EncoderfileConfig(source=problems.source, name=name, version=version, model_type=model_type,
                             files=files, **config)


def _model_type(body: dict, problems: _Problems) -> str | None:
    value = _required_string(body, "model_type", problems)
    if value is None or value in MODEL_TYPES:
        return value
    hint = did_you_mean(value, MODEL_TYPES)
    problems.add("encoderfile.model_type", f"'{value}' is not a model type" + (f" ({hint})" if hint else "")
                 + f"; expected one of {', '.join(MODEL_TYPES)}")
    return None


def _model_files(value: Any, problems: _Problems, cwd: Path) -> ModelFiles | None:
    where = "encoderfile.path"
    if value is None:
        problems.add(where, "missing: give the model directory, or a map of "
                            f"{', '.join(REQUIRED_PATH_MAP_KEYS)} (and optionally tokenizer_config_path)")
        return None
    if isinstance(value, str) and value:
        directory = _resolve(value, cwd)
        tokenizer_config = directory / TOKENIZER_CONFIG_FILE
        return ModelFiles(model_config=directory / MODEL_CONFIG_FILE, weights=directory / WEIGHTS_FILE,
                          tokenizer=directory / TOKENIZER_FILE,
                          tokenizer_config=tokenizer_config if tokenizer_config.is_file() else None,
                          directory=directory)
    if isinstance(value, dict):
        return _model_files_from_map(value, problems, cwd)
    problems.add(where, f"expected a directory or a map of file paths, found {_type_name(value)}")
    return None


def _model_files_from_map(value: dict, problems: _Problems, cwd: Path) -> ModelFiles | None:
    problems.unknown_keys(value, PATH_MAP_KEYS, "encoderfile.path")
    paths = {key: _optional_path(value, key, problems, cwd, prefix="encoderfile.path") for key in PATH_MAP_KEYS}
    missing = [key for key in REQUIRED_PATH_MAP_KEYS if paths[key] is None and key not in _present_keys(value)]
    for key in missing:
        problems.add(f"encoderfile.path.{key}", "missing (required in the map form of path)")
    if any(paths[key] is None for key in REQUIRED_PATH_MAP_KEYS):
        return None
    return ModelFiles(model_config=paths["model_config_path"], weights=paths["model_weights_path"],
                      tokenizer=paths["tokenizer_path"], tokenizer_config=paths["tokenizer_config_path"])


def _present_keys(mapping: dict) -> set:
    """Keys present with a value; a key given as null is reported by the value check, not as missing."""
    return {key for key, value in mapping.items() if value is not None}


def _transform(value: Any, problems: _Problems, cwd: Path) -> TransformSource | None:
    where = "encoderfile.transform"
    if value is None:
        return None
    if isinstance(value, str):
        return TransformSource(inline=value)
    if isinstance(value, dict):
        problems.unknown_keys(value, TRANSFORM_MAP_KEYS, where)
        path = _optional_path(value, "path", problems, cwd, prefix=where)
        if path is None and "path" not in _present_keys(value):
            problems.add(where, "a transform map needs 'path: file.lua'")
        return TransformSource(path=path) if path is not None else None
    problems.add(where, f"expected Lua source (a string) or {{path: file.lua}}, found {_type_name(value)}")
    return None


def _lua_libs(value: Any, problems: _Problems) -> tuple[str, ...] | None:
    where = "encoderfile.lua_libs"
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.add(where, f"expected a list of library names ({', '.join(LUA_LIBS)})")
        return None
    for item in value:
        if item not in LUA_LIBS:
            hint = did_you_mean(item, LUA_LIBS)
            problems.add(where, f"'{item}' is not a Lua library the runtime offers" + (f" ({hint})" if hint else "")
                         + f"; expected some of {', '.join(LUA_LIBS)}")
    return tuple(value)


def _tokenizer_overrides(value: Any, problems: _Problems) -> TokenizerOverrides:
    where = "encoderfile.tokenizer"
    if value is None:
        return TokenizerOverrides()
    if not isinstance(value, dict):
        problems.add(where, f"expected a mapping of {', '.join(TOKENIZER_KEYS)}, found {_type_name(value)}")
        return TokenizerOverrides()
    problems.unknown_keys(value, TOKENIZER_KEYS, where)
    return TokenizerOverrides(
        pad_strategy=_pad_strategy(value.get("pad_strategy"), problems),
        truncation_side=_choice(value, "truncation_side", TRUNCATION_SIDES, problems, prefix=where),
        truncation_strategy=_choice(value, "truncation_strategy", TRUNCATION_STRATEGIES, problems, prefix=where),
        max_length=_optional_int(value, "max_length", problems, minimum=1, prefix=where),
        stride=_optional_int(value, "stride", problems, minimum=0, prefix=where),
    )


def _pad_strategy(value: Any, problems: _Problems) -> PadStrategy | None:
    where = "encoderfile.tokenizer.pad_strategy"
    expected = f"expected {BATCH_LONGEST} or {{fixed: N}}"
    if value is None:
        return None
    if value == BATCH_LONGEST:
        return PadStrategy()
    if isinstance(value, dict):
        problems.unknown_keys(value, PAD_STRATEGY_KEYS, where)
        fixed = _optional_int(value, "fixed", problems, minimum=1, prefix=where)
        if fixed is None and "fixed" not in _present_keys(value):
            problems.add(where, expected)
        return PadStrategy(fixed=fixed) if fixed is not None else None
    hint = did_you_mean(value, (BATCH_LONGEST,)) if isinstance(value, str) else None
    problems.add(where, f"{value!r} is not a pad strategy" + (f" ({hint})" if hint else "") + f"; {expected}")
    return None


# --- typed values ----------------------------------------------------------------------


def _required_string(body: dict, key: str, problems: _Problems) -> str | None:
    if body.get(key) is None:
        problems.add(f"{TOP_LEVEL_KEY}.{key}", "missing (required)")
        return None
    return _optional_string(body, key, problems)


def _optional_string(mapping: dict, key: str, problems: _Problems, *, prefix: str = TOP_LEVEL_KEY,
                     quote_hint: bool = False) -> str | None:
    value = mapping.get(key)
    if value is None:
        return None
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, str):
        problems.add(f"{prefix}.{key}", "is empty")
    else:
        # YAML turns `version: 0.10` into the float 0.1: refuse rather than guess.
        hint = f'; quote it: {key}: "{value}"' if quote_hint and isinstance(value, (int, float)) else ""
        problems.add(f"{prefix}.{key}", f"expected a string, found {_type_name(value)}{hint}")
    return None


def _optional_path(mapping: dict, key: str, problems: _Problems, cwd: Path, *,
                   prefix: str = TOP_LEVEL_KEY) -> Path | None:
    text = _optional_string(mapping, key, problems, prefix=prefix)
    return None if text is None else _resolve(text, cwd)


def _optional_bool(mapping: dict, key: str, problems: _Problems, *, default: bool) -> bool:
    value = mapping.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    problems.add(f"{TOP_LEVEL_KEY}.{key}", f"expected true or false, found {_type_name(value)}")
    return default


def _optional_int(mapping: dict, key: str, problems: _Problems, *, minimum: int, prefix: str) -> int | None:
    value = mapping.get(key)
    if value is None:
        return None
    # bool is an int in Python; `max_length: yes` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        problems.add(f"{prefix}.{key}", f"expected an integer >= {minimum}, found {value!r}")
        return None
    return value


def _choice(mapping: dict, key: str, choices: tuple[str, ...], problems: _Problems, *, prefix: str) -> str | None:
    value = mapping.get(key)
    if value is None:
        return None
    if isinstance(value, str) and value in choices:
        return value
    hint = did_you_mean(value, choices) if isinstance(value, str) else None
    problems.add(f"{prefix}.{key}", f"{value!r} is not one of {', '.join(choices)}" + (f" ({hint})" if hint else ""))
    return None


def _resolve(text: str, cwd: Path) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else cwd / path


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number"}.get(type(value), type(value).__name__)
