//! The project's depthwise convolution (a burn backend extension with its own CPU kernels and
//! backward step) against burn's own grouped convolution: same outputs, same gradients.
#![cfg(not(target_arch = "wasm32"))]

use burn::backend::ops::ConvOptions;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::module::conv2d;
use petlens::ops::depthwise_conv2d;

/// burn's reference: a grouped convolution with one group per channel.
fn burn_depthwise(x: Tensor<4>, weight: Tensor<4>, padding: usize) -> Tensor<4> {
    let channels = x.dims()[1];
    let options = ConvOptions::new([1, 1], [padding, padding], [1, 1], channels);
    conv2d(x, weight, None, options)
}

fn normal(shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

/// Largest absolute difference, relative to the reference's largest magnitude.
fn relative_error(ours: Tensor<4>, reference: Tensor<4>) -> f32 {
    let scale = reference.clone().abs().max().into_scalar::<f32>().max(1e-6);
    let diff = (ours - reference).abs().max().into_scalar::<f32>();
    diff / scale
}

/// Shapes `[n, c, h, w]`, kernel, padding: the chapter's 3x3 "same", a 5x5, no padding,
/// non-square planes, and a kernel wider than the unpadded input.
const CASES: [([usize; 4], usize, usize); 5] = [
    ([2, 8, 12, 12], 3, 1),
    ([3, 5, 9, 14], 5, 2),
    ([2, 4, 10, 7], 3, 0),
    ([1, 16, 23, 17], 3, 1),
    ([2, 3, 2, 3], 5, 2),
];

#[test]
fn forward_matches_burns_grouped_convolution() {
    let device = Device::flex();
    for (shape, k, p) in CASES {
        let x = normal(shape, &device);
        let w = normal([shape[1], 1, k, k], &device);
        let ours = depthwise_conv2d(x.clone(), w.clone(), p);
        let reference = burn_depthwise(x, w, p);
        assert_eq!(ours.dims(), reference.dims(), "{shape:?} k{k} p{p}");
        let err = relative_error(ours, reference);
        assert!(err < 1e-5, "{shape:?} k{k} p{p}: relative error {err}");
    }
}

#[test]
fn gradients_match_burns_grouped_convolution() {
    let device = Device::flex().autodiff();
    for (shape, k, p) in CASES {
        let x = normal(shape, &device);
        let w = normal([shape[1], 1, k, k], &device);
        // A random linear read-out of the output, so that every output position matters.
        let probe = normal(depthwise_conv2d(x.clone(), w.clone(), p).dims(), &device);

        let grads_of = |conv: fn(Tensor<4>, Tensor<4>, usize) -> Tensor<4>| {
            let (x, w) = (x.clone().require_grad(), w.clone().require_grad());
            let loss = (conv(x.clone(), w.clone(), p) * probe.clone()).sum();
            let grads = loss.backward();
            let dx = x.grad(&grads).expect("input gradient");
            let dw = w.grad(&grads).expect("weight gradient");
            (dx, dw)
        };
        let (dx, dw) = grads_of(depthwise_conv2d);
        let (ref_dx, ref_dw) = grads_of(burn_depthwise);
        let err_x = relative_error(dx, ref_dx);
        let err_w = relative_error(dw, ref_dw);
        assert!(
            err_x < 1e-5,
            "{shape:?} k{k} p{p}: input gradient error {err_x}"
        );
        assert!(
            err_w < 1e-5,
            "{shape:?} k{k} p{p}: weight gradient error {err_w}"
        );
    }
}

#[test]
fn gradient_reaches_a_leaf_on_the_plain_device_through_the_model_weights() {
    // Grad-CAM and filter visualisation differentiate with respect to the input only: the
    // weights live on the plain device and are constants for the autodiff graph.
    let device = Device::flex();
    let x = normal([1, 4, 6, 6], &device).autodiff().require_grad();
    let w = normal([4, 1, 3, 3], &device).autodiff();
    let loss = depthwise_conv2d(x.clone(), w.clone(), 1).sum();
    let dx = x.grad(&loss.backward()).expect("input gradient");
    let reference = {
        let x = x.clone().detach().require_grad();
        let loss = burn_depthwise(x.clone(), w, 1).sum();
        x.grad(&loss.backward()).expect("input gradient")
    };
    assert!(relative_error(dx, reference) < 1e-5);
}
