//! Filter patterns beyond the book, as Lucid and OpenAI Microscope draw them (Olah et al.,
//! "Feature Visualization", Distill 2017): the image is parameterised by its Fourier spectrum
//! (scaled by 1/frequency, so that the optimiser moves low frequencies as easily as high ones)
//! in a decorrelated colour space, and every step looks at it through a random jitter, scale
//! and rotation, so that only patterns that survive those transformations grow. Late layers
//! then show textures and parts instead of the plain ascent's high-frequency noise.

use std::f32::consts::PI;

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use burn::tensor::ops::{GridSampleOptions, GridSamplePaddingMode, InterpolateMode};
use image::{Rgb, RgbImage};

use super::filters::{FilterError, FilterPattern, check_filter, filter_loss, read_final};
use crate::model::Layered;
use crate::readback::read_scalar;

/// Lucid's colour decorrelation: the square root of ImageNet's colour covariance (its SVD),
/// rows R, G, B, each column scaled by the largest column norm.
const COLOUR_CORRELATION: [[f32; 3]; 3] =
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]];

/// The settings (Lucid's defaults where they apply).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RobustAscent {
    /// Optimiser steps.
    pub steps: usize,
    /// Adam's step size on the spectrum.
    pub learning_rate: f32,
    /// Side of the image in pixels.
    pub size: usize,
    /// Largest random shift, in pixels, before the scale and rotation.
    pub jitter: usize,
    /// Largest random rotation, in degrees.
    pub degrees: f32,
    /// Largest random change of scale (0.1: from 0.9 to 1.1).
    pub scale: f32,
    /// Seed of the random transformations (and of the initial spectrum).
    pub seed: u64,
}

impl Default for RobustAscent {
    fn default() -> Self {
        Self {
            steps: 96,
            learning_rate: 0.05,
            size: 128,
            jitter: 8,
            degrees: 10.0,
            scale: 0.1,
            seed: 1,
        }
    }
}

/// A small deterministic random source (xorshift64*), so that a pattern is reproducible.
struct Random(u64);

impl Random {
    /// Uniform in [0, 1).
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [-1, 1).
    fn signed(&mut self) -> f32 {
        2.0 * self.next() - 1.0
    }
}

/// The inverse discrete Fourier transform along one axis of length `n`, as two real matrices
/// `[n, n]`: `cos(2 pi j k / n)` and `sin(2 pi j k / n)`.
fn dft_matrices(n: usize, device: &Device) -> (Tensor<2>, Tensor<2>) {
    let angle = |j: usize, k: usize| 2.0 * PI * ((j * k) % n) as f32 / n as f32;
    let cos: Vec<f32> = (0..n * n).map(|i| angle(i / n, i % n).cos()).collect();
    let sin: Vec<f32> = (0..n * n).map(|i| angle(i / n, i % n).sin()).collect();
    (
        Tensor::from_data(TensorData::new(cos, [n, n]), device),
        Tensor::from_data(TensorData::new(sin, [n, n]), device),
    )
}

/// Lucid's spectrum scale: `1 / max(|f|, 1/n)` per frequency, times `sqrt(n * n)` (which the
/// inverse transform's `1 / n^2` takes back), `[1, 1, n, n]`.
fn spectrum_scale(n: usize, device: &Device) -> Tensor<4> {
    let frequency = |k: usize| k.min(n - k) as f32 / n as f32;
    let values: Vec<f32> = (0..n * n)
        .map(|i| {
            let f = (frequency(i / n).powi(2) + frequency(i % n).powi(2)).sqrt();
            n as f32 / f.max(1.0 / n as f32)
        })
        .collect();
    Tensor::from_data(TensorData::new(values, [1, 1, n, n]), device)
}

/// The image a spectrum parameterises: `[2, 3, n, n]` (real and imaginary parts per
/// decorrelated channel) -> `[1, 3, n, n]` RGB in (0, 1).
struct Parameterisation {
    cos: Tensor<2>,
    sin: Tensor<2>,
    scale: Tensor<4>,
    colour: Tensor<2>,
}

impl Parameterisation {
    fn new(n: usize, device: &Device) -> Self {
        let (cos, sin) = dft_matrices(n, device);
        let colour: Vec<f32> = COLOUR_CORRELATION.iter().flatten().copied().collect();
        let norm = (0..3)
            .map(|c| {
                (0..3)
                    .map(|r| COLOUR_CORRELATION[r][c].powi(2))
                    .sum::<f32>()
                    .sqrt()
            })
            .fold(0.0, f32::max);
        Self {
            cos,
            sin,
            scale: spectrum_scale(n, device),
            colour: Tensor::<2>::from_data(TensorData::new(colour, [3, 3]), device) / norm,
        }
    }

    /// `[2, 3, n, n]` spectrum -> `[1, 3, n, n]` image.
    fn image(&self, spectrum: Tensor<4>) -> Tensor<4> {
        let [_, _, n, _] = spectrum.dims();
        let scaled = spectrum * self.scale.clone(); // [2, 3, n, n]
        let real = scaled.clone().narrow(0, 0, 1).reshape([3, n, n]);
        let imag = scaled.narrow(0, 1, 1).reshape([3, n, n]);
        let per_channel = |m: &Tensor<2>| m.clone().unsqueeze::<3>().repeat_dim(0, 3); // [3, n, n]
        let (cos3, sin3) = (per_channel(&self.cos), per_channel(&self.sin));
        // Re(E X E) with E = cos + i sin, X = real + i imag, over both axes.
        let p = cos3.clone().matmul(real.clone()) - sin3.clone().matmul(imag.clone());
        let q = cos3.clone().matmul(imag) + sin3.clone().matmul(real);
        let plane = (p.matmul(cos3) - q.matmul(sin3)) / (n * n) as f32; // [3, n, n]
        // Decorrelated colour -> RGB, Lucid's 1/4 to start near grey, then into (0, 1).
        let rgb = self.colour.clone().matmul(plane.reshape([3, n * n]) / 4.0); // [3, n * n]
        sigmoid(rgb.reshape([1, 3, n, n]))
    }
}

/// A random jitter, scale and rotation of `[1, 3, n, n]`, as one bilinear resampling (the
/// border's colour continues past the edge).
fn transform(image: Tensor<4>, settings: &RobustAscent, random: &mut Random) -> Tensor<4> {
    let [_, _, n, _] = image.dims();
    let angle = settings.degrees.to_radians() * random.signed();
    let scale = 1.0 + settings.scale * random.signed();
    let shift = |r: &mut Random| 2.0 * settings.jitter as f32 * r.signed() / n as f32;
    let (dx, dy) = (shift(random), shift(random));
    let (sin, cos) = angle.sin_cos();
    let mut grid = Vec::with_capacity(n * n * 2);
    for i in 0..n {
        for j in 0..n {
            let x = (2 * j + 1) as f32 / n as f32 - 1.0;
            let y = (2 * i + 1) as f32 / n as f32 - 1.0;
            grid.push((cos * x - sin * y) / scale + dx);
            grid.push((sin * x + cos * y) / scale + dy);
        }
    }
    let grid = Tensor::<4>::from_data(TensorData::new(grid, [1, n, n, 2]), &image.device());
    let options = GridSampleOptions::new(InterpolateMode::Bilinear)
        .with_padding_mode(GridSamplePaddingMode::Border);
    image.grid_sample_2d(grid, options)
}

/// Adam's state for the spectrum.
struct Adam {
    m: Tensor<4>,
    v: Tensor<4>,
    t: i32,
}

impl Adam {
    /// One ascent step of `params` along `gradient`.
    fn step(&mut self, params: Tensor<4>, gradient: Tensor<4>, learning_rate: f32) -> Tensor<4> {
        const BETA1: f32 = 0.9;
        const BETA2: f32 = 0.999;
        self.t += 1;
        self.m = self.m.clone() * BETA1 + gradient.clone() * (1.0 - BETA1);
        self.v = self.v.clone() * BETA2 + gradient.powf_scalar(2.0) * (1.0 - BETA2);
        let m_hat = self.m.clone() / (1.0 - BETA1.powi(self.t));
        let v_hat = self.v.clone() / (1.0 - BETA2.powi(self.t));
        params + m_hat / (v_hat.sqrt() + 1e-8) * learning_rate
    }
}

impl RobustAscent {
    /// The robust pattern of `filter` of the network's `layer`, on `device`. `on_step(step,
    /// activation)` is awaited after every step; returning false cancels.
    pub async fn run(
        &self,
        net: &dyn Layered,
        layer: &str,
        filter: usize,
        device: &Device,
        mut on_step: impl AsyncFnMut(usize, f32) -> bool,
    ) -> Result<FilterPattern, FilterError> {
        let n = self.size;
        check_filter(net, layer, filter, n, device)?;
        let mut random = Random(self.seed.max(1));
        let initial: Vec<f32> = (0..2 * 3 * n * n).map(|_| 0.01 * random.signed()).collect();
        let mut spectrum = Tensor::<4>::from_data(TensorData::new(initial, [2, 3, n, n]), device);
        let parameterisation = Parameterisation::new(n, device);
        let mut adam = Adam {
            m: spectrum.zeros_like(),
            v: spectrum.zeros_like(),
            t: 0,
        };
        let mut activations = Vec::with_capacity(self.steps + 1);
        for step in 0..self.steps {
            let leaf = spectrum.clone().autodiff().require_grad();
            let image = parameterisation.image(leaf.clone());
            let seen = transform(image, self, &mut random);
            let activation = net
                .layer_output(seen, layer)
                .ok_or_else(|| FilterError::UnknownLayer(layer.into()))?;
            let loss = filter_loss(activation, filter);
            activations.push(read_scalar(loss.clone().inner(), "the filter's activation").await?);
            let grads = loss.backward();
            let gradient = leaf.grad(&grads).unwrap_or_else(|| spectrum.zeros_like());
            spectrum = adam.step(spectrum, gradient, self.learning_rate);
            if !on_step(step, activations[step]).await {
                return Err(FilterError::Cancelled);
            }
        }
        let image = parameterisation.image(spectrum);
        let values = read_final(net, layer, filter, image, &mut activations).await?;
        Ok(FilterPattern {
            image: to_rgb(&values, n),
            activations,
        })
    }
}

/// `[3, n, n]` values in (0, 1) as an RGB image.
fn to_rgb(chw: &[f32], n: usize) -> RgbImage {
    let plane = n * n;
    let level = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    RgbImage::from_fn(n as u32, n as u32, |x, y| {
        let at = y as usize * n + x as usize;
        Rgb([
            level(chw[at]),
            level(chw[plane + at]),
            level(chw[2 * plane + at]),
        ])
    })
}
