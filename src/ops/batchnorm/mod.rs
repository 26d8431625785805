//! Batch normalisation as a backend extension.
//!
//! burn's generic batch norm transposes each activation to channel-major before its reductions,
//! in the forward and again in the backward pass, and runs a chain of broadcast operations at
//! inference. [`BatchNormBackend`] gives `flex` per-channel kernels ([`kernels`]) and `Autodiff`
//! the closed-form training-mode gradient; [`batch_norm`] routes a burn [`BatchNorm`] layer
//! through them on the CPU and leaves other backends, and differentiation in evaluation mode
//! (Grad-CAM, filter visualisation), to burn.

mod autodiff;
mod flex;
pub mod kernels;

use burn::backend::tensor::FloatTensor;
use burn::backend::{Dispatch, backend_extension};
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::routes_to_own_kernels;

/// Batch normalisation of `[n, c, h, w]` activations with per-channel statistics.
#[backend_extension(Flex, Autodiff)]
pub trait BatchNormBackend: burn::backend::Backend {
    /// Per-channel batch mean and biased variance of `x`: `[2, c]` (not differentiated).
    fn batch_stats(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `gamma * (x - mean) / sqrt(var + epsilon) + beta` with `stats` = `[2, c]` (means,
    /// variances). Differentiated (by `Autodiff`) as training-mode batch norm: `stats` must be
    /// `x`'s own [`Self::batch_stats`].
    fn batch_norm_with(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self>;

    /// `min(ceiling, max(0, batch_norm_with(x, ...)))` (ReLU with an infinite `ceiling`, ReLU6
    /// with 6), in place where `x` is not shared: inference only (not differentiated, as
    /// [`Self::batch_stats`]).
    fn batch_norm_relu_inference(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        epsilon: f64,
        ceiling: f32,
    ) -> FloatTensor<Self>;
    /// Gradients of `gamma` and `beta` of the training-mode batch norm: `[2, c]`.
    fn batch_norm_param_grads(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self>;

    /// Gradient of `x` of the training-mode batch norm, given [`Self::batch_norm_param_grads`].
    fn batch_norm_input_grad(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        param_grads: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self>;
}

/// `norm.forward(x)` for `[n, c, h, w]` activations, with the same results and the same
/// running-statistics updates, through [`BatchNormBackend`] on the CPU.
pub fn batch_norm(norm: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    let device = x.device();
    let dtypes = [x.dtype(), norm.gamma.val().dtype(), norm.beta.val().dtype()];
    if !routes_to_own_kernels(&device, dtypes) {
        return norm.forward(x);
    }
    match (device.is_autodiff(), norm.training.is_enabled()) {
        (true, true) => batch_norm_train(norm, x),
        (false, _) => batch_norm_inference(norm, x),
        // Evaluation mode on an autodiff device: the running statistics are constants of the
        // gradient, which burn's own path computes.
        (true, false) => norm.forward(x),
    }
}

/// `relu(norm.forward(x))`, the models' pair: at inference on the CPU one pass over the
/// activation, in place when nothing else holds it ([`BatchNormBackend::batch_norm_relu_inference`]);
/// burn's ReLU after [`batch_norm`] otherwise (training, differentiation, other backends).
pub fn batch_norm_relu(norm: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    batch_norm_clamped(norm, x, f32::INFINITY)
}

/// `relu6(norm.forward(x))`, MobileNet's pair, the same way as [`batch_norm_relu`].
pub fn batch_norm_relu6(norm: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    batch_norm_clamped(norm, x, 6.0)
}

/// `min(ceiling, max(0, norm.forward(x)))`.
fn batch_norm_clamped(norm: &BatchNorm, x: Tensor<4>, ceiling: f32) -> Tensor<4> {
    let device = x.device();
    let dtypes = [x.dtype(), norm.gamma.val().dtype(), norm.beta.val().dtype()];
    if device.is_autodiff() || !routes_to_own_kernels(&device, dtypes) {
        let y = relu(batch_norm(norm, x));
        return if ceiling.is_finite() {
            y.clamp_max(ceiling)
        } else {
            y
        };
    }
    let (stats, gamma, beta) = running_stats(norm, &device);
    Tensor::from_dispatch(Dispatch::batch_norm_relu_inference(
        x.into_dispatch(),
        gamma,
        beta,
        stats,
        norm.epsilon,
        ceiling,
    ))
}

fn batch_norm_train(norm: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    let stats =
        Tensor::<2>::from_dispatch(Dispatch::batch_stats(x.clone().detach().into_dispatch())); // [2, c]
    let y = Tensor::from_dispatch(Dispatch::batch_norm_with(
        x.into_dispatch(),
        norm.gamma.val().into_dispatch(),
        norm.beta.val().into_dispatch(),
        stats.clone().into_dispatch(),
        norm.epsilon,
    ));
    update_running_stats(norm, stats);
    y
}

/// The exponential moving averages burn's batch norm keeps, from this batch's `[2, c]` stats.
fn update_running_stats(norm: &BatchNorm, stats: Tensor<2>) {
    let [_, channels] = stats.dims();
    let device = stats.device();
    let m = norm.momentum;
    let batch_mean = stats.clone().narrow(0, 0, 1).reshape([channels]);
    let batch_var = stats.narrow(0, 1, 1).reshape([channels]);
    let mean = norm.running_mean.value_sync().to_device(&device);
    let var = norm.running_var.value_sync().to_device(&device);
    let mean = mean.mul_scalar(1.0 - m).add(batch_mean.mul_scalar(m));
    let var = var.mul_scalar(1.0 - m).add(batch_var.mul_scalar(m));
    norm.running_mean.update(mean.detach());
    norm.running_var.update(var.detach());
}

fn batch_norm_inference(norm: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    let (stats, gamma, beta) = running_stats(norm, &x.device());
    Tensor::from_dispatch(Dispatch::batch_norm_with(
        x.into_dispatch(),
        gamma,
        beta,
        stats,
        norm.epsilon,
    ))
}

/// The running statistics as `[2, c]` (means, variances), `gamma` and `beta`, on `device`.
fn running_stats(
    norm: &BatchNorm,
    device: &Device,
) -> (
    FloatTensor<Dispatch>,
    FloatTensor<Dispatch>,
    FloatTensor<Dispatch>,
) {
    let mean = norm.running_mean.value().to_device(device);
    let var = norm.running_var.value().to_device(device);
    let stats = Tensor::stack::<2>(vec![mean, var], 0); // [2, c]
    (
        stats.into_dispatch(),
        norm.gamma.val().into_dispatch(),
        norm.beta.val().into_dispatch(),
    )
}
