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
#   scripts/test.sh --full   the same with the long runs: the 100-photo soak, ten times the fuzz
#                            cases, the browser tests that the default tier runs on the CPU only
#                            (the soak among them) also on WebGPU (PETLENS_FULL_TIER; see
#                            tests/browser/harness.mjs), the page as deployed (scripts/deploy.sh:
#                            the size-tuned `web` profile, fat LTO and wasm-opt) and the opt-in
#                            `wgpu` training backend on lavapipe (its own native build)
set -euo pipefail
cd "$(dirname "$0")/.."

# The page's build: the demo's profile by default, the deployment's in the full tier.
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
    export PETLENS_FUZZ_SCALE="${PETLENS_FUZZ_SCALE:-10}"
    export PETLENS_FULL_TIER=1
    ;;
  *) echo "usage: scripts/test.sh [--full]" >&2; exit 2 ;;
esac

scripts/setup.sh browser

WASM_TARGET_DIR="${CARGO_TARGET_DIR_WASM:-target-wasm}"

echo "== cargo fmt"
cargo fmt --check
# Clippy without a second build: clippy's driver compiles the workspace's crates as rustc would
# (the dependencies are left to rustc) and lints them as it goes, with `-D warnings` handed over
# the way `cargo clippy -- -D warnings` hands it (CLIPPY_ARGS). `cargo clippy` itself runs `cargo
# check`, which compiles every dependency a second time in check mode: 2.3 (native) and 2.7
# (wasm32) of the CI's minutes on a 2-core Zen 3. The driver turns off rustc's MIR optimisations
# in the crates it lints; LLVM's are untouched.
linted() {
  RUSTC_WORKSPACE_WRAPPER="$(command -v clippy-driver)" \
    CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__" "$@"
}
echo "== native tests and clippy (native: the library, its tests, the binary, the example)"
linted cargo test --release --no-fail-fast
if $full; then
  echo "== the wgpu training backend (lavapipe) and its clippy"
  cargo test --release --features wgpu --test native training::
  cargo clippy --release --all-targets --features wgpu -- -D warnings
fi
export CARGO_TARGET_DIR="$WASM_TARGET_DIR"
wasm_targets=(--profile "$web_profile" --target wasm32-unknown-unknown --no-default-features)
if $full; then
  # The page exactly as deployed, then clippy with the build's profile, which reuses what the
  # build compiled of the dependencies (2.0 instead of 11.2 minutes).
  echo "== web build (deployment)"
  "${web_build[@]}"
  echo "== clippy (wasm32)"
  cargo clippy "${wasm_targets[@]}" --all-targets -- -D warnings
else
  echo "== web build and clippy (wasm32: the library)"
  linted "${web_build[@]}"
  echo "== clippy (wasm32: the library's tests and the example)"
  linted cargo build "${wasm_targets[@]}" --tests --examples
fi
unset CARGO_TARGET_DIR
# Two test files at a time: one suite leaves most of the two cores idle while it waits on pages
# and SwiftShader (16.0 minutes one at a time in CI, 13.9 two at a time on the same machine).
echo "== browser tests"
node --test --test-concurrency=2 tests/browser/
