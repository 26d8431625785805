//! The `flex` (CPU) implementation: the matrix-product kernels of [`super::kernels`].

use burn::backend::flex::FlexTensor;
use burn::backend::{Flex, TensorMetadata};
use burn::tensor::TensorData;

use super::kernels::{self, ConvShape};
use super::{ConvGeometry, DenseConvBackend};
use crate::ops::f32s;

impl DenseConvBackend for Flex {
    fn dense_conv2d(x: FlexTensor, weight: FlexTensor, geometry: ConvGeometry) -> FlexTensor {
        let w = weight.shape();
        let shape = conv_shape(x.shape()[0], [w[1], w[0]], geometry);
        let y = kernels::forward(&f32s(&x), &f32s(&weight), shape);
        tensor(y, output_dims(&shape))
    }

    fn dense_conv2d_x_backward(
        weight: FlexTensor,
        grad: FlexTensor,
        geometry: ConvGeometry,
    ) -> FlexTensor {
        let w = weight.shape();
        let shape = conv_shape(grad.shape()[0], [w[1], w[0]], geometry);
        let dx = kernels::input_grad(&f32s(&weight), &f32s(&grad), shape);
        tensor(dx, input_dims(&shape))
    }

    fn dense_conv2d_weight_backward(
        x: FlexTensor,
        grad: FlexTensor,
        geometry: ConvGeometry,
    ) -> FlexTensor {
        let shape = conv_shape(x.shape()[0], [x.shape()[1], grad.shape()[1]], geometry);
        let dw = kernels::weight_grad(&f32s(&x), &f32s(&grad), shape);
        let [k_h, k_w] = geometry.kernel;
        tensor(dw, [shape.channels_out, shape.channels_in, k_h, k_w])
    }

    /// The transposed convolution's weight `[c_in, c_out, k, k]` is the weight
    /// `[c_out', c_in', k, k]` of the convolution it transposes, whose input gradient it is.
    fn dense_conv_transpose2d(
        x: FlexTensor,
        weight: FlexTensor,
        geometry: ConvGeometry,
    ) -> FlexTensor {
        Self::dense_conv2d_x_backward(weight, x, geometry)
    }
}

/// The kernel's sizes for `batch` images and `[c_in, c_out]` channels of the convolution.
fn conv_shape(batch: usize, [channels_in, channels_out]: [usize; 2], g: ConvGeometry) -> ConvShape {
    ConvShape {
        batch,
        channels_in,
        channels_out,
        input: g.input,
        output: g.output,
        kernel: g.kernel,
        stride: g.stride,
        padding: g.padding,
    }
}

fn input_dims(shape: &ConvShape) -> [usize; 4] {
    let [h, w] = shape.input;
    [shape.batch, shape.channels_in, h, w]
}

fn output_dims(shape: &ConvShape) -> [usize; 4] {
    let [h, w] = shape.output;
    [shape.batch, shape.channels_out, h, w]
}

fn tensor(values: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}
