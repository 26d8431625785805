//! Pointwise (`1 x 1`) convolution: the dense convolution's kernels, whose unrolled matrix for a
//! `1 x 1` window at stride 1 is the input itself, so that all three passes are plain matrix
//! products (`W · x`, `g · xᵀ`, `Wᵀ · g`) on the instruction set the kernels chose. Other
//! backends keep burn's convolution, which was faster on WebGPU.

use burn::backend::ops::ConvOptions;
use burn::prelude::*;

use super::dense_conv2d;

/// `x`: `[n, c_in, h, w]`, `weight`: `[c_out, c_in, 1, 1]`, optional `bias`: `[c_out]`, taking
/// every `stride`-th row and column (burn's "same" padding for a `1 x 1` window is none) ->
/// `[n, c_out, ceil(h / stride), ceil(w / stride)]`.
pub fn pointwise_conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    stride: usize,
) -> Tensor<4> {
    let options = ConvOptions::new([stride, stride], [0, 0], [1, 1], 1);
    dense_conv2d(x, weight, bias, options) // [n, c_out, h / s, w / s]
}
