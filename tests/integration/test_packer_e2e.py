"""farm -> cache -> packer -> executable, on the real runtime and the four fixture models."""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.integration.conftest import HOST, Farm

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "models"
MODELS = {
    "embedding": "EMBEDDING",
    "sentence_embedding": "SENTENCE_EMBEDDING",
    "sequence_classification": "SEQUENCE_CLASSIFICATION",
    "token_classification": "TOKEN_CLASSIFICATION",
}


def encoderfile(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "efbuild.packer", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, cwd=cwd)


def write_config(directory: Path, model: str) -> Path:
    config = directory / "encoderfile.yml"
    config.write_text(
        "encoderfile:\n"
        f"  name: tiny-{model.replace('_', '-')}\n"
        '  version: "1.2.3"\n'
        f"  path: {FIXTURES / model}\n"
        f"  model_type: {model}\n"
        f"  output_path: ./{model}.encoderfile\n")
    return config


def pack(directory: Path, model: str, env: dict[str, str], *extra: str) -> Path:
    config = write_config(directory, model)
    done = encoderfile("build", "-f", str(config), "--no-download", *extra, env=env, cwd=directory)
    assert done.returncode == 0, done.stdout + done.stderr
    return directory / f"{model}.encoderfile"


@pytest.fixture(scope="module")
def packed(farm: Farm, build_all, tmp_path_factory) -> dict[str, Path]:
    """Each fixture model packed onto the farm-built host runtime taken from the cache."""
    directory = tmp_path_factory.mktemp("packed")
    env = {"ENCODERFILE_CACHE_DIR": str(farm.cache_dir)}
    return {model: pack(directory, model, env) for model in MODELS}


@pytest.mark.parametrize("model", sorted(MODELS))
def test_packed_executable_inspects_itself(packed, model):
    executable = packed[model]
    assert os.access(executable, os.X_OK)
    done = subprocess.run([executable, "inspect"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["model_type"] == MODELS[model]
    assert report["name"] == f"tiny-{model.replace('_', '-')}" and report["version"] == "1.2.3"
    assert sorted(report["artifacts"]) == ["model_config", "tokenizer", "weights"]
    assert all(a["verified"] for a in report["artifacts"].values())
    weights = report["artifacts"]["weights"]
    assert weights["length"] == (FIXTURES / model / "model.onnx").stat().st_size


@pytest.mark.parametrize("model", sorted(MODELS))
def test_packer_inspect_agrees_with_the_runtime(packed, model, tmp_path):
    runtime = json.loads(subprocess.run([packed[model], "inspect"], capture_output=True, text=True).stdout)
    done = encoderfile("inspect", str(packed[model]), "--json", env={}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.dumps(json.loads(done.stdout))
    for kind, artifact in runtime["artifacts"].items():
        assert artifact["sha256"] in report, kind
        assert str(artifact["absolute_offset"]) in report, kind
    assert runtime["model_type"] in report and str(runtime["metadata_offset"]) in report


def test_runtime_refuses_a_packed_file_with_a_flipped_weight_byte(packed, tmp_path):
    damaged = tmp_path / "damaged.encoderfile"
    data = bytearray(packed["embedding"].read_bytes())
    report = json.loads(subprocess.run([packed["embedding"], "inspect"], capture_output=True, text=True).stdout)
    data[report["artifacts"]["weights"]["absolute_offset"] + 100] ^= 0xFF
    damaged.write_bytes(bytes(data))
    damaged.chmod(0o755)
    done = subprocess.run([damaged, "inspect"], capture_output=True, text=True)
    assert done.returncode == 4 and "sha256_mismatch" in done.stderr and "panicked" not in done.stderr
    python_side = encoderfile("inspect", str(damaged), env={}, cwd=tmp_path)
    assert python_side.returncode != 0


def test_no_download_with_an_empty_cache_names_the_efbuild_command(tmp_path):
    config = write_config(tmp_path, "embedding")
    done = encoderfile("build", "-f", str(config), "--no-download", "--cache-dir", str(tmp_path / "empty"),
                       env={}, cwd=tmp_path)
    assert done.returncode == 11
    assert f"efbuild targets build {HOST} --install" in done.stderr
    assert not (tmp_path / "embedding.encoderfile").exists()


class _Server:
    def __init__(self, root: Path):
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
        handler.log_message = lambda *a, **k: None
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "_Server":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def published(farm: Farm, build_all, tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    farm.efbuild("publish", HOST, "--version", "0.1.0", "--dist", str(dist), check=True)
    return dist


def test_download_from_a_published_dist_over_http(published: Path, tmp_path: Path):
    cache = tmp_path / "fresh-cache"
    with _Server(published) as server:
        env = {"ENCODERFILE_BASE_BINARY_BASE_URL": server.url, "ENCODERFILE_CACHE_DIR": str(cache)}
        config = write_config(tmp_path, "sequence_classification")
        done = encoderfile("build", "-f", str(config), env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    cached = cache / "base-binaries/encoderfile/0.1.0" / HOST / "encoderfile-runtime"
    assert cached.is_file()
    executable = tmp_path / "sequence_classification.encoderfile"
    report = json.loads(subprocess.run([executable, "inspect"], capture_output=True, text=True).stdout)
    assert report["model_type"] == "SEQUENCE_CLASSIFICATION"


def test_a_tampered_archive_is_refused_and_nothing_is_cached(published: Path, tmp_path: Path):
    archive = published / "v0.1.0" / f"encoderfile-runtime-{HOST}.tar.gz"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    archive.write_bytes(bytes(data))
    cache = tmp_path / "fresh-cache"
    with _Server(published) as server:
        env = {"ENCODERFILE_BASE_BINARY_BASE_URL": server.url, "ENCODERFILE_CACHE_DIR": str(cache)}
        done = encoderfile("build", "-f", str(write_config(tmp_path, "embedding")), env=env, cwd=tmp_path)
    assert done.returncode == 12, done.stdout + done.stderr
    assert "SHA256SUMS" in done.stderr or "sha256" in done.stderr.lower()
    assert not list(cache.rglob("encoderfile-runtime"))
    assert not (tmp_path / "embedding.encoderfile").exists()


def test_cross_packed_aarch64_encoderfile_runs_under_qemu(farm: Farm, results_by_key, tmp_path: Path):
    """The farm's aarch64 runtime, packed here for aarch64, reads its own payload under qemu."""
    assert results_by_key["aarch64-unknown-linux-gnu"]["state"] in ("built", "up to date")
    env = {"ENCODERFILE_CACHE_DIR": str(farm.cache_dir)}
    executable = pack(tmp_path, "token_classification", env, "--target", "aarch64-unknown-linux-gnu")
    done = subprocess.run(["qemu-aarch64", executable, "inspect"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["model_type"] == "TOKEN_CLASSIFICATION"
