"""Cold and warm `efbuild targets build --all`: per-target times and binary sizes.

A figure, not a test: it prints what it measured and exits 0 whatever the numbers are.
The cold run uses a fresh efbuild work dir (cargo's crate downloads stay in ~/.cargo, so
it measures compiling, not downloading); the warm run repeats it unchanged, which must
not start cargo at all.

    python bench/build_matrix.py [--custom] [--jobs N] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_build(work_dir: Path, extra: list[str]) -> tuple[float, list[dict]]:
    command = [sys.executable, "-m", "efbuild", "--work-dir", str(work_dir),
               "targets", "build", "--all", "--json", *extra]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ)
    elapsed = time.monotonic() - started
    if not done.stdout.strip():
        sys.exit(f"efbuild failed ({done.returncode}):\n{done.stderr}")
    return elapsed, json.loads(done.stdout)["results"]


def print_table(title: str, total: float, results: list[dict]) -> None:
    print(f"\n{title}: {total:.1f}s wall")
    print(f"  {'target':<34} {'state':<13} {'seconds':>8} {'size':>10} {'route':<10} {'glibc':>6}")
    for r in results:
        record = r.get("record") or {}
        size = f"{record['size'] / 1e6:.2f} MB" if record else "-"
        route = (record.get("toolchain") or {}).get("route", "-") if record else "-"
        print(f"  {r['key']:<34} {r['state']:<13} {r['seconds']:>8.1f} {size:>10} {route:<10} "
              f"{(record.get('glibc_required') or '-') if record else '-':>6}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--custom", action="store_true", help="also the custom targets (musl, universal2)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the cold work dir")
    args = parser.parse_args()
    extra = ["--jobs", str(args.jobs)] + (["--custom"] if args.custom else [])
    work_dir = Path(tempfile.mkdtemp(prefix="efbuild-bench-"))
    try:
        cold, cold_results = run_build(work_dir, extra)
        print_table("cold --all", cold, cold_results)
        warm, warm_results = run_build(work_dir, extra)
        print_table("warm --all (nothing changed)", warm, warm_results)
    finally:
        if args.keep:
            print(f"\nwork dir kept: {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
