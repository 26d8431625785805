//! Keras Applications' MobileNet v1 (Howard et al., 2017), the ImageNet network petlens imports:
//! built exactly as `keras.applications.MobileNet` builds it, so that Keras's pretrained weights
//! give Keras's probabilities (`tests/native/imagenet.rs` checks them against Keras itself).

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::softmax;

use super::blocks::{LayerVisitor, layer_names, layer_output, layer_outputs};
use crate::ops::layers::{conv2d, depthwise_conv2d_layer, pointwise_conv2d_layer};
use crate::ops::{batch_norm, batch_norm_relu6};

/// The output channels (before the width multiplier) and stride of MobileNet v1's 13 depthwise
/// separable blocks, as Keras lists them.
pub const BLOCKS: [(usize, usize); 13] = [
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
];

/// Configuration of a [`MobileNet`]: what Keras's `MobileNet(alpha=…, classes=…)` takes.
#[derive(Config, Debug)]
pub struct MobileNetConfig {
    /// Width multiplier (Keras's `alpha`): 0.25, 0.5, 0.75 or 1.0 for the published weights.
    pub alpha: f64,
    /// Output classes of the top (`conv_preds`).
    #[config(default = 1000)]
    pub classes: usize,
    /// Square input size in pixels.
    #[config(default = 224)]
    pub image_size: usize,
    /// Keras's batch-norm epsilon.
    #[config(default = 1e-3)]
    pub epsilon: f64,
}

impl MobileNetConfig {
    /// Keras's `int(filters * alpha)`.
    pub fn filters(&self, filters: usize) -> usize {
        (filters as f64 * self.alpha) as usize
    }

    /// The channels of [`MobileNet::pyramid`]'s levels, finest first.
    pub fn pyramid_channels(&self) -> Vec<usize> {
        let (_, blocks) = self.channels();
        let mut levels: Vec<usize> = BLOCKS
            .iter()
            .enumerate()
            .filter(|&(i, &(_, stride))| stride == 2 && i > 0)
            .map(|(i, _)| blocks[i - 1])
            .collect();
        levels.extend(blocks.last());
        levels
    }

    /// The stem's output channels and each block's, in order.
    pub fn channels(&self) -> (usize, Vec<usize>) {
        let blocks = BLOCKS.iter().map(|&(c, _)| self.filters(c)).collect();
        (self.filters(32), blocks)
    }

    /// Builds the model (random weights; [`crate::train::import`] fills in Keras's).
    pub fn init(&self, device: &Device) -> MobileNet {
        let (stem, block_channels) = self.channels();
        let norm = |c| {
            BatchNormConfig::new(c)
                .with_epsilon(self.epsilon)
                .init(device)
        };
        let mut c_in = stem;
        let blocks = BLOCKS
            .iter()
            .zip(block_channels)
            .map(|(&(_, stride), c_out)| {
                let block = DepthwiseSeparableBlock {
                    depthwise: Conv2dConfig::new([c_in, c_in], [3, 3])
                        .with_groups(c_in)
                        .with_stride([stride, stride])
                        .with_padding(strided_padding(stride))
                        .with_bias(false)
                        .init(device),
                    depthwise_bn: norm(c_in),
                    pointwise: Conv2dConfig::new([c_in, c_out], [1, 1])
                        .with_bias(false)
                        .init(device),
                    pointwise_bn: norm(c_out),
                };
                c_in = c_out;
                block
            })
            .collect();
        MobileNet {
            conv1: Conv2dConfig::new([3, stem], [3, 3])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Same)
                .with_bias(false)
                .init(device),
            conv1_bn: norm(stem),
            blocks,
            preds: LinearConfig::new(c_in, self.classes).init(device),
        }
    }

    /// The architecture in words, for the model card.
    pub fn describe(&self) -> String {
        format!(
            "Keras Applications' MobileNet v1, width {}: 3x3 stride-2 conv, 13 depthwise separable blocks (depthwise 3x3 -> BN -> ReLU6 -> 1x1 conv -> BN -> ReLU6), global average pooling, {}-class softmax; {} px input scaled to [-1, 1]",
            self.alpha, self.classes, self.image_size
        )
    }
}

/// Keras's padding of a depthwise convolution: "same" at stride 1; at stride 2 one row and one
/// column of zeros after the input (`ZeroPadding2D(((0, 1), (0, 1)))`) and no padding before,
/// where a symmetric padding would shift every output by half a pixel.
fn strided_padding(stride: usize) -> PaddingConfig2d {
    if stride == 1 {
        PaddingConfig2d::Same
    } else {
        PaddingConfig2d::Explicit(0, 0, 1, 1)
    }
}

/// One of MobileNet's blocks (Keras's `_depthwise_conv_block`): depthwise 3x3 (stride 1 or 2)
/// -> BN -> ReLU6 -> pointwise 1x1 -> BN -> ReLU6.
#[derive(Module, Debug)]
pub struct DepthwiseSeparableBlock {
    /// `[c_in, 1, 3, 3]` (Keras's `conv_dw_<i>`).
    pub depthwise: Conv2d,
    pub depthwise_bn: BatchNorm,
    /// `[c_out, c_in, 1, 1]` (Keras's `conv_pw_<i>`).
    pub pointwise: Conv2d,
    pub pointwise_bn: BatchNorm,
}

/// ReLU6, MobileNet's activation: `min(max(x, 0), 6)`.
fn relu6(x: Tensor<4>) -> Tensor<4> {
    x.clamp(0.0, 6.0)
}

impl DepthwiseSeparableBlock {
    /// `[n, c_in, h, w]` -> `[n, c_out, h / stride, w / stride]`, handing its activations to
    /// `visit` as `conv_dw_<i>_relu`, `conv_pw_<i>_bn` (before ReLU6) and `conv_pw_<i>_relu`;
    /// `None` once `visit` stops the pass.
    fn forward_visiting(
        &self,
        x: Tensor<4>,
        index: usize,
        visit: &mut LayerVisitor<'_>,
    ) -> Option<Tensor<4>> {
        let x = batch_norm_relu6(
            &self.depthwise_bn,
            depthwise_conv2d_layer(&self.depthwise, x),
        ); // [n, c_in, h / stride, w / stride]
        if !visit(format!("conv_dw_{index}_relu"), &x) {
            return None;
        }
        let x = batch_norm(
            &self.pointwise_bn,
            pointwise_conv2d_layer(&self.pointwise, x),
        ); // [n, c_out, h / stride, w / stride]
        // Before its ReLU6 a filter responds linearly, so gradient ascent on grey noise (which
        // leaves most late ReLU6 outputs at 0, and their gradient with them) can move it.
        if !visit(format!("conv_pw_{index}_bn"), &x) {
            return None;
        }
        let x = relu6(x);
        visit(format!("conv_pw_{index}_relu"), &x).then_some(x)
    }

    /// `[n, c_in, h, w]` -> `[n, c_out, h / stride, w / stride]`: the same values as
    /// [`Self::forward_visiting`] with each batch norm and its ReLU6 in one pass.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = batch_norm_relu6(
            &self.depthwise_bn,
            depthwise_conv2d_layer(&self.depthwise, x),
        ); // [n, c_in, h / stride, w / stride]
        batch_norm_relu6(
            &self.pointwise_bn,
            pointwise_conv2d_layer(&self.pointwise, x),
        ) // [n, c_out, h / stride, w / stride]
    }
}

/// MobileNet v1 with its 1000-class top. Takes photos in [0, 1] like petlens's own models and
/// scales them to [-1, 1] itself (Keras's `mobilenet.preprocess_input`), so that one
/// preprocessing path serves every model.
#[derive(Module, Debug)]
pub struct MobileNet {
    /// `[c, 3, 3, 3]`, stride 2, TF "same" padding (Keras's `conv1`).
    pub conv1: Conv2d,
    pub conv1_bn: BatchNorm,
    pub blocks: Vec<DepthwiseSeparableBlock>,
    /// Keras's `conv_preds`, a 1x1 convolution on the pooled 1x1 map: a dense layer.
    pub preds: Linear,
}

impl MobileNet {
    /// The stem: `[n, 3, s, s]` in [0, 1] -> `[n, c, s/2, s/2]` (`conv1_relu`).
    fn stem(&self, x: Tensor<4>) -> Tensor<4> {
        let x = x * 2.0 - 1.0; // [n, 3, s, s] in [-1, 1]
        batch_norm_relu6(&self.conv1_bn, conv2d(&self.conv1, x)) // [n, c, s/2, s/2]
    }

    /// The convolutional base through block `depth` (0-based; `None`: all 13), the layer
    /// Grad-CAM explains. `[n, 3, s, s]` in [0, 1] -> `[n, c, h, w]`.
    pub fn features_at(&self, x: Tensor<4>, depth: Option<usize>) -> Tensor<4> {
        let take = depth.map_or(self.blocks.len(), |d| (d + 1).min(self.blocks.len()));
        self.blocks[..take]
            .iter()
            .fold(self.stem(x), |x, block| block.forward(x)) // [n, c, h, w]
    }

    /// The convolutional base's last output at each size: strides 2, 4, 8, 16 and 32, finest
    /// first (a U-Net decoder's skips). `[n, 3, s, s]` -> `[[n, c_i, s/2^(i+1), ..]; 5]`.
    pub fn pyramid(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        let mut levels = Vec::new();
        let mut x = self.stem(x); // [n, c, s/2, s/2]
        for (block, &(_, stride)) in self.blocks.iter().zip(&BLOCKS) {
            if stride == 2 {
                levels.push(x.clone()); // the last output before the size halves
            }
            x = block.forward(x);
        }
        levels.push(x); // [n, c_last, s/32, s/32]
        levels
    }

    /// The blocks after `depth` and global average pooling: what the top reads, and what a
    /// classifier built on the network's features reads. `[n, c, h, w]` -> `[n, c_last]`.
    pub fn pooled_from(&self, features: Tensor<4>, depth: Option<usize>) -> Tensor<2> {
        let start = depth.map_or(self.blocks.len(), |d| (d + 1).min(self.blocks.len()));
        let x = self.blocks[start..]
            .iter()
            .fold(features, |x, block| block.forward(x)); // [n, c, s/32, s/32]
        let [n, c, _, _] = x.dims();
        x.mean_dim(2).mean_dim(3).reshape([n, c]) // [n, c]
    }

    /// The blocks after `depth`, global average pooling and the top: what Grad-CAM
    /// differentiates. `[n, c, h, w]` -> `[n, classes]` logits (Keras's softmax input).
    pub fn head_from(&self, features: Tensor<4>, depth: Option<usize>) -> Tensor<2> {
        self.preds.forward(self.pooled_from(features, depth)) // [n, classes]
    }

    /// Logits. `[n, 3, s, s]` in [0, 1] -> `[n, classes]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head_from(self.features_at(x, None), None)
    }

    /// Class probabilities (Keras's `act_softmax`). `[n, 3, s, s]` -> `[n, classes]`.
    pub fn probabilities(&self, x: Tensor<4>) -> Tensor<2> {
        softmax(self.forward(x), 1)
    }

    /// Runs the convolutional base, handing every activation to `visit` under Keras's layer
    /// names (`conv1_relu`, then `conv_dw_<i>_relu`, `conv_pw_<i>_bn` and `conv_pw_<i>_relu`
    /// for i = 1..13) until it returns false.
    pub fn visit_layers(&self, x: Tensor<4>, visit: &mut LayerVisitor<'_>) {
        let mut x = self.stem(x); // [n, c, s/2, s/2]
        if !visit("conv1_relu".into(), &x) {
            return;
        }
        for (i, block) in self.blocks.iter().enumerate() {
            match block.forward_visiting(x, i + 1, visit) {
                Some(y) => x = y, // [n, c, h, w], halved at the stride-2 blocks
                None => return,
            }
        }
    }

    /// Every layer's output, named, for the activation viewer. `[1, 3, s, s]` in.
    pub fn activations(&self, x: Tensor<4>) -> Vec<(String, Tensor<4>)> {
        layer_outputs(|visit| self.visit_layers(x, visit))
    }

    /// The names [`MobileNet::visit_layers`] hands out, in order.
    pub fn layer_names(&self) -> Vec<String> {
        // 64 px: five halvings leave the last stride-2 block a 2x2 map, which its padding fits.
        layer_names(&self.conv1.weight.device(), 64, |x, visit| {
            self.visit_layers(x, visit)
        })
    }

    /// One layer's output (the pass stops there), or `None` for an unknown name.
    pub fn layer(&self, x: Tensor<4>, name: &str) -> Option<Tensor<4>> {
        layer_output(name, |visit| self.visit_layers(x, visit))
    }
}
