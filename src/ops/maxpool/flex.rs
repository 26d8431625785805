//! The `flex` (CPU) implementation: the slice kernels of [`super::kernels`] on `f32` tensors.

use burn::backend::flex::FlexTensor;
use burn::backend::{Flex, TensorMetadata};
use burn::tensor::TensorData;

use super::MaxPoolBackend;
use super::kernels::{self, PoolShape};
use crate::ops::f32s;

impl MaxPoolBackend for Flex {
    fn max_pool2d_same(x: FlexTensor, kernel: usize, stride: usize) -> FlexTensor {
        let (shape, dims) = pool_shape(&x, kernel, stride);
        let out = kernels::forward(&f32s(&x), shape);
        let out_dims = [dims[0], dims[1], shape.out_height(), shape.out_width()];
        FlexTensor::from_data(TensorData::new(out, out_dims))
    }

    fn max_pool2d_same_backward(
        x: FlexTensor,
        grad: FlexTensor,
        kernel: usize,
        stride: usize,
    ) -> FlexTensor {
        let (shape, dims) = pool_shape(&x, kernel, stride);
        let dx = kernels::input_grad(&f32s(&x), &f32s(&grad), shape);
        FlexTensor::from_data(TensorData::new(dx, dims))
    }
}

/// The kernel's sizes for `x` (`[n, c, h, w]`), and `x`'s dimensions.
fn pool_shape(x: &FlexTensor, kernel: usize, stride: usize) -> (PoolShape, [usize; 4]) {
    let s = x.shape();
    let dims = [s[0], s[1], s[2], s[3]];
    let shape = PoolShape {
        planes: dims[0] * dims[1],
        height: dims[2],
        width: dims[3],
        kernel,
        stride: stride.max(1),
    };
    (shape, dims)
}
