//! Plain-slice kernels of "same"-padded max pooling and its gradient on contiguous `f32` NCHW
//! data, one channel plane at a time.

use crate::ops::isa::multiversion;
use crate::ops::same_padding;

/// Sizes of a square max pooling with "same" padding (TensorFlow's and burn's
/// `PaddingConfig2d::Same`: `ceil(size / stride)` outputs, the padding split with the odd pixel
/// at the end; padded positions never win).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolShape {
    pub planes: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: usize,
    pub stride: usize,
}

impl PoolShape {
    pub fn out_height(&self) -> usize {
        self.height.div_ceil(self.stride)
    }

    pub fn out_width(&self) -> usize {
        self.width.div_ceil(self.stride)
    }

    /// Padding before the first row and before the first column.
    pub fn padding_start(&self) -> [usize; 2] {
        [
            same_padding(self.kernel, self.stride, self.height).0,
            same_padding(self.kernel, self.stride, self.width).0,
        ]
    }

    fn in_plane(&self) -> usize {
        self.height * self.width
    }

    fn out_plane(&self) -> usize {
        self.out_height() * self.out_width()
    }

    /// Input positions `lo..hi` of output position `out` along an axis of `len` with `pad`
    /// leading padding.
    fn window(&self, out: usize, pad: usize, len: usize) -> (usize, usize) {
        let start = out * self.stride;
        let lo = start.saturating_sub(pad);
        let hi = (start + self.kernel).saturating_sub(pad).min(len);
        (lo, hi.max(lo))
    }
}

/// The larger of two values. Not `f32::max`: on wasm32 that is a call to `fmaxf` (the
/// instruction's NaN rules differ from Rust's), which made pooling a sixth of the classifier's
/// time in the browser; a comparison compiles to a select.
#[inline(always)]
fn larger(a: f32, b: f32) -> f32 {
    if b > a { b } else { a }
}

/// `x`: `[planes, h, w]` -> `[planes, ceil(h / s), ceil(w / s)]`.
pub fn forward(x: &[f32], shape: PoolShape) -> Vec<f32> {
    let mut out = vec![0.0; shape.planes * shape.out_plane()];
    crate::ops::for_each_chunk(&mut out, shape.out_plane(), |p, plane_out| {
        let plane = &x[p * shape.in_plane()..][..shape.in_plane()];
        forward_plane(plane, shape, plane_out);
    });
    out
}

multiversion! {
    /// One plane of [`forward`].
    fn forward_plane(plane: &[f32], shape: PoolShape, plane_out: &mut [f32]) {
        let [pad_h, pad_w] = shape.padding_start();
        // Column maxima with -inf on both sides, so that every window is a whole slice.
        let mut padded = vec![f32::NEG_INFINITY; pad_w + shape.width + shape.kernel];
        let mut phases = Vec::new();
        for (oh, out_row) in plane_out.chunks_mut(shape.out_width()).enumerate() {
            // The largest value of each column over the window's rows, then of each window
            // along that row: k + k comparisons per output instead of k * k.
            let (r0, r1) = shape.window(oh, pad_h, shape.height);
            let column_max = &mut padded[pad_w..pad_w + shape.width];
            column_max.copy_from_slice(&plane[r0 * shape.width..][..shape.width]);
            for r in r0 + 1..r1 {
                let row = &plane[r * shape.width..][..shape.width];
                for (m, &v) in column_max.iter_mut().zip(row) {
                    *m = larger(*m, v);
                }
            }
            window_maxima(&padded, shape.kernel, shape.stride, &mut phases, out_row);
        }
    }
}

/// The maximum of each window along a row: `out[j] = max(row[j * stride..][..kernel])`, for
/// a `row` long enough for every window.
///
/// The row is first split into its `stride` phases (`phases[r][m] = row[m * stride + r]`, in
/// the reused buffer `phases`): each of the `kernel` taps is then a contiguous run of one
/// phase, and its running maximum over the outputs vectorises (strided reads do not).
#[inline(always)]
fn window_maxima(
    row: &[f32],
    kernel: usize,
    stride: usize,
    phases: &mut Vec<f32>,
    out: &mut [f32],
) {
    let phase_len = row.len().div_ceil(stride);
    phases.clear();
    phases.resize(stride * phase_len, f32::NEG_INFINITY);
    for (m, group) in row.chunks(stride).enumerate() {
        for (r, &v) in group.iter().enumerate() {
            phases[r * phase_len + m] = v;
        }
    }
    out.fill(f32::NEG_INFINITY);
    let n = out.len();
    for tap in 0..kernel {
        let start = (tap % stride) * phase_len + tap / stride;
        for (value, &v) in out.iter_mut().zip(&phases[start..][..n]) {
            *value = larger(*value, v);
        }
    }
}

/// Gradient with respect to the input: each output's gradient goes to the input that won its
/// window. `grad`: `[planes, h_out, w_out]` -> `[planes, h, w]`.
pub fn input_grad(x: &[f32], grad: &[f32], shape: PoolShape) -> Vec<f32> {
    let mut dx = vec![0.0; shape.planes * shape.in_plane()];
    crate::ops::for_each_chunk(&mut dx, shape.in_plane(), |p, plane_dx| {
        let plane = &x[p * shape.in_plane()..][..shape.in_plane()];
        let g = &grad[p * shape.out_plane()..][..shape.out_plane()];
        input_grad_plane(plane, g, shape, plane_dx);
    });
    dx
}

multiversion! {
    /// One plane of [`input_grad`]. The winner of each window is the first largest input in
    /// row-major order, found with selects rather than branches: which input wins is data, and
    /// mispredicted branches made this loop a sixth of a training step of the classifier.
    fn input_grad_plane(plane: &[f32], g: &[f32], shape: PoolShape, plane_dx: &mut [f32]) {
        let [pad_h, pad_w] = shape.padding_start();
        let width = shape.width;
        for (oh, g_row) in g.chunks_exact(shape.out_width()).enumerate() {
            let (r0, r1) = shape.window(oh, pad_h, shape.height);
            for (ow, &g) in g_row.iter().enumerate() {
                let (c0, c1) = shape.window(ow, pad_w, width);
                let mut best = r0 * width + c0;
                let mut best_value = plane[best];
                for r in r0..r1 {
                    for (at, &v) in plane[r * width..][..c1].iter().enumerate().skip(c0) {
                        let better = v > best_value;
                        best = if better { r * width + at } else { best };
                        best_value = if better { v } else { best_value };
                    }
                }
                plane_dx[best] += g;
            }
        }
    }
}
