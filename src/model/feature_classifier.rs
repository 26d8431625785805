//! Chapter 8's feature extraction on chapter 9's task: a cat-vs-dog classifier that is one dense
//! layer on the globally pooled features of the frozen ImageNet network (the shipped MobileNet).
//! The network already knows fur, ears and legs from a million photos; the head only learns
//! which of its features say "dog".

use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};

/// The name of its files (`feature_classifier.bpk`, `.json`) and of its card entry.
pub const FEATURE_CLASSIFIER: &str = "feature_classifier";

/// Configuration of a [`FeatureClassifier`].
#[derive(Config, Debug)]
pub struct FeatureClassifierConfig {
    /// Width of the pooled features it reads: the ImageNet network's last block (MobileNet v1
    /// 0.75: 768).
    pub features: usize,
    /// The imported network whose features it reads, by its shipped name (`imagenet`).
    #[config(default = "String::from(\"imagenet\")")]
    pub backbone: String,
    /// Units of a hidden dense layer with ReLU before the dropout (chapter 8's head:
    /// `Dense(256)`, dropout, `Dense(1)`); 0: none, the dense logit reads the features.
    #[config(default = 0)]
    pub hidden: usize,
    /// Dropout before the logit while training (chapter 8's 0.5).
    #[config(default = 0.5)]
    pub dropout: f64,
}

/// An optional hidden dense layer with ReLU, dropout and one dense logit (`> 0` means dog, as
/// for [`super::Classifier`]) on pooled features. The network under it is not part of it: the
/// page runs that network once per photo for the ImageNet reading and this verdict both.
#[derive(Module, Debug)]
pub struct FeatureClassifier {
    pub hidden: Option<Linear>,
    pub dropout: Dropout,
    pub dense: Linear,
}

impl FeatureClassifierConfig {
    /// Builds the model.
    pub fn init(&self, device: &Device) -> FeatureClassifier {
        let hidden =
            (self.hidden > 0).then(|| LinearConfig::new(self.features, self.hidden).init(device));
        let width = if self.hidden > 0 {
            self.hidden
        } else {
            self.features
        };
        FeatureClassifier {
            hidden,
            dropout: DropoutConfig::new(self.dropout).init(),
            dense: LinearConfig::new(width, 1).init(device),
        }
    }

    /// The architecture in words, for the model card.
    pub fn describe(&self) -> String {
        let hidden = if self.hidden > 0 {
            format!("dense {} + ReLU, ", self.hidden)
        } else {
            String::new()
        };
        format!(
            "chapter 8's feature extraction: the frozen ImageNet network ({}), global average pooling ({} features), {hidden}dropout {}, dense; flip-averaged at test time",
            self.backbone, self.features, self.dropout
        )
    }
}

impl FeatureClassifier {
    /// The logit of "dog". `[n, c]` pooled features -> `[n, 1]`.
    pub fn forward(&self, pooled: Tensor<2>) -> Tensor<2> {
        let x = match &self.hidden {
            Some(hidden) => relu(hidden.forward(pooled)), // [n, hidden]
            None => pooled,
        };
        self.dense.forward(self.dropout.forward(x)) // [n, 1]
    }

    /// P(dog). `[n, c]` -> `[n, 1]`.
    pub fn p_dog(&self, pooled: Tensor<2>) -> Tensor<2> {
        sigmoid(self.forward(pooled))
    }
}
