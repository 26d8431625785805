//! The chapter's segmentation model: an encoder of stride-2 convolutions and a decoder of
//! transposed convolutions, one class score per pixel.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;

use super::blocks::{
    ConvBnRelu, ConvBnReluConfig, LayerVisitor, TransposedConvBnRelu, TransposedConvBnReluConfig,
    layer_names, layer_output, layer_outputs,
};
use crate::ops::layers::conv2d;

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
    /// Encoder-to-decoder skip connections (U-Net-like; false: the chapter's model): the
    /// encoder's output at 1/4 and at 1/2 of the input size is added to the decoder's output at
    /// the same size, which hands the decoder the fine detail the bottleneck lost.
    #[config(default = false)]
    pub skips: bool,
}

/// Encoder-decoder segmenter. The encoder downsamples with stride-2 convolutions, never max
/// pooling, because pooling throws away *where* things are, which is what segmentation needs.
/// Every unit is conv -> batch norm -> ReLU without conv bias.
#[derive(Module, Debug)]
pub struct Segmenter {
    pub encoder: Vec<ConvBnRelu>,
    pub decoder: Vec<TransposedConvBnRelu>,
    pub classes: Conv2d,
    /// Whether [`SKIPS`] are added (see [`SegmenterConfig::skips`]).
    pub skips: bool,
}

/// The skip connections as (encoder unit, decoder unit) pairs: the encoder unit's output is
/// added to the decoder unit's, both `[n, 2w, s/4, s/4]` and `[n, w, s/2, s/2]`.
pub const SKIPS: [(usize, usize); 2] = [(3, 2), (1, 4)];

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
            skips: self.skips,
        }
    }
}

impl Segmenter {
    /// Class logits. `[n, 3, s, s]` in [0, 1] -> `[n, classes, s, s]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let features = self
            .visit_layers(x, &mut |_, _| true)
            .expect("a visitor that always continues runs the whole decoder"); // [n, w, s, s]
        conv2d(&self.classes, features) // [n, classes, s, s]
    }

    /// Per-pixel class probabilities. `[n, 3, s, s]` -> `[n, classes, s, s]`, summing to 1 over dim 1.
    pub fn probabilities(&self, x: Tensor<4>) -> Tensor<4> {
        softmax(self.forward(x), 1)
    }

    /// Runs the encoder and decoder, handing every unit's output to `visit`
    /// (`encoder.<i>.conv`, `decoder.<i>.convtranspose`, and `decoder.<i>.add` after a skip)
    /// until it returns false (`None`). Returns the decoder's output, `[n, w, s, s]`.
    pub fn visit_layers(&self, x: Tensor<4>, visit: &mut LayerVisitor<'_>) -> Option<Tensor<4>> {
        let mut kept: Vec<Option<Tensor<4>>> = vec![None; self.encoder.len()];
        let mut x = x;
        for (i, unit) in self.encoder.iter().enumerate() {
            x = unit.forward(x); // [n, w..4w, s/2..s/8, ..], halved at stride 2
            if !visit(format!("encoder.{i}.conv"), &x) {
                return None;
            }
            if self.skips && SKIPS.iter().any(|&(e, _)| e == i) {
                kept[i] = Some(x.clone());
            }
        }
        for (i, unit) in self.decoder.iter().enumerate() {
            x = unit.forward(x); // [n, 4w..w, s/8..s, ..], doubled at stride 2
            if !visit(format!("decoder.{i}.convtranspose"), &x) {
                return None;
            }
            let skip = SKIPS.iter().find(|&&(_, d)| d == i);
            if let Some(encoded) = skip.and_then(|&(e, _)| kept[e].take()) {
                x = x + encoded; // same shape: see SKIPS
                if !visit(format!("decoder.{i}.add"), &x) {
                    return None;
                }
            }
        }
        Some(x)
    }

    /// The names [`Segmenter::visit_layers`] gives, in order.
    pub fn layer_names(&self) -> Vec<String> {
        layer_names(&self.classes.weight.device(), 32, |x, visit| {
            self.visit_layers(x, visit);
        })
    }

    /// One layer's output (the pass stops there), or `None` for an unknown name.
    pub fn layer(&self, x: Tensor<4>, name: &str) -> Option<Tensor<4>> {
        layer_output(name, |visit| {
            self.visit_layers(x, visit);
        })
    }

    /// The output of every unit, named, for the activation viewer. `[1, 3, s, s]` in.
    pub fn activations(&self, x: Tensor<4>) -> Vec<(String, Tensor<4>)> {
        layer_outputs(|visit| {
            self.visit_layers(x, visit);
        })
    }
}
