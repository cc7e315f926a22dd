"""Packing speed against a plain file copy (a figure, not a test).

Writes a weights file of --size MiB, packs it with the container writer onto a small
stand-in base binary, and copies the same bytes with shutil.copyfile (with and without
the fsync the packer does before renaming its output into place); prints the rates.

    python bench/pack_speed.py [--size 512]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from efbuild.container import ArtifactSource, MODEL_TYPES, write_encoderfile

CHUNK = 1 << 20


def make_weights(path: Path, mebibytes: int) -> None:
    block = os.urandom(CHUNK)
    with path.open("wb") as handle:
        for _ in range(mebibytes):
            handle.write(block)


def copy_and_sync(source: Path, destination: Path) -> None:
    """What the packer must do at least: copy the bytes and make them durable."""
    shutil.copyfile(source, destination)
    with destination.open("rb+") as handle:
        os.fsync(handle.fileno())


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512, help="weights size in MiB")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="efbuild-pack-bench-") as tmp:
        root = Path(tmp)
        weights, base = root / "model.onnx", root / "base"
        make_weights(weights, args.size)
        shutil.copyfile(shutil.which("true"), base)
        small = [ArtifactSource("model_config", data=b'{"model_type":"bert"}'),
                 ArtifactSource("tokenizer", data=b'{"tokenizer":{},"config":{}}')]
        copy_seconds = timed(lambda: shutil.copyfile(weights, root / "copy"))
        synced_seconds = timed(lambda: copy_and_sync(weights, root / "copy-synced"))
        pack_seconds = timed(lambda: write_encoderfile(
            base, [ArtifactSource("weights", path=weights), *small], model_type=MODEL_TYPES["embedding"],
            name="bench", version="0", out=root / "bench.encoderfile"))
    rate = lambda seconds: f"{args.size / seconds:8.1f} MiB/s"  # noqa: E731
    print(f"weights: {args.size} MiB")
    print(f"  plain copy : {copy_seconds:6.2f}s  {rate(copy_seconds)}")
    print(f"  copy+fsync : {synced_seconds:6.2f}s  {rate(synced_seconds)}")
    print(f"  pack       : {pack_seconds:6.2f}s  {rate(pack_seconds)}  (hash pass + copy pass + fsync)")
    print(f"  pack / (copy+fsync): {pack_seconds / synced_seconds:.2f}x")


if __name__ == "__main__":
    main()
