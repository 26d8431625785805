//! Keras's tensor layouts into burn's: kernels HWIO -> OIHW, batch norms' four vectors.

use burn::module::{Param, RunningState};
use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::prelude::*;

use super::{ImportError, Tensors};
use crate::model::SeparableConv2d;

pub(super) fn vector(values: Vec<f32>, device: &Device) -> Tensor<1> {
    let len = values.len();
    Tensor::from_data(TensorData::new(values, [len]), device)
}

/// A convolution's `<name>/kernel`, HWIO `shape`, as burn's `[c_out, c_in, h, w]`.
pub(super) fn load_conv(
    conv: &mut Conv2d,
    tensors: &mut Tensors,
    name: &str,
    shape: [usize; 4],
    device: &Device,
) -> Result<(), ImportError> {
    let values = tensors.take(&format!("{name}/kernel"), &shape)?;
    let [h, w, c_in, c_out] = shape;
    conv.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(hwio_to_oihw(&values, shape), [c_out, c_in, h, w]),
        device,
    ));
    Ok(())
}

/// A kernel in Keras's HWIO order (`[h, w, c_in, c_out]`) rearranged into burn's OIHW
/// (`[c_out, c_in, h, w]`), as plain contiguous values.
pub(super) fn hwio_to_oihw(values: &[f32], [h, w, c_in, c_out]: [usize; 4]) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for (at, &value) in values.iter().enumerate() {
        let (o, rest) = (at % c_out, at / c_out);
        let (i, yx) = (rest % c_in, rest / c_in);
        out[(o * c_in + i) * h * w + yx] = value;
    }
    out
}

/// A batch norm's four vectors: `gamma`, `beta`, `moving_mean`, `moving_variance`.
pub(super) fn load_norm(
    norm: &mut BatchNorm,
    tensors: &mut Tensors,
    name: &str,
    channels: usize,
    device: &Device,
) -> Result<(), ImportError> {
    let mut take = |part: &str| {
        tensors
            .take(&format!("{name}/{part}"), &[channels])
            .map(|v| vector(v, device))
    };
    norm.gamma = Param::from_tensor(take("gamma")?);
    norm.beta = Param::from_tensor(take("beta")?);
    norm.running_mean = RunningState::new(take("moving_mean")?);
    norm.running_var = RunningState::new(take("moving_variance")?);
    Ok(())
}

/// A separable convolution's `<name>/depthwise_kernel` (`[3, 3, c_in, 1]`) and
/// `<name>/pointwise_kernel` (`[1, 1, c_in, c_out]`).
pub(super) fn load_separable(
    conv: &mut SeparableConv2d,
    tensors: &mut Tensors,
    name: &str,
    [c_in, c_out]: [usize; 2],
    device: &Device,
) -> Result<(), ImportError> {
    let [_, _, k_h, k_w] = conv.depthwise.weight.dims();
    let shape = [k_h, k_w, c_in, 1];
    let values = tensors.take(&format!("{name}/depthwise_kernel"), &shape)?;
    conv.depthwise.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(hwio_to_oihw(&values, shape), [c_in, 1, k_h, k_w]),
        device,
    ));
    let shape = [1, 1, c_in, c_out];
    let values = tensors.take(&format!("{name}/pointwise_kernel"), &shape)?;
    conv.pointwise.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(hwio_to_oihw(&values, shape), [c_out, c_in, 1, 1]),
        device,
    ));
    Ok(())
}
