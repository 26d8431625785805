//! The reusable convnet blocks of chapter 9: separable convolutions, conv -> batch-norm -> ReLU
//! units and residual blocks.

use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;

use crate::ops::batch_norm_relu;
use crate::ops::layers::{
    conv_transpose2d, conv2d, depthwise_conv2d_layer, max_pool2d, pointwise_conv2d_layer,
};

/// Configuration of a [`SeparableConv2d`].
#[derive(Config, Debug)]
pub struct SeparableConv2dConfig {
    /// Input and output channels.
    pub channels: [usize; 2],
    /// Square window of the depthwise convolution.
    #[config(default = 3)]
    pub kernel_size: usize,
    /// Whether the pointwise convolution has a bias (false when a batch norm follows).
    #[config(default = false)]
    pub bias: bool,
}

/// Depthwise separable convolution: a depthwise `k x k` convolution (one filter per input
/// channel, `groups = channels_in`) followed by a pointwise `1 x 1` convolution that mixes the
/// channels. It assumes spatial patterns and cross-channel correlations can be learned apart,
/// which needs far fewer weights than a [`Conv2d`] of the same window.
#[derive(Module, Debug)]
pub struct SeparableConv2d {
    /// `[c_in, 1, k, k]` depthwise weights.
    pub depthwise: Conv2d,
    /// `[c_out, c_in, 1, 1]` pointwise weights.
    pub pointwise: Conv2d,
}

impl SeparableConv2dConfig {
    /// Builds the layer with "same" padding, so that it keeps the spatial size.
    pub fn init(&self, device: &Device) -> SeparableConv2d {
        let [c_in, c_out] = self.channels;
        let k = self.kernel_size;
        SeparableConv2d {
            depthwise: Conv2dConfig::new([c_in, c_in], [k, k])
                .with_groups(c_in)
                .with_padding(PaddingConfig2d::Same)
                .with_bias(false)
                .init(device),
            pointwise: Conv2dConfig::new([c_in, c_out], [1, 1])
                .with_bias(self.bias)
                .init(device),
        }
    }
}

impl SeparableConv2d {
    /// `[n, c_in, h, w]` -> `[n, c_out, h, w]`.
    ///
    /// Both steps run through [`crate::ops`] (burn's grouped and `1 x 1` convolutions are slow to
    /// differentiate on the CPU); the layer keeps burn's [`Conv2d`]s as the holders of its
    /// weights, so that records stay those of plain convolutions.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = depthwise_conv2d_layer(&self.depthwise, x); // [n, c_in, h, w]
        pointwise_conv2d_layer(&self.pointwise, x) // [n, c_out, h, w]
    }
}

/// Configuration of a [`ConvBnRelu`] unit.
#[derive(Config, Debug)]
pub struct ConvBnReluConfig {
    /// Input and output channels.
    pub channels: [usize; 2],
    /// Square window.
    #[config(default = 3)]
    pub kernel_size: usize,
    /// 1, or 2 to halve the spatial size.
    #[config(default = 1)]
    pub stride: usize,
}

/// Conv -> BatchNorm -> ReLU, the chapter's ordering: the convolution has no bias because the
/// batch norm's shift makes it redundant, and normalisation comes before the activation.
#[derive(Module, Debug)]
pub struct ConvBnRelu {
    pub conv: Conv2d,
    pub norm: BatchNorm,
}

impl ConvBnReluConfig {
    /// Builds the unit with TF-style "same" padding.
    pub fn init(&self, device: &Device) -> ConvBnRelu {
        let k = self.kernel_size;
        ConvBnRelu {
            conv: Conv2dConfig::new(self.channels, [k, k])
                .with_stride([self.stride, self.stride])
                .with_padding(PaddingConfig2d::Same)
                .with_bias(false)
                .init(device),
            norm: BatchNormConfig::new(self.channels[1]).init(device),
        }
    }
}

impl ConvBnRelu {
    /// `[n, c_in, h, w]` -> `[n, c_out, h / stride, w / stride]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        batch_norm_relu(&self.norm, conv2d(&self.conv, x))
    }
}

/// The spatial layer inside a [`ResidualBlock`]: a plain or a depthwise separable convolution.
// Built a handful of times per model, so the variants' size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum SpatialConv {
    Plain(Conv2d),
    Separable(SeparableConv2d),
}

impl SpatialConv {
    fn new(channels: [usize; 2], separable: bool, device: &Device) -> Self {
        if separable {
            SpatialConv::Separable(SeparableConv2dConfig::new(channels).init(device))
        } else {
            SpatialConv::Plain(
                Conv2dConfig::new(channels, [3, 3])
                    .with_padding(PaddingConfig2d::Same)
                    .with_bias(false)
                    .init(device),
            )
        }
    }

    /// `[n, c_in, h, w]` -> `[n, c_out, h, w]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            SpatialConv::Plain(conv) => conv2d(conv, x),
            SpatialConv::Separable(conv) => conv.forward(x),
        }
    }

    /// The layer's kind as the activation viewer names it.
    pub fn kind(&self) -> &'static str {
        match self {
            SpatialConv::Plain(_) => "conv",
            SpatialConv::Separable(_) => "sepconv",
        }
    }
}

/// Receives each named layer output of a forward pass (for the activation viewer and filter
/// visualization); returning `false` stops the pass early.
pub type LayerVisitor<'a> = dyn FnMut(String, &Tensor<4>) -> bool + 'a;

/// The output of the layer called `name` in a walk over a model's layers (`walk` runs the
/// model with the visitor it is given; the pass stops at that layer), `None` if no layer has
/// that name.
pub(crate) fn layer_output(
    name: &str,
    walk: impl FnOnce(&mut LayerVisitor<'_>),
) -> Option<Tensor<4>> {
    let mut found = None;
    walk(&mut |layer, y| {
        if layer == name {
            found = Some(y.clone());
        }
        found.is_none()
    });
    found
}

/// The layer names a walk hands out, from a pass over a small blank photo (`[1, 3, size, size]`
/// on `device`, the smallest the model takes): the names come from the walk that reads the
/// layers, so the viewer's list and the layers cannot disagree.
pub(crate) fn layer_names(
    device: &Device,
    size: usize,
    walk: impl FnOnce(Tensor<4>, &mut LayerVisitor<'_>),
) -> Vec<String> {
    let blank = Tensor::zeros([1, 3, size, size], device);
    let mut names = Vec::new();
    walk(blank, &mut |name, _| {
        names.push(name);
        true
    });
    names
}

/// Every layer's output in a walk over a model's layers, named, in order.
pub(crate) fn layer_outputs(walk: impl FnOnce(&mut LayerVisitor<'_>)) -> Vec<(String, Tensor<4>)> {
    let mut out = Vec::new();
    walk(&mut |name, y| {
        out.push((name, y.clone()));
        true
    });
    out
}

/// One pre-activation unit of a residual block: BatchNorm -> ReLU -> conv (no bias).
#[derive(Module, Debug)]
pub struct PreActConv {
    pub norm: BatchNorm,
    pub conv: SpatialConv,
}

impl PreActConv {
    fn new(channels: [usize; 2], separable: bool, device: &Device) -> Self {
        Self {
            norm: BatchNormConfig::new(channels[0]).init(device),
            conv: SpatialConv::new(channels, separable, device),
        }
    }

    /// `[n, c_in, h, w]` -> `[n, c_out, h, w]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.conv.forward(batch_norm_relu(&self.norm, x))
    }
}

/// Configuration of a [`ResidualBlock`].
#[derive(Config, Debug)]
pub struct ResidualBlockConfig {
    /// Input and output channels.
    pub channels: [usize; 2],
    /// Depthwise separable convolutions instead of plain ones (the Xception pattern).
    #[config(default = true)]
    pub separable: bool,
    /// Halve the spatial size with a 3x3 stride-2 max pooling after the two convolutions.
    #[config(default = true)]
    pub downsample: bool,
}

/// The chapter's residual block: two pre-activation convolutions (BN -> ReLU -> conv), an
/// optional 3x3 stride-2 max pooling, and the block's input added back. The residual goes
/// through a 1x1 convolution (strided when the block downsamples) only when the shape changes,
/// so that the two tensors can be added.
#[derive(Module, Debug)]
pub struct ResidualBlock {
    pub first: PreActConv,
    pub second: PreActConv,
    pub pool: Option<MaxPool2d>,
    pub projection: Option<Conv2d>,
}

impl ResidualBlockConfig {
    /// Builds the block.
    pub fn init(&self, device: &Device) -> ResidualBlock {
        let [c_in, c_out] = self.channels;
        let stride = if self.downsample { 2 } else { 1 };
        let projection = (c_in != c_out || self.downsample).then(|| {
            Conv2dConfig::new([c_in, c_out], [1, 1])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Same)
                .with_bias(false)
                .init(device)
        });
        ResidualBlock {
            first: PreActConv::new([c_in, c_out], self.separable, device),
            second: PreActConv::new([c_out, c_out], self.separable, device),
            pool: self.downsample.then(|| {
                MaxPool2dConfig::new([3, 3])
                    .with_strides([2, 2])
                    .with_padding(PaddingConfig2d::Same)
                    .init()
            }),
            projection,
        }
    }
}

impl ResidualBlock {
    /// `[n, c_in, h, w]` -> `[n, c_out, ceil(h / s), ceil(w / s)]`, `s` = 2 when downsampling.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_visiting(x, "", &mut |_, _| true)
            .expect("a visitor that always continues runs the whole block")
    }

    /// The block's pass, handing each layer's output to `visit` as
    /// `<prefix>.<kind>1`, `<prefix>.<kind>2`, `<prefix>.maxpool` and `<prefix>.add`;
    /// `None` when `visit` stopped the pass.
    pub fn forward_visiting(
        &self,
        x: Tensor<4>,
        prefix: &str,
        visit: &mut LayerVisitor<'_>,
    ) -> Option<Tensor<4>> {
        let mut emit = |name: String, y: Tensor<4>| visit(name, &y).then_some(y);
        let residual = match &self.projection {
            Some(projection) => pointwise_conv2d_layer(projection, x.clone()), // [n, c_out, h / s, w / s]
            None => x.clone(),
        };
        let y = emit(
            format!("{prefix}.{}1", self.first.conv.kind()),
            self.first.forward(x),
        )?; // [n, c_out, h, w]
        let y = emit(
            format!("{prefix}.{}2", self.second.conv.kind()),
            self.second.forward(y),
        )?; // [n, c_out, h, w]
        let y = match &self.pool {
            Some(pool) => emit(format!("{prefix}.maxpool"), max_pool2d(pool, y))?, // [n, c_out, h / 2, w / 2]
            None => y,
        };
        emit(format!("{prefix}.add"), y + residual)
    }
}

/// Configuration of a [`TransposedConvBnRelu`] unit.
#[derive(Config, Debug)]
pub struct TransposedConvBnReluConfig {
    /// Input and output channels.
    pub channels: [usize; 2],
    /// 1, or 2 to double the spatial size.
    #[config(default = 1)]
    pub stride: usize,
}

/// 3x3 transposed convolution -> BatchNorm -> ReLU: the decoder's upsampling unit. With stride 2
/// it doubles the spatial size exactly (Keras's `padding="same"`).
#[derive(Module, Debug)]
pub struct TransposedConvBnRelu {
    pub conv: ConvTranspose2d,
    pub norm: BatchNorm,
}

impl TransposedConvBnReluConfig {
    /// Builds the unit.
    pub fn init(&self, device: &Device) -> TransposedConvBnRelu {
        let s = self.stride;
        TransposedConvBnRelu {
            conv: ConvTranspose2dConfig::new(self.channels, [3, 3])
                .with_stride([s, s])
                .with_padding([1, 1])
                .with_padding_out([s - 1, s - 1])
                .with_bias(false)
                .init(device),
            norm: BatchNormConfig::new(self.channels[1]).init(device),
        }
    }
}

impl TransposedConvBnRelu {
    /// `[n, c_in, h, w]` -> `[n, c_out, h * stride, w * stride]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        batch_norm_relu(&self.norm, conv_transpose2d(&self.conv, x))
    }
}
