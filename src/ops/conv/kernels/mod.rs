//! Dense convolution on plain `f32` slices (NCHW), as matrix products over unrolled patches
//! ("im2col"): per image and per band of output rows, the patches under the window are copied
//! into a `[c_in·k_h·k_w, pixels]` matrix, and
//!
//! - the forward pass is `y = W · cols`,
//! - the filter gradient is `dW += dy · colsᵀ`, summed over images and bands
//!   (for a stride-1 convolution down to few channels, both go through the flipped convolution
//!   instead, which unrolls the narrow side; see [`forward`]),
//! - the input gradient is itself a forward pass: at stride 1, of `dy` by the filters turned
//!   180 degrees; at stride 2, one per output phase ("sub-pixel" convolutions, see `Phase`);
//!   what fits neither is `Wᵀ · dy` added back onto the input positions ("col2im").
//!
//! Each is one full-width matrix product. A band bounds the unrolled matrix to a few MB, about
//! the size of the last-level cache, so that the product reads it back from there.

use std::ops::Range;

mod phases;
mod unroll;

use crate::ops::gemm::{MatMut, MatRef, matmul};
use phases::{Phase, phased_input_grad};
use unroll::{col2im, im2col};

/// Sizes of a dense 2-D convolution: stride, zero padding before the first row and column (the
/// output size fixes how much comes after), no dilation, one group.
#[derive(Clone, Copy, Debug)]
pub struct ConvShape {
    pub batch: usize,
    pub channels_in: usize,
    pub channels_out: usize,
    /// Input height and width.
    pub input: [usize; 2],
    /// Output height and width.
    pub output: [usize; 2],
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

/// Unrolled-patch floats a band aims at (2 MB of `f32`). In the browser the shipped segmenter
/// ran 3-8% faster with 2 MB bands than with 4 MB ones and 12% faster than with 8 MB
/// (`node bench/browser.mjs`, AMD EPYC Zen 4); natively 2 and 4 MB measured the same within
/// the machine's noise (`train bench`), since a single photo is now cut into bands per core.
const BAND_FLOATS: usize = 1 << 19;

impl ConvShape {
    fn input_len(&self) -> usize {
        self.channels_in * self.input[0] * self.input[1]
    }

    fn output_pixels(&self) -> usize {
        self.output[0] * self.output[1]
    }

    fn output_len(&self) -> usize {
        self.channels_out * self.output_pixels()
    }

    /// A `1 x 1` window at stride 1 with no padding: the input already is its unrolled matrix.
    fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.padding == [0, 0]
    }

    /// Rows of the unrolled matrix: one per input channel and window position.
    fn patch_len(&self) -> usize {
        self.channels_in * self.kernel[0] * self.kernel[1]
    }

    /// The output rows in bands of about [`BAND_FLOATS`] unrolled values (at least one row),
    /// and at least `at_least` bands where there are that many rows.
    fn bands(&self, at_least: usize) -> impl Iterator<Item = Range<usize>> + use<> {
        let per_row = (self.patch_len() * self.output[1]).max(1);
        let even = self.output[0].div_ceil(at_least.max(1));
        let rows = (BAND_FLOATS / per_row)
            .min(even)
            .clamp(1, self.output[0].max(1));
        let height = self.output[0];
        (0..height)
            .step_by(rows)
            .map(move |start| start..(start + rows).min(height))
    }

    /// The output columns `ox` whose window column `kx` falls inside the input, as a range.
    fn valid_columns(&self, kx: usize) -> Range<usize> {
        valid_range(
            self.output[1],
            self.stride[1],
            self.padding[1],
            kx,
            self.input[1],
        )
    }
}

/// Outputs `o < count` with `0 <= o * stride + offset - padding < size`.
fn valid_range(
    count: usize,
    stride: usize,
    padding: usize,
    offset: usize,
    size: usize,
) -> Range<usize> {
    let start = padding.saturating_sub(offset).div_ceil(stride);
    let end = if size + padding > offset {
        ((size + padding - offset - 1) / stride + 1).min(count)
    } else {
        0
    };
    start.min(end)..end
}

/// `x`: `[n, c_in, h, w]`, `weight`: `[c_out, c_in, k_h, k_w]` -> `[n, c_out, out_h, out_w]`.
///
/// A stride-1 convolution down to far fewer channels (the segmenter's class scores: 32 or 64
/// channels to 3) is the adjoint of its `flipped` convolution: `Wᵀ · x` per band, scattered,
/// unrolls `c_out·k·k` rows instead of `c_in·k·k` and keeps the matrix product from running on
/// a handful of output rows. Only far fewer: the scatter adds every unrolled value back one by
/// one, and at half as many channels (128 -> 64) it took 537 ms where unrolling the input took
/// 315 (`examples/conv_layers.rs`, the segmenter's decoder).
pub fn forward(x: &[f32], weight: &[f32], shape: ConvShape) -> Vec<f32> {
    let scatter = narrowing(&shape).filter(|_| 8 * shape.channels_out <= shape.channels_in);
    match scatter {
        Some(flipped) => scatter_input_grad(&flip_filters(weight, &shape), x, flipped),
        None => unrolled_forward(x, weight, shape),
    }
}

/// Gradient with respect to the filters, summed over the batch: `[c_out, c_in, k_h, k_w]`.
///
/// For a stride-1 convolution down to far fewer channels, the filter gradient of its
/// `flipped` convolution (`dy` unrolled instead of `x`), turned back.
pub fn weight_grad(x: &[f32], dy: &[f32], shape: ConvShape) -> Vec<f32> {
    match narrowing(&shape) {
        Some(flipped) => flip_filters(&unrolled_weight_grad(dy, x, flipped), &flipped),
        None => unrolled_weight_grad(x, dy, shape),
    }
}

/// The [`flipped`] convolution of a stride-1 convolution with at most half as many output as
/// input channels, where unrolling the output side is the cheaper way round.
fn narrowing(shape: &ConvShape) -> Option<ConvShape> {
    flipped(shape).filter(|_| 2 * shape.channels_out <= shape.channels_in)
}

/// [`forward`] with the input unrolled: one task per image and band of output rows, each
/// unrolling its band and multiplying on one core. A single photo is cut into at least as many
/// bands as there are cores, so that the unrolling runs in parallel too.
fn unrolled_forward(x: &[f32], weight: &[f32], shape: ConvShape) -> Vec<f32> {
    let mut y = vec![0.0; shape.batch * shape.output_len()];
    let (patch, pixels, out_w) = (shape.patch_len(), shape.output_pixels(), shape.output[1]);
    let weight = MatRef::rows(weight, [shape.channels_out, patch], patch);
    let bands: Vec<_> = shape
        .bands(crate::ops::threads().div_ceil(shape.batch.max(1)))
        .collect();
    let columns = || {
        bands
            .iter()
            .map(|band| band.start * out_w..band.end * out_w)
    };
    let mut tasks = Vec::new();
    for (b, y) in y.chunks_exact_mut(shape.output_len().max(1)).enumerate() {
        let blocks = MatMut::rows(y, [shape.channels_out, pixels], pixels).split_columns(columns());
        tasks.extend(
            blocks
                .into_iter()
                .zip(&bands)
                .map(|(dst, band)| (b, band, dst)),
        );
    }
    crate::ops::for_each_task(tasks, |(b, band, dst)| {
        let x = &x[b * shape.input_len()..(b + 1) * shape.input_len()];
        let width = band.len() * out_w;
        if shape.is_pointwise() {
            let cols = MatRef::rows(&x[band.start * out_w..], [patch, width], pixels);
            return matmul(dst, weight, cols, false, false);
        }
        crate::ops::with_scratch(patch * width, |cols| {
            im2col(&shape, x, band.clone(), cols);
            matmul(
                dst,
                weight,
                MatRef::rows(cols, [patch, width], width),
                false,
                false,
            );
        });
    });
    y
}

/// Gradient with respect to the input, given the output's gradient `dy`: `[n, c_in, h, w]`.
///
/// At stride 1 it is the forward convolution of `dy` by the filters turned 180 degrees with
/// input and output channels swapped, which unrolls `c_out·k·k` rows per input pixel instead of
/// scattering `c_in·k·k` per output pixel back; a strided convolution's is one such forward pass
/// per `Phase`. Only a padding wider than the window scatters.
pub fn input_grad(weight: &[f32], dy: &[f32], shape: ConvShape) -> Vec<f32> {
    if let Some(flipped_shape) = flipped(&shape) {
        return forward(dy, &flip_filters(weight, &shape), flipped_shape);
    }
    let phases = (0..shape.stride[0])
        .flat_map(|r_y| (0..shape.stride[1]).map(move |r_x| Phase::new(&shape, [r_y, r_x])))
        .collect::<Option<Vec<_>>>();
    match phases {
        Some(phases) => phased_input_grad(weight, dy, &shape, &phases),
        None => scatter_input_grad(weight, dy, shape),
    }
}

/// The convolution whose forward pass is `shape`'s input gradient, when the stride is 1 and
/// the padding does not exceed the window.
fn flipped(shape: &ConvShape) -> Option<ConvShape> {
    let complement = |i: usize| (shape.kernel[i] - 1).checked_sub(shape.padding[i]);
    (shape.stride == [1, 1]).then_some(())?;
    Some(ConvShape {
        channels_in: shape.channels_out,
        channels_out: shape.channels_in,
        input: shape.output,
        output: shape.input,
        padding: [complement(0)?, complement(1)?],
        ..*shape
    })
}

/// `[c_out, c_in, k_h, k_w]` -> `[c_in, c_out, k_h, k_w]`, each window turned 180 degrees.
fn flip_filters(weight: &[f32], shape: &ConvShape) -> Vec<f32> {
    let window = shape.kernel[0] * shape.kernel[1];
    gather_filters(weight, shape, &(0..window).rev().collect::<Vec<_>>())
}

/// Input channels per task of [`gather_filters`]: their windows lie side by side in every
/// output channel's filters, so a task reads runs of this many windows.
const GATHER_BLOCK: usize = 16;

/// Filters `[c_out, c_in, k_h, k_w]` rearranged to `[c_in, c_out, taps.len()]`, each window's
/// values at offsets `taps` (into the `k_h x k_w` window) in that order: the filters of the
/// flipped convolutions and of each `Phase`. A block of input channels per task, so that reads
/// and writes both stay in cache and every core takes part: one channel at a time on one core,
/// the segmenter's decoder spent 4 % of a single-photo inference's samples here while the other
/// core waited (BENCHMARKS.md, 2026-12-08).
fn gather_filters(weight: &[f32], shape: &ConvShape, taps: &[usize]) -> Vec<f32> {
    let window = shape.kernel[0] * shape.kernel[1];
    let per_channel = shape.channels_out * taps.len();
    let mut gathered = vec![0.0; shape.channels_in * per_channel];
    crate::ops::for_each_chunk(&mut gathered, GATHER_BLOCK * per_channel, |block, dst| {
        let first = block * GATHER_BLOCK;
        let channels = dst.len() / per_channel;
        for o in 0..shape.channels_out {
            let windows = &weight[(o * shape.channels_in + first) * window..][..channels * window];
            for (i, src) in windows.chunks_exact(window).enumerate() {
                let dst = &mut dst[i * per_channel + o * taps.len()..][..taps.len()];
                dst.iter_mut().zip(taps).for_each(|(d, &t)| *d = src[t]);
            }
        }
    });
    gathered
}

/// [`input_grad`] as `Wᵀ · dy` per band, scattered back onto the input positions.
fn scatter_input_grad(weight: &[f32], dy: &[f32], shape: ConvShape) -> Vec<f32> {
    let mut dx = vec![0.0; shape.batch * shape.input_len()];
    let (patch, pixels, out_w) = (shape.patch_len(), shape.output_pixels(), shape.output[1]);
    let weight_t = MatRef::rows(weight, [shape.channels_out, patch], patch).t();
    let parallel = shape.batch == 1;
    crate::ops::for_each_chunk(&mut dx, shape.input_len(), |b, dx| {
        let dy = &dy[b * shape.output_len()..(b + 1) * shape.output_len()];
        let mut cols = Vec::new();
        for band in shape.bands(1) {
            let (start, width) = (band.start * out_w, band.len() * out_w);
            cols.resize(patch * width, 0.0);
            let dy = MatRef::rows(&dy[start..], [shape.channels_out, width], pixels);
            matmul(
                MatMut::rows(&mut cols, [patch, width], width),
                weight_t,
                dy,
                false,
                parallel,
            );
            col2im(&shape, &cols, band, dx);
        }
    });
    dx
}

/// [`weight_grad`] with the input unrolled.
fn unrolled_weight_grad(x: &[f32], dy: &[f32], shape: ConvShape) -> Vec<f32> {
    let (patch, pixels, out_w) = (shape.patch_len(), shape.output_pixels(), shape.output[1]);
    let parallel = shape.batch == 1;
    crate::ops::sum_over(shape.batch, shape.channels_out * patch, |b, dw| {
        let x = &x[b * shape.input_len()..(b + 1) * shape.input_len()];
        let dy = &dy[b * shape.output_len()..(b + 1) * shape.output_len()];
        if shape.is_pointwise() {
            let dst = MatMut::rows(dw, [shape.channels_out, patch], patch);
            let dy = MatRef::rows(dy, [shape.channels_out, pixels], pixels);
            return matmul(
                dst,
                dy,
                MatRef::rows(x, [patch, pixels], pixels).t(),
                true,
                parallel,
            );
        }
        let mut cols = Vec::new();
        for band in shape.bands(1) {
            let (start, width) = (band.start * out_w, band.len() * out_w);
            cols.resize(patch * width, 0.0);
            im2col(&shape, x, band, &mut cols);
            let dst = MatMut::rows(dw, [shape.channels_out, patch], patch);
            let dy = MatRef::rows(&dy[start..], [shape.channels_out, width], pixels);
            let cols_t = MatRef::rows(&cols, [patch, width], width).t();
            matmul(dst, dy, cols_t, true, parallel);
        }
    })
}
