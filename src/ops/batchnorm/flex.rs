//! The `flex` (CPU) implementation: the slice kernels of [`super::kernels`].

use burn::backend::flex::FlexTensor;
use burn::backend::{Flex, TensorMetadata};
use burn::tensor::TensorData;

use super::BatchNormBackend;
use super::kernels::{self, NormShape};
use crate::ops::f32s;

impl BatchNormBackend for Flex {
    fn batch_stats(x: FlexTensor) -> FlexTensor {
        let shape = norm_shape(&x);
        tensor(kernels::stats(&f32s(&x), shape), [2, shape.channels])
    }

    fn batch_norm_with(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        stats: FlexTensor,
        epsilon: f64,
    ) -> FlexTensor {
        let shape = norm_shape(&x);
        let params = [&*f32s(&gamma), &*f32s(&beta), &*f32s(&stats)];
        let out = kernels::apply(&f32s(&x), params, epsilon, shape);
        tensor(out, dims(&x))
    }

    fn batch_norm_relu_inference(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        stats: FlexTensor,
        epsilon: f64,
        ceiling: f32,
    ) -> FlexTensor {
        let shape = norm_shape(&x);
        let params = [&*f32s(&gamma), &*f32s(&beta), &*f32s(&stats)];
        let len = shape.batch * shape.channels * shape.plane;
        // In place when nothing else holds the activation (a layer's fresh output); a copy
        // first when something does (a residual branch, a kept layer output).
        let mut x = match x.layout().contiguous_offsets() {
            Some((0, end)) if end == len => x,
            _ => x.to_contiguous(),
        };
        if x.try_storage_mut::<f32>().is_none() {
            x = tensor(f32s(&x).into_owned(), dims(&x));
        }
        let values = x.try_storage_mut::<f32>().expect("a tensor of its own");
        kernels::apply_relu_in_place(&mut values[..len], params, epsilon, ceiling, shape);
        x
    }

    fn batch_norm_param_grads(
        x: FlexTensor,
        grad: FlexTensor,
        stats: FlexTensor,
        epsilon: f64,
    ) -> FlexTensor {
        let shape = norm_shape(&x);
        let grads = kernels::param_grads(&f32s(&x), &f32s(&grad), &f32s(&stats), epsilon, shape);
        tensor(grads, [2, shape.channels])
    }

    fn batch_norm_input_grad(
        x: FlexTensor,
        grad: FlexTensor,
        gamma: FlexTensor,
        stats: FlexTensor,
        param_grads: FlexTensor,
        epsilon: f64,
    ) -> FlexTensor {
        let shape = norm_shape(&x);
        let params = [&*f32s(&gamma), &*f32s(&stats), &*f32s(&param_grads)];
        let dx = kernels::input_grad(&f32s(&x), &f32s(&grad), params, epsilon, shape);
        tensor(dx, dims(&x))
    }
}

fn dims(x: &FlexTensor) -> [usize; 4] {
    let s = x.shape();
    [s[0], s[1], s[2], s[3]]
}

fn norm_shape(x: &FlexTensor) -> NormShape {
    let [batch, channels, h, w] = dims(x);
    NormShape {
        batch,
        channels,
        plane: h * w,
    }
}

fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}
