"""Fetch a released base binary: archive + SHA256SUMS over HTTP, verify, extract one file.

Release layout (efbuild publish writes it; the reference's release page has the same):
    <base-url>/v<version>/encoderfile-runtime-<triple>.tar.gz
    <base-url>/v<version>/SHA256SUMS      ("<sha256>  <asset name>" lines)

The reference trusts whatever it downloads and unpacks the whole archive. Here the
archive's sha256 must match its SHA256SUMS line before anything is extracted, and only
the regular file `encoderfile-runtime` at the archive's root is taken, through
tarfile's "data" filter (no links, no absolute or escaping paths, no device files).
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from efbuild.backends.base import BINARY_NAME
from efbuild.packer.errors import DownloadError
from efbuild.publish import asset_name

BASE_URL_ENV = "ENCODERFILE_BASE_BINARY_BASE_URL"
SUMS_NAME = "SHA256SUMS"
ALLOWED_SCHEMES = ("http", "https", "file")
TIMEOUT_SECONDS = 60
CHUNK_SIZE = 1 << 20
# Generous for a runtime (tens of MB), small enough that a hostile server cannot fill the disk.
MAX_ARCHIVE_BYTES = 1 << 30
MAX_BINARY_BYTES = 1 << 30
MAX_SUMS_BYTES = 1 << 20
# Archive member names that mean "encoderfile-runtime at the root".
_ROOT_NAMES = (BINARY_NAME, f"./{BINARY_NAME}")


@dataclass(frozen=True)
class ReleaseAsset:
    base_url: str  # always ends with "/"
    version: str
    triple: str

    @property
    def name(self) -> str:
        return asset_name(self.triple)

    @property
    def release_url(self) -> str:
        return urllib.parse.urljoin(self.base_url, f"v{self.version}/")

    @property
    def archive_url(self) -> str:
        return urllib.parse.urljoin(self.release_url, self.name)

    @property
    def sums_url(self) -> str:
        return urllib.parse.urljoin(self.release_url, SUMS_NAME)


def base_url_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The release server, with the trailing slash the reference adds; None when unset."""
    raw = (os.environ if environ is None else environ).get(BASE_URL_ENV, "").strip()
    if not raw:
        return None
    scheme = urllib.parse.urlsplit(raw).scheme
    if scheme not in ALLOWED_SCHEMES:
        raise DownloadError(f"{BASE_URL_ENV}={raw!r} is not an http(s) or file URL")
    return raw if raw.endswith("/") else raw + "/"


def fetch_base_binary(asset: ReleaseAsset, work_dir: Path) -> Path:
    """Download, verify and extract; returns the extracted binary inside `work_dir`.

    Raises DownloadError; whatever was written stays inside `work_dir`, which the caller
    removes.
    """
    expected = _expected_sha256(asset, work_dir)
    archive = work_dir / asset.name
    actual = _download(asset.archive_url, archive, limit=MAX_ARCHIVE_BYTES)
    if actual != expected:
        raise DownloadError(f"{asset.archive_url}: sha256 is {actual}, but {asset.sums_url} says {expected}; "
                            "refusing the download (corrupted or tampered with)")
    return _extract_binary(archive, work_dir / "extracted", asset)


def _expected_sha256(asset: ReleaseAsset, work_dir: Path) -> str:
    sums = work_dir / SUMS_NAME
    _download(asset.sums_url, sums, limit=MAX_SUMS_BYTES)
    try:
        lines = sums.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise DownloadError(f"{asset.sums_url}: not a SHA256SUMS text file") from None
    for line in lines:
        digest, _, name = line.strip().partition(" ")
        # sha256sum writes "<hex>  <name>", or "<hex> *<name>" in binary mode.
        if name.strip().lstrip("*") == asset.name:
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower()):
                raise DownloadError(f"{asset.sums_url}: the line for {asset.name} has no valid sha256")
            return digest.lower()
    raise DownloadError(f"{asset.sums_url} has no line for {asset.name}; refusing an unverifiable download")


def _download(url: str, destination: Path, *, limit: int) -> str:
    """Stream `url` into `destination`; returns its sha256 hex digest."""
    digest = hashlib.sha256()
    size = 0
    try:
        # The scheme was checked by base_url_from_env: http, https or file only.
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response, destination.open("wb") as out:
            while chunk := response.read(CHUNK_SIZE):
                size += len(chunk)
                if size > limit:
                    raise DownloadError(f"{url}: larger than {limit} bytes; refusing it")
                digest.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(f"download of {url} failed: {exc.reason}") from None
    except (OSError, ValueError) as exc:  # timeouts, resets, malformed URLs
        raise DownloadError(f"download of {url} failed: {exc}") from None
    return digest.hexdigest()


def _extract_binary(archive: Path, destination: Path, asset: ReleaseAsset) -> Path:
    destination.mkdir()
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            member = _runtime_member(tar, asset)
            # The data filter refuses links, device files, absolute and escaping paths.
            tar.extract(member, path=destination, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DownloadError(f"{asset.archive_url}: cannot extract {BINARY_NAME}: {exc}") from None
    extracted = destination / BINARY_NAME
    if not extracted.is_file() or extracted.is_symlink():
        raise DownloadError(f"{asset.archive_url}: {BINARY_NAME} did not extract as a regular file")
    os.chmod(extracted, 0o755)
    return extracted


def _runtime_member(tar: tarfile.TarFile, asset: ReleaseAsset) -> tarfile.TarInfo:
    candidates = [member for member in tar.getmembers() if member.name in _ROOT_NAMES]
    if not candidates:
        raise DownloadError(f"{asset.archive_url}: the archive has no {BINARY_NAME} at its root")
    if len(candidates) > 1:
        raise DownloadError(f"{asset.archive_url}: the archive holds {BINARY_NAME} {len(candidates)} times")
    member = candidates[0]
    if not member.isreg():
        raise DownloadError(f"{asset.archive_url}: {BINARY_NAME} in the archive is not a regular file "
                            "(a link or device); refusing it")
    if member.size > MAX_BINARY_BYTES:
        raise DownloadError(f"{asset.archive_url}: {BINARY_NAME} is {member.size} bytes; refusing it")
    return member
