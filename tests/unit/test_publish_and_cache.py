"""Release archives and the packer's cache, on small files (the real binaries are the
integration tier's)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from efbuild import cache
from efbuild.errors import CacheError, NothingToDo, PublishError
from efbuild.publish import publish
from efbuild.records import BuildRecord

PROJECT = Path(__file__).resolve().parents[2]


def fake_record(tmp_path: Path, triple: str, content: bytes = b"\x7fELF fake", status: str = "passed") -> BuildRecord:
    binary = tmp_path / triple / "encoderfile-runtime"
    binary.parent.mkdir(parents=True)
    binary.write_bytes(content)
    return BuildRecord(
        key=triple, triple=triple, backend="zig", profile="release", fingerprint="f" * 64,
        source_hash="s" * 64, binary=str(binary), sha256=hashlib.sha256(content).hexdigest(),
        size=len(content), status=status, checks=[{"check": "elf", "status": "passed", "facts": {"glibc_required": "2.17"}}],
        toolchain={"rustc_version": "rustc 1.95.0"}, backend_identity={"zig": "0.17.1"},
        glibc_policy="2.36", macos_min=None, built_at="2026-01-01T00:00:00+00:00", duration_seconds=1.0)


def test_publish_layout_checksums_and_manifest(tmp_path: Path):
    records = [fake_record(tmp_path, "x86_64-unknown-linux-gnu"), fake_record(tmp_path, "aarch64-apple-darwin", b"macho")]
    release = publish(records, version="1.2.3", dist=tmp_path / "dist", project_dir=PROJECT)
    assert release == tmp_path / "dist" / "v1.2.3"
    assert sorted(p.name for p in release.iterdir()) == [
        "SHA256SUMS", "encoderfile-runtime-aarch64-apple-darwin.tar.gz",
        "encoderfile-runtime-x86_64-unknown-linux-gnu.tar.gz", "manifest.json"]
    assert subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=release).returncode == 0
    manifest = json.loads((release / "manifest.json").read_text())
    assert manifest["schema"] == 1
    assert [a["triple"] for a in manifest["assets"]] == ["aarch64-apple-darwin", "x86_64-unknown-linux-gnu"]
    assert manifest["assets"][1]["glibc_required"] == "2.17"
    with tarfile.open(release / "encoderfile-runtime-aarch64-apple-darwin.tar.gz") as archive:
        assert archive.extractfile("encoderfile-runtime").read() == b"macho"
        assert [m.name for m in archive.getmembers()] == ["LICENSE", "README.md", "encoderfile-runtime"]


def test_publishing_again_replaces_the_release_with_identical_bytes(tmp_path: Path):
    records = [fake_record(tmp_path, "x86_64-unknown-linux-gnu")]
    release = publish(records, version="1.0.0", dist=tmp_path / "dist", project_dir=PROJECT)
    first = {p.name: p.read_bytes() for p in release.iterdir()}
    publish(records, version="1.0.0", dist=tmp_path / "dist", project_dir=PROJECT)
    assert {p.name: p.read_bytes() for p in release.iterdir()} == first
    assert sorted(p.name for p in (tmp_path / "dist").iterdir()) == ["v1.0.0"]  # no temp dirs left


def test_failed_or_changed_builds_are_not_published(tmp_path: Path):
    failed = fake_record(tmp_path, "x86_64-unknown-linux-gnu", status="failed")
    with pytest.raises(PublishError, match="failed a check"):
        publish([failed], version="1.0.0", dist=tmp_path / "dist", project_dir=PROJECT)
    changed = fake_record(tmp_path, "aarch64-unknown-linux-gnu")
    Path(changed.binary).write_bytes(b"changed after the check")
    with pytest.raises(PublishError, match="changed since it was checked"):
        publish([changed], version="1.0.0", dist=tmp_path / "dist", project_dir=PROJECT)
    assert not (tmp_path / "dist" / "v1.0.0").exists()
    with pytest.raises(NothingToDo):
        publish([], version="1.0.0", dist=tmp_path / "dist", project_dir=PROJECT)


def test_cache_install_list_remove(tmp_path: Path):
    binary = tmp_path / "bin"
    binary.write_bytes(b"runtime")
    path = cache.install(tmp_path / "c", "0.1.0", "x86_64-unknown-linux-gnu", binary)
    assert path == tmp_path / "c/base-binaries/encoderfile/0.1.0/x86_64-unknown-linux-gnu/encoderfile-runtime"
    assert path.stat().st_mode & 0o777 == 0o755
    (entry,) = cache.list_entries(tmp_path / "c")
    assert (entry.version, entry.triple, entry.verified) == ("0.1.0", "x86_64-unknown-linux-gnu", True)
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []
    cache.remove(tmp_path / "c", "0.1.0")
    assert cache.list_entries(tmp_path / "c") == []
    with pytest.raises(CacheError):
        cache.remove(tmp_path / "c", "0.1.0")
