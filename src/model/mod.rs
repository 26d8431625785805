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

impl SegmenterConfig {
    /// The shipped segmenter: the chapter's layout at half width and 128 px, a size this
    /// project's CPU can train to convergence (see README, "Training").
    pub fn shipped() -> Self {
        Self::new().with_width(32).with_image_size(128)
    }
}

impl ClassifierConfig {
    /// The shipped classifier: the chapter's Xception-like model at 112 px instead of 180.
    pub fn shipped() -> Self {
        Self::new().with_image_size(112)
    }
}
