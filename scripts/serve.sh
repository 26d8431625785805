#!/usr/bin/env bash
# Serves the demo with the shipped weights at http://127.0.0.1:8080 (installs what is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
CARGO_TARGET_DIR="${CARGO_TARGET_DIR_WASM:-target-wasm}" exec trunk serve --release --offline --address 127.0.0.1 --port "${PORT:-8080}"
