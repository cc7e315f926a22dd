"""`encoderfile build`: check every input, find the base binary, write the encoderfile.

Nothing is written until every model file has been checked, and all problems found are
reported together. The base binary is resolved (and possibly downloaded) only after the
model passed, so a typo in config.json never costs a download. The output appears
whole or not at all: write_encoderfile writes a temp file beside it and renames it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from efbuild import __version__
from efbuild.container import (MODEL_TYPES, ArtifactEntry, ArtifactSource, ContainerError, WriteResult,
                               read_encoderfile, write_encoderfile)
from efbuild.packer import assets, onnx_check
from efbuild.packer.base_binary import (BaseBinaryRequest, ResolvedBaseBinary, resolve_base_binary,
                                        validate_target, validate_version)
from efbuild.packer.config import EncoderfileConfig, ModelFiles
from efbuild.packer.errors import ModelError, OutputError, PackerConfigError, problems_error
from efbuild.settings import default_cache_dir
from efbuild.triples import host_triple

CACHE_DIR_ENV = "ENCODERFILE_CACHE_DIR"
OUTPUT_SUFFIX = ".encoderfile"
# The runtime crate's version is the default release to pack onto. The packer may run
# outside the checkout (no runtime-crate/Cargo.toml to read), so it uses efbuild's own
# version, which is kept equal to the crate's (both 0.1.0).
DEFAULT_RUNTIME_VERSION = __version__


@dataclass(frozen=True)
class BuildOptions:
    """Everything a build needs, each value already chosen: command line > config > env > default."""

    config: EncoderfileConfig
    output: Path
    base: BaseBinaryRequest


def resolve_build_options(config: EncoderfileConfig, *, output: str | None = None, target: str | None = None,
                          base_binary_path: str | None = None, cache_dir: str | None = None,
                          runtime_version: str | None = None, no_download: bool = False,
                          environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> BuildOptions:
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    chosen_cache, cache_from_user = _cache_dir(cache_dir, config, environ, cwd)
    explicit_base = _absolute(base_binary_path, cwd) if base_binary_path else config.base_binary_path
    request = BaseBinaryRequest(
        target=validate_target(target or config.target or host_triple()),
        version=validate_version(runtime_version or DEFAULT_RUNTIME_VERSION),
        cache_dir=chosen_cache, cache_dir_from_user=cache_from_user,
        explicit_path=explicit_base, no_download=no_download)
    out = _absolute(output, cwd) if output else (config.output_path or cwd / f"{config.name}{OUTPUT_SUFFIX}")
    return BuildOptions(config=config, output=out, base=request)


def _cache_dir(option: str | None, config: EncoderfileConfig, environ: Mapping[str, str], cwd: Path
               ) -> tuple[Path, bool]:
    if option:
        return _absolute(option, cwd), True
    if config.cache_dir is not None:
        return config.cache_dir, True
    if environ.get(CACHE_DIR_ENV):
        return _absolute(environ[CACHE_DIR_ENV], cwd), False
    return default_cache_dir(), False


def _absolute(text: str, cwd: Path) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else cwd / path


# --- the model -------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedModel:
    """Checked artifacts, ready to pack."""

    model_type: str
    artifacts: tuple[ArtifactSource, ...]
    tokenizer_origin: str
    notes: tuple[str, ...] = ()


@dataclass
class _Findings:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def prepare_model(config: EncoderfileConfig) -> PreparedModel:
    """Check every model input; ModelError listing all problems, or the artifacts."""
    if config.model_type not in onnx_check.EXPECTED_OUTPUTS:
        raise PackerConfigError(f"{config.source}: encoderfile.model_type {config.model_type} is not supported "
                                "by this packer yet (text models only: "
                                f"{', '.join(onnx_check.EXPECTED_OUTPUTS)})")
    findings = _Findings()
    if not _files_exist(config.files, findings.problems):
        raise problems_error(ModelError, findings.problems, what="the model files")
    model_config = _model_config(config, findings)
    tokenizer_bytes, tokenizer_origin = _tokenizer(config, findings)
    _check_weights(config, model_config, findings)
    transform_bytes = _transform(config, findings)
    if findings.problems:
        raise problems_error(ModelError, findings.problems, what="the model files")
    artifacts = [ArtifactSource("weights", path=config.files.weights),
                 ArtifactSource("model_config", data=assets.model_config_artifact(model_config)),
                 ArtifactSource("tokenizer", data=tokenizer_bytes)]
    if transform_bytes is not None:
        artifacts.append(ArtifactSource("transform", data=transform_bytes))
    return PreparedModel(model_type=config.model_type, artifacts=tuple(artifacts),
                         tokenizer_origin=tokenizer_origin, notes=tuple(findings.notes))


def _files_exist(files: ModelFiles, problems: list[str]) -> bool:
    if files.directory is not None and not files.directory.is_dir():
        problems.append(f"{files.directory}: no such model directory (encoderfile.path)")
        return False
    required = {"model config": files.model_config, "model weights": files.weights, "tokenizer": files.tokenizer}
    if files.tokenizer_config is not None:
        required["tokenizer config"] = files.tokenizer_config
    for what, path in required.items():
        if not path.is_file():
            problems.append(f"{path}: no such file (the {what})")
    return not problems


def _model_config(config: EncoderfileConfig, findings: _Findings) -> dict | None:
    document = assets.load_json(config.files.model_config, findings.problems)
    if document is None:
        return None
    if not isinstance(document, dict):
        findings.problems.append(f"{config.files.model_config}: must be a JSON object")
        return None
    return assets.model_config_document(document, config.files.model_config, findings.problems)


def _tokenizer(config: EncoderfileConfig, findings: _Findings) -> tuple[bytes | None, str]:
    files = config.files
    tokenizer = assets.load_json(files.tokenizer, findings.problems)
    if tokenizer is not None:
        shape_problems = assets.tokenizer_problems(tokenizer, files.tokenizer)
        findings.problems.extend(shape_problems)
        tokenizer = None if shape_problems else tokenizer
    tokenizer_config = None
    if files.tokenizer_config is not None:
        tokenizer_config = assets.load_json(files.tokenizer_config, findings.problems)
        if tokenizer_config is None:
            return None, ""
    if tokenizer is None:
        return None, ""
    params = assets.tokenizer_params(tokenizer, files.tokenizer, tokenizer_config, files.tokenizer_config,
                                     config.tokenizer, findings.problems)
    if params is None:
        return None, ""
    findings.notes.extend(params.notes)
    return assets.tokenizer_artifact(tokenizer, params), params.origin


def _check_weights(config: EncoderfileConfig, model_config: dict | None, findings: _Findings) -> None:
    try:
        summary = onnx_check.read_onnx_summary(config.files.weights)
    except onnx_check.OnnxReadError as exc:
        findings.problems.append(str(exc))
        return
    findings.problems.extend(onnx_check.output_problems(summary, config.model_type))
    if model_config is not None:
        findings.problems.extend(onnx_check.label_problems(summary, config.model_type, model_config,
                                                           config.files.model_config))


def _transform(config: EncoderfileConfig, findings: _Findings) -> bytes | None:
    if config.transform is None:
        if config.lua_libs is not None:
            findings.notes.append(f"{config.source}: lua_libs has no effect without a transform")
        return None
    text = assets.read_transform(config.transform, findings.problems)
    if text is None:
        return None
    problems = assets.transform_problems(text, config.transform, validate=config.validate_transform)
    findings.problems.extend(problems)
    return None if problems else assets.transform_artifact(text, config.lua_libs)


# --- the build -------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildResult:
    output: Path
    size: int
    name: str
    version: str
    model_type: str
    base: ResolvedBaseBinary
    artifacts: tuple[ArtifactEntry, ...]
    tokenizer_origin: str
    notes: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"output": str(self.output), "size": self.size, "name": self.name, "version": self.version,
                "model_type": self.model_type, "target": self.base.target, "base_binary": self.base.to_json(),
                "tokenizer_settings_from": self.tokenizer_origin, "notes": list(self.notes),
                "artifacts": {entry.kind: entry.as_dict() for entry in self.artifacts}}


def build(options: BuildOptions, *, log: Callable[[str], None] = lambda _: None) -> BuildResult:
    config = options.config
    prepared = prepare_model(config)
    log(f"model files checked: {config.model_type}, tokenizer settings from {prepared.tokenizer_origin}")
    _check_output_location(options.output)
    base = resolve_base_binary(options.base, log=log)
    log(f"base binary ({base.source}): {base.path}")
    _refuse_overwriting_inputs(options.output, [base.path, *_input_paths(config)])
    written = _write(options.output, base, prepared, config)
    return BuildResult(output=written.path, size=written.file_length, name=config.name, version=config.version,
                       model_type=config.model_type, base=base, artifacts=tuple(written.artifacts),
                       tokenizer_origin=prepared.tokenizer_origin, notes=prepared.notes)


def _check_output_location(output: Path) -> None:
    if not output.parent.is_dir():
        raise OutputError(f"cannot write {output}: directory {output.parent} does not exist")
    if output.is_dir():
        raise OutputError(f"cannot write {output}: it is a directory",
                          hint=f"give a file name, e.g. -o {output / ('model' + OUTPUT_SUFFIX)}")


def _input_paths(config: EncoderfileConfig) -> list[Path]:
    files = config.files
    paths = [files.model_config, files.weights, files.tokenizer, files.tokenizer_config, config.source]
    if config.transform is not None:
        paths.append(config.transform.path)
    return [path for path in paths if path is not None]


def _refuse_overwriting_inputs(output: Path, inputs: list[Path]) -> None:
    # The rename would replace an input after it was read: never what anyone meant.
    if not output.exists():
        return
    for path in inputs:
        if path.exists() and os.path.samefile(output, path):
            raise OutputError(f"refusing to write {output}: it is one of the build's inputs ({path})")


def _write(output: Path, base: ResolvedBaseBinary, prepared: PreparedModel, config: EncoderfileConfig
           ) -> WriteResult:
    try:
        written = write_encoderfile(base.path, list(prepared.artifacts), model_type=MODEL_TYPES[config.model_type],
                                    name=config.name, version=config.version, out=output)
    except (OSError, ValueError) as exc:
        raise OutputError(f"cannot write {output}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        read_encoderfile(output, verify=False)  # cheap: footer and manifest only
    except ContainerError as exc:
        output.unlink(missing_ok=True)
        raise OutputError(f"{output} did not read back ({exc.message}); removed it") from None
    return written
