//! A bounds-checked view of the `gemm` crate (the matrix-product kernels burn's `flex` runs), for
//! the project's kernels that multiply strided sub-matrices of their buffers without copying
//! them first.

use super::isa::{InstructionSet, instruction_set};

/// A read-only matrix inside a slice: element `(i, j)` is `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A `rows x cols` view with the given strides.
    ///
    /// # Panics
    /// If the view reaches past the end of `data`.
    pub(crate) fn new(
        data: &'a [f32],
        [rows, cols]: [usize; 2],
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        assert!(
            fits(data.len(), [rows, cols], row_stride, col_stride),
            "matrix view out of bounds"
        );
        Self {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        }
    }

    /// A dense row-major `rows x cols` matrix whose rows are `row_stride` apart.
    pub(crate) fn rows(data: &'a [f32], shape: [usize; 2], row_stride: usize) -> Self {
        Self::new(data, shape, row_stride, 1)
    }

    /// The transpose, without moving anything.
    pub(crate) fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }
}

/// A writable row-major matrix inside a slice, rows `row_stride` apart. It holds a pointer
/// rather than the slice so that [`MatMut::split_columns`] can hand disjoint column blocks of
/// one matrix to different threads (their rows interleave in memory, so no two slices could).
pub(crate) struct MatMut<'a> {
    data: *mut f32,
    rows: usize,
    cols: usize,
    row_stride: usize,
    _borrow: std::marker::PhantomData<&'a mut [f32]>,
}

// SAFETY: a `MatMut` is an exclusive borrow of its elements (no two views share one), like
// `&mut [f32]`, which is `Send`.
unsafe impl Send for MatMut<'_> {}

impl<'a> MatMut<'a> {
    /// # Panics
    /// If the view reaches past the end of `data`.
    pub(crate) fn rows(data: &'a mut [f32], [rows, cols]: [usize; 2], row_stride: usize) -> Self {
        assert!(
            fits(data.len(), [rows, cols], row_stride, 1),
            "matrix view out of bounds"
        );
        Self {
            data: data.as_mut_ptr(),
            rows,
            cols,
            row_stride,
            _borrow: std::marker::PhantomData,
        }
    }

    /// The blocks of columns `ranges` (ascending, not overlapping), each a matrix of its own.
    ///
    /// # Panics
    /// If the ranges overlap, are out of order or reach past the last column.
    pub(crate) fn split_columns(
        self,
        ranges: impl IntoIterator<Item = std::ops::Range<usize>>,
    ) -> Vec<MatMut<'a>> {
        let mut next_free = 0;
        ranges
            .into_iter()
            .map(|cols| {
                assert!(
                    next_free <= cols.start && cols.start <= cols.end && cols.end <= self.cols,
                    "column blocks must be ascending, disjoint and inside the matrix"
                );
                next_free = cols.end;
                MatMut {
                    // SAFETY: `cols.start <= self.cols`, so the offset stays inside (or one
                    // past) the view's first row.
                    data: unsafe { self.data.add(cols.start) },
                    cols: cols.len(),
                    ..self
                }
            })
            .collect()
    }
}

/// Whether every element of a `rows x cols` view with these strides lies inside `len`.
fn fits(len: usize, [rows, cols]: [usize; 2], row_stride: usize, col_stride: usize) -> bool {
    rows == 0 || cols == 0 || (rows - 1) * row_stride + (cols - 1) * col_stride < len
}

/// `dst = lhs · rhs`, or `dst += lhs · rhs` when `accumulate`, with the micro-kernels of
/// [`kernel_set`]. `parallel` lets the product use every core (natively; the browser build is
/// single-threaded).
///
/// # Panics
/// If the shapes do not chain.
pub(crate) fn matmul(
    dst: MatMut<'_>,
    lhs: MatRef<'_>,
    rhs: MatRef<'_>,
    accumulate: bool,
    parallel: bool,
) {
    matmul_with(kernel_set(), dst, lhs, rhs, accumulate, parallel);
}

/// [`matmul`] with the micro-kernels of `set`, which the CPU must have.
fn matmul_with(
    set: InstructionSet,
    dst: MatMut<'_>,
    lhs: MatRef<'_>,
    rhs: MatRef<'_>,
    accumulate: bool,
    parallel: bool,
) {
    assert!(
        dst.rows == lhs.rows && dst.cols == rhs.cols && lhs.cols == rhs.rows,
        "matmul shapes: [{}, {}] = [{}, {}] x [{}, {}]",
        dst.rows,
        dst.cols,
        lhs.rows,
        lhs.cols,
        rhs.rows,
        rhs.cols
    );
    if dst.rows == 0 || dst.cols == 0 {
        return;
    }
    if lhs.cols == 0 {
        if !accumulate {
            for row in 0..dst.rows {
                // SAFETY: row `row`'s `cols` elements lie inside the view (checked when it was
                // made) and belong to it alone.
                unsafe {
                    std::slice::from_raw_parts_mut(dst.data.add(row * dst.row_stride), dst.cols)
                }
                .fill(0.0);
            }
        }
        return;
    }
    let parallelism = parallelism(parallel);
    let stride = |s: usize| s as isize;
    // SAFETY: the three views were checked to lie inside their slices (`MatRef::new`,
    // `MatMut::rows`, `MatMut::split_columns`) and to have chaining shapes (above); `dst` borrows
    // its elements exclusively, so it cannot overlap `lhs` or `rhs`.
    unsafe {
        gemm_f32(
            set,
            dst.rows,
            dst.cols,
            lhs.cols,
            dst.data,
            stride(dst.row_stride),
            accumulate,
            [lhs.data.as_ptr(), rhs.data.as_ptr()],
            [stride(lhs.row_stride), stride(rhs.row_stride)],
            [stride(lhs.col_stride), stride(rhs.col_stride)],
            parallelism,
        );
    }
}

/// The micro-kernels the products run with: those of the instruction set [`instruction_set`]
/// chose, except on CPUs whose AVX-512 units are half width. `gemm`'s AVX-512 kernels reached
/// 47 GFLOP/s on one core of an AMD EPYC (Zen 4, which runs a 512-bit FMA as two 256-bit
/// halves) where its AVX2 kernels reached 71 (both measured before `oriented` turned the
/// products the way the kernels prefer: to measure again there); on CPUs with full-width
/// AVX-512 units it is the other way round. The choice is made from the CPU's identity, never
/// by timing, so that two runs on one machine compute the same bits; `train bench` times every
/// set ([`kernel_set_gflops`]) to check it.
pub fn kernel_set() -> InstructionSet {
    match instruction_set() {
        InstructionSet::Avx512 if half_width_avx512() => InstructionSet::Avx2,
        set => set,
    }
}

/// Whether this CPU executes 512-bit vector instructions as two 256-bit halves: AMD's Zen 4
/// (family 0x19 with AVX-512). Zen 5 (family 0x1A) and Intel's AVX-512 CPUs have full-width
/// units.
fn half_width_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::__cpuid;
        // `cpuid` exists on every x86_64 CPU, and leaves 0 and 1 on every one of them.
        let (vendor, signature) = (__cpuid(0), __cpuid(1));
        // "AuthenticAMD" in EBX, EDX, ECX.
        let amd = [vendor.ebx, vendor.edx, vendor.ecx] == [0x6874_7541, 0x6974_6e65, 0x444d_4163];
        let base_family = (signature.eax >> 8) & 0xf;
        let family = if base_family == 0xf {
            base_family + ((signature.eax >> 20) & 0xff)
        } else {
            base_family
        };
        amd && family == 0x19
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// `gemm`'s f32 product (`dst = lhs·rhs`, `+=` when `accumulate`, `dst`'s columns contiguous)
/// with the micro-kernels of `set`: `gemm` itself always takes the CPU's widest, which
/// `PETLENS_MAX_ISA` could not cap and which is not always the fastest ([`kernel_set`]). What
/// `gemm::gemm` runs for f32, with the kernel set chosen here: `gemm_common`'s
/// `gemm_basic_generic` over `gemm_f32`'s micro-kernels, given the product the way `gemm::gemm`
/// turns it first (see `oriented`).
///
/// # Safety
/// `set` must be one the CPU has. The pointers and strides must describe `m x k`, `k x n` and
/// `m x n` matrices inside live allocations, `dst` not overlapping the others.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_f32(
    set: InstructionSet,
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_row_stride: isize,
    accumulate: bool,
    [lhs, rhs]: [*const f32; 2],
    [lhs_rs, rhs_rs]: [isize; 2],
    [lhs_cs, rhs_cs]: [isize; 2],
    parallelism: gemm::Parallelism,
) {
    use gemm_common::simd::MixedSimd;
    let Oriented {
        shape: [m, n],
        dst_strides: [dst_cs, dst_rs],
        operands: [lhs, rhs],
        col_strides: [lhs_cs, rhs_cs],
        row_strides: [lhs_rs, rhs_rs],
    } = oriented(
        [m, n],
        dst_row_stride,
        [lhs, rhs],
        [lhs_cs, rhs_cs],
        [lhs_rs, rhs_rs],
    );
    /// One instruction set's product: `$simd` (gemm's token for the set), `$kernels` (its
    /// micro-kernel module), `$n` (f32 lanes per register, as `gemm_f32` instantiates it).
    macro_rules! product {
        ($simd:ty, $kernels:path, $n:expr) => {{
            use $kernels as kernels;
            let simd = <$simd as MixedSimd<f32, f32, f32, f32>>::try_new()
                .expect("instruction_set() chose a set this CPU has");
            // SAFETY: forwarded from the caller.
            unsafe {
                gemm_common::gemm::gemm_basic_generic::<
                    _,
                    f32,
                    { $n },
                    { kernels::MR_DIV_N * $n },
                    { kernels::NR },
                    { kernels::MR_DIV_N },
                    { kernels::H_M },
                    { kernels::H_N },
                >(
                    simd,
                    m,
                    n,
                    k,
                    dst,
                    dst_cs,
                    dst_rs,
                    accumulate,
                    lhs,
                    lhs_cs,
                    lhs_rs,
                    rhs,
                    rhs_cs,
                    rhs_rs,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    |a, b, c| a * b + c,
                    &kernels::UKR,
                    &kernels::H_UKR,
                    false,
                    parallelism,
                )
            }
        }};
    }
    match set {
        InstructionSet::Avx512 => product!(
            gemm_common::simd::V4,
            gemm_f32::microkernel::avx512f::f32,
            16
        ),
        InstructionSet::Avx2 => product!(gemm_common::simd::V3, gemm_f32::microkernel::fma::f32, 8),
        InstructionSet::Baseline => product!(
            gemm_common::simd::Scalar,
            gemm_f32::microkernel::scalar::f32,
            1
        ),
    }
}

/// A product `dst = lhs·rhs` as `gemm_basic_generic` is given it: the strides of `dst` (column,
/// row), of the operands, and the shape `[m, n]`.
#[cfg(target_arch = "x86_64")]
struct Oriented {
    shape: [usize; 2],
    dst_strides: [isize; 2],
    operands: [*const f32; 2],
    col_strides: [isize; 2],
    row_strides: [isize; 2],
}

/// The product with a row-major `dst` (rows `dst_row_stride` apart) turned the way `gemm::gemm`
/// turns it before its blocked algorithm: as `dstᵀ = rhsᵀ·lhsᵀ`, whose destination has
/// contiguous rows, because the micro-kernels compute column-major tiles. Handed a row-major
/// destination as it is, the same kernels ran at 0.59-0.66x of their speed on the turned
/// product (2048³, one thread, AMD EPYC Zen 3: BENCHMARKS.md).
#[cfg(target_arch = "x86_64")]
fn oriented(
    [m, n]: [usize; 2],
    dst_row_stride: isize,
    [lhs, rhs]: [*const f32; 2],
    [lhs_cs, rhs_cs]: [isize; 2],
    [lhs_rs, rhs_rs]: [isize; 2],
) -> Oriented {
    if dst_row_stride > 1 {
        Oriented {
            shape: [n, m],
            dst_strides: [dst_row_stride, 1],
            operands: [rhs, lhs],
            col_strides: [rhs_rs, lhs_rs],
            row_strides: [rhs_cs, lhs_cs],
        }
    } else {
        Oriented {
            shape: [m, n],
            dst_strides: [1, dst_row_stride],
            operands: [lhs, rhs],
            col_strides: [lhs_cs, rhs_cs],
            row_strides: [lhs_rs, rhs_rs],
        }
    }
}

/// [`gemm_f32`] where there is one instruction set (the browser build: SIMD128): `gemm` itself.
///
/// # Safety
/// As [`gemm_f32`] above.
#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_f32(
    _set: InstructionSet,
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_row_stride: isize,
    accumulate: bool,
    [lhs, rhs]: [*const f32; 2],
    [lhs_rs, rhs_rs]: [isize; 2],
    [lhs_cs, rhs_cs]: [isize; 2],
    parallelism: gemm::Parallelism,
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_row_stride,
            accumulate,
            lhs,
            lhs_cs,
            lhs_rs,
            rhs,
            rhs_cs,
            rhs_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn parallelism(parallel: bool) -> gemm::Parallelism {
    if parallel {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    }
}

#[cfg(target_arch = "wasm32")]
fn parallelism(_parallel: bool) -> gemm::Parallelism {
    gemm::Parallelism::None
}

/// GFLOP/s of a square `n x n` product on all cores with the chosen kernel set, best of
/// `tries`: the ceiling the convolutions' matrix products work under, for `train bench`.
#[cfg(not(target_arch = "wasm32"))]
pub fn matmul_peak_gflops(n: usize, tries: usize) -> f64 {
    gflops_with(kernel_set(), n, tries)
}

/// GFLOP/s of every kernel set this CPU has (an `n x n` product on all cores, best of
/// `tries`): the benchmark behind [`kernel_set`]'s choice.
#[cfg(not(target_arch = "wasm32"))]
pub fn kernel_set_gflops(n: usize, tries: usize) -> Vec<(InstructionSet, f64)> {
    InstructionSet::ALL
        .into_iter()
        .filter(|&set| set <= instruction_set())
        .map(|set| (set, gflops_with(set, n, tries)))
        .collect()
}

#[cfg(not(target_arch = "wasm32"))]
fn gflops_with(set: InstructionSet, n: usize, tries: usize) -> f64 {
    let a: Vec<f32> = (0..n * n).map(|i| (i % 7) as f32 * 0.25).collect();
    let b: Vec<f32> = (0..n * n).map(|i| (i % 5) as f32 * 0.5).collect();
    let mut c = vec![0.0; n * n];
    let mut best = f64::INFINITY;
    for _ in 0..tries.max(1) + 1 {
        let start = std::time::Instant::now();
        matmul_with(
            set,
            MatMut::rows(&mut c, [n, n], n),
            MatRef::rows(&a, [n, n], n),
            MatRef::rows(&b, [n, n], n),
            false,
            true,
        );
        best = best.min(start.elapsed().as_secs_f64());
    }
    2.0 * (n as f64).powi(3) / best / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kernel set this CPU has (whichever [`kernel_set`] picked) against a plain triple
    /// loop, on shapes with ragged edges, with and without accumulating, in both layouts.
    #[test]
    fn every_kernel_set_matches_a_plain_product() {
        let [m, k, n] = [37, 45, 29];
        let lhs: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 19) as f32 - 9.0).collect();
        let rhs: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 17) as f32 - 8.0).collect();
        let expected: Vec<f32> = (0..m * n)
            .map(|at| {
                (0..k)
                    .map(|p| lhs[at / n * k + p] * rhs[p * n + at % n])
                    .sum()
            })
            .collect();
        let sets = [
            InstructionSet::Baseline,
            InstructionSet::Avx2,
            InstructionSet::Avx512,
        ];
        let available = sets
            .into_iter()
            .filter(|&set| cfg!(target_arch = "x86_64") && set <= InstructionSet::detected());
        for set in available {
            for accumulate in [false, true] {
                let mut dst = vec![1.0; m * n];
                let dst_view = MatMut::rows(&mut dst, [m, n], n);
                // `rhs` read through its transpose's view, to cover column-strided operands.
                let rhs_t: Vec<f32> = (0..n * k).map(|i| rhs[i % k * n + i / k]).collect();
                let rhs_view = MatRef::rows(&rhs_t, [n, k], k).t();
                matmul_with(
                    set,
                    dst_view,
                    MatRef::rows(&lhs, [m, k], k),
                    rhs_view,
                    accumulate,
                    true,
                );
                let base = if accumulate { 1.0 } else { 0.0 };
                for (got, want) in dst.iter().zip(&expected) {
                    assert_eq!(*got, want + base, "{set:?}, accumulate {accumulate}");
                }
            }
        }
    }
}
