#!/usr/bin/env bash
# Runs every test: formatting, the native tests (release: they run the real models), clippy for
# both targets, the page's build, and the end-to-end tests in headless Chromium on the CPU and the
# WebGPU (SwiftShader) backends. Installs what is missing first.
#
#   scripts/test.sh          the default tier, what CI runs (see BENCHMARKS.md for its time from a
#                            clean clone on a 2-core Zen 3; the target is 40 minutes): every test
#                            that guards behaviour, with a 20-photo soak on the CPU backend and the
#                            fuzzers at their bounded default case counts, on the page as
#                            `scripts/serve.sh` builds it (Cargo.toml's `serve` profile)
#   scripts/test.sh --full   the same with the long runs: the 100-photo soak on both backends, ten
#                            times the fuzz cases, the browser tests that the default tier runs
#                            on the CPU only also on WebGPU (PETLENS_FULL_TIER; see
#                            tests/browser/harness.mjs), the page as deployed (scripts/deploy.sh:
#                            the size-tuned `web` profile, fat LTO and wasm-opt) and the opt-in
#                            `wgpu` training backend on lavapipe (its own native build)
set -euo pipefail
cd "$(dirname "$0")/.."

# The page's build: the demo's profile by default, the deployment's in the full tier. The wasm32
# clippy runs after it with the build's own profile, so that it reuses what the build compiled
# (measured on a 2-core Zen 3: 2.0 instead of 11.2 minutes).
web_build=(trunk build --cargo-profile serve --offline)
web_profile=serve
full=false
case "${1:-}" in
  "") ;;
  --full)
    web_build=(scripts/deploy.sh)
    web_profile=web
    full=true
    export PETLENS_SOAK_PHOTOS="${PETLENS_SOAK_PHOTOS:-100}"
    export PETLENS_SOAK_BACKENDS="${PETLENS_SOAK_BACKENDS:-cpu,webgpu}"
    export PETLENS_FUZZ_SCALE="${PETLENS_FUZZ_SCALE:-10}"
    export PETLENS_FULL_TIER=1
    ;;
  *) echo "usage: scripts/test.sh [--full]" >&2; exit 2 ;;
esac

scripts/setup.sh browser

WASM_TARGET_DIR="${CARGO_TARGET_DIR_WASM:-target-wasm}"

echo "== cargo fmt"
cargo fmt --check
# The native tests' build is also the native clippy: clippy's driver compiles the workspace's
# crates (the library, its tests, the binary, the example: what `--all-targets` lints) and lints
# them as it goes, with `-D warnings` handed over the way `cargo clippy -- -D warnings` hands it
# (CLIPPY_ARGS). `cargo clippy` itself runs `cargo check`, which compiles every dependency a
# second time in check mode: 2.3 of the CI's minutes on a 2-core Zen 3.
linted() {
  RUSTC_WORKSPACE_WRAPPER="$(command -v clippy-driver)" \
    CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__" "$@"
}
echo "== native tests and clippy (native)"
linted cargo test --release --no-fail-fast
if $full; then
  echo "== the wgpu training backend (lavapipe) and its clippy"
  cargo test --release --features wgpu --test native training::
  cargo clippy --release --all-targets --features wgpu -- -D warnings
fi
echo "== web build"
CARGO_TARGET_DIR="$WASM_TARGET_DIR" "${web_build[@]}"
echo "== clippy (wasm32)"
CARGO_TARGET_DIR="$WASM_TARGET_DIR" cargo clippy --profile "$web_profile" --target wasm32-unknown-unknown --no-default-features --all-targets -- -D warnings
echo "== browser tests"
node --test --test-concurrency=1 tests/browser/
