#!/usr/bin/env bash
# WebAssembly relaxed SIMD in the page's matrix products: builds the GEMM the page runs (gemm
# 0.19's simd128 micro-kernels, as burn's `simd` feature enables them) twice into a scratch crate
# outside the repository (petlens stays one crate): as shipped (+simd128: multiply, then add),
# and with +relaxed-simd and gemm-f32's `mul_add` patched to `f32x4_relaxed_madd` (one fused
# multiply-add where the CPU has FMA). Then times both in Debian's headless Chromium on the
# shapes of the models' convolutions (bench/relaxed_simd.mjs): GFLOP/s per shape, best of 5
# alternating rounds, and their ratio. Needs the crates already in ~/.cargo (a petlens build).
#   bench/relaxed_simd.sh [scratch-dir]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$(mktemp -d)}"
registry=$(ls -d "$HOME"/.cargo/registry/src/*/gemm-f32-0.19.0 | head -1)
rm -rf "$dir/gemm-f32" && mkdir -p "$dir/src" && cp -r "$registry" "$dir/gemm-f32" && chmod -R u+w "$dir/gemm-f32"
python3 - "$dir/gemm-f32/src/microkernel.rs" <<'PY'
import sys
path = sys.argv[1]
s = open(path).read()
plain = """        #[inline(always)]
        pub unsafe fn mul_add(a: Pack, b: Pack, c: Pack) -> Pack {
            add(c, mul(a, b))
        }

        #[inline(always)]
        pub unsafe fn scalar_mul(lhs: T, rhs: T) -> T {
            lhs * rhs
        }

        #[inline(always)]
        pub unsafe fn scalar_add(lhs: T, rhs: T) -> T {
            lhs + rhs
        }

        #[inline(always)]
        pub unsafe fn scalar_mul_add(a: T, b: T, c: T) -> T {
            a * b + c
        }

        microkernel!(["simd128"]"""
assert s.count(plain) == 1, "gemm-f32's simd128 module changed"
fused = plain.replace("""            add(c, mul(a, b))
        }""", """            #[cfg(target_feature = "relaxed-simd")]
            return transmute(f32x4_relaxed_madd(transmute(a), transmute(b), transmute(c)));
            #[cfg(not(target_feature = "relaxed-simd"))]
            add(c, mul(a, b))
        }""", 1)
open(path, "w").write(s.replace(plain, fused))
PY
cat > "$dir/Cargo.toml" <<'TOML'
[package]
name = "relaxed-gemm"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
gemm = { version = "0.19", default-features = false, features = ["std", "wasm-simd128-enable"] }

[patch.crates-io]
gemm-f32 = { path = "gemm-f32" }
TOML
cat > "$dir/src/lib.rs" <<'RS'
/// Runs an m x k by k x n product `reps` times on one thread; returns a checksum.
#[unsafe(no_mangle)]
pub extern "C" fn product(m: usize, n: usize, k: usize, reps: usize) -> f32 {
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.25).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.5).collect();
    let mut c = vec![0.0f32; m * n];
    for _ in 0..reps {
        // SAFETY: the three buffers hold m x k, k x n and m x n elements, row-major.
        unsafe {
            gemm::gemm(m, n, k, c.as_mut_ptr(), 1, n as isize, false, a.as_ptr(), 1, k as isize,
                b.as_ptr(), 1, n as isize, 1.0, 1.0, false, false, false, gemm::Parallelism::None);
        }
    }
    c.iter().sum()
}

/// 1 where this module was built with relaxed SIMD.
#[unsafe(no_mangle)]
pub extern "C" fn relaxed() -> i32 {
    cfg!(target_feature = "relaxed-simd") as i32
}
RS
# The versions petlens builds with (the scratch crate resolves offline).
cp "$root/Cargo.lock" "$dir/Cargo.lock"
for variant in plain relaxed; do
  flags="-C target-feature=+simd128"
  [ "$variant" = relaxed ] && flags="$flags,+relaxed-simd"
  (cd "$dir" && RUSTFLAGS="$flags" CARGO_TARGET_DIR="$dir/target-$variant" \
    cargo build --quiet --release --offline --target wasm32-unknown-unknown)
done
exec node "$root/bench/relaxed_simd.mjs" "$dir"
