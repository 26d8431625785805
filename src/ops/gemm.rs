//! A bounds-checked view of the `gemm` crate (the matrix-product kernels burn's `flex` runs), for
//! the project's kernels that multiply strided sub-matrices of their buffers without copying
//! them first.

#[cfg(target_arch = "x86_64")]
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

/// `dst = lhs · rhs`, or `dst += lhs · rhs` when `accumulate`. `parallel` lets the product use
/// every core (natively; the browser build is single-threaded).
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

/// `gemm`'s f32 product (`dst = lhs·rhs`, `+=` when `accumulate`, `dst`'s columns contiguous)
/// with the micro-kernels of the instruction set [`instruction_set`] chose: `gemm` itself always
/// takes the CPU's widest, which `PETLENS_MAX_ISA` could not cap. The same blocked algorithm
/// `gemm::gemm` runs for f32 (`gemm_common`'s `gemm_basic_generic` over `gemm_f32`'s
/// micro-kernels), with the kernel set chosen here.
///
/// # Safety
/// The pointers and strides must describe `m x k`, `k x n` and `m x n` matrices inside live
/// allocations, `dst` not overlapping the others.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_f32(
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
                    |a, b, c| a * b + c,
                    &kernels::UKR,
                    &kernels::H_UKR,
                    false,
                    parallelism,
                )
            }
        }};
    }
    match instruction_set() {
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

/// [`gemm_f32`] where there is one instruction set (the browser build: SIMD128): `gemm` itself.
///
/// # Safety
/// As [`gemm_f32`] above.
#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_f32(
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
