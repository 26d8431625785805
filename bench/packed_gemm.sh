#!/usr/bin/env bash
# A BLIS-style packed AVX2 matrix product (bench/packed_gemm.rs) against `gemm` 0.19's, the one
# petlens runs, on one thread: 2048³ and the shapes of the chapter's convolutions. Builds it in a
# scratch crate outside the repository (petlens stays one crate) with the versions petlens builds
# with, then prints the CPU and per shape both GFLOP/s (best of 5 alternating rounds) and their
# ratio. Needs the crates already in ~/.cargo (a petlens build) and an AVX2 CPU.
#   bench/packed_gemm.sh [scratch-dir]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$(mktemp -d)}"
mkdir -p "$dir/src"
cp "$root/bench/packed_gemm.rs" "$dir/src/main.rs"
cat > "$dir/Cargo.toml" <<'TOML'
[package]
name = "packed-gemm"
version = "0.1.0"
edition = "2024"

[dependencies]
gemm = { version = "0.19", default-features = false, features = ["std"] }

[profile.release]
codegen-units = 1
TOML
cp "$root/Cargo.lock" "$dir/Cargo.lock"
(cd "$dir" && CARGO_TARGET_DIR="$dir/target" cargo build --quiet --release --offline)
exec "$dir/target/release/packed-gemm"
