//! The chapter's segmentation model: an encoder of stride-2 convolutions and a decoder of
//! transposed convolutions, one class score per pixel.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;

use super::blocks::{
    ConvBnRelu, ConvBnReluConfig, TransposedConvBnRelu, TransposedConvBnReluConfig, conv2d,
};

/// The segmentation classes, in the order of the model's output channels (trimap value - 1).
pub const SEGMENT_CLASSES: [&str; 3] = ["pet", "background", "border"];

/// Configuration of the [`Segmenter`].
#[derive(Config, Debug)]
pub struct SegmenterConfig {
    /// Output classes: pet, background, border.
    #[config(default = 3)]
    pub num_classes: usize,
    /// Channels of the first encoder stage; the chapter uses 64 (stages: w, 2w, 4w).
    #[config(default = 64)]
    pub width: usize,
    /// Square input size in pixels (a multiple of 8).
    #[config(default = 160)]
    pub image_size: usize,
}

/// Encoder-decoder segmenter. The encoder downsamples with stride-2 convolutions, never max
/// pooling, because pooling throws away *where* things are, which is what segmentation needs.
/// Every unit is conv -> batch norm -> ReLU without conv bias.
#[derive(Module, Debug)]
pub struct Segmenter {
    pub encoder: Vec<ConvBnRelu>,
    pub decoder: Vec<TransposedConvBnRelu>,
    pub classes: Conv2d,
}

impl SegmenterConfig {
    /// Builds the model.
    pub fn init(&self, device: &Device) -> Segmenter {
        let w = self.width;
        let encoder = [
            (3, w, 2),
            (w, w, 1),
            (w, 2 * w, 2),
            (2 * w, 2 * w, 1),
            (2 * w, 4 * w, 2),
        ]
        .into_iter()
        .chain([(4 * w, 4 * w, 1)])
        .map(|(c_in, c_out, stride)| {
            ConvBnReluConfig::new([c_in, c_out])
                .with_stride(stride)
                .init(device)
        })
        .collect();
        let decoder = [
            (4 * w, 4 * w, 1),
            (4 * w, 4 * w, 2),
            (4 * w, 2 * w, 1),
            (2 * w, 2 * w, 2),
            (2 * w, w, 1),
            (w, w, 2),
        ]
        .into_iter()
        .map(|(c_in, c_out, stride)| {
            TransposedConvBnReluConfig::new([c_in, c_out])
                .with_stride(stride)
                .init(device)
        })
        .collect();
        Segmenter {
            encoder,
            decoder,
            classes: Conv2dConfig::new([w, self.num_classes], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device),
        }
    }
}

impl Segmenter {
    /// Class logits. `[n, 3, s, s]` in [0, 1] -> `[n, classes, s, s]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.encoder.iter().fold(x, |x, unit| unit.forward(x)); // [n, 4w, s/8, s/8]
        let x = self.decoder.iter().fold(x, |x, unit| unit.forward(x)); // [n, w, s, s]
        conv2d(&self.classes, x) // [n, classes, s, s]
    }

    /// Per-pixel class probabilities. `[n, 3, s, s]` -> `[n, classes, s, s]`, summing to 1 over dim 1.
    pub fn probabilities(&self, x: Tensor<4>) -> Tensor<4> {
        softmax(self.forward(x), 1)
    }

    /// The names [`Segmenter::activations`] gives, without running the model.
    pub fn layer_names(&self) -> Vec<String> {
        let encoder = (0..self.encoder.len()).map(|i| format!("encoder.{i}.conv"));
        let decoder = (0..self.decoder.len()).map(|i| format!("decoder.{i}.convtranspose"));
        encoder.chain(decoder).collect()
    }

    /// The output of every unit, named, for the activation viewer. `[1, 3, s, s]` in.
    pub fn activations(&self, x: Tensor<4>) -> Vec<(String, Tensor<4>)> {
        let mut out = Vec::new();
        let mut x = x;
        for (i, unit) in self.encoder.iter().enumerate() {
            x = unit.forward(x);
            out.push((format!("encoder.{i}.conv"), x.clone()));
        }
        for (i, unit) in self.decoder.iter().enumerate() {
            x = unit.forward(x);
            out.push((format!("decoder.{i}.convtranspose"), x.clone()));
        }
        out
    }
}
