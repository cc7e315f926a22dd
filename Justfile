# Recipes for efbuild. Run them through ./dev, which prepares .venv first.
set shell := ["bash", "-euo", "pipefail", "-c"]

venv := justfile_directory() / ".venv/bin"

# List the recipes
default:
    @just --list

# Install efbuild and its test tools into .venv (./dev does this on first use)
setup:
    python3 -m venv .venv
    {{venv}}/python -m pip install --quiet --upgrade pip
    {{venv}}/python -m pip install --quiet rust-just -e '.[test]'

# The headline job: build, check and install every official target this machine can build
build-all *ARGS:
    {{venv}}/efbuild toolchain install
    {{venv}}/efbuild targets build --all --install --jobs 2 {{ARGS}}

# Every test: fast unit tests and the integration tests that build real binaries
test *ARGS:
    {{venv}}/efbuild toolchain install
    cargo test --workspace --locked -j 2
    {{venv}}/python -m pytest {{ARGS}}

# Only the fast tier (no real builds)
test-fast *ARGS:
    {{venv}}/python -m pytest -m "not integration" {{ARGS}}

# Rust and Python style checks, and freshness of generated data
lint:
    {{venv}}/ruff check orchestrator tests tools bench
    cargo fmt --check
    cargo clippy -p encoderfile-runtime --all-targets -- -D warnings
    {{venv}}/python tools/gen_glibc_policies.py --check

# Figures, not tests: cold and warm --all (times, sizes), then packing speed against a copy
bench *ARGS:
    {{venv}}/python bench/build_matrix.py {{ARGS}}
    {{venv}}/python bench/pack_speed.py
