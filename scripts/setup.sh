#!/usr/bin/env bash
# Installs what petlens needs, and only what is missing: the wasm32 target, trunk and
# wasm-bindgen-cli from crates.io at pinned versions; with `browser` also Debian's chromium,
# the npm packages and Debian's lavapipe (a software Vulkan) for the tests of
# `train --backend wgpu`; with `deploy` the npm packages (wasm-opt). Nothing is downloaded from
# outside the registries.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
if ! trunk --version 2>/dev/null | grep -q '0\.21\.14'; then
  cargo install trunk --locked --version 0.21.14
fi
# Must equal the wasm-bindgen in Cargo.lock; --locked would want a crate version the registry lacks.
if ! wasm-bindgen --version 2>/dev/null | grep -q '0\.2\.130'; then
  cargo install wasm-bindgen-cli --version 0.2.130
fi

# The npm packages: the browser tests' driver, and binaryen's wasm-opt (npm's build of it: Debian's
# binaryen 108 writes a broken module) for the deployment build.
npm_packages() {
  if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/axe-core ] || [ ! -x node_modules/.bin/wasm-opt ]; then
    npm ci --no-audit --no-fund
  fi
}

if [ "${1:-}" = deploy ]; then
  npm_packages
fi
if [ "${1:-}" = browser ]; then
  if ! command -v chromium >/dev/null; then
    apt-get update && apt-get install -y chromium
  fi
  if [ ! -e /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ] && [ ! -e /usr/share/vulkan/icd.d/lvp_icd.json ]; then
    apt-get update && apt-get install -y --no-install-recommends mesa-vulkan-drivers libvulkan1
  fi
  npm_packages
fi
