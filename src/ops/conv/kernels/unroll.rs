//! Unrolling a band of output rows' patches into a matrix ("im2col") and adding an unrolled
//! gradient back onto the input positions ("col2im").

use std::ops::Range;

use super::ConvShape;
use crate::ops::isa::multiversion;

/// The input row under output row `oy` and window row `ky`, if it is not padding.
fn input_row(shape: &ConvShape, oy: usize, ky: usize) -> Option<usize> {
    (oy * shape.stride[0] + ky)
        .checked_sub(shape.padding[0])
        .filter(|&iy| iy < shape.input[0])
}

multiversion! {
    /// Unrolls the patches of output rows `band` of one image `x` (`[c_in, h, w]`) into `cols`
    /// (`[patch_len, band pixels]`, zeros where the window covers padding).
    pub(super) fn im2col(shape: &ConvShape, x: &[f32], band: Range<usize>, cols: &mut [f32]) {
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
    pub(super) fn col2im(shape: &ConvShape, cols: &[f32], band: Range<usize>, dx: &mut [f32]) {
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
