//! Max pooling with "same" padding as a backend extension.
//!
//! burn's `flex` pools through a general 3-D kernel that also records an index per output; it
//! took a quarter of the classifier's inference time. [`MaxPoolBackend`] gives `flex` a direct
//! kernel ([`kernels`]) and `Autodiff` a backward step that finds each window's winner again
//! instead of storing indices. Other backends keep burn's pooling ([`max_pool2d_same`] routes
//! by device).

mod autodiff;
mod flex;
pub mod kernels;

use burn::backend::tensor::FloatTensor;
use burn::backend::{Dispatch, backend_extension};
use burn::prelude::*;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;

use super::{routes_to_own_kernels, same_padding};

/// Square max pooling with "same" padding, and its gradient.
#[backend_extension(Flex, Autodiff)]
pub trait MaxPoolBackend: burn::backend::Backend {
    /// `x`: `[n, c, h, w]` -> `[n, c, ceil(h / stride), ceil(w / stride)]`.
    fn max_pool2d_same(x: FloatTensor<Self>, kernel: usize, stride: usize) -> FloatTensor<Self>;

    /// Gradient of [`Self::max_pool2d_same`] with respect to `x`, given the output's gradient.
    fn max_pool2d_same_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
    ) -> FloatTensor<Self>;
}

/// `kernel x kernel` max pooling of `x` (`[n, c, h, w]`) with stride `stride` and "same" padding
/// (as burn's `MaxPool2d` with `PaddingConfig2d::Same`), differentiable:
/// `[n, c, ceil(h / stride), ceil(w / stride)]`.
pub fn max_pool2d_same(x: Tensor<4>, kernel: usize, stride: usize) -> Tensor<4> {
    if routes_to_own_kernels(&x.device(), [x.dtype()]) {
        return Tensor::from_dispatch(Dispatch::max_pool2d_same(x.into_dispatch(), kernel, stride));
    }
    let [_, _, h, w] = x.dims();
    let padding = [
        same_padding(kernel, stride, h),
        same_padding(kernel, stride, w),
    ];
    let options = MaxPoolOptions::new([kernel, kernel])
        .with_stride([stride, stride])
        .with_padding_pairs(padding);
    max_pool2d(x, options)
}
