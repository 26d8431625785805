//! Plain-slice kernels of batch normalisation over the batch and spatial axes of contiguous `f32`
//! NCHW data. burn's generic batch norm transposes the activation to channel-major before every
//! reduction (a full copy each time); these read each channel's planes where they are.

use crate::ops::for_each_chunk;
use crate::ops::isa::multiversion;

/// `[n, c, h * w]` sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NormShape {
    pub batch: usize,
    pub channels: usize,
    pub plane: usize,
}

impl NormShape {
    fn count(&self) -> f64 {
        (self.batch * self.plane) as f64
    }

    /// The `batch` planes of channel `c`.
    fn planes<'a>(&self, x: &'a [f32], c: usize) -> impl Iterator<Item = &'a [f32]> {
        (0..self.batch).map(move |b| &x[(b * self.channels + c) * self.plane..][..self.plane])
    }
}

/// Per-channel batch mean and biased variance (what burn's batch norm uses), as `[2, c]`:
/// means, then variances. Two passes in `f64`, so large activations do not lose the variance.
pub fn stats(x: &[f32], shape: NormShape) -> Vec<f32> {
    per_channel_pairs(shape, |c| {
        let sum: f64 = shape.planes(x, c).map(|p| deviation_sum(p, 0.0, 1)).sum();
        let mean = sum / shape.count();
        let squares: f64 = shape.planes(x, c).map(|p| deviation_sum(p, mean, 2)).sum();
        [mean as f32, (squares / shape.count()) as f32]
    })
}

multiversion! {
    /// `Σ (v - center)^power` over `values` (`power` 1 or 2), in `f64`, with eight partial sums
    /// so that it vectorises.
    fn deviation_sum(values: &[f32], center: f64, power: usize) -> f64 {
        let term = |v: f32| {
            let d = v as f64 - center;
            if power == 2 { d * d } else { d }
        };
        let chunks = values.chunks_exact(8);
        let tail: f64 = chunks.remainder().iter().map(|&v| term(v)).sum();
        let mut lanes = [0.0f64; 8];
        for chunk in chunks {
            for (lane, &v) in lanes.iter_mut().zip(chunk) {
                *lane += term(v);
            }
        }
        lanes.iter().sum::<f64>() + tail
    }
}

/// `gamma * (x - mean) / sqrt(var + eps) + beta` with `stats` = `[2, c]` (means, variances).
pub fn apply(
    x: &[f32],
    [gamma, beta, stats]: [&[f32]; 3],
    epsilon: f64,
    shape: NormShape,
) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    for_each_chunk(&mut out, shape.plane, |bc, plane| {
        let c = bc % shape.channels;
        let (scale, shift) = affine(gamma[c], beta[c], stats, c, epsilon, shape);
        affine_plane(&x[bc * shape.plane..][..shape.plane], scale, shift, plane);
    });
    out
}

/// `min(ceiling, max(0, gamma * (x - mean) / sqrt(var + eps) + beta))` (batch norm then ReLU,
/// or ReLU6 with a `ceiling` of 6, as the models always follow one with the other at inference)
/// on `values` in place: one pass over memory instead of a pass and a copy each.
pub fn apply_relu_in_place(
    values: &mut [f32],
    [gamma, beta, stats]: [&[f32]; 3],
    epsilon: f64,
    ceiling: f32,
    shape: NormShape,
) {
    for_each_chunk(values, shape.plane, |bc, plane| {
        let c = bc % shape.channels;
        let (scale, shift) = affine(gamma[c], beta[c], stats, c, epsilon, shape);
        affine_relu_plane(plane, scale, shift, ceiling);
    });
}

multiversion! {
    /// `out = input * scale + shift`, element by element.
    fn affine_plane(input: &[f32], scale: f32, shift: f32, out: &mut [f32]) {
        for (o, &v) in out.iter_mut().zip(input) {
            *o = v * scale + shift;
        }
    }
}

multiversion! {
    /// `v = min(ceiling, max(0, v * scale + shift))`, element by element. Compares and
    /// selects rather than `f32::max`, whose NaN rule WebAssembly's SIMD `max` does not share,
    /// so that it vectorises in the browser build too.
    fn affine_relu_plane(values: &mut [f32], scale: f32, shift: f32, ceiling: f32) {
        for v in values {
            let y = *v * scale + shift;
            let y = if y > 0.0 { y } else { 0.0 };
            *v = if y < ceiling { y } else { ceiling };
        }
    }
}

/// Gradients of `gamma` and `beta` given the output's gradient: `[2, c]`, the sums of
/// `grad * x_hat`, then of `grad`.
pub fn param_grads(
    x: &[f32],
    grad: &[f32],
    stats: &[f32],
    epsilon: f64,
    shape: NormShape,
) -> Vec<f32> {
    per_channel_pairs(shape, |c| {
        let (mean, inv_std) = (stats[c] as f64, inv_std(stats, c, epsilon, shape));
        let (mut sum_g, mut sum_gx) = (0.0f64, 0.0f64);
        for (xs, gs) in shape.planes(x, c).zip(shape.planes(grad, c)) {
            let [g_plane, gx_plane] = gradient_sums(xs, gs, mean as f32);
            sum_g += g_plane as f64;
            sum_gx += gx_plane as f64;
        }
        [(sum_gx * inv_std) as f32, sum_g as f32]
    })
}

multiversion! {
    /// `[Σ g, Σ g · (x - mean)]` over one plane, with sixteen partial sums of each so that it
    /// vectorises.
    fn gradient_sums(xs: &[f32], gs: &[f32], mean: f32) -> [f32; 2] {
        let (x16, g16) = (xs.chunks_exact(16), gs.chunks_exact(16));
        let mut tail = [0.0f32; 2];
        for (&v, &g) in x16.remainder().iter().zip(g16.remainder()) {
            tail[0] += g;
            tail[1] += g * (v - mean);
        }
        let (mut sum_g, mut sum_gx) = ([0.0f32; 16], [0.0f32; 16]);
        for (x, g) in x16.zip(g16) {
            for lane in 0..16 {
                sum_g[lane] += g[lane];
                sum_gx[lane] += g[lane] * (x[lane] - mean);
            }
        }
        [
            sum_g.iter().sum::<f32>() + tail[0],
            sum_gx.iter().sum::<f32>() + tail[1],
        ]
    }
}

/// Gradient of the input of a training-mode batch norm (the batch statistics depend on it):
/// `gamma / std * (grad - mean(grad) - x_hat * mean(grad * x_hat))`, with the two means taken
/// from `param_grads` (`[2, c]`).
pub fn input_grad(
    x: &[f32],
    grad: &[f32],
    [gamma, stats, param_grads]: [&[f32]; 3],
    epsilon: f64,
    shape: NormShape,
) -> Vec<f32> {
    let mut dx = vec![0.0; x.len()];
    let n = shape.count() as f32;
    for_each_chunk(&mut dx, shape.plane, |bc, plane| {
        let c = bc % shape.channels;
        let inv_std = inv_std(stats, c, epsilon, shape) as f32;
        let mean = stats[c];
        let mean_gx = param_grads[c] / n;
        let mean_g = param_grads[shape.channels + c] / n;
        let scale = gamma[c] * inv_std;
        let xs = &x[bc * shape.plane..][..shape.plane];
        let gs = &grad[bc * shape.plane..][..shape.plane];
        input_grad_plane(xs, gs, [mean, inv_std, mean_g, mean_gx, scale], plane);
    });
    dx
}

multiversion! {
    /// One plane of [`input_grad`]: `d = scale * (g - mean_g - x̂ * mean_gx)`, where
    /// `x̂ = (x - mean) * inv_std`.
    fn input_grad_plane(xs: &[f32], gs: &[f32], coefficients: [f32; 5], plane: &mut [f32]) {
        let [mean, inv_std, mean_g, mean_gx, scale] = coefficients;
        for ((d, &v), &g) in plane.iter_mut().zip(xs).zip(gs) {
            let x_hat = (v - mean) * inv_std;
            *d = scale * (g - mean_g - x_hat * mean_gx);
        }
    }
}

fn inv_std(stats: &[f32], c: usize, epsilon: f64, shape: NormShape) -> f64 {
    1.0 / (stats[shape.channels + c] as f64 + epsilon).sqrt()
}

/// `(scale, shift)` with `x * scale + shift` = the normalised, scaled and shifted `x`.
fn affine(
    gamma: f32,
    beta: f32,
    stats: &[f32],
    c: usize,
    epsilon: f64,
    shape: NormShape,
) -> (f32, f32) {
    let scale = gamma as f64 * inv_std(stats, c, epsilon, shape);
    (scale as f32, (beta as f64 - stats[c] as f64 * scale) as f32)
}

/// `[2, c]` from one `[a, b]` pair per channel, computed in parallel.
fn per_channel_pairs(shape: NormShape, f: impl Fn(usize) -> [f32; 2] + Send + Sync) -> Vec<f32> {
    let mut pairs = vec![0.0; 2 * shape.channels];
    for_each_chunk(&mut pairs, 2, |c, pair| pair.copy_from_slice(&f(c)));
    let (firsts, seconds): (Vec<f32>, Vec<f32>) = pairs.chunks(2).map(|p| (p[0], p[1])).unzip();
    [firsts, seconds].concat()
}
