//! Keras's Xception tensors into [`Xception`]: the named layers (`block1_conv1`,
//! `block2_sepconv1`, ..., `predictions`) by name, the four unnamed residual convolutions and their
//! batch norms (`conv2d*`, `batch_normalization*`) in the order Keras created them.

use burn::module::Param;
use burn::prelude::*;

use super::layout::{load_conv, load_norm, load_separable, vector};
use super::{ImportError, Tensors};
use crate::model::xception::{ENTRY, PooledBlock, SepConvBn};
use crate::model::{Xception, XceptionConfig};

/// The config the tensors describe: the classes from `predictions`'s bias.
pub fn xception_config_of(tensors: &Tensors) -> Result<XceptionConfig, ImportError> {
    let classes = tensors
        .shape("predictions/bias")
        .ok_or_else(|| ImportError::Missing("predictions/bias".into()))?;
    Ok(XceptionConfig::new().with_classes(classes.first().copied().unwrap_or(0)))
}

/// Takes a separable convolution `name` and its batch norm `name_bn`.
fn load_sepconv(
    sepconv: &mut SepConvBn,
    tensors: &mut Tensors,
    name: &str,
    channels: [usize; 2],
    device: &Device,
) -> Result<(), ImportError> {
    load_separable(&mut sepconv.conv, tensors, name, channels, device)?;
    load_norm(
        &mut sepconv.bn,
        tensors,
        &format!("{name}_bn"),
        channels[1],
        device,
    )
}

/// A pooled block `blockN` with its residual convolution `residual` and batch norm `norm`.
fn load_pooled(
    block: &mut PooledBlock,
    tensors: &mut Tensors,
    (name, residual, norm): (&str, &str, &str),
    [c_in, c_mid, c_out]: [usize; 3],
    device: &Device,
) -> Result<(), ImportError> {
    load_conv(
        &mut block.residual,
        tensors,
        residual,
        [1, 1, c_in, c_out],
        device,
    )?;
    load_norm(&mut block.residual_bn, tensors, norm, c_out, device)?;
    let sepconv1 = format!("{name}_sepconv1");
    load_sepconv(
        &mut block.sepconv1,
        tensors,
        &sepconv1,
        [c_in, c_mid],
        device,
    )?;
    let sepconv2 = format!("{name}_sepconv2");
    load_sepconv(
        &mut block.sepconv2,
        tensors,
        &sepconv2,
        [c_mid, c_out],
        device,
    )
}

/// The network of `config` with Keras's weights; every tensor must be used, with its shape.
pub fn xception_from(
    config: &XceptionConfig,
    mut tensors: Tensors,
) -> Result<Xception, ImportError> {
    let device = Device::flex();
    let mut net = config.init(&device);
    let t = &mut tensors;
    let residuals = t.unnamed_layers("conv2d");
    let norms = t.unnamed_layers("batch_normalization");
    let expected = ENTRY.len() + 1;
    for (stem, found) in [("conv2d", &residuals), ("batch_normalization", &norms)] {
        if found.len() != expected {
            let missing = format!("{stem}_{}", found.len() + 1);
            return Err(match found.get(expected) {
                Some(extra) => ImportError::Unexpected(format!("{extra}/*")),
                None => ImportError::Missing(format!("{missing}/* (the residual layers)")),
            });
        }
    }
    load_conv(&mut net.conv1, t, "block1_conv1", [3, 3, 3, 32], &device)?;
    load_norm(&mut net.conv1_bn, t, "block1_conv1_bn", 32, &device)?;
    load_conv(&mut net.conv2, t, "block1_conv2", [3, 3, 32, 64], &device)?;
    load_norm(&mut net.conv2_bn, t, "block1_conv2_bn", 64, &device)?;
    let mut c_in = 64;
    for (i, (block, &c)) in net.entry.iter_mut().zip(&ENTRY).enumerate() {
        let name = format!("block{}", i + 2);
        let names = (name.as_str(), residuals[i].as_str(), norms[i].as_str());
        load_pooled(block, t, names, [c_in, c, c], &device)?;
        c_in = c;
    }
    for (i, block) in net.middle.iter_mut().enumerate() {
        for (k, sepconv) in block.sepconvs.iter_mut().enumerate() {
            let name = format!("block{}_sepconv{}", i + 5, k + 1);
            load_sepconv(sepconv, t, &name, [c_in, c_in], &device)?;
        }
    }
    let last = ENTRY.len();
    let names = ("block13", residuals[last].as_str(), norms[last].as_str());
    load_pooled(&mut net.exit, t, names, [c_in, c_in, 1024], &device)?;
    load_sepconv(
        &mut net.sepconv14_1,
        t,
        "block14_sepconv1",
        [1024, 1536],
        &device,
    )?;
    load_sepconv(
        &mut net.sepconv14_2,
        t,
        "block14_sepconv2",
        [1536, 2048],
        &device,
    )?;
    let classes = config.classes;
    let kernel = t.take("predictions/kernel", &[2048, classes])?;
    net.preds.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(kernel, [2048, classes]),
        &device,
    ));
    let bias = t.take("predictions/bias", &[classes])?;
    net.preds.bias = Some(Param::from_tensor(vector(bias, &device)));
    tensors.finish()?;
    Ok(net)
}
