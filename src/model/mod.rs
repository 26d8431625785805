//! burn modules: the chapter's reusable blocks and the two models built from them.

pub mod blocks;
pub mod classifier;
pub mod feature_classifier;
pub mod feature_segmenter;
pub mod mobilenet;
pub mod segmenter;
pub mod xception;

pub use blocks::{
    ConvBnRelu, ConvBnReluConfig, ResidualBlock, ResidualBlockConfig, SeparableConv2d,
    SeparableConv2dConfig, TransposedConvBnRelu, TransposedConvBnReluConfig,
};
pub use classifier::{Classifier, ClassifierConfig, is_dog};
pub use feature_classifier::{FEATURE_CLASSIFIER, FeatureClassifier, FeatureClassifierConfig};
pub use feature_segmenter::{
    FEATURE_SEGMENTER, FeatureSegmenter, FeatureSegmenterConfig, SkipMerge,
};
pub use mobilenet::{MobileNet, MobileNetConfig};
pub use segmenter::{SEGMENT_CLASSES, SKIPS, Segmenter, SegmenterConfig};
pub use xception::{Xception, XceptionConfig};

use burn::prelude::*;

/// The two models petlens ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Segmenter,
    Classifier,
}

impl ModelKind {
    pub const ALL: [ModelKind; 2] = [ModelKind::Segmenter, ModelKind::Classifier];

    /// The name of its files (`segmenter.bpk`) and of its layers' prefix (`segmenter.stem`).
    pub const fn name(self) -> &'static str {
        match self {
            ModelKind::Segmenter => "segmenter",
            ModelKind::Classifier => "classifier",
        }
    }
}

/// A network whose layers the page shows: one of petlens's two models, or the imported
/// ImageNet network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Network {
    Model(ModelKind),
    Imagenet,
}

impl Network {
    pub const ALL: [Network; 3] = [
        Network::Model(ModelKind::Segmenter),
        Network::Model(ModelKind::Classifier),
        Network::Imagenet,
    ];

    /// The prefix of its layers' names (`segmenter`, `classifier`, `imagenet`).
    pub fn name(self) -> &'static str {
        match self {
            Network::Model(model) => model.name(),
            Network::Imagenet => "imagenet",
        }
    }

    /// Whether filter patterns are offered for its layers (the segmenter's are not: the
    /// chapter draws a classifier's).
    pub fn has_filter_patterns(self) -> bool {
        self != Network::Model(ModelKind::Segmenter)
    }
}

/// A layer of one of the networks, as the activation viewer lists it (`segmenter.decoder.5`,
/// `imagenet.conv_pw_3_relu`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LayerId {
    pub network: Network,
    /// The layer's name within its network, as its `layer_names()` gives it.
    pub layer: String,
}

impl LayerId {
    /// Parses `<network>.<layer>`; `None` when the network is not one of petlens's.
    pub fn parse(qualified: &str) -> Option<Self> {
        let (network, layer) = qualified.split_once('.')?;
        let network = Network::ALL.into_iter().find(|n| n.name() == network)?;
        Some(Self {
            network,
            layer: layer.to_string(),
        })
    }
}

impl std::fmt::Display for LayerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.network.name(), self.layer)
    }
}

/// A network whose layers can be read by name: what the activation viewer and filter patterns
/// run on.
pub trait Layered {
    /// One layer's output for `x` (`[n, 3, s, s]` in [0, 1]); `None` for an unknown name.
    fn layer_output(&self, x: Tensor<4>, name: &str) -> Option<Tensor<4>>;
}

impl Layered for Classifier {
    fn layer_output(&self, x: Tensor<4>, name: &str) -> Option<Tensor<4>> {
        self.layer(x, name)
    }
}

impl Layered for Segmenter {
    fn layer_output(&self, x: Tensor<4>, name: &str) -> Option<Tensor<4>> {
        self.layer(x, name)
    }
}

impl Layered for MobileNet {
    fn layer_output(&self, x: Tensor<4>, name: &str) -> Option<Tensor<4>> {
        self.layer(x, name)
    }
}

impl Layered for Xception {
    fn layer_output(&self, x: Tensor<4>, name: &str) -> Option<Tensor<4>> {
        self.layer(x, name)
    }
}

impl SegmenterConfig {
    /// The shipped segmenter: the chapter's layout at half width and 128 px, a size this
    /// project's CPU can train to convergence (see README, "Training").
    pub fn trainer_default() -> Self {
        Self::new().with_width(32).with_image_size(128)
    }

    /// The architecture in words, for the model card.
    pub fn describe(&self) -> String {
        let (name, skips) = if self.skips {
            (
                "U-Net-like segmenter after chapter 9",
                ", encoder outputs at 1/4 and 1/2 size added to the decoder's (skip connections)",
            )
        } else {
            ("chapter 9 segmenter", "")
        };
        format!(
            "{name}: 6 stride-2/1 conv-BN-ReLU encoder units, 6 transposed-conv-BN-ReLU decoder units, width {}{skips}",
            self.width
        )
    }
}

impl ClassifierConfig {
    /// The shipped classifier: the chapter's Xception-like model at 112 px instead of 180.
    pub fn trainer_default() -> Self {
        Self::new().with_image_size(112)
    }

    /// The architecture in words, for the model card.
    pub fn describe(&self) -> String {
        let channels: Vec<String> = self
            .block_channels
            .iter()
            .map(ToString::to_string)
            .collect();
        format!(
            "chapter 9 Xception-like: 5x5 conv, residual blocks of BN-ReLU-SeparableConv2d x2 + max pooling ({}), GAP, dropout {}, dense; flip-averaged at test time",
            channels.join("-"),
            self.dropout
        )
    }
}
