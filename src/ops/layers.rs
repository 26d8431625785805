//! burn's layers applied through the project's operations: one wrapper per layer kind, which
//! reads the layer's own settings (padding, stride, groups) and falls back to the layer's
//! `forward` for settings the operations do not cover. The models' blocks call only these.

use burn::backend::ops::{ConvOptions, ConvTransposeOptions};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::nn::pool::MaxPool2d;
use burn::prelude::*;

use super::{
    dense_conv_transpose2d, dense_conv2d, depthwise_conv2d, max_pool2d_same, pointwise_conv2d,
    same_padding,
};

/// `conv.forward(x)` for a [`Conv2d`] with one group, through [`dense_conv2d`].
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let [k_h, k_w] = conv.kernel_size;
    let padding = match conv.padding {
        PaddingConfig2d::Same => [
            same_padding(k_h, conv.stride[0], h),
            same_padding(k_w, conv.stride[1], w),
        ],
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
    };
    let options = ConvOptions::new_with_padding(conv.stride, padding, conv.dilation, conv.groups);
    let bias = conv.bias.as_ref().map(|bias| bias.val());
    dense_conv2d(x, conv.weight.val(), bias, options)
}

/// `conv.forward(x)` for a [`ConvTranspose2d`], through [`dense_conv_transpose2d`].
pub fn conv_transpose2d(conv: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    let options = ConvTransposeOptions::new(
        conv.stride,
        conv.padding,
        conv.padding_out,
        conv.dilation,
        conv.groups,
    );
    let bias = conv.bias.as_ref().map(|bias| bias.val());
    dense_conv_transpose2d(x, conv.weight.val(), bias, options)
}

/// `conv.forward(x)` for a depthwise [`Conv2d`] (one filter per channel) with an odd square
/// window, stride 1 and "same" padding, through [`depthwise_conv2d`]; other depthwise layers
/// run burn's convolution.
pub fn depthwise_conv2d_layer(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let [channels, per_group, k_h, k_w] = conv.weight.dims();
    let covered = per_group == 1
        && conv.groups == channels
        && k_h == k_w
        && k_h % 2 == 1
        && conv.stride == [1, 1]
        && conv.dilation == [1, 1]
        && conv.bias.is_none()
        && matches!(conv.padding, PaddingConfig2d::Same);
    if !covered {
        return conv.forward(x);
    }
    depthwise_conv2d(x, conv.weight.val(), (k_h - 1) / 2)
}

/// `conv.forward(x)` for a `1 x 1` [`Conv2d`] with the same stride on both axes and no padding,
/// through [`pointwise_conv2d`]; other layers run burn's convolution.
pub fn pointwise_conv2d_layer(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let padded = matches!(conv.padding, PaddingConfig2d::Explicit(..));
    let covered = conv.kernel_size == [1, 1]
        && conv.stride[0] == conv.stride[1]
        && conv.dilation == [1, 1]
        && conv.groups == 1
        && !padded;
    if !covered {
        return conv.forward(x);
    }
    let bias = conv.bias.as_ref().map(|bias| bias.val());
    pointwise_conv2d(x, conv.weight.val(), bias, conv.stride[0])
}

/// `pool.forward(x)` for a square "same"-padded [`MaxPool2d`], through [`max_pool2d_same`];
/// other pools run burn's.
pub fn max_pool2d(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    let [k_h, k_w] = pool.kernel_size;
    let covered = k_h == k_w
        && pool.stride[0] == pool.stride[1]
        && pool.dilation == [1, 1]
        && matches!(pool.padding, PaddingConfig2d::Same);
    if !covered {
        return pool.forward(x);
    }
    max_pool2d_same(x, k_h, pool.stride[0])
}
