"""The packer's inputs: encoderfile.yml parsing, the model_config / tokenizer / transform
artifacts for the real fixture models, and the ONNX checks. Fast: nothing is packed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from efbuild.container.proto.encoderfile import manifest_pb2
from efbuild.packer import assets, onnx_check
from efbuild.packer.build import prepare_model
from efbuild.packer.config import (EncoderfileConfig, ModelFiles, PadStrategy, TokenizerOverrides, TransformSource,
                                   load_config)
from efbuild.packer.errors import ModelError, PackerConfigError

MODELS = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "models"
MODEL_TYPES = ("embedding", "sentence_embedding", "sequence_classification", "token_classification")

pytestmark = pytest.mark.skipif(not MODELS.is_dir(), reason=f"fixture models not found at {MODELS}")


def write_config(directory: Path, text: str, name: str = "encoderfile.yml") -> Path:
    path = directory / name
    path.write_text(text)
    return path


def config_error(path: Path, cwd: Path | None = None) -> str:
    with pytest.raises(PackerConfigError) as caught:
        load_config(path, cwd=cwd)
    return "\n".join([caught.value.message, *caught.value.details])


def fixture_config(model: str, model_type: str | None = None, **overrides) -> EncoderfileConfig:
    directory = MODELS / model
    files = ModelFiles(model_config=directory / "config.json", weights=directory / "model.onnx",
                       tokenizer=directory / "tokenizer.json",
                       tokenizer_config=directory / "tokenizer_config.json", directory=directory)
    fields = dict(source=Path("encoderfile.yml"), name="test-model", version="0.1.0",
                  model_type=model_type or model, files=files)
    return EncoderfileConfig(**{**fields, **overrides})


def copy_model(tmp_path: Path, model: str) -> Path:
    directory = tmp_path / model
    shutil.copytree(MODELS / model, directory)
    for path in directory.iterdir():
        path.chmod(0o644)  # the fixtures are read-only; copies get edited
    return directory


# --- encoderfile.yml --------------------------------------------------------------------


def test_directory_form_relative_to_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    shutil.copytree(MODELS / "embedding", tmp_path / "models" / "emb")
    path = write_config(tmp_path, "encoderfile:\n  name: emb\n  path: models/emb\n  model_type: embedding\n")
    monkeypatch.chdir(tmp_path)
    config = load_config("encoderfile.yml")
    assert (config.name, config.version, config.model_type) == ("emb", "0.1.0", "embedding")
    assert config.files.directory == tmp_path / "models" / "emb"
    assert config.files.weights == tmp_path / "models" / "emb" / "model.onnx"
    assert config.files.tokenizer_config == tmp_path / "models" / "emb" / "tokenizer_config.json"
    assert config.source == Path("encoderfile.yml") and path.exists()
    assert config.tokenizer == TokenizerOverrides() and config.transform is None and config.validate_transform


def test_directory_without_tokenizer_config_leaves_it_optional(tmp_path: Path):
    model = copy_model(tmp_path, "embedding")
    (model / "tokenizer_config.json").unlink()
    path = write_config(tmp_path, f"encoderfile:\n  name: e\n  path: {model}\n  model_type: embedding\n")
    assert load_config(path).files.tokenizer_config is None


def test_map_form_and_every_option(tmp_path: Path):
    model = MODELS / "sequence_classification"
    path = write_config(tmp_path, f"""
encoderfile:
  name: classifier
  version: "2.0.0"
  model_type: sequence_classification
  path:
    model_config_path: {model}/config.json
    model_weights_path: {model}/model.onnx
    tokenizer_path: {model}/tokenizer.json
  output_path: out/classifier.encoderfile
  target: aarch64-unknown-linux-gnu
  base_binary_path: bin/encoderfile-runtime
  cache_dir: cache
  transform: {{path: post.lua}}
  lua_libs: [string, table]
  validate_transform: false
  tokenizer:
    pad_strategy: {{fixed: 128}}
    truncation_side: left
    truncation_strategy: only_first
    max_length: 256
    stride: 16
""")
    config = load_config(path, cwd=tmp_path)
    assert config.files == ModelFiles(model_config=model / "config.json", weights=model / "model.onnx",
                                      tokenizer=model / "tokenizer.json", tokenizer_config=None)
    assert config.output_path == tmp_path / "out" / "classifier.encoderfile"
    assert config.base_binary_path == tmp_path / "bin" / "encoderfile-runtime"
    assert config.cache_dir == tmp_path / "cache"
    assert (config.target, config.version) == ("aarch64-unknown-linux-gnu", "2.0.0")
    assert config.transform == TransformSource(path=tmp_path / "post.lua")
    assert config.lua_libs == ("string", "table") and config.validate_transform is False
    assert config.tokenizer == TokenizerOverrides(pad_strategy=PadStrategy(fixed=128), truncation_side="left",
                                                  truncation_strategy="only_first", max_length=256, stride=16)


def test_batch_longest_and_inline_transform(tmp_path: Path):
    path = write_config(tmp_path, "encoderfile:\n  name: e\n  path: m\n  model_type: embedding\n"
                                  "  transform: |\n    function Postprocess(x) return x end\n"
                                  "  tokenizer:\n    pad_strategy: batch_longest\n")
    config = load_config(path, cwd=tmp_path)
    assert config.tokenizer.pad_strategy == PadStrategy() and config.tokenizer.pad_strategy.batch_longest
    assert config.transform.inline.startswith("function Postprocess")


def test_unknown_keys_are_named_with_the_file_and_a_hint(tmp_path: Path):
    path = write_config(tmp_path, "encoderfile:\n  name: e\n  path: m\n  model_type: embedding\n"
                                  "  outptu_path: x\n  tokenizer:\n    max_lenght: 3\nencoderfiel: {}\n")
    text = config_error(path)
    assert "3 problems" in text
    assert f"{path}: unknown key 'encoderfile.outptu_path' (did you mean 'output_path'?)" in text
    assert f"{path}: unknown key 'encoderfile.tokenizer.max_lenght' (did you mean 'max_length'?)" in text
    assert f"{path}: unknown top-level key 'encoderfiel' (did you mean 'encoderfile'?)" in text


def test_unknown_key_in_the_path_map(tmp_path: Path):
    path = write_config(tmp_path, "encoderfile:\n  name: e\n  model_type: embedding\n  path:\n"
                                  "    model_config_path: c\n    model_weights_path: w\n    tokenizer_pth: t\n")
    text = config_error(path)
    assert "unknown key 'encoderfile.path.tokenizer_pth' (did you mean 'tokenizer_path'?)" in text
    assert "encoderfile.path.tokenizer_path: missing" in text


def test_missing_name(tmp_path: Path):
    path = write_config(tmp_path, "encoderfile:\n  path: m\n  model_type: embedding\n")
    assert config_error(path) == f"{path}: encoderfile.name: missing (required)"


def test_bad_model_type_gets_a_hint(tmp_path: Path):
    path = write_config(tmp_path, "encoderfile:\n  name: e\n  path: m\n  model_type: sentence_embeding\n")
    text = config_error(path)
    assert text.startswith(f"{path}: encoderfile.model_type: 'sentence_embeding' is not a model type")
    assert "did you mean 'sentence_embedding'?" in text


@pytest.mark.parametrize("body, expected", [
    ("  version: 0.10\n", 'quote it: version: "0.1"'),
    ("  tokenizer:\n    pad_strategy: longest\n", "expected batch_longest or {fixed: N}"),
    ("  tokenizer:\n    pad_strategy: {fixed: 0}\n", "pad_strategy.fixed: expected an integer >= 1"),
    ("  tokenizer:\n    truncation_side: rigth\n", "(did you mean 'right'?)"),
    ("  tokenizer:\n    max_length: yes\n", "max_length: expected an integer >= 1, found True"),
    ("  lua_libs: [strng]\n", "(did you mean 'string'?)"),
    ("  transform: {file: x.lua}\n", "unknown key 'encoderfile.transform.file'"),
    ("  validate_transform: maybe\n", "validate_transform: expected true or false"),
    ("  name: again\n", "duplicate key 'name'"),
])
def test_invalid_values_are_refused(tmp_path: Path, body: str, expected: str):
    path = write_config(tmp_path, "encoderfile:\n  name: e\n  path: m\n  model_type: embedding\n" + body)
    assert expected in config_error(path)


def test_yaml_syntax_error_names_the_line(tmp_path: Path):
    path = write_config(tmp_path, "encoderfile:\n  name: e\n  path: [unclosed\n")
    assert config_error(path).startswith(f"{path}:4:")


def test_empty_and_missing_files(tmp_path: Path):
    assert "is empty" in config_error(write_config(tmp_path, ""))
    assert config_error(tmp_path / "nope.yml") == f"{tmp_path / 'nope.yml'}: no such file"


# --- artifacts ---------------------------------------------------------------------------


def test_model_config_artifact_is_the_reference_view_compact_and_sorted():
    source = json.loads((MODELS / "sequence_classification" / "config.json").read_text())
    problems: list[str] = []
    document = assets.model_config_document(source, Path("config.json"), problems)
    data = assets.model_config_artifact(document)
    assert problems == []
    assert data == (b'{"model_type":"bert","num_labels":null,"id2label":{"0":"good","1":"bad"},'
                    b'"label2id":{"bad":1,"good":0},"height":null,"width":null,"image_size":null,'
                    b'"num_channels":null}')


def test_model_config_without_model_type_is_a_problem():
    problems: list[str] = []
    assert assets.model_config_document({"id2label": {"x": "a"}}, Path("/m/config.json"), problems) is None
    assert problems[0] == '/m/config.json: no model_type (a string such as "bert"); the runtime needs it'
    assert "id2label entry 'x'" in problems[1]


@pytest.mark.parametrize("model", MODEL_TYPES)
def test_tokenizer_settings_come_from_tokenizer_config(model: str):
    directory = MODELS / model
    tokenizer = json.loads((directory / "tokenizer.json").read_text())
    tokenizer_config = json.loads((directory / "tokenizer_config.json").read_text())
    problems: list[str] = []
    params = assets.tokenizer_params(tokenizer, directory / "tokenizer.json", tokenizer_config,
                                     directory / "tokenizer_config.json", TokenizerOverrides(), problems)
    assert problems == []
    assert params.origin == str(directory / "tokenizer_config.json")
    assert params.padding == {"strategy": "BatchLongest", "direction": "Right", "pad_to_multiple_of": None,
                              "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"}
    assert params.truncation == {"direction": "Right", "max_length": 512, "strategy": "LongestFirst", "stride": 0}
    artifact = json.loads(assets.tokenizer_artifact(tokenizer, params))
    assert list(artifact) == ["tokenizer", "config"]
    assert artifact["tokenizer"] == tokenizer
    assert artifact["config"] == {"padding": params.padding, "truncation": params.truncation}


def test_overrides_beat_tokenizer_config():
    directory = MODELS / "embedding"
    tokenizer = json.loads((directory / "tokenizer.json").read_text())
    tokenizer_config = {**json.loads((directory / "tokenizer_config.json").read_text()), "padding_side": "left"}
    overrides = TokenizerOverrides(pad_strategy=PadStrategy(fixed=64), truncation_side="left",
                                   truncation_strategy="only_second", max_length=128, stride=4)
    problems: list[str] = []
    params = assets.tokenizer_params(tokenizer, directory / "tokenizer.json", tokenizer_config,
                                     directory / "tokenizer_config.json", overrides, problems)
    assert problems == []
    assert params.padding["strategy"] == {"Fixed": 64} and params.padding["direction"] == "Left"
    assert params.truncation == {"direction": "Left", "max_length": 128, "strategy": "OnlySecond", "stride": 4}
    assert b'"strategy":{"Fixed":64}' in assets.tokenizer_artifact(tokenizer, params)


def test_without_tokenizer_config_tokenizer_json_settings_or_defaults_are_used():
    tokenizer = json.loads((MODELS / "embedding" / "tokenizer.json").read_text())
    problems: list[str] = []
    params = assets.tokenizer_params(tokenizer, Path("tokenizer.json"), None, None, TokenizerOverrides(), problems)
    assert problems == [] and params.padding == assets.DEFAULT_PADDING
    assert params.truncation == assets.DEFAULT_TRUNCATION
    assert any("no padding settings" in note for note in params.notes)
    tokenizer["padding"] = {"strategy": {"Fixed": 32}, "direction": "Left", "pad_to_multiple_of": 8, "pad_id": 5,
                            "pad_type_id": 1, "pad_token": "<pad>"}
    tokenizer["truncation"] = {"max_length": 64, "strategy": "OnlyFirst", "stride": 2}  # no direction: old file
    params = assets.tokenizer_params(tokenizer, Path("tokenizer.json"), None, None, TokenizerOverrides(), problems)
    assert problems == [] and params.padding == tokenizer["padding"]
    assert params.truncation == {"direction": "Right", "max_length": 64, "strategy": "OnlyFirst", "stride": 2}


def test_tokenizer_config_problems_name_the_file():
    tokenizer = json.loads((MODELS / "embedding" / "tokenizer.json").read_text())
    path = Path("/m/tokenizer_config.json")
    bad = {"pad_token": "<nope>", "padding_side": "middle", "model_max_length": 10**30}
    problems: list[str] = []
    assert assets.tokenizer_params(tokenizer, Path("/m/tokenizer.json"), bad, path, TokenizerOverrides(),
                                   problems) is None
    assert problems[0] == f'{path}: padding_side must be "left" or "right", found \'middle\''
    assert "means \"no limit\"; set encoderfile.tokenizer.max_length" in problems[1]
    assert problems[2] == f"{path}: pad_token '<nope>' is not in /m/tokenizer.json's vocabulary"
    # An explicit max_length makes transformers' "no limit" marker irrelevant.
    problems = []
    fine = {"pad_token": "[PAD]", "model_max_length": 10**30}
    params = assets.tokenizer_params(tokenizer, Path("t.json"), fine, path, TokenizerOverrides(max_length=256),
                                     problems)
    assert problems == [] and params.truncation["max_length"] == 256


def test_token_id_prefers_added_tokens_then_vocab():
    tokenizer = json.loads((MODELS / "embedding" / "tokenizer.json").read_text())
    assert assets.token_id(tokenizer, "[PAD]") == 0 and assets.token_id(tokenizer, "[SEP]") == 102
    assert assets.token_id(tokenizer, "the") == tokenizer["model"]["vocab"]["the"]
    assert assets.token_id({"model": {"vocab": [["<pad>", 0.0], ["a", -1.5]]}}, "a") == 1  # Unigram


def test_transform_artifact_is_a_transform_message():
    source = TransformSource(inline="\n  function Postprocess(x) return x end  \n")
    problems: list[str] = []
    text = assets.read_transform(source, problems)
    message = manifest_pb2.Transform.FromString(assets.transform_artifact(text, ("string",)))
    assert message.transform_type == manifest_pb2.LUA
    assert message.transform == "function Postprocess(x) return x end"
    assert list(message.lua_libs.libs) == ["string"]
    assert not manifest_pb2.Transform.FromString(assets.transform_artifact(text, None)).HasField("lua_libs")
    assert "defines no Postprocess" in assets.transform_problems("return 1", source, validate=True)[0]
    assert assets.transform_problems("return 1", source, validate=False) == []


# --- ONNX --------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODEL_TYPES)
def test_each_fixture_passes_as_its_own_type(model: str):
    summary = onnx_check.read_onnx_summary(MODELS / model / "model.onnx")
    config = json.loads((MODELS / model / "config.json").read_text())
    assert onnx_check.output_problems(summary, model) == []
    assert onnx_check.label_problems(summary, model, config, MODELS / model / "config.json") == []
    prepared = prepare_model(fixture_config(model))
    assert [a.kind for a in prepared.artifacts] == ["weights", "model_config", "tokenizer"]


def test_embedding_model_declared_as_classifier_fails_naming_file_and_output():
    with pytest.raises(ModelError) as caught:
        prepare_model(fixture_config("embedding", "sequence_classification"))
    weights = MODELS / "embedding" / "model.onnx"
    assert caught.value.details[0] == (
        f"{weights}: model_type sequence_classification needs an output named 'logits' of rank 2; "
        "the model's outputs are: last_hidden_state [batch_size, sequence_length, 16]")
    assert "needs an id2label table" in caught.value.details[1]


def test_rank_mismatch_is_named():
    summary = onnx_check.read_onnx_summary(MODELS / "sequence_classification" / "model.onnx")
    (problem,) = onnx_check.output_problems(summary, "token_classification")
    assert problem.endswith("needs output 'logits' of rank 3; the model declares logits [batch_size, 2]")


def test_id2label_must_fit_the_logits():
    summary = onnx_check.read_onnx_summary(MODELS / "sequence_classification" / "model.onnx")
    config = {"id2label": {"0": "a", "1": "b", "2": "c"}, "num_labels": 2}
    problems = onnx_check.label_problems(summary, "sequence_classification", config, Path("config.json"))
    assert problems == ["config.json: id2label names 3 classes but model.onnx's logits have 2",
                        "config.json: num_labels is 2 but id2label names 3 classes"]


@pytest.mark.parametrize("content", [b"\x00\xffgarbage\x13" * 50, b"{}", b""])
def test_non_onnx_weights_give_one_clear_line(tmp_path: Path, content: bytes):
    model = copy_model(tmp_path, "embedding")
    (model / "model.onnx").write_bytes(content)
    config = fixture_config("embedding", files=ModelFiles(
        model_config=model / "config.json", weights=model / "model.onnx", tokenizer=model / "tokenizer.json",
        tokenizer_config=model / "tokenizer_config.json", directory=model))
    with pytest.raises(ModelError) as caught:
        prepare_model(config)
    assert caught.value.details == ()
    assert caught.value.message.startswith(f"{model / 'model.onnx'}: not an ONNX model (")
    assert "\n" not in caught.value.message


def test_all_model_problems_are_reported_together(tmp_path: Path):
    model = copy_model(tmp_path, "sequence_classification")
    (model / "config.json").write_text('{"id2label": {"0": "a"}')  # truncated JSON
    (model / "model.onnx").write_bytes(b"not onnx")
    (model / "tokenizer_config.json").unlink()
    (model / "tokenizer.json").write_text("[]")
    config = fixture_config("sequence_classification", files=ModelFiles(
        model_config=model / "config.json", weights=model / "model.onnx", tokenizer=model / "tokenizer.json",
        tokenizer_config=None, directory=model))
    with pytest.raises(ModelError) as caught:
        prepare_model(config)
    details = caught.value.details
    assert caught.value.message == "3 problems in the model files:"
    assert details[0].startswith(f"{model / 'config.json'}: not valid JSON")
    assert details[1] == f"{model / 'tokenizer.json'}: not a Hugging Face tokenizer.json (no \"model\" object)"
    assert details[2].startswith(f"{model / 'model.onnx'}: not an ONNX model")


def test_missing_files_are_each_named(tmp_path: Path):
    config = fixture_config("embedding", files=ModelFiles(
        model_config=tmp_path / "config.json", weights=tmp_path / "model.onnx", tokenizer=tmp_path / "t.json",
        tokenizer_config=None))
    with pytest.raises(ModelError) as caught:
        prepare_model(config)
    assert caught.value.details == (f"{tmp_path / 'config.json'}: no such file (the model config)",
                                    f"{tmp_path / 'model.onnx'}: no such file (the model weights)",
                                    f"{tmp_path / 't.json'}: no such file (the tokenizer)")
