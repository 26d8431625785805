//! Pointwise (`1 x 1`) convolution as a batched matrix product.
//!
//! A `1 x 1` convolution is `W · x` at every pixel. burn's CPU backend differentiates it like any
//! convolution: the weight gradient becomes one matrix-vector product per input channel over an
//! unrolled copy of the input. Written as a matrix product, both gradients are plain matrix
//! products too (`g · xᵀ` and `Wᵀ · g`), which `flex` runs with its GEMM at full width; the
//! forward pass is the same GEMM burn's `1 x 1` fast path runs. Other backends keep burn's
//! convolution, which was faster on WebGPU.

use burn::backend::ops::ConvOptions;
use burn::prelude::*;
use burn::tensor::Slice;
use burn::tensor::module::conv2d;

use super::routes_to_own_kernels;

/// `x`: `[n, c_in, h, w]`, `weight`: `[c_out, c_in, 1, 1]`, optional `bias`: `[c_out]`, taking
/// every `stride`-th row and column (burn's "same" padding for a `1 x 1` window is none) ->
/// `[n, c_out, ceil(h / stride), ceil(w / stride)]`.
pub fn pointwise_conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    stride: usize,
) -> Tensor<4> {
    let dtypes = [x.dtype(), weight.dtype()];
    let dtypes = dtypes.into_iter().chain(bias.as_ref().map(Tensor::dtype));
    if !routes_to_own_kernels(&x.device(), dtypes) {
        let options = ConvOptions::new([stride, stride], [0, 0], [1, 1], 1);
        return conv2d(x, weight, bias, options);
    }
    let x = subsample(x, stride); // [n, c_in, h', w']
    let [n, c_in, h, w] = x.dims();
    let [c_out, ..] = weight.dims();
    let x = x.reshape([n, c_in, h * w]); // [n, c_in, h'w']
    let weight = weight.reshape([1, c_out, c_in]); // [1, c_out, c_in]
    let y = weight.matmul(x).reshape([n, c_out, h, w]); // [n, c_out, h', w']
    match bias {
        Some(bias) => y + bias.reshape([1, c_out, 1, 1]),
        None => y,
    }
}

/// Every `stride`-th row and column, starting with the first.
fn subsample(x: Tensor<4>, stride: usize) -> Tensor<4> {
    if stride <= 1 {
        return x;
    }
    let step = Slice::new(0, None, stride as isize);
    x.slice([Slice::full(), Slice::full(), step, step])
}
