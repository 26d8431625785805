//! The training settings a model card records: plain data that both targets compile. The trainer
//! acts on them (`train/`, `data/augment.rs`); the page only shows them.

use serde::{Deserialize, Serialize};

/// Linear warm-up from 0 to `base_lr` over `warmup_steps`, then cosine decay to 0 at
/// `total_steps`: a function of the step alone, so a resumed run continues it exactly.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    pub base_lr: f64,
    pub warmup_steps: usize,
    pub total_steps: usize,
}

/// The loss's options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossConfig {
    /// Classifier: label smoothing `s` (targets `s/2` and `1 - s/2`).
    pub label_smoothing: f64,
    /// Segmenter: weight of the soft Dice loss added to the cross-entropy (0: cross-entropy only).
    pub dice_weight: f64,
    /// Segmenter: cross-entropy weight of each class (pet, background, border).
    pub class_weights: Vec<f32>,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            label_smoothing: 0.0,
            dice_weight: 0.0,
            class_weights: vec![1.0; 3],
        }
    }
}

/// Ranges of the random transform.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AugmentConfig {
    /// Mirror left-right with probability 1/2.
    pub flip: bool,
    /// Rotation up to this many degrees either way.
    pub rotation_degrees: f32,
    /// Random resized crop: the crop covers between this share of the image and all of it
    /// (aspect ratio between 3/4 and 4/3), and is resized to the model's input. 0 keeps the
    /// chapter's symmetric zoom instead.
    pub crop_min_area: f32,
    /// The chapter's `RandomZoom`: zoom in or out by up to this fraction (when no crop is drawn).
    pub zoom: f32,
    /// Shift by up to this fraction of the size (when no crop is drawn).
    pub shift: f32,
    /// Colour jitter: brightness, contrast and saturation each scaled by a factor drawn from
    /// `[1 - s, 1 + s]`. 0 turns it off.
    pub color_jitter: f32,
}

impl AugmentConfig {
    /// The chapter's classifier augmentation: `RandomFlip`, `RandomRotation(0.1)` (36 degrees),
    /// `RandomZoom(0.2)`.
    pub const CHAPTER_CLASSIFIER: Self = Self {
        flip: true,
        rotation_degrees: 36.0,
        crop_min_area: 0.0,
        zoom: 0.2,
        shift: 0.0,
        color_jitter: 0.0,
    };
    /// Milder for segmentation: borders of the mask must stay where they are in the photo.
    pub const CHAPTER_SEGMENTER: Self = Self {
        flip: true,
        rotation_degrees: 11.0,
        crop_min_area: 0.0,
        zoom: 0.1,
        shift: 0.05,
        color_jitter: 0.0,
    };
}
