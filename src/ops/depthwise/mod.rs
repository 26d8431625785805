//! Depthwise convolution (one `k x k` filter per channel, stride 1) as a backend extension.
//!
//! burn's `flex` CPU backend computes the gradients of grouped convolutions one group at a
//! time: for the Xception-like classifier's 728-channel depthwise layers that is hundreds of
//! small convolutions and copies per layer and per step, and it dominated training time (see
//! BENCHMARKS.md). [`DepthwiseConvBackend`] gives `flex` direct gradient kernels ([`kernels`]),
//! gives `Autodiff` a backward step that calls them, and leaves every other backend on burn's
//! own convolution.

mod autodiff;
mod flex;
pub mod kernels;

use burn::backend::ops::ConvOptions;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Dispatch, backend_extension};
use burn::prelude::*;

/// A depthwise convolution with stride 1 and symmetric zero padding, and its two gradients.
#[backend_extension(Flex, Autodiff)]
pub trait DepthwiseConvBackend: burn::backend::Backend {
    /// `x`: `[n, c, h, w]`, `weight`: `[c, 1, k, k]` -> `[n, c, h + 2p - k + 1, w + 2p - k + 1]`.
    fn depthwise_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        padding: usize,
    ) -> FloatTensor<Self>;

    /// Gradient of [`Self::depthwise_conv2d`] with respect to `x` (same shape as `x`).
    fn depthwise_conv2d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        padding: usize,
    ) -> FloatTensor<Self>;

    /// Gradient of [`Self::depthwise_conv2d`] with respect to `weight` (same shape as `weight`).
    fn depthwise_conv2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        padding: usize,
    ) -> FloatTensor<Self>;
}

/// burn's options for the same convolution: `groups` = channels.
fn depthwise_options(x: &impl burn::backend::TensorMetadata, padding: usize) -> ConvOptions<2> {
    let channels = x.shape()[1];
    ConvOptions::new([1, 1], [padding, padding], [1, 1], channels)
}

/// burn's grouped convolution: `flex`'s path for filter sizes its kernel does not cover.
fn grouped_conv2d<B: burn::backend::Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    padding: usize,
) -> FloatTensor<B> {
    let options = depthwise_options(&x, padding);
    B::conv2d(x, weight, None, options)
}

/// burn's input gradient of [`grouped_conv2d`].
fn grouped_conv2d_x_backward<B: burn::backend::Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    grad: FloatTensor<B>,
    padding: usize,
) -> FloatTensor<B> {
    let options = depthwise_options(&x, padding);
    B::conv2d_x_backward(x, weight, grad, options)
}

/// burn's filter gradient of [`grouped_conv2d`] (one group at a time).
fn grouped_conv2d_weight_backward<B: burn::backend::Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    grad: FloatTensor<B>,
    padding: usize,
) -> FloatTensor<B> {
    let options = depthwise_options(&x, padding);
    B::conv2d_weight_backward(x, weight, grad, options)
}

/// Depthwise convolution of `x` (`[n, c, h, w]`) with `weight` (`[c, 1, k, k]`), stride 1 and
/// `padding` zeros on every side, differentiable: the project's kernels on the CPU in `f32`
/// (`super::routes_to_own_kernels`), burn's grouped convolution elsewhere.
pub fn depthwise_conv2d(x: Tensor<4>, weight: Tensor<4>, padding: usize) -> Tensor<4> {
    if !super::routes_to_own_kernels(&x.device(), [x.dtype(), weight.dtype()]) {
        let channels = x.dims()[1];
        let options = ConvOptions::new([1, 1], [padding, padding], [1, 1], channels);
        return burn::tensor::module::conv2d(x, weight, None, options);
    }
    Tensor::from_dispatch(Dispatch::depthwise_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        padding,
    ))
}
