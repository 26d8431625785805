//! burn modules: the chapter's reusable blocks and the two models built from them.

pub mod blocks;
pub mod classifier;
pub mod segmenter;

pub use blocks::{
    ConvBnRelu, ConvBnReluConfig, ResidualBlock, ResidualBlockConfig, SeparableConv2d,
    SeparableConv2dConfig, TransposedConvBnRelu, TransposedConvBnReluConfig,
};
pub use classifier::{Classifier, ClassifierConfig, is_dog};
pub use segmenter::{SEGMENT_CLASSES, SKIPS, Segmenter, SegmenterConfig};

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
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Segmenter => "segmenter",
            ModelKind::Classifier => "classifier",
        }
    }
}

/// A layer of one of the models, as the activation viewer lists it (`segmenter.decoder.5`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LayerId {
    pub model: ModelKind,
    /// The layer's name within its model, as its `layer_names()` gives it.
    pub layer: String,
}

impl LayerId {
    /// Parses `<model>.<layer>`; `None` when the model is not one of petlens's.
    pub fn parse(qualified: &str) -> Option<Self> {
        let (model, layer) = qualified.split_once('.')?;
        let model = ModelKind::ALL.into_iter().find(|m| m.name() == model)?;
        Some(Self {
            model,
            layer: layer.to_string(),
        })
    }
}

impl std::fmt::Display for LayerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.model.name(), self.layer)
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
