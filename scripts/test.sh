#!/usr/bin/env bash
# Runs every test: formatting, clippy for both targets, the native tests (release: they run the
# real models), the release web build, and the end-to-end tests in headless Chromium on the CPU
# and the WebGPU (SwiftShader) backends. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh browser

WASM_TARGET_DIR="${CARGO_TARGET_DIR_WASM:-target-wasm}"

echo "== cargo fmt"
cargo fmt --check
echo "== clippy (native)"
cargo clippy --all-targets -- -D warnings
echo "== clippy (wasm32)"
CARGO_TARGET_DIR="$WASM_TARGET_DIR" cargo clippy --target wasm32-unknown-unknown --no-default-features --all-targets -- -D warnings
echo "== native tests"
cargo test --release --no-fail-fast
echo "== web build"
CARGO_TARGET_DIR="$WASM_TARGET_DIR" trunk build --release --offline
echo "== browser tests"
node --test --test-concurrency=1 tests/browser/
