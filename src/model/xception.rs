//! Keras Applications' Xception (Chollet, 2017), the network chapter 9 visualises, built exactly
//! as `keras.applications.Xception` builds it (entry, middle and exit flows; 22,910,480
//! parameters with the top), so that a reader's own Keras weights file gives Keras's outputs.
//! Its ImageNet weights are not shipped (they cannot be obtained here): `train import` takes a
//! reader's file (see README, "The ImageNet network").

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::{relu, softmax};

use super::blocks::{
    LayerVisitor, SeparableConv2d, SeparableConv2dConfig, layer_names, layer_output, layer_outputs,
};
use crate::ops::batch_norm;
use crate::ops::layers::{conv2d, max_pool2d, pointwise_conv2d_layer};

/// The output channels of the entry flow's three blocks (block2..block4), and of the exit
/// flow's block (block13: 728 then 1024).
pub const ENTRY: [usize; 3] = [128, 256, 728];
/// The middle flow: 8 blocks of three 728-channel separable convolutions (block5..block12).
pub const MIDDLE_BLOCKS: usize = 8;
const MIDDLE: usize = 728;

/// Configuration of an [`Xception`]: what Keras's `Xception(classes=…)` takes.
#[derive(Config, Debug)]
pub struct XceptionConfig {
    /// Output classes of the top (`predictions`).
    #[config(default = 1000)]
    pub classes: usize,
    /// Square input size in pixels.
    #[config(default = 299)]
    pub image_size: usize,
    /// Keras's batch-norm epsilon.
    #[config(default = 1e-3)]
    pub epsilon: f64,
}

/// A separable convolution and its batch norm (Keras's `blockN_sepconvK` and `_bn`).
#[derive(Module, Debug)]
pub struct SepConvBn {
    pub conv: SeparableConv2d,
    pub bn: BatchNorm,
}

impl SepConvBn {
    /// `[n, c_in, h, w]` -> (`[n, c_out, h, w]` conv output, after the batch norm).
    fn forward(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let y = self.conv.forward(x);
        (y.clone(), batch_norm(&self.bn, y))
    }
}

/// A block with a strided residual (entry flow, and block13 of the exit flow): \[ReLU\] ->
/// sepconv -> BN -> ReLU -> sepconv -> BN -> max pool 3/2, plus a 1x1 stride-2 convolution and
/// batch norm of the input.
#[derive(Module, Debug)]
pub struct PooledBlock {
    pub residual: Conv2d,
    pub residual_bn: BatchNorm,
    pub sepconv1: SepConvBn,
    pub sepconv2: SepConvBn,
    pub pool: MaxPool2d,
}

/// A middle-flow block: three times ReLU -> sepconv -> BN, plus the input.
#[derive(Module, Debug)]
pub struct MiddleBlock {
    pub sepconvs: Vec<SepConvBn>,
}

/// Keras's Xception with its top. Takes photos in [0, 1] and scales them to [-1, 1] itself
/// (Keras's `xception.preprocess_input`).
#[derive(Module, Debug)]
pub struct Xception {
    /// 3x3 stride 2, no padding (`block1_conv1`).
    pub conv1: Conv2d,
    pub conv1_bn: BatchNorm,
    /// 3x3, no padding (`block1_conv2`).
    pub conv2: Conv2d,
    pub conv2_bn: BatchNorm,
    /// block2, block3, block4.
    pub entry: Vec<PooledBlock>,
    /// block5 .. block12.
    pub middle: Vec<MiddleBlock>,
    /// block13.
    pub exit: PooledBlock,
    /// block14: 1536 then 2048 channels, each followed by ReLU.
    pub sepconv14_1: SepConvBn,
    pub sepconv14_2: SepConvBn,
    /// Keras's `predictions`.
    pub preds: Linear,
}

impl XceptionConfig {
    fn norm(&self, channels: usize, device: &Device) -> BatchNorm {
        BatchNormConfig::new(channels)
            .with_epsilon(self.epsilon)
            .init(device)
    }

    fn sepconv(&self, channels: [usize; 2], device: &Device) -> SepConvBn {
        SepConvBn {
            conv: SeparableConv2dConfig::new(channels).init(device),
            bn: self.norm(channels[1], device),
        }
    }

    fn pooled(&self, c_in: usize, [c_mid, c_out]: [usize; 2], device: &Device) -> PooledBlock {
        PooledBlock {
            residual: Conv2dConfig::new([c_in, c_out], [1, 1])
                .with_stride([2, 2])
                .with_bias(false)
                .init(device),
            residual_bn: self.norm(c_out, device),
            sepconv1: self.sepconv([c_in, c_mid], device),
            sepconv2: self.sepconv([c_mid, c_out], device),
            pool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Same)
                .init(),
        }
    }

    /// Builds the model (random weights; `train import` fills in Keras's).
    pub fn init(&self, device: &Device) -> Xception {
        let conv = |channels, stride| {
            Conv2dConfig::new(channels, [3, 3])
                .with_stride([stride, stride])
                .with_bias(false)
                .init(device)
        };
        let mut c_in = 64;
        let entry = ENTRY
            .iter()
            .map(|&c| {
                let block = self.pooled(c_in, [c, c], device);
                c_in = c;
                block
            })
            .collect();
        let middle = (0..MIDDLE_BLOCKS)
            .map(|_| MiddleBlock {
                sepconvs: (0..3)
                    .map(|_| self.sepconv([MIDDLE, MIDDLE], device))
                    .collect(),
            })
            .collect();
        Xception {
            conv1: conv([3, 32], 2),
            conv1_bn: self.norm(32, device),
            conv2: conv([32, 64], 1),
            conv2_bn: self.norm(64, device),
            entry,
            middle,
            exit: self.pooled(MIDDLE, [MIDDLE, 1024], device),
            sepconv14_1: self.sepconv([1024, 1536], device),
            sepconv14_2: self.sepconv([1536, 2048], device),
            preds: LinearConfig::new(2048, self.classes).init(device),
        }
    }

    /// The architecture in words, for the model card.
    pub fn describe(&self) -> String {
        format!(
            "Keras Applications' Xception: entry flow (two 3x3 convs, 3 residual blocks of separable convs + max pooling), middle flow (8 blocks of 3 separable convs), exit flow, global average pooling, {}-class softmax; {} px input scaled to [-1, 1]",
            self.classes, self.image_size
        )
    }
}

impl PooledBlock {
    /// `[n, c_in, h, w]` -> `[n, c_out, h/2, w/2]`; `name` is Keras's block (`block3`),
    /// `relu_first` false for block2 (its input is already a ReLU's).
    fn forward_visiting(
        &self,
        x: Tensor<4>,
        name: &str,
        relu_first: bool,
        visit: &mut LayerVisitor<'_>,
    ) -> Option<Tensor<4>> {
        let residual = batch_norm(
            &self.residual_bn,
            pointwise_conv2d_layer(&self.residual, x.clone()),
        ); // [n, c_out, h/2, w/2]
        let x = if relu_first { relu(x) } else { x };
        let (conv, y) = self.sepconv1.forward(x); // [n, c_mid, h, w]
        if !visit(format!("{name}_sepconv1"), &conv) {
            return None;
        }
        let (conv, y) = self.sepconv2.forward(relu(y)); // [n, c_out, h, w]
        if !visit(format!("{name}_sepconv2"), &conv) {
            return None;
        }
        let y = max_pool2d(&self.pool, y) + residual; // [n, c_out, h/2, w/2]
        visit(format!("{name}_add"), &y).then_some(y)
    }
}

impl MiddleBlock {
    /// `[n, 728, h, w]` -> `[n, 728, h, w]`.
    fn forward_visiting(
        &self,
        x: Tensor<4>,
        name: &str,
        visit: &mut LayerVisitor<'_>,
    ) -> Option<Tensor<4>> {
        let mut y = x.clone();
        for (k, sepconv) in self.sepconvs.iter().enumerate() {
            let (conv, out) = sepconv.forward(relu(y));
            if !visit(format!("{name}_sepconv{}", k + 1), &conv) {
                return None;
            }
            y = out;
        }
        let y = y + x;
        visit(format!("{name}_add"), &y).then_some(y)
    }
}

/// How far a pass goes: through residual block `depth` (0 = block2 ... 11 = block13), or the
/// whole convolutional base.
fn stops_after(depth: Option<usize>, block: usize) -> bool {
    depth.is_some_and(|d| block > d)
}

impl Xception {
    /// Residual blocks (Grad-CAM's depth choices: block2 .. block13).
    pub fn blocks(&self) -> usize {
        self.entry.len() + self.middle.len() + 1
    }

    /// Runs the network from the photo up to the end of residual block `depth` (`None`: through
    /// block14, the last convolution), handing every named activation to `visit`; `None` when
    /// `visit` stopped it.
    fn walk(
        &self,
        x: Tensor<4>,
        depth: Option<usize>,
        visit: &mut LayerVisitor<'_>,
    ) -> Option<Tensor<4>> {
        let x = x * 2.0 - 1.0; // [n, 3, s, s] in [-1, 1]
        let x = relu(batch_norm(&self.conv1_bn, conv2d(&self.conv1, x))); // [n, 32, (s-3)/2+1, ..]
        if !visit("block1_conv1_act".into(), &x) {
            return None;
        }
        let mut x = relu(batch_norm(&self.conv2_bn, conv2d(&self.conv2, x))); // [n, 64, h-2, w-2]
        if !visit("block1_conv2_act".into(), &x) {
            return None;
        }
        for (i, block) in self.entry.iter().enumerate() {
            if stops_after(depth, i) {
                return Some(x);
            }
            x = block.forward_visiting(x, &format!("block{}", i + 2), i > 0, visit)?;
        }
        for (i, block) in self.middle.iter().enumerate() {
            let index = self.entry.len() + i;
            if stops_after(depth, index) {
                return Some(x);
            }
            x = block.forward_visiting(x, &format!("block{}", index + 2), visit)?;
        }
        if stops_after(depth, self.blocks() - 1) {
            return Some(x);
        }
        x = self.exit.forward_visiting(x, "block13", true, visit)?; // [n, 1024, s/32, s/32]
        if depth.is_some() {
            return Some(x);
        }
        self.block14(x, visit)
    }

    /// block14: `[n, 1024, h, w]` -> `[n, 2048, h, w]`.
    fn block14(&self, x: Tensor<4>, visit: &mut LayerVisitor<'_>) -> Option<Tensor<4>> {
        let (_, x) = self.sepconv14_1.forward(x);
        let x = relu(x);
        if !visit("block14_sepconv1_act".into(), &x) {
            return None;
        }
        let (_, x) = self.sepconv14_2.forward(x);
        let x = relu(x);
        visit("block14_sepconv2_act".into(), &x).then_some(x)
    }

    /// The convolutional base through residual block `depth` (`None`: through block14, the
    /// layer the book's Grad-CAM explains). `[n, 3, s, s]` in [0, 1] -> `[n, c, h, w]`.
    pub fn features_at(&self, x: Tensor<4>, depth: Option<usize>) -> Tensor<4> {
        let fallback = x.clone();
        self.walk(x, depth, &mut |_, _| true).unwrap_or(fallback)
    }

    /// The blocks after `depth` and global average pooling (Keras's `avg_pool`): what the top
    /// reads. `[n, c, h, w]` -> `[n, 2048]`.
    pub fn pooled_from(&self, features: Tensor<4>, depth: Option<usize>) -> Tensor<2> {
        let mut x = features;
        if let Some(d) = depth {
            let blocks = self.entry.len() + self.middle.len();
            let keep = &mut |_: String, _: &Tensor<4>| true;
            for i in d + 1..self.blocks() {
                let name = format!("block{}", i + 2);
                let next = if i < self.entry.len() {
                    self.entry[i].forward_visiting(x.clone(), &name, true, keep)
                } else if i < blocks {
                    self.middle[i - self.entry.len()].forward_visiting(x.clone(), &name, keep)
                } else {
                    self.exit.forward_visiting(x.clone(), &name, true, keep)
                };
                x = next.unwrap_or(x);
            }
            x = self.block14(x.clone(), keep).unwrap_or(x);
        }
        let [n, c, _, _] = x.dims();
        x.mean_dim(2).mean_dim(3).reshape([n, c]) // [n, 2048]: avg_pool
    }

    /// The rest of the network after [`Xception::features_at`]: `[n, c, h, w]` -> `[n, classes]`
    /// logits.
    pub fn head_from(&self, features: Tensor<4>, depth: Option<usize>) -> Tensor<2> {
        self.preds.forward(self.pooled_from(features, depth)) // [n, classes]
    }

    /// Class probabilities (Keras's `predictions`). `[n, 3, s, s]` -> `[n, classes]`.
    pub fn probabilities(&self, x: Tensor<4>) -> Tensor<2> {
        softmax(self.head_from(self.features_at(x, None), None), 1)
    }

    /// Runs the convolutional base, handing every named activation to `visit` (Keras's
    /// names: `block1_conv1_act`, `blockN_sepconvK`, `blockN_add`, `block14_sepconvK_act`).
    pub fn visit_layers(&self, x: Tensor<4>, visit: &mut LayerVisitor<'_>) {
        let _ = self.walk(x, None, visit);
    }

    /// Every layer's output, named, for the activation viewer. `[1, 3, s, s]` in.
    pub fn activations(&self, x: Tensor<4>) -> Vec<(String, Tensor<4>)> {
        layer_outputs(|visit| self.visit_layers(x, visit))
    }

    /// The names [`Xception::visit_layers`] hands out, in order.
    pub fn layer_names(&self) -> Vec<String> {
        // 71 px, Keras's smallest input: every stride-2 step still has pixels.
        layer_names(&self.conv1.weight.device(), 71, |x, visit| {
            self.visit_layers(x, visit)
        })
    }

    /// One layer's output (the pass stops there), or `None` for an unknown name.
    pub fn layer(&self, x: Tensor<4>, name: &str) -> Option<Tensor<4>> {
        layer_output(name, |visit| self.visit_layers(x, visit))
    }
}
