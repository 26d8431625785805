//! Plain-slice kernels of the two gradients of the depthwise convolution, on contiguous `f32`
//! NCHW data. burn's generic backward for grouped convolutions loops over the groups one
//! convolution at a time (hundreds of tiny convolutions per layer here); these walk each
//! channel plane once.

use crate::ops::for_each_chunk;
use crate::ops::isa::multiversion;

/// Sizes of a depthwise convolution: stride 1, square `kernel`, symmetric zero `padding`, one
/// filter per channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DepthwiseShape {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: usize,
    pub padding: usize,
}

impl DepthwiseShape {
    /// Output rows: `height + 2 * padding - kernel + 1`.
    pub fn out_height(&self) -> usize {
        (self.height + 2 * self.padding + 1).saturating_sub(self.kernel)
    }

    /// Output columns: `width + 2 * padding - kernel + 1`.
    pub fn out_width(&self) -> usize {
        (self.width + 2 * self.padding + 1).saturating_sub(self.kernel)
    }

    fn in_plane(&self) -> usize {
        self.height * self.width
    }

    fn out_plane(&self) -> usize {
        self.out_height() * self.out_width()
    }

    fn taps(&self) -> usize {
        self.kernel * self.kernel
    }
}

/// The output positions `lo..hi` along one axis whose input position `out + offset - padding`
/// lies inside `0..in_len`, for kernel tap `offset`.
fn valid_range(offset: usize, padding: usize, in_len: usize, out_len: usize) -> (usize, usize) {
    let lo = padding.saturating_sub(offset).min(out_len);
    let hi = (in_len + padding).saturating_sub(offset).min(out_len);
    (lo, hi.max(lo))
}

/// Forward pass of a `K x K` depthwise convolution. `x`: `[n, c, h, w]`, `weight`:
/// `[c, 1, K, K]` (`shape.kernel == K`); returns `[n, c, h_out, w_out]`.
///
/// Each plane is first copied into a zero-padded one, so that every output is a whole window
/// with no edge cases; each output is then the sum of its `K * K` products, and with `K` known
/// at compile time the loop over a row's outputs vectorises with all taps unrolled: one store
/// per output. (flex's kernel adds one tap at a time into the output row in memory, `K * K`
/// loads and stores of every output, and a first version here that summed blocks of eight
/// outputs over a run-time tap loop was slower than that, bound by its chain of additions.)
pub fn forward<const K: usize>(x: &[f32], weight: &[f32], shape: DepthwiseShape) -> Vec<f32> {
    let out_w = shape.out_width();
    let padded_w = shape.width + 2 * shape.padding;
    let mut y = vec![0.0; shape.batch * shape.channels * shape.out_plane()];
    for_each_chunk(&mut y, shape.out_plane(), |bc, out| {
        let plane = &x[bc * shape.in_plane()..][..shape.in_plane()];
        let taps = &weight[(bc % shape.channels) * K * K..][..K * K];
        forward_plane::<K>(&padded_plane(plane, shape), taps, padded_w, out_w, out);
    });
    y
}

multiversion! {
    /// One channel plane of [`forward`]: `padded` (rows `padded_w` long) by the `K x K` `taps`
    /// into `out` (rows `out_w` long).
    fn forward_plane<const K: usize>(
        padded: &[f32],
        taps: &[f32],
        padded_w: usize,
        out_w: usize,
        out: &mut [f32],
    ) {
        let filter: [[f32; K]; K] =
            std::array::from_fn(|i| std::array::from_fn(|j| taps[i * K + j]));
        for (oh, out_row) in out.chunks_mut(out_w).enumerate() {
            let rows = std::array::from_fn(|i| &padded[(oh + i) * padded_w..][..out_w + K - 1]);
            window_sums(rows, &filter, out_row);
        }
    }
}

/// `plane` (`h x w`) inside `padding` zeros on every side: `(h + 2p) x (w + 2p)`.
fn padded_plane(plane: &[f32], shape: DepthwiseShape) -> Vec<f32> {
    let p = shape.padding;
    let padded_w = shape.width + 2 * p;
    let mut padded = vec![0.0; (shape.height + 2 * p) * padded_w];
    for (row, padded_row) in plane
        .chunks_exact(shape.width)
        .zip(padded.chunks_exact_mut(padded_w).skip(p))
    {
        padded_row[p..p + shape.width].copy_from_slice(row);
    }
    padded
}

/// One output row: `out[o] = sum over taps (i, j) of filter[i][j] * rows[i][o + j]`, where
/// `rows` are the `K` padded input rows the output row reads, `out.len() + K - 1` long.
#[inline(always)]
fn window_sums<const K: usize>(rows: [&[f32]; K], filter: &[[f32; K]; K], out: &mut [f32]) {
    for (o, value) in out.iter_mut().enumerate() {
        let mut sum = 0.0;
        for (row, taps) in rows.iter().zip(filter) {
            for (j, &w) in taps.iter().enumerate() {
                sum += w * row[o + j];
            }
        }
        *value = sum;
    }
}

/// Gradient with respect to the input: every input position collects the output gradients it
/// contributed to, weighted by the tap that connected them. `grad`: `[n, c, h_out, w_out]`;
/// returns `[n, c, h, w]`.
pub fn input_grad(weight: &[f32], grad: &[f32], shape: DepthwiseShape) -> Vec<f32> {
    let mut dx = vec![0.0; shape.batch * shape.channels * shape.in_plane()];
    for_each_chunk(&mut dx, shape.in_plane(), |bc, plane| {
        let g = &grad[bc * shape.out_plane()..][..shape.out_plane()];
        let filter = &weight[(bc % shape.channels) * shape.taps()..][..shape.taps()];
        input_grad_plane(g, filter, shape, plane);
    });
    dx
}

multiversion! {
    /// One channel plane of [`input_grad`]: the output gradient `g` by the `filter` into `plane`.
    fn input_grad_plane(g: &[f32], filter: &[f32], shape: DepthwiseShape, plane: &mut [f32]) {
        let (out_h, out_w, k, p) = (
            shape.out_height(),
            shape.out_width(),
            shape.kernel,
            shape.padding,
        );
        for ih in 0..shape.height {
            let row = &mut plane[ih * shape.width..][..shape.width];
            for i in 0..k {
                // The output row that read input row `ih` through tap row `i`.
                let Some(oh) = (ih + p).checked_sub(i).filter(|&oh| oh < out_h) else {
                    continue;
                };
                for j in 0..k {
                    let (lo, hi) = valid_range(j, p, shape.width, out_w);
                    let src = &g[oh * out_w + lo..][..hi - lo];
                    axpy(filter[i * k + j], src, &mut row[lo + j - p..][..hi - lo]);
                }
            }
        }
    }
}

/// Gradient with respect to the filters: tap `(i, j)` of channel `c` is the correlation of the
/// output gradient with the input shifted by that tap, summed over the batch. `x`: `[n, c, h, w]`,
/// `grad`: `[n, c, h_out, w_out]`; returns `[c, 1, k, k]`.
pub fn weight_grad(x: &[f32], grad: &[f32], shape: DepthwiseShape) -> Vec<f32> {
    let mut dw = vec![0.0; shape.channels * shape.taps()];
    for_each_chunk(&mut dw, shape.taps(), |c, taps| {
        for b in 0..shape.batch {
            let bc = b * shape.channels + c;
            let input = &x[bc * shape.in_plane()..][..shape.in_plane()];
            let g = &grad[bc * shape.out_plane()..][..shape.out_plane()];
            add_weight_grad_plane(input, g, shape, taps);
        }
    });
    dw
}

multiversion! {
    /// One channel plane's share of [`weight_grad`]: input `input` against output gradient
    /// `g`, added into the channel's `taps`.
    fn add_weight_grad_plane(input: &[f32], g: &[f32], shape: DepthwiseShape, taps: &mut [f32]) {
        let (out_h, out_w, k, p) = (
            shape.out_height(),
            shape.out_width(),
            shape.kernel,
            shape.padding,
        );
        for oh in 0..out_h {
            let g_row = &g[oh * out_w..][..out_w];
            for i in 0..k {
                let Some(ih) = (oh + i).checked_sub(p).filter(|&ih| ih < shape.height) else {
                    continue;
                };
                for j in 0..k {
                    let (lo, hi) = valid_range(j, p, shape.width, out_w);
                    let src = &input[ih * shape.width + lo + j - p..][..hi - lo];
                    taps[i * k + j] += dot(&g_row[lo..hi], src);
                }
            }
        }
    }
}

/// `y += a * x`, element by element (inlined into the callers' instruction set).
#[inline(always)]
fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// Dot product with eight independent partial sums, so that the compiler can vectorise it
/// (a single running float sum has to be added in order). Inlined into the callers' instruction
/// set.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(a, b)| a * b)
        .sum();
    for (a, b) in a8.zip(b8) {
        for lane in 0..8 {
            lanes[lane] += a[lane] * b[lane];
        }
    }
    lanes.iter().sum::<f32>() + tail
}
