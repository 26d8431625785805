#!/usr/bin/env bash
# Builds the page for deployment into dist/ (static files: serve them from any web server):
# Cargo.toml's size-tuned `web` profile (fat LTO, one codegen unit), then binaryen's wasm-opt
# at -Oz (index.html's `data-wasm-opt`), which trunk runs only in its release mode. wasm-opt is
# npm's build of binaryen (the version Trunk.toml pins), installed here when missing. About 25
# minutes from scratch on a 2-core machine. Arguments go to trunk (`--dist DIR`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh deploy
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_WASM:-target-wasm}"
PATH="$PWD/node_modules/.bin:$PATH" exec trunk build --release --offline "$@"
