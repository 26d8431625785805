//! A packed, blocked f32 matrix product for AVX2 with FMA in BLIS's loop structure (a 6x16
//! micro-kernel in 12 registers; `lhs` packed `MC x KC` into 6-row panels for L2, `rhs` into
//! 16-column panels, `KC x NC` for L3 or one panel at a time when every row of `lhs` fits one
//! block; prefetches of the product's tile and of `lhs`), timed against `gemm` 0.19's AVX2
//! product (the one petlens runs) on one thread, on 2048³ and on the shapes of the chapter's
//! convolutions: the forward product (output channels x pixels x patch, `rhs` row-major) and
//! the filter gradient (output channels x patch x pixels, `rhs` a transposed view). Built and
//! run by `bench/packed_gemm.sh` in a scratch crate: petlens does not ship it (BENCHMARKS.md).

use std::arch::x86_64::{
    _MM_HINT_T0, _mm_prefetch, _mm256_broadcast_ss, _mm256_fmadd_ps,
    _mm256_loadu_ps, _mm256_setzero_ps, _mm256_storeu_ps,
};

const MR: usize = 6;
const NR: usize = 16;
const KC: usize = 256;
const MC: usize = 144;
const NC: usize = 4080;

/// A matrix in a slice: element `(i, j)` at `i * rs + j * cs`.
#[derive(Clone, Copy)]
struct View<'a> {
    data: &'a [f32],
    rs: usize,
    cs: usize,
}

impl View<'_> {
    fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.rs + j * self.cs]
    }
}

/// `c = a · b` (`c` row-major, `m x n`), on this thread.
fn packed_product(c: &mut [f32], [m, n, k]: [usize; 3], a: View, b: View) {
    let mut packed_a = vec![0.0f32; MC * KC];
    let rhs_block = if m <= MC { NR } else { NC };
    let mut packed_b = vec![0.0f32; KC * rhs_block];
    for pc in (0..k).step_by(KC) {
        let kc = KC.min(k - pc);
        if m <= MC {
            pack_a(a, [0, pc], [m, kc], &mut packed_a);
        }
        for jc in (0..n).step_by(rhs_block) {
            let nc = rhs_block.min(n - jc);
            pack_b(b, [pc, jc], [kc, nc], &mut packed_b);
            for ic in (0..m).step_by(MC) {
                let mc = MC.min(m - ic);
                if m > MC {
                    pack_a(a, [ic, pc], [mc, kc], &mut packed_a);
                }
                for jr in (0..nc).step_by(NR) {
                    for ir in (0..mc).step_by(MR) {
                        let at = (ic + ir) * n + jc + jr;
                        let shape = [MR.min(mc - ir), NR.min(nc - jr)];
                        // SAFETY: main() checked AVX2 and FMA; the tile lies inside `c`.
                        unsafe {
                            tile(
                                &packed_a[ir * kc..][..kc * MR],
                                &packed_b[jr * kc..][..kc * NR],
                                c[at..].as_mut_ptr(),
                                n,
                                shape,
                                pc > 0,
                            )
                        };
                    }
                }
            }
        }
    }
}

fn pack_b(b: View, [p0, j0]: [usize; 2], [kc, nc]: [usize; 2], out: &mut [f32]) {
    for (panel, dst) in out[..nc.div_ceil(NR) * NR * kc].chunks_exact_mut(NR * kc).enumerate() {
        let j = j0 + panel * NR;
        let width = NR.min(j0 + nc - j);
        if b.cs == 1 {
            for (p, row) in dst.chunks_exact_mut(NR).enumerate() {
                let start = (p0 + p) * b.rs + j;
                row[..width].copy_from_slice(&b.data[start..start + width]);
                row[width..].fill(0.0);
            }
            continue;
        }
        for c in 0..NR {
            for p in 0..kc {
                dst[p * NR + c] = if c < width { b.at(p0 + p, j + c) } else { 0.0 };
            }
        }
    }
}

fn pack_a(a: View, [i0, p0]: [usize; 2], [mc, kc]: [usize; 2], out: &mut [f32]) {
    for (panel, dst) in out[..mc.div_ceil(MR) * MR * kc].chunks_exact_mut(MR * kc).enumerate() {
        let i = i0 + panel * MR;
        let height = MR.min(i0 + mc - i);
        for r in 0..MR {
            for p in 0..kc {
                dst[p * MR + r] = if r < height { a.at(i + r, p0 + p) } else { 0.0 };
            }
        }
    }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn tile(a: &[f32], b: &[f32], c: *mut f32, rs: usize, [rows, cols]: [usize; 2], add: bool) {
    for r in 0..rows {
        _mm_prefetch::<_MM_HINT_T0>(c.wrapping_add(r * rs).cast());
        _mm_prefetch::<_MM_HINT_T0>(c.wrapping_add(r * rs + cols - 1).cast());
    }
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    for p in 0..a.len() / MR {
        // SAFETY: row `p` of both panels is in bounds.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(a.as_ptr().wrapping_add(p * MR + 64).cast());
            let b0 = _mm256_loadu_ps(b.as_ptr().add(p * NR));
            let b1 = _mm256_loadu_ps(b.as_ptr().add(p * NR + 8));
            for (r, acc) in acc.iter_mut().enumerate() {
                let a = _mm256_broadcast_ss(&*a.as_ptr().add(p * MR + r));
                acc[0] = _mm256_fmadd_ps(a, b0, acc[0]);
                acc[1] = _mm256_fmadd_ps(a, b1, acc[1]);
            }
        }
    }
    let mut whole = [0.0f32; MR * NR];
    for (r, acc) in acc.iter().enumerate() {
        // SAFETY: `whole` holds MR x NR floats.
        unsafe {
            _mm256_storeu_ps(whole.as_mut_ptr().add(r * NR), acc[0]);
            _mm256_storeu_ps(whole.as_mut_ptr().add(r * NR + 8), acc[1]);
        }
    }
    for r in 0..rows {
        for (j, v) in whole[r * NR..][..cols].iter().enumerate() {
            // SAFETY: inside the tile (the caller).
            unsafe {
                let c = c.add(r * rs + j);
                *c = if add { *c + v } else { *v };
            }
        }
    }
}

fn gemm_product(c: &mut [f32], [m, n, k]: [usize; 3], a: View, b: View) {
    // SAFETY: the views hold m x k and k x n elements; `c` holds m x n, row-major.
    unsafe {
        gemm::gemm(m, n, k, c.as_mut_ptr(), 1, n as isize, false, a.data.as_ptr(), a.cs as isize,
            a.rs as isize, b.data.as_ptr(), b.cs as isize, b.rs as isize, 1.0, 1.0, false, false,
            false, gemm::Parallelism::None);
    }
}

fn main() {
    assert!(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"), "needs AVX2 and FMA");
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpu.lines().find(|l| l.starts_with("model name")).unwrap_or("model name: ?");
    println!("{model}; one thread; GFLOP/s best of 5 alternating rounds");
    // name, [m, n, k], rhs transposed
    let shapes: [(&str, [usize; 3], bool); 7] = [
        ("square 2048", [2048, 2048, 2048], false),
        ("forward 3x3 64->64, 80x80 px", [64, 6400, 576], false),
        ("forward 3x3 128->128, 40x40 px", [128, 1600, 1152], false),
        ("forward 3x3 256->256, 20x20 px", [256, 400, 2304], false),
        ("forward 3x3 3->32, 160x160 px", [32, 25600, 27], false),
        ("filter gradient 64->64, 80x80 px", [64, 576, 6400], true),
        ("filter gradient 128->128, 40x40 px", [128, 1152, 1600], true),
    ];
    for (name, [m, n, k], transposed) in shapes {
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 19) as f32 - 9.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 17) as f32 - 8.0).collect();
        let a_view = View { data: &a, rs: k, cs: 1 };
        let b_view = if transposed { View { data: &b, rs: 1, cs: k } } else { View { data: &b, rs: n, cs: 1 } };
        let (mut c_gemm, mut c_packed) = (vec![0.0f32; m * n], vec![0.0f32; m * n]);
        let flops = 2.0 * (m * n * k) as f64;
        let reps = ((3e9 / flops) as usize).max(1);
        let (mut gemm_s, mut packed_s) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..5 {
            let t = std::time::Instant::now();
            (0..reps).for_each(|_| gemm_product(&mut c_gemm, [m, n, k], a_view, b_view));
            gemm_s = gemm_s.min(t.elapsed().as_secs_f64() / reps as f64);
            let t = std::time::Instant::now();
            (0..reps).for_each(|_| packed_product(&mut c_packed, [m, n, k], a_view, b_view));
            packed_s = packed_s.min(t.elapsed().as_secs_f64() / reps as f64);
        }
        // Small integers: every sum is exact, so both products must agree to the bit.
        assert_eq!(c_gemm, c_packed, "{name}: the two products differ");
        println!(
            "{name} ({m}x{n}x{k}): gemm {:.1}, packed {:.1}, packed/gemm {:.2}",
            flops / gemm_s / 1e9,
            flops / packed_s / 1e9,
            gemm_s / packed_s
        );
    }
}
