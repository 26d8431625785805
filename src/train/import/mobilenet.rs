//! Keras's MobileNet tensors into [`MobileNet`]: Keras's names (`conv1`, `conv_dw_<i>`,
//! `conv_pw_<i>`, their `_bn`, `conv_preds`) and layouts (kernels HWIO, depthwise kernels
//! `[h, w, c, 1]`) to burn's (`[c_out, c_in, h, w]`, `[c, 1, h, w]`).

use burn::module::Param;
use burn::prelude::*;

use super::layout::{hwio_to_oihw, load_conv, load_norm, vector};
use super::{ImportError, Tensors};
use crate::model::{MobileNet, MobileNetConfig};

/// The config the tensors describe: the width multiplier from `conv1`'s filters (Keras's
/// `int(32 * alpha)`), the classes from `conv_preds`'s bias; 224 px, the published input.
pub fn config_of(tensors: &Tensors) -> Result<MobileNetConfig, ImportError> {
    let stem = tensors
        .shape("conv1/kernel")
        .ok_or_else(|| ImportError::Missing("conv1/kernel".into()))?;
    let filters = stem.get(3).copied().unwrap_or(0);
    let classes = tensors
        .shape("conv_preds/bias")
        .ok_or_else(|| ImportError::Missing("conv_preds/bias".into()))?;
    let config = MobileNetConfig::new(filters as f64 / 32.0)
        .with_classes(classes.first().copied().unwrap_or(0));
    if filters == 0 || config.filters(32) != filters {
        return Err(ImportError::Shape {
            tensor: "conv1/kernel".into(),
            expected: vec![3, 3, 3, 32],
            actual: stem.to_vec(),
        });
    }
    Ok(config)
}

/// The network of `config` with Keras's weights; every tensor must be used, with its shape.
pub fn mobilenet_from(
    config: &MobileNetConfig,
    mut tensors: Tensors,
) -> Result<MobileNet, ImportError> {
    let device = Device::flex();
    let mut net = config.init(&device);
    let (stem, channels) = config.channels();
    let t = &mut tensors;
    load_conv(&mut net.conv1, t, "conv1", [3, 3, 3, stem], &device)?;
    load_norm(&mut net.conv1_bn, t, "conv1_bn", stem, &device)?;
    let mut c_in = stem;
    for (i, (block, c_out)) in net.blocks.iter_mut().zip(channels).enumerate() {
        let i = i + 1;
        let name = format!("conv_dw_{i}");
        let shape = [3, 3, c_in, 1];
        let values = t.take(&format!("{name}/depthwise_kernel"), &shape)?;
        // HWIO with one output per channel is `[1, c, 3, 3]` in burn's order: the same
        // memory as the depthwise layout `[c, 1, 3, 3]`.
        block.depthwise.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(hwio_to_oihw(&values, shape), [c_in, 1, 3, 3]),
            &device,
        ));
        load_norm(
            &mut block.depthwise_bn,
            t,
            &format!("{name}_bn"),
            c_in,
            &device,
        )?;
        let name = format!("conv_pw_{i}");
        load_conv(&mut block.pointwise, t, &name, [1, 1, c_in, c_out], &device)?;
        load_norm(
            &mut block.pointwise_bn,
            t,
            &format!("{name}_bn"),
            c_out,
            &device,
        )?;
        c_in = c_out;
    }
    let classes = config.classes;
    let kernel = t.take("conv_preds/kernel", &[1, 1, c_in, classes])?;
    net.preds.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(kernel, [c_in, classes]),
        &device,
    ));
    let bias = t.take("conv_preds/bias", &[classes])?;
    net.preds.bias = Some(Param::from_tensor(vector(bias, &device)));
    tensors.finish()?;
    Ok(net)
}
