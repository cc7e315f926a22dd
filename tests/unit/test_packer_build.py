"""`encoderfile build / inspect / runtime` end to end on the fixture models, with a small
host executable (`true`) standing in for encoderfile-runtime. Downloads are served by a
real HTTP server on 127.0.0.1 over a release dir built in the test."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest

from efbuild import cache
from efbuild.container import read_artifact, read_encoderfile
from efbuild.packer import build as build_module
from efbuild.packer.cli import main
from efbuild.packer.config import load_config
from efbuild.publish import ArchiveMember, asset_name, write_archive
from efbuild.triples import host_triple

MODELS = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "models"
MODEL_TYPES = ("embedding", "sentence_embedding", "sequence_classification", "token_classification")
TRUE = shutil.which("true")
HOST = host_triple()
VERSION = build_module.DEFAULT_RUNTIME_VERSION
AARCH64_LIBC = Path("/usr/lib/aarch64-linux-gnu/libc.so.6")

pytestmark = [
    pytest.mark.skipif(not MODELS.is_dir(), reason=f"fixture models not found at {MODELS}"),
    pytest.mark.skipif(TRUE is None or HOST != "x86_64-unknown-linux-gnu",
                       reason="needs an x86_64 linux host with `true` as the stand-in base binary"),
]


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch):
    """No test may see the user's cache or release server."""
    monkeypatch.delenv("ENCODERFILE_CACHE_DIR", raising=False)
    monkeypatch.delenv("ENCODERFILE_BASE_BINARY_BASE_URL", raising=False)


@pytest.fixture
def base_binary(tmp_path: Path) -> Path:
    path = tmp_path / "encoderfile-runtime"
    shutil.copy(Path(TRUE).resolve(), path)
    path.chmod(0o755)
    return path


class Run:
    def __init__(self, code: int, stdout: str, stderr: str):
        self.code, self.stdout, self.stderr = code, stdout, stderr

    def json(self) -> dict:
        return json.loads(self.stdout)


@pytest.fixture
def encoderfile(capsys: pytest.CaptureFixture):
    """Run the `encoderfile` command in-process, as `main` does for the console script."""
    def run(*args: str) -> Run:
        capsys.readouterr()
        try:
            main([str(arg) for arg in args])
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)
    return run


def write_config(directory: Path, model: str, *, name: str = "test-model", model_type: str | None = None,
                 extra: str = "") -> Path:
    path = directory / "encoderfile.yml"
    path.write_text(f"encoderfile:\n  name: {name}\n  version: \"1.0.0\"\n  path: {MODELS / model}\n"
                    f"  model_type: {model_type or model}\n{extra}")
    return path


def files_in(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


# --- packing with an explicit base binary ---------------------------------------------------


@pytest.mark.parametrize("model", MODEL_TYPES)
def test_build_packs_each_fixture_and_inspect_verifies_it(tmp_path: Path, base_binary: Path, encoderfile,
                                                          model: str):
    config = write_config(tmp_path, model, name=f"tiny-{model}")
    output = tmp_path / "out.encoderfile"
    run = encoderfile("build", "-f", config, "-o", output, "--base-binary-path", base_binary, "--json")
    assert run.code == 0, run.stderr
    result = run.json()
    assert (result["schema"], result["command"], result["model_type"]) == (1, "build", model)
    assert result["base_binary"]["source"] == "path" and result["output"] == str(output)
    assert result["size"] == output.stat().st_size and os.access(output, os.X_OK)

    inspected = encoderfile("inspect", output, "--json")
    assert inspected.code == 0, inspected.stderr
    report = inspected.json()
    assert report["manifest"]["model_type"] == model
    assert (report["manifest"]["name"], report["manifest"]["version"]) == (f"tiny-{model}", "1.0.0")
    assert report["valid"] and all(artifact["verified"] for artifact in report["artifacts"])
    assert [a["kind"] for a in report["artifacts"]] == ["weights", "model_config", "tokenizer"]
    assert report["footer"]["format_version"] == 1 and report["base_binary_length"] == base_binary.stat().st_size

    container = read_encoderfile(output)  # the strict reader, sha256s verified
    assert output.read_bytes()[:container.base_length] == base_binary.read_bytes()
    weights = container.artifact("weights")
    with output.open("rb") as stream:
        stream.seek(weights.absolute_offset)
        assert stream.read(weights.length) == (MODELS / model / "model.onnx").read_bytes()
    assert json.loads(read_artifact(container, "model_config"))["model_type"] == "bert"
    tokenizer = json.loads(read_artifact(container, "tokenizer"))
    assert tokenizer["config"]["padding"]["pad_token"] == "[PAD]"
    assert subprocess.run([output]).returncode == 0  # still the base binary's program


def test_human_output_and_default_output_path(tmp_path: Path, base_binary: Path, encoderfile,
                                              monkeypatch: pytest.MonkeyPatch):
    config = write_config(tmp_path, "embedding", name="emb")
    monkeypatch.chdir(tmp_path)
    run = encoderfile("build", "-f", "encoderfile.yml", "--base-binary-path", base_binary.name)
    assert run.code == 0, run.stderr
    assert f"wrote {tmp_path / 'emb.encoderfile'}" in run.stdout
    assert "emb 1.0.0 (embedding)" in run.stdout and f"path: {base_binary}" in run.stdout
    assert config.exists() and (tmp_path / "emb.encoderfile").is_file()


def test_command_line_beats_config(tmp_path: Path, base_binary: Path, encoderfile):
    config = write_config(tmp_path, "embedding",
                          extra=f"  output_path: {tmp_path / 'from-config.encoderfile'}\n"
                                f"  base_binary_path: {tmp_path / 'missing-runtime'}\n")
    run = encoderfile("build", "-f", config, "-o", tmp_path / "from-cli.encoderfile",
                      "--base-binary-path", base_binary)
    assert run.code == 0, run.stderr
    assert (tmp_path / "from-cli.encoderfile").is_file() and not (tmp_path / "from-config.encoderfile").exists()


def test_transform_and_tokenizer_overrides_are_packed(tmp_path: Path, base_binary: Path, encoderfile):
    (tmp_path / "post.lua").write_text("function Postprocess(logits) return logits end\n")
    config = write_config(tmp_path, "sequence_classification",
                          extra=f"  transform: {{path: {tmp_path / 'post.lua'}}}\n  lua_libs: [math]\n"
                                "  tokenizer:\n    pad_strategy: {fixed: 32}\n    max_length: 32\n")
    output = tmp_path / "out.encoderfile"
    assert encoderfile("build", "-f", config, "-o", output, "--base-binary-path", base_binary).code == 0
    container = read_encoderfile(output)
    assert [entry.kind for entry in container.artifacts] == ["weights", "transform", "model_config", "tokenizer"]
    settings = json.loads(read_artifact(container, "tokenizer"))["config"]
    assert settings["padding"]["strategy"] == {"Fixed": 32} and settings["truncation"]["max_length"] == 32


# --- refusals ------------------------------------------------------------------------------


def test_packing_onto_a_packed_binary_is_refused(tmp_path: Path, base_binary: Path, encoderfile):
    config = write_config(tmp_path, "embedding")
    packed = tmp_path / "packed.encoderfile"
    assert encoderfile("build", "-f", config, "-o", packed, "--base-binary-path", base_binary).code == 0
    run = encoderfile("build", "-f", config, "-o", tmp_path / "again.encoderfile", "--base-binary-path", packed)
    assert run.code == 11
    assert f"base binary {packed} already carries an encoderfile payload (model 'test-model')" in run.stderr
    assert not (tmp_path / "again.encoderfile").exists()


def aarch64_elf(tmp_path: Path, base_binary: Path) -> Path:
    """A real aarch64 ELF when the cross libc is installed, else `true` relabelled EM_AARCH64."""
    path = tmp_path / "aarch64-runtime"
    if AARCH64_LIBC.is_file():
        shutil.copy(AARCH64_LIBC, path)
    else:
        data = bytearray(base_binary.read_bytes())
        data[18:20] = (183).to_bytes(2, "little")  # e_machine = EM_AARCH64
        path.write_bytes(bytes(data))
    path.chmod(0o755)
    return path


def test_wrong_architecture_is_refused(tmp_path: Path, base_binary: Path, encoderfile):
    config = write_config(tmp_path, "embedding")
    arm = aarch64_elf(tmp_path, base_binary)
    run = encoderfile("build", "-f", config, "-o", tmp_path / "x.encoderfile", "--base-binary-path", arm,
                      "--target", "x86_64-unknown-linux-gnu")
    assert run.code == 11
    assert f"base binary {arm} is built for aarch64 (EM_AARCH64), not for x86_64-unknown-linux-gnu" in run.stderr
    run = encoderfile("build", "-f", config, "-o", tmp_path / "x.encoderfile", "--base-binary-path", base_binary,
                      "--target", "aarch64-apple-darwin")
    assert run.code == 11 and "is not a Mach-O executable for aarch64-apple-darwin" in run.stderr
    assert not (tmp_path / "x.encoderfile").exists()


def test_non_executable_base_binary_is_refused(tmp_path: Path, base_binary: Path, encoderfile):
    base_binary.chmod(0o644)
    run = encoderfile("build", "-f", write_config(tmp_path, "embedding"), "-o", tmp_path / "x.encoderfile",
                      "--base-binary-path", base_binary)
    assert run.code == 11 and "is not executable" in run.stderr


def test_no_download_with_an_empty_cache_names_the_efbuild_command(tmp_path: Path, encoderfile):
    config = write_config(tmp_path, "embedding")
    run = encoderfile("build", "-f", config, "-o", tmp_path / "x.encoderfile", "--no-download",
                      "--cache-dir", tmp_path / "cache")
    assert run.code == 11
    assert "--no-download was given" in run.stderr
    assert (f"efbuild targets build {HOST} --install --version {VERSION} --cache-dir {tmp_path / 'cache'}"
            in run.stderr)


def test_without_a_release_server_the_build_names_the_efbuild_command(tmp_path: Path, encoderfile,
                                                                       monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ENCODERFILE_CACHE_DIR", str(tmp_path / "cache"))  # from env: efbuild honours it too
    run = encoderfile("build", "-f", write_config(tmp_path, "embedding"), "-o", tmp_path / "x.encoderfile")
    assert run.code == 11
    assert "ENCODERFILE_BASE_BINARY_BASE_URL is not set" in run.stderr
    assert f"efbuild targets build {HOST} --install --version {VERSION}  (or set" in run.stderr


def test_failed_build_leaves_no_output_and_no_temp_file(tmp_path: Path, base_binary: Path, encoderfile):
    model = tmp_path / "model"
    shutil.copytree(MODELS / "embedding", model)
    (model / "model.onnx").chmod(0o644)
    (model / "model.onnx").write_bytes(b"\x08\x07 definitely not onnx \xff\xff")
    config = tmp_path / "encoderfile.yml"
    config.write_text(f"encoderfile:\n  name: bad\n  path: {model}\n  model_type: embedding\n")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    run = encoderfile("build", "-f", config, "-o", out_dir / "bad.encoderfile", "--base-binary-path", base_binary)
    assert run.code == 10
    assert f"{model / 'model.onnx'}: not an ONNX model" in run.stderr
    assert files_in(out_dir) == []


def test_interrupted_write_leaves_nothing(tmp_path: Path, base_binary: Path, monkeypatch: pytest.MonkeyPatch):
    from efbuild.container import writer

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(writer, "_copy_exactly", interrupt)
    options = build_module.resolve_build_options(load_config(write_config(tmp_path, "embedding")),
                                                 output=str(tmp_path / "out" / "x.encoderfile"),
                                                 base_binary_path=str(base_binary))
    (tmp_path / "out").mkdir()
    with pytest.raises(KeyboardInterrupt):
        build_module.build(options)
    assert files_in(tmp_path / "out") == []


def test_missing_output_directory_is_an_output_error(tmp_path: Path, base_binary: Path, encoderfile):
    run = encoderfile("build", "-f", write_config(tmp_path, "embedding"), "-o", tmp_path / "no" / "x.encoderfile",
                      "--base-binary-path", base_binary)
    assert run.code == 13 and "does not exist" in run.stderr


def test_output_over_the_base_binary_is_refused(tmp_path: Path, base_binary: Path, encoderfile):
    original = base_binary.read_bytes()
    run = encoderfile("build", "-f", write_config(tmp_path, "embedding"), "-o", base_binary,
                      "--base-binary-path", base_binary)
    assert run.code == 13 and "it is one of the build's inputs" in run.stderr
    assert base_binary.read_bytes() == original


def test_config_errors_exit_2_with_every_problem(tmp_path: Path, encoderfile):
    config = tmp_path / "encoderfile.yml"
    config.write_text("encoderfile:\n  nmae: x\n  path: m\n  model_type: embeding\n")
    run = encoderfile("build", "-f", config)
    assert run.code == 2
    assert "3 problems" in run.stderr and "did you mean 'name'?" in run.stderr
    assert "did you mean 'embedding'?" in run.stderr


# --- the cache and downloads ------------------------------------------------------------------


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


@pytest.fixture
def release_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """An HTTP server on 127.0.0.1 over tmp_path/dist, set as the packer's release server."""
    dist = tmp_path / "dist"
    (dist / f"v{VERSION}").mkdir(parents=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=dist))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # No trailing slash: the packer adds it, as the reference does.
    monkeypatch.setenv("ENCODERFILE_BASE_BINARY_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}")
    yield dist / f"v{VERSION}"
    server.shutdown()
    server.server_close()
    thread.join()


def publish_release(release: Path, base_binary: Path, *, sums_digest: str | None = None) -> Path:
    """What `efbuild publish` lays out: the archive plus SHA256SUMS (optionally lying)."""
    readme = release.parent / "README.md"
    readme.write_text("encoderfile-runtime\n")
    archive = release / asset_name(HOST)
    write_archive(archive, [ArchiveMember("encoderfile-runtime", base_binary, 0o755),
                            ArchiveMember("README.md", readme, 0o644)])
    digest = sums_digest or hashlib.sha256(archive.read_bytes()).hexdigest()
    (release / "SHA256SUMS").write_text(f"{digest}  {archive.name}\n")
    return archive


def test_download_verifies_caches_and_packs(tmp_path: Path, base_binary: Path, release_server: Path, encoderfile):
    publish_release(release_server, base_binary)
    cache_dir = tmp_path / "cache"
    config = write_config(tmp_path, "sentence_embedding")
    run = encoderfile("build", "-f", config, "-o", tmp_path / "a.encoderfile", "--cache-dir", cache_dir, "--json")
    assert run.code == 0, run.stderr
    cached = cache.entry_dir(cache_dir, VERSION, HOST) / "encoderfile-runtime"
    assert run.json()["base_binary"] == {"path": str(cached), "source": "download", "target": HOST,
                                         "version": VERSION, "size": base_binary.stat().st_size,
                                         "sha256": hashlib.sha256(base_binary.read_bytes()).hexdigest()}
    (entry,) = cache.list_entries(cache_dir)
    assert (entry.version, entry.triple, entry.verified) == (VERSION, HOST, True)
    assert read_encoderfile(tmp_path / "a.encoderfile").manifest.model_type == 4  # SENTENCE_EMBEDDING

    again = encoderfile("build", "-f", config, "-o", tmp_path / "b.encoderfile", "--cache-dir", cache_dir,
                        "--no-download", "--json")
    assert again.code == 0 and again.json()["base_binary"]["source"] == "cache"


def test_tampered_archive_is_refused_and_nothing_is_cached(tmp_path: Path, base_binary: Path,
                                                           release_server: Path, encoderfile):
    publish_release(release_server, base_binary, sums_digest="0" * 64)
    cache_dir = tmp_path / "cache"
    run = encoderfile("build", "-f", write_config(tmp_path, "embedding"), "-o", tmp_path / "x.encoderfile",
                      "--cache-dir", cache_dir)
    assert run.code == 12
    assert "SHA256SUMS says 0000" in run.stderr and "refusing the download" in run.stderr
    assert cache.list_entries(cache_dir) == [] and not (tmp_path / "x.encoderfile").exists()


def test_missing_release_is_a_download_error(tmp_path: Path, release_server: Path, encoderfile):
    run = encoderfile("build", "-f", write_config(tmp_path, "embedding"), "-o", tmp_path / "x.encoderfile",
                      "--cache-dir", tmp_path / "cache")
    assert run.code == 12 and "HTTP 404" in run.stderr and "SHA256SUMS" in run.stderr


def test_archive_with_a_link_instead_of_the_runtime_is_refused(tmp_path: Path, release_server: Path,
                                                               encoderfile):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        link = tarfile.TarInfo("encoderfile-runtime")
        link.type, link.linkname = tarfile.SYMTYPE, "/bin/true"
        tar.addfile(link)
    archive = release_server / asset_name(HOST)
    archive.write_bytes(raw.getvalue())
    (release_server / "SHA256SUMS").write_text(f"{hashlib.sha256(raw.getvalue()).hexdigest()}  {archive.name}\n")
    run = encoderfile("build", "-f", write_config(tmp_path, "embedding"), "-o", tmp_path / "x.encoderfile",
                      "--cache-dir", tmp_path / "cache")
    assert run.code == 12 and "not a regular file" in run.stderr
    assert cache.list_entries(tmp_path / "cache") == []


def test_cached_binary_that_changed_since_install_is_refused(tmp_path: Path, base_binary: Path, encoderfile):
    cache_dir = tmp_path / "cache"
    installed = cache.install(cache_dir, VERSION, HOST, base_binary)
    with installed.open("ab") as stream:
        stream.write(b"tampered")
    run = encoderfile("build", "-f", write_config(tmp_path, "embedding"), "-o", tmp_path / "x.encoderfile",
                      "--cache-dir", cache_dir, "--no-download")
    assert run.code == 11 and "changed since it was installed" in run.stderr


def test_runtime_add_list_remove(tmp_path: Path, base_binary: Path, encoderfile):
    cache_dir = tmp_path / "cache"
    added = encoderfile("runtime", "add", base_binary, "--target", HOST, "--runtime-version", "9.9.9",
                        "--cache-dir", cache_dir)
    assert added.code == 0, added.stderr
    listed = encoderfile("runtime", "list", "--cache-dir", cache_dir, "--json").json()
    assert [(e["version"], e["triple"], e["verified"]) for e in listed["entries"]] == [("9.9.9", HOST, True)]
    refused = encoderfile("runtime", "add", aarch64_elf(tmp_path, base_binary), "--target", HOST,
                          "--cache-dir", cache_dir)
    assert refused.code == 11
    removed = encoderfile("runtime", "remove", "9.9.9", HOST, "--cache-dir", cache_dir)
    assert removed.code == 0 and cache.list_entries(cache_dir) == []
    assert encoderfile("runtime", "remove", "9.9.9", "--cache-dir", cache_dir).code == 8


# --- inspect and version --------------------------------------------------------------------


def test_inspect_refuses_invalid_files_with_one_line(tmp_path: Path, base_binary: Path, encoderfile):
    assert encoderfile("inspect", tmp_path / "missing.encoderfile").code == 2
    run = encoderfile("inspect", base_binary)
    assert run.code == 9
    assert run.stderr.strip().splitlines()[0].startswith(f"error: {base_binary}: no encoderfile footer")

    output = tmp_path / "x.encoderfile"
    assert encoderfile("build", "-f", write_config(tmp_path, "embedding"), "-o", output,
                       "--base-binary-path", base_binary).code == 0
    data = bytearray(output.read_bytes())
    data[read_encoderfile(output).artifact("tokenizer").absolute_offset + 10] ^= 0xFF
    output.write_bytes(bytes(data))
    run = encoderfile("inspect", output, "--json")
    assert run.code == 9
    report = run.json()
    assert report["valid"] is False
    assert {a["kind"]: a["verified"] for a in report["artifacts"]} == {"weights": True, "model_config": True,
                                                                      "tokenizer": False}
    assert "tokenizer artifact does not match" in run.stderr


def test_module_entry_point_prints_versions():
    done = subprocess.run([sys.executable, "-m", "efbuild.packer", "version", "--json"], capture_output=True,
                          text=True, check=True)
    assert json.loads(done.stdout) == {"schema": 1, "command": "version", "packer_version": VERSION,
                                       "format_version": 1, "default_runtime_version": VERSION}
