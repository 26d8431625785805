//! Dense convolution on plain `f32` slices (NCHW), as matrix products over unrolled patches
//! ("im2col"): per image and per band of output rows, the patches under the window are copied
//! into a `[c_in·k_h·k_w, pixels]` matrix, and
//!
//! - the forward pass is `y = W · cols`,
//! - the filter gradient is `dW += dy · colsᵀ`, summed over images and bands
//!   (for a stride-1 convolution down to few channels, both go through the flipped convolution
//!   instead, which unrolls the narrow side; see [`forward`]),
//! - the input gradient is itself a forward pass: at stride 1, of `dy` by the filters turned
//!   180 degrees; at stride 2, one per output phase ("sub-pixel" convolutions, see [`Phase`]);
//!   what fits neither is `Wᵀ · dy` added back onto the input positions ("col2im").
//!
//! Each is one full-width matrix product. A band bounds the unrolled matrix to a few MB, about
//! the size of the last-level cache, so that the product reads it back from there.

use std::ops::Range;

use crate::ops::gemm::{MatMut, MatRef, matmul};
use crate::ops::isa::multiversion;

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

/// The input row under output row `oy` and window row `ky`, if it is not padding.
fn input_row(shape: &ConvShape, oy: usize, ky: usize) -> Option<usize> {
    (oy * shape.stride[0] + ky)
        .checked_sub(shape.padding[0])
        .filter(|&iy| iy < shape.input[0])
}

multiversion! {
    /// Unrolls the patches of output rows `band` of one image `x` (`[c_in, h, w]`) into `cols`
    /// (`[patch_len, band pixels]`, zeros where the window covers padding).
    fn im2col(shape: &ConvShape, x: &[f32], band: Range<usize>, cols: &mut [f32]) {
        let [in_h, in_w] = shape.input;
        let [k_h, k_w] = shape.kernel;
        let out_w = shape.output[1];
        let pixels = band.len() * out_w;
        let mut rows = cols.chunks_exact_mut(pixels);
        for plane in x.chunks_exact(in_h * in_w) {
            for ky in 0..k_h {
                for kx in 0..k_w {
                    let Some(dst) = rows.next() else { return };
                    if shape.stride == [1, 1] && in_w == out_w {
                        unroll_contiguous(shape, plane, band.clone(), [ky, kx], dst);
                    } else {
                        unroll_rows(shape, plane, band.clone(), [ky, kx], dst);
                    }
                }
            }
        }
    }
}

/// One row of the unrolled matrix (window tap `[ky, kx]` of one input plane), output row by
/// output row.
#[inline(always)]
fn unroll_rows(
    shape: &ConvShape,
    plane: &[f32],
    band: Range<usize>,
    [ky, kx]: [usize; 2],
    dst: &mut [f32],
) {
    let (in_w, out_w, stride) = (shape.input[1], shape.output[1], shape.stride[1]);
    let valid = shape.valid_columns(kx);
    for (dst, oy) in dst.chunks_exact_mut(out_w).zip(band) {
        let Some(iy) = input_row(shape, oy, ky).filter(|_| !valid.is_empty()) else {
            dst.fill(0.0);
            continue;
        };
        let src = &plane[iy * in_w..(iy + 1) * in_w];
        dst[..valid.start].fill(0.0);
        dst[valid.end..].fill(0.0);
        let first = valid.start * stride + kx - shape.padding[1];
        let dst = &mut dst[valid.clone()];
        if stride == 1 {
            dst.copy_from_slice(&src[first..first + dst.len()]);
        } else {
            let src = src[first..].iter().step_by(stride);
            dst.iter_mut().zip(src).for_each(|(d, s)| *d = *s);
        }
    }
}

/// [`unroll_rows`] when the stride is 1 and the output rows are as wide as the input's: the
/// band is then one shifted copy of the plane, with the columns that wrapped around from the
/// neighbouring row (and the rows outside the plane) zeroed afterwards.
#[inline(always)]
fn unroll_contiguous(
    shape: &ConvShape,
    plane: &[f32],
    band: Range<usize>,
    [ky, kx]: [usize; 2],
    dst: &mut [f32],
) {
    let width = shape.input[1] as isize;
    let origin = (band.start + ky) as isize - shape.padding[0] as isize;
    let shift = origin * width + kx as isize - shape.padding[1] as isize;
    let first = (-shift).clamp(0, dst.len() as isize) as usize;
    let last = (plane.len() as isize - shift).clamp(first as isize, dst.len() as isize) as usize;
    dst[..first].fill(0.0);
    dst[last..].fill(0.0);
    if first < last {
        let start = (shift + first as isize) as usize;
        dst[first..last].copy_from_slice(&plane[start..start + (last - first)]);
    }
    let valid = shape.valid_columns(kx);
    for row in dst.chunks_exact_mut(shape.output[1]) {
        row[..valid.start].fill(0.0);
        row[valid.end..].fill(0.0);
    }
}

multiversion! {
    /// Adds the unrolled gradient `cols` (`[patch_len, band pixels]`) of output rows `band` back
    /// onto the input positions of one image's gradient `dx` (`[c_in, h, w]`).
    fn col2im(shape: &ConvShape, cols: &[f32], band: Range<usize>, dx: &mut [f32]) {
        let [in_h, in_w] = shape.input;
        let [k_h, k_w] = shape.kernel;
        let out_w = shape.output[1];
        let pixels = band.len() * out_w;
        let mut rows = cols.chunks_exact(pixels);
        for plane in dx.chunks_exact_mut(in_h * in_w) {
            for ky in 0..k_h {
                for kx in 0..k_w {
                    let Some(src) = rows.next() else { return };
                    let valid = shape.valid_columns(kx);
                    for (src, oy) in src.chunks_exact(out_w).zip(band.clone()) {
                        let Some(iy) = input_row(shape, oy, ky).filter(|_| !valid.is_empty())
                        else {
                            continue;
                        };
                        let dst = &mut plane[iy * in_w..(iy + 1) * in_w];
                        let first = valid.start * shape.stride[1] + kx - shape.padding[1];
                        let dst = dst[first.min(in_w)..].iter_mut().step_by(shape.stride[1]);
                        for (d, s) in dst.zip(&src[valid.clone()]) {
                            *d += *s;
                        }
                    }
                }
            }
        }
    }
}

/// `x`: `[n, c_in, h, w]`, `weight`: `[c_out, c_in, k_h, k_w]` -> `[n, c_out, out_h, out_w]`.
///
/// A stride-1 convolution down to far fewer channels (the segmenter's class scores: 32 or 64
/// channels to 3) is the adjoint of its [`flipped`] convolution: `Wᵀ · x` per band, scattered,
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
/// [`flipped`] convolution (`dy` unrolled instead of `x`), turned back.
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
/// per [`Phase`]. Only a padding wider than the window scatters.
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

/// The input positions `(s·q_y + r_y, s·q_x + r_x)` of a strided convolution, whose gradient
/// only the window taps `k ≡ r + padding (mod s)` reach: a stride-1 convolution of `dy` by
/// those taps ("sub-pixel" decomposition), with no multiplications by the zeros that a
/// transposed convolution inserts between the rows and columns of `dy`.
struct Phase {
    /// `r_y, r_x`.
    offset: [usize; 2],
    /// The first tap along each axis; taps follow every `stride`.
    first_tap: [usize; 2],
    /// The stride-1 convolution of `dy` (`c_out` channels) giving this phase (`c_in` channels).
    conv: ConvShape,
}

impl Phase {
    /// `None` when the phase would read `dy` from beyond its first row or column (a padding
    /// larger than the window), which [`scatter_input_grad`] handles instead. A phase no tap
    /// reaches (a window narrower than the stride) has no taps and a zero gradient.
    fn new(shape: &ConvShape, offset: [usize; 2]) -> Option<Self> {
        let axis = |i: usize| {
            let (s, k) = (shape.stride[i], shape.kernel[i]);
            let first_tap = (offset[i] + shape.padding[i]) % s;
            let taps = k.saturating_sub(first_tap).div_ceil(s);
            let lead = (offset[i] + shape.padding[i] - first_tap) / s;
            let padding = match taps {
                0 => 0,
                _ => (taps - 1).checked_sub(lead)?,
            };
            let size = shape.input[i].saturating_sub(offset[i]).div_ceil(s);
            Some((first_tap, taps, padding, size))
        };
        let ((tap_y, taps_y, pad_y, h), (tap_x, taps_x, pad_x, w)) = (axis(0)?, axis(1)?);
        Some(Self {
            offset,
            first_tap: [tap_y, tap_x],
            conv: ConvShape {
                batch: shape.batch,
                channels_in: shape.channels_out,
                channels_out: shape.channels_in,
                input: shape.output,
                output: [h, w],
                kernel: [taps_y, taps_x],
                stride: [1, 1],
                padding: [pad_y, pad_x],
            },
        })
    }

    /// The phase's filters `[c_in, c_out, taps_y, taps_x]`: `shape`'s taps of this phase,
    /// in reverse order.
    fn filters(&self, weight: &[f32], shape: &ConvShape) -> Vec<f32> {
        let [k_h, k_w] = shape.kernel;
        let [taps_y, taps_x] = self.conv.kernel;
        let [s_y, s_x] = shape.stride;
        let mut filters =
            Vec::with_capacity(shape.channels_in * shape.channels_out * taps_y * taps_x);
        for i in 0..shape.channels_in {
            for o in 0..shape.channels_out {
                let window = &weight[(o * shape.channels_in + i) * k_h * k_w..][..k_h * k_w];
                for t_y in (0..taps_y).rev() {
                    let row = &window[(self.first_tap[0] + t_y * s_y) * k_w..][..k_w];
                    filters.extend(
                        (0..taps_x)
                            .rev()
                            .map(|t_x| row[self.first_tap[1] + t_x * s_x]),
                    );
                }
            }
        }
        filters
    }
}

/// [`input_grad`] of a strided convolution, one [`Phase`] at a time, each interleaved into place.
fn phased_input_grad(weight: &[f32], dy: &[f32], shape: &ConvShape, phases: &[Phase]) -> Vec<f32> {
    let mut dx = vec![0.0; shape.batch * shape.input_len()];
    let [in_h, in_w] = shape.input;
    let non_empty = |p: &&Phase| p.conv.kernel.iter().chain(&p.conv.output).all(|&n| n > 0);
    let parts: Vec<(&Phase, Vec<f32>)> = phases
        .iter()
        .filter(non_empty)
        .map(|phase| {
            (
                phase,
                forward(dy, &phase.filters(weight, shape), phase.conv),
            )
        })
        .collect();
    for (b, plane) in dx.chunks_exact_mut(in_h * in_w).enumerate() {
        for (y, row) in plane.chunks_exact_mut(in_w).enumerate() {
            // The phases that fill this row, and the row of each one's output that does.
            let (q_y, r_y) = (y / shape.stride[0], y % shape.stride[0]);
            let sources = parts
                .iter()
                .filter(|(p, _)| p.offset[0] == r_y)
                .map(|(p, part)| {
                    let [h, w] = p.conv.output;
                    (p.offset[1], &part[(b * h + q_y) * w..][..w])
                });
            fill_row(row, shape.stride[1], sources);
        }
    }
    dx
}

/// Writes one input row from its phases' rows (`(r_x, values)`: the values of columns
/// `r_x, r_x + stride, ...`). At stride 2 with both phases present the two rows are interleaved
/// in one pass, which vectorises; strided writes otherwise.
fn fill_row<'a>(row: &mut [f32], stride: usize, sources: impl Iterator<Item = (usize, &'a [f32])>) {
    let sources: Vec<_> = sources.collect();
    match sources[..] {
        [(0, even), (1, odd)] | [(1, odd), (0, even)] if stride == 2 => interleave(even, odd, row),
        _ => {
            for (r_x, src) in sources {
                let dst = row[r_x..].iter_mut().step_by(stride);
                dst.zip(src).for_each(|(d, s)| *d = *s);
            }
        }
    }
}

multiversion! {
    /// `row[2q] = even[q]`, `row[2q + 1] = odd[q]`.
    fn interleave(even: &[f32], odd: &[f32], row: &mut [f32]) {
        let pairs = row.chunks_exact_mut(2).zip(even.iter().zip(odd));
        for (pair, (&e, &o)) in pairs {
            pair[0] = e;
            pair[1] = o;
        }
        let half = row.len() / 2;
        if let (1, Some(&e)) = (row.len() % 2, even.get(half)) {
            row[2 * half] = e;
        }
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
    let mut flipped = vec![0.0; weight.len()];
    for (o, filters) in weight.chunks_exact(shape.channels_in * window).enumerate() {
        for (i, filter) in filters.chunks_exact(window).enumerate() {
            let dst = &mut flipped[(i * shape.channels_out + o) * window..][..window];
            dst.iter_mut()
                .zip(filter.iter().rev())
                .for_each(|(d, s)| *d = *s);
        }
    }
    flipped
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
