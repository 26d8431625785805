//! The chapter's Xception-like cat-vs-dog classifier.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use super::blocks::{
    LayerVisitor, ResidualBlock, ResidualBlockConfig, layer_names, layer_output, layer_outputs,
};
use crate::ops::layers::conv2d;

/// The verdict, decided in one place: "dog" when the logit is above 0, i.e. the probability of
/// dog above 1/2 (see [`crate::explain::PetClass::from_p_dog`]). `[n]` logits -> `[n]`.
pub fn is_dog(logits: Tensor<1>) -> Tensor<1, Bool> {
    logits.greater_elem(0.0)
}

/// Configuration of the [`Classifier`].
#[derive(Config, Debug)]
pub struct ClassifierConfig {
    /// Output channels of the stem and of each residual block.
    #[config(default = "vec![32, 64, 128, 256, 512]")]
    pub block_channels: Vec<usize>,
    /// Dropout before the dense layer.
    #[config(default = 0.5)]
    pub dropout: f64,
    /// Square input size in pixels.
    #[config(default = 180)]
    pub image_size: usize,
}

/// Xception-like classifier: a plain 5x5 convolution first (RGB channels are strongly
/// correlated, so a separable convolution would gain nothing there), then residual blocks of
/// BN -> ReLU -> SeparableConv2d (x2) -> MaxPool(3, 2) with a strided 1x1 projection, global
/// average pooling, dropout and one logit (`> 0` means dog).
#[derive(Module, Debug)]
pub struct Classifier {
    pub stem: Conv2d,
    pub blocks: Vec<ResidualBlock>,
    pub dropout: Dropout,
    pub dense: Linear,
}

impl ClassifierConfig {
    /// Builds the model.
    pub fn init(&self, device: &Device) -> Classifier {
        let first = self.block_channels.first().copied().unwrap_or(32);
        let mut c_in = first;
        let blocks = self
            .block_channels
            .iter()
            .map(|&c_out| {
                let block = ResidualBlockConfig::new([c_in, c_out]).init(device);
                c_in = c_out;
                block
            })
            .collect();
        Classifier {
            stem: Conv2dConfig::new([3, first], [5, 5])
                .with_bias(false)
                .init(device),
            blocks,
            dropout: DropoutConfig::new(self.dropout).init(),
            dense: LinearConfig::new(c_in, 1).init(device),
        }
    }
}

impl Classifier {
    /// The convolutional base up to block `depth` (`None`: all blocks).
    /// `[n, 3, s, s]` in [0, 1] -> `[n, c, h, w]`.
    pub fn features_at(&self, x: Tensor<4>, depth: Option<usize>) -> Tensor<4> {
        let take = depth.map_or(self.blocks.len(), |d| (d + 1).min(self.blocks.len()));
        let x = conv2d(&self.stem, x); // [n, 32, s - 4, s - 4]
        self.blocks[..take]
            .iter()
            .fold(x, |x, block| block.forward(x)) // [n, c, h, w], halved per block
    }

    /// The whole convolutional base. `[n, 3, s, s]` -> `[n, 512, s/32, s/32]` (about).
    pub fn features(&self, x: Tensor<4>) -> Tensor<4> {
        self.features_at(x, None)
    }

    /// The blocks after `depth` and the classification head: what Grad-CAM differentiates.
    /// `[n, c, h, w]` -> `[n, 1]` logits.
    pub fn head_from(&self, features: Tensor<4>, depth: Option<usize>) -> Tensor<2> {
        let start = depth.map_or(self.blocks.len(), |d| (d + 1).min(self.blocks.len()));
        let x = self.blocks[start..]
            .iter()
            .fold(features, |x, block| block.forward(x)); // [n, 512, h, w]
        let [n, c, _, _] = x.dims();
        let pooled = x.mean_dim(2).mean_dim(3).reshape([n, c]); // [n, 512]: global average pooling
        self.dense.forward(self.dropout.forward(pooled)) // [n, 1]
    }

    /// Dog logit. `[n, 3, s, s]` -> `[n, 1]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head_from(self.features(x), None)
    }

    /// Probability of "dog". `[n, 3, s, s]` -> `[n, 1]`.
    pub fn p_dog(&self, x: Tensor<4>) -> Tensor<2> {
        sigmoid(self.forward(x))
    }

    /// Test-time augmentation: the probability of "dog" averaged over the photo and its mirror
    /// image, with the unflipped photo's feature map (what Grad-CAM explains). The page, `train
    /// eval` and the model card's figures all go through here.
    /// `[n, 3, s, s]` -> (`[n, 512, h, w]` features, `[n, 1]` probabilities).
    pub fn p_dog_flip_averaged(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<2>) {
        let mirrored = self.p_dog(x.clone().flip([3])); // [n, 1]
        let features = self.features(x); // [n, 512, h, w]
        let p = sigmoid(self.head_from(features.clone(), None)); // [n, 1]
        (features, (p + mirrored) / 2.0)
    }

    /// Runs the convolutional base, handing every layer's output to `visit` (`stem`, then
    /// `block.<i>.sepconv1`, `.sepconv2`, `.maxpool`, `.add` per block) until it returns false.
    pub fn visit_layers(&self, x: Tensor<4>, visit: &mut LayerVisitor<'_>) {
        let x = conv2d(&self.stem, x); // [n, 32, s - 4, s - 4]
        if !visit("stem".into(), &x) {
            return;
        }
        let mut x = x;
        for (i, block) in self.blocks.iter().enumerate() {
            match block.forward_visiting(x, &format!("block.{i}"), visit) {
                Some(y) => x = y, // [n, c, h, w], halved per block
                None => return,
            }
        }
    }

    /// Every layer's output, named, for the activation viewer. `[1, 3, s, s]` in.
    pub fn activations(&self, x: Tensor<4>) -> Vec<(String, Tensor<4>)> {
        layer_outputs(|visit| self.visit_layers(x, visit))
    }

    /// The names [`Classifier::visit_layers`] hands out, in order.
    pub fn layer_names(&self) -> Vec<String> {
        layer_names(&self.stem.weight.device(), 32, |x, visit| {
            self.visit_layers(x, visit)
        })
    }

    /// One layer's output (the pass stops there), or `None` for an unknown name.
    pub fn layer(&self, x: Tensor<4>, name: &str) -> Option<Tensor<4>> {
        layer_output(name, |visit| self.visit_layers(x, visit))
    }
}
