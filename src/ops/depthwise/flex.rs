//! The `flex` (CPU) implementation: [`super::kernels`] for `f32` (the forward pass of the 3x3
//! filters the models use; the input gradient as that same pass over the output gradient with
//! the filters turned 180 degrees; the filter gradient, which burn computes one channel at a
//! time). Other filter sizes keep burn's grouped convolution; only `f32` is routed here.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::tensor::TensorData;

use super::kernels::{self, DepthwiseShape};
use super::{
    DepthwiseConvBackend, grouped_conv2d, grouped_conv2d_weight_backward, grouped_conv2d_x_backward,
};
use crate::ops::f32s;

impl DepthwiseConvBackend for Flex {
    fn depthwise_conv2d(x: FlexTensor, weight: FlexTensor, padding: usize) -> FlexTensor {
        let Some(shape) = kernel_shape(&x, &weight, padding).filter(|s| s.kernel == 3) else {
            return grouped_conv2d::<Flex>(x, weight, padding);
        };
        let y = kernels::forward::<3>(&f32s(&x), &f32s(&weight), shape);
        tensor(
            y,
            [
                shape.batch,
                shape.channels,
                shape.out_height(),
                shape.out_width(),
            ],
        )
    }

    fn depthwise_conv2d_x_backward(
        x: FlexTensor,
        weight: FlexTensor,
        grad: FlexTensor,
        padding: usize,
    ) -> FlexTensor {
        let Some(shape) = kernel_shape(&x, &weight, padding) else {
            return grouped_conv2d_x_backward::<Flex>(x, weight, grad, padding);
        };
        match (shape.kernel - 1).checked_sub(padding) {
            // The transposed convolution of a stride-1 convolution is a convolution with the
            // flipped filters and the complementary padding.
            Some(flipped_padding) => {
                use burn::backend::ops::FloatTensorOps;
                let flipped = Flex::float_flip(weight, &[2, 3]);
                Flex::depthwise_conv2d(grad, flipped, flipped_padding)
            }
            None => {
                let dx = kernels::input_grad(&f32s(&weight), &f32s(&grad), shape);
                tensor(dx, [shape.batch, shape.channels, shape.height, shape.width])
            }
        }
    }

    fn depthwise_conv2d_weight_backward(
        x: FlexTensor,
        weight: FlexTensor,
        grad: FlexTensor,
        padding: usize,
    ) -> FlexTensor {
        let Some(shape) = kernel_shape(&x, &weight, padding) else {
            return grouped_conv2d_weight_backward::<Flex>(x, weight, grad, padding);
        };
        let dw = kernels::weight_grad(&f32s(&x), &f32s(&grad), shape);
        tensor(dw, [shape.channels, 1, shape.kernel, shape.kernel])
    }
}

/// The kernel's sizes when the weight is a square depthwise filter bank that fits the padded
/// input; `None` sends the call to burn's own convolution.
fn kernel_shape(x: &FlexTensor, weight: &FlexTensor, padding: usize) -> Option<DepthwiseShape> {
    use burn::backend::TensorMetadata;
    let (xs, ws) = (x.shape(), weight.shape());
    let square = ws.num_dims() == 4 && ws[1] == 1 && ws[2] == ws[3];
    let fits = xs.num_dims() == 4 && square && ws[0] == xs[1];
    let shape = DepthwiseShape {
        batch: xs[0],
        channels: xs[1],
        height: xs[2],
        width: xs[3],
        kernel: ws[2],
        padding,
    };
    let has_output = fits && shape.out_height() > 0 && shape.out_width() > 0;
    has_output.then_some(shape)
}

fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FloatTensor<Flex> {
    FlexTensor::from_data(TensorData::new(values, shape))
}
