//! The input gradient of a strided convolution (the forward pass of a strided transposed
//! one) as one stride-1 convolution per output phase, interleaved into place.

use super::{ConvShape, forward, gather_filters};
use crate::ops::isa::multiversion;

/// The input positions `(s·q_y + r_y, s·q_x + r_x)` of a strided convolution, whose gradient
/// only the window taps `k ≡ r + padding (mod s)` reach: a stride-1 convolution of `dy` by
/// those taps ("sub-pixel" decomposition), with no multiplications by the zeros that a
/// transposed convolution inserts between the rows and columns of `dy`.
pub(super) struct Phase {
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
    pub(super) fn new(shape: &ConvShape, offset: [usize; 2]) -> Option<Self> {
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
        gather_filters(weight, shape, &self.taps(shape))
    }

    /// This phase's taps as offsets into a `k_h x k_w` window, in the order its filters hold
    /// them (both axes reversed).
    fn taps(&self, shape: &ConvShape) -> Vec<usize> {
        let [taps_y, taps_x] = self.conv.kernel;
        let [s_y, s_x] = shape.stride;
        (0..taps_y)
            .rev()
            .flat_map(|t_y| {
                let row = (self.first_tap[0] + t_y * s_y) * shape.kernel[1];
                (0..taps_x)
                    .rev()
                    .map(move |t_x| row + self.first_tap[1] + t_x * s_x)
            })
            .collect()
    }
}

/// [`input_grad`] of a strided convolution, one [`Phase`] at a time, each interleaved into place.
pub(super) fn phased_input_grad(
    weight: &[f32],
    dy: &[f32],
    shape: &ConvShape,
    phases: &[Phase],
) -> Vec<f32> {
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
    // One plane (image and channel) per task.
    crate::ops::for_each_chunk(&mut dx, in_h * in_w, |b, plane| {
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
    });
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
