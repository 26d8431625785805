//! A bounds-checked view of the `gemm` crate (the matrix-product kernels burn's `flex` runs), for
//! the project's kernels that multiply strided sub-matrices of their buffers without copying
//! them first.

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

/// A writable row-major matrix inside a slice, rows `row_stride` apart.
pub(crate) struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
}

impl<'a> MatMut<'a> {
    /// # Panics
    /// If the view reaches past the end of `data`.
    pub(crate) fn rows(data: &'a mut [f32], [rows, cols]: [usize; 2], row_stride: usize) -> Self {
        assert!(
            fits(data.len(), [rows, cols], row_stride, 1),
            "matrix view out of bounds"
        );
        Self {
            data,
            rows,
            cols,
            row_stride,
        }
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
            for row in dst.data.chunks_mut(dst.row_stride).take(dst.rows) {
                row[..dst.cols].fill(0.0);
            }
        }
        return;
    }
    let parallelism = parallelism(parallel);
    let stride = |s: usize| s as isize;
    // SAFETY: the three views were checked to lie inside their slices (`MatRef::new`,
    // `MatMut::rows`) and to have chaining shapes (above); `dst` is borrowed mutably, so it
    // cannot overlap `lhs` or `rhs`.
    unsafe {
        gemm::gemm(
            dst.rows,
            dst.cols,
            lhs.cols,
            dst.data.as_mut_ptr(),
            1,
            stride(dst.row_stride),
            accumulate,
            lhs.data.as_ptr(),
            stride(lhs.col_stride),
            stride(lhs.row_stride),
            rhs.data.as_ptr(),
            stride(rhs.col_stride),
            stride(rhs.row_stride),
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
