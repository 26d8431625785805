//! Chapter 8's lesson on chapter 9's other task: a U-Net decoder on the frozen ImageNet
//! network's feature pyramid. The network already finds fur, ears and legs; the decoder only
//! learns to turn its features at strides 32, 16, 8, 4 and 2 back into a mask at full size.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use serde::{Deserialize, Serialize};

use super::blocks::{
    ConvBnRelu, ConvBnReluConfig, SeparableConv2d, SeparableConv2dConfig, TransposedConvBnRelu,
    TransposedConvBnReluConfig,
};
use crate::ops::batch_norm_relu;
use crate::ops::layers::conv2d;

/// The name of its files (`feature_segmenter.bpk`, `.json`) and of its card entry.
pub const FEATURE_SEGMENTER: &str = "feature_segmenter";

/// How an encoder output joins the decoder at its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SkipMerge {
    /// U-Net's way: the encoder's channels are stacked onto the decoder's and one separable
    /// convolution mixes them.
    Concat,
    /// A 1x1 convolution brings the encoder's channels to the decoder's width and they are
    /// added (as the chapter's residual connections are).
    Add,
}

impl std::str::FromStr for SkipMerge {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "concat" => Ok(SkipMerge::Concat),
            "add" => Ok(SkipMerge::Add),
            _ => Err(format!("{s:?}: concat or add")),
        }
    }
}

/// Configuration of a [`FeatureSegmenter`].
#[derive(Config, Debug)]
pub struct FeatureSegmenterConfig {
    /// Channels of the network's outputs it reads, finest first: at strides 2, 4, 8, 16 and 32
    /// (MobileNet v1 0.75: 48, 96, 192, 384, 768).
    pub encoder_channels: Vec<usize>,
    /// The imported network whose features it reads, by its shipped name (`imagenet`).
    #[config(default = "String::from(\"imagenet\")")]
    pub backbone: String,
    /// The decoder's channels at every stage (the last upsampling has half).
    #[config(default = 24)]
    pub width: usize,
    /// How the encoder's outputs join the decoder.
    #[config(default = "SkipMerge::Concat")]
    pub merge: SkipMerge,
    /// Square input size in pixels (a multiple of 32); at the network's own input size the page
    /// runs the network once per photo for its reading and this mask both.
    #[config(default = 224)]
    pub image_size: usize,
    /// Output classes: pet, background, border.
    #[config(default = 3)]
    pub num_classes: usize,
}

/// One decoder stage: doubles the size with a transposed convolution, then joins the encoder's
/// output of that size ([`SkipMerge`]) and mixes with a separable convolution -> BN -> ReLU.
#[derive(Module, Debug)]
pub struct DecoderStage {
    pub up: TransposedConvBnRelu,
    /// The encoder output's 1x1 projection to the decoder's width ([`SkipMerge::Add`] only).
    pub project: Option<ConvBnRelu>,
    pub mix: SeparableConv2d,
    pub norm: BatchNorm,
}

impl DecoderStage {
    /// `[n, w, h, w]` and the encoder's `[n, c, 2h, 2w]` -> `[n, w, 2h, 2w]`.
    fn forward(&self, x: Tensor<4>, skip: Tensor<4>) -> Tensor<4> {
        let x = self.up.forward(x); // [n, w, 2h, 2w]
        let joined = match &self.project {
            Some(project) => x + project.forward(skip), // [n, w, 2h, 2w]
            None => Tensor::cat(vec![x, skip], 1),      // [n, w + c, 2h, 2w]
        };
        batch_norm_relu(&self.norm, self.mix.forward(joined)) // [n, w, 2h, 2w]
    }
}

/// A U-Net decoder on an ImageNet network's feature pyramid: a 1x1 unit narrows the stride-32
/// output, four [`DecoderStage`]s climb back to stride 2 joining the encoder's output at each
/// size, a last transposed convolution reaches the input's size and a 3x3 convolution gives
/// the class scores. The network under it is not part of it: the page runs that network once
/// per photo for the ImageNet reading, the verdict on its features and this mask.
#[derive(Module, Debug)]
pub struct FeatureSegmenter {
    pub bottom: ConvBnRelu,
    pub stages: Vec<DecoderStage>,
    pub top: TransposedConvBnRelu,
    pub classes: Conv2d,
}

impl FeatureSegmenterConfig {
    /// Builds the decoder.
    pub fn init(&self, device: &Device) -> FeatureSegmenter {
        let w = self.width;
        let deepest = *self.encoder_channels.last().unwrap_or(&w);
        let stages = self.encoder_channels[..self.encoder_channels.len().saturating_sub(1)]
            .iter()
            .rev()
            .map(|&c| {
                let (project, mixed) = match self.merge {
                    SkipMerge::Concat => (None, w + c),
                    SkipMerge::Add => (
                        Some(
                            ConvBnReluConfig::new([c, w])
                                .with_kernel_size(1)
                                .init(device),
                        ),
                        w,
                    ),
                };
                DecoderStage {
                    up: TransposedConvBnReluConfig::new([w, w])
                        .with_stride(2)
                        .init(device),
                    project,
                    mix: SeparableConv2dConfig::new([mixed, w]).init(device),
                    norm: BatchNormConfig::new(w).init(device),
                }
            })
            .collect();
        let last = (w / 2).max(1);
        FeatureSegmenter {
            bottom: ConvBnReluConfig::new([deepest, w])
                .with_kernel_size(1)
                .init(device),
            stages,
            top: TransposedConvBnReluConfig::new([w, last])
                .with_stride(2)
                .init(device),
            classes: Conv2dConfig::new([last, self.num_classes], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device),
        }
    }

    /// The architecture in words, for the model card.
    pub fn describe(&self) -> String {
        let merge = match self.merge {
            SkipMerge::Concat => "concatenated",
            SkipMerge::Add => "projected by 1x1 convs and added",
        };
        format!(
            "U-Net decoder on the frozen ImageNet network ({}): its outputs at strides 32-2 ({} channels), {merge} into 4 stages of transposed conv + separable conv, width {}, a last transposed conv to {} px; flip-averaged at test time",
            self.backbone,
            self.encoder_channels
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("/"),
            self.width,
            self.image_size
        )
    }
}

impl FeatureSegmenter {
    /// Class logits from the network's outputs at strides 2, 4, 8, 16 and 32 (finest first,
    /// `[n, c_i, s/2^(i+1), ..]`) -> `[n, classes, s, s]`.
    pub fn forward(&self, pyramid: &[Tensor<4>]) -> Tensor<4> {
        let (deepest, skips) = pyramid
            .split_last()
            .expect("the network's pyramid has its levels"); // [n, c, s/32, s/32]
        let x = self.bottom.forward(deepest.clone()); // [n, w, s/32, s/32]
        let x = self
            .stages
            .iter()
            .zip(skips.iter().rev())
            .fold(x, |x, (stage, skip)| stage.forward(x, skip.clone())); // [n, w, s/2, s/2]
        conv2d(&self.classes, self.top.forward(x)) // [n, classes, s, s]
    }

    /// Per-pixel class probabilities. `[n, classes, s, s]`, summing to 1 over dim 1.
    pub fn probabilities(&self, pyramid: &[Tensor<4>]) -> Tensor<4> {
        softmax(self.forward(pyramid), 1)
    }
}
