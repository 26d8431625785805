#!/usr/bin/env bash
# Serves the demo with the shipped weights at http://127.0.0.1:8080 (installs what is missing).
#
# The page is built with Cargo.toml's `serve` profile (no fat LTO: a first run on a fresh
# 2-core machine builds it in a fraction of the deployment profile's time). The page's own
# build starts at once, alongside the installs of trunk and wasm-bindgen-cli when they are
# missing, with the very command trunk runs, so that trunk finds it done (and, unlike trunk's
# offline build, it fetches the crates a fresh machine does not have yet).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_WASM:-target-wasm}"
build=(cargo build --target=wasm32-unknown-unknown --manifest-path "$PWD/Cargo.toml" --profile serve --no-default-features)

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
"${build[@]}" &
prebuild=$!
# The tools build in their own target directory, not the page's.
CARGO_TARGET_DIR=target-tools scripts/setup.sh
wait "$prebuild"
# Not `--release`: trunk's release mode only adds wasm-opt (minutes) and minification, which
# scripts/deploy.sh keeps for the deployment build.
exec trunk serve --cargo-profile serve --offline --address 127.0.0.1 --port "${PORT:-8080}"
