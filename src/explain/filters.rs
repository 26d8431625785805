//! Filter patterns by gradient ascent in input space, as in the chapter: start from grey
//! noise, and repeatedly move the image along the L2-normalised gradient of one filter's mean
//! activation (its 2-pixel border left out), then show the result standardised.

use burn::prelude::*;
use image::{Rgb, RgbImage};

use crate::model::Layered;
use crate::readback::{ReadbackError, read_floats, read_scalar};

/// The chapter's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FilterAscent {
    /// Gradient steps.
    pub steps: usize,
    /// Step length along the L2-normalised gradient.
    pub learning_rate: f32,
}

impl Default for FilterAscent {
    fn default() -> Self {
        Self {
            steps: 30,
            learning_rate: 10.0,
        }
    }
}

/// A filter's pattern and the filter's mean activation before each step and after the last.
#[derive(Debug, Clone)]
pub struct FilterPattern {
    pub image: RgbImage,
    pub activations: Vec<f32>,
}

/// Why a pattern could not be computed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FilterError {
    #[error("the network has no layer named {0}")]
    UnknownLayer(String),
    #[error("layer {layer} has {channels} filters; there is no filter {filter}")]
    UnknownFilter {
        layer: String,
        channels: usize,
        filter: usize,
    },
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Readback(#[from] ReadbackError),
}

/// The loss the ascent maximises: the mean of filter `filter` of `layer`, without the 2-pixel
/// border (where padding artefacts dominate). `[1, c, h, w]` activation -> `[1]`.
pub(crate) fn filter_loss(activation: Tensor<4>, filter: usize) -> Tensor<1> {
    let [_, _, h, w] = activation.dims();
    let (border_h, border_w) = (if h > 4 { 2 } else { 0 }, if w > 4 { 2 } else { 0 });
    activation
        .narrow(1, filter, 1) // [1, 1, h, w]
        .narrow(2, border_h, h - 2 * border_h)
        .narrow(3, border_w, w - 2 * border_w)
        .mean()
}

/// Checks that the network has `layer` and that it has `filter`, with a pass over a blank
/// `size`-pixel image.
pub(crate) fn check_filter(
    net: &dyn Layered,
    layer: &str,
    filter: usize,
    size: usize,
    device: &Device,
) -> Result<(), FilterError> {
    let probe = Tensor::<4>::zeros([1, 3, size, size], device);
    let channels = net
        .layer_output(probe, layer)
        .ok_or_else(|| FilterError::UnknownLayer(layer.into()))?
        .dims()[1];
    if filter >= channels {
        return Err(FilterError::UnknownFilter {
            layer: layer.into(),
            channels,
            filter,
        });
    }
    Ok(())
}

/// The end of an ascent: the filter's mean activation on the final `image`, appended to
/// `activations`, and the image's values.
pub(crate) async fn read_final(
    net: &dyn Layered,
    layer: &str,
    filter: usize,
    image: Tensor<4>,
    activations: &mut Vec<f32>,
) -> Result<Vec<f32>, FilterError> {
    let last = net
        .layer_output(image.clone(), layer)
        .ok_or_else(|| FilterError::UnknownLayer(layer.into()))?;
    activations.push(read_scalar(filter_loss(last, filter), "the filter's activation").await?);
    Ok(read_floats(image, "the filter pattern").await?)
}

impl FilterAscent {
    /// Runs the ascent for `filter` of the network's `layer` on a `size`-pixel image, on
    /// `device` (the autodiff graph is only built around the input).
    /// `on_step(step, activation)` is awaited after every step; returning false cancels.
    pub async fn run(
        &self,
        net: &dyn Layered,
        layer: &str,
        filter: usize,
        size: usize,
        device: &Device,
        mut on_step: impl AsyncFnMut(usize, f32) -> bool,
    ) -> Result<FilterPattern, FilterError> {
        check_filter(net, layer, filter, size, device)?;
        let mut image = Tensor::<4>::random(
            [1, 3, size, size],
            burn::tensor::Distribution::Uniform(0.4, 0.6),
            device,
        );
        let mut activations = Vec::with_capacity(self.steps + 1);
        for step in 0..self.steps {
            let leaf = image.clone().autodiff().require_grad();
            let activation = net
                .layer_output(leaf.clone(), layer)
                .ok_or_else(|| FilterError::UnknownLayer(layer.into()))?;
            let loss = filter_loss(activation, filter);
            activations.push(read_scalar(loss.clone().inner(), "the filter's activation").await?);
            let grads = loss.backward();
            let gradient = leaf.grad(&grads).unwrap_or_else(|| image.zeros_like()); // [1, 3, s, s]
            let norm = gradient
                .clone()
                .powf_scalar(2.0)
                .sum()
                .sqrt()
                .add_scalar(1e-12); // [1]
            let step_size = norm
                .recip()
                .mul_scalar(self.learning_rate)
                .reshape([1, 1, 1, 1]);
            image = image + gradient * step_size;
            if !on_step(step, activations[step]).await {
                return Err(FilterError::Cancelled);
            }
        }
        let values = read_final(net, layer, filter, image, &mut activations).await?;
        Ok(FilterPattern {
            image: deprocess(&values, size),
            activations,
        })
    }
}

/// The chapter's deprocessing: standardise the whole image, `x64 + 128`, clip to 0..255, and
/// crop the outer eighth, where the pattern is distorted by padding.
pub fn deprocess(chw: &[f32], size: usize) -> RgbImage {
    let levels = super::activations::standardise(chw);
    let plane = size * size;
    let border = size / 8;
    let inner = (size - 2 * border) as u32;
    RgbImage::from_fn(inner, inner, |x, y| {
        let at = (y as usize + border) * size + x as usize + border;
        Rgb([levels[at], levels[plane + at], levels[2 * plane + at]])
    })
}

/// `filters` cut into at most `threads` contiguous, non-empty shares, as even as can be: the
/// page's threads each draw one share of a grid (`crate::app`'s pool), in order.
pub fn shares(filters: std::ops::Range<usize>, threads: usize) -> Vec<std::ops::Range<usize>> {
    let n = threads.clamp(1, filters.len().max(1));
    let (base, extra) = (filters.len() / n, filters.len() % n);
    let mut start = filters.start;
    (0..n)
        .map(|i| {
            let end = start + base + usize::from(i < extra);
            let share = start..end;
            start = end;
            share
        })
        .collect()
}

/// Patterns laid out `columns` per row, 4 pixels apart on white.
pub fn pattern_grid(patterns: &[RgbImage], columns: usize) -> RgbImage {
    const MARGIN: u32 = 4;
    let Some(first) = patterns.first() else {
        return RgbImage::new(1, 1);
    };
    let (w, h) = first.dimensions();
    let columns = columns.clamp(1, patterns.len());
    let rows = patterns.len().div_ceil(columns) as u32;
    let mut grid = RgbImage::from_pixel(
        columns as u32 * (w + MARGIN) - MARGIN,
        rows * (h + MARGIN) - MARGIN,
        Rgb([255, 255, 255]),
    );
    for (k, pattern) in patterns.iter().enumerate() {
        let (col, row) = ((k % columns) as u32, (k / columns) as u32);
        image::imageops::replace(
            &mut grid,
            pattern,
            i64::from(col * (w + MARGIN)),
            i64::from(row * (h + MARGIN)),
        );
    }
    grid
}
