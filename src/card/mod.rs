//! The model card and the training history: what `train --ship` writes into `www/models/` and
//! the page shows. Typed here, in a module both targets compile, so that the writer and the
//! reader cannot disagree about a field.

mod settings;
mod summary;

use serde::{Deserialize, Serialize};

pub use settings::{AugmentConfig, LossConfig, LrSchedule};
pub use summary::{ACCURACY_CURVES, Curve, LOSS_CURVES};

use crate::model::{FEATURE_CLASSIFIER, FEATURE_SEGMENTER, ModelKind};

/// `www/models/card.json`: one entry per shipped model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segmenter: Option<CardEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier: Option<CardEntry>,
    /// The cat-vs-dog classifier on the ImageNet network's features (`train feature-classifier`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_classifier: Option<CardEntry>,
    /// The segmenter on the ImageNet network's features (`train feature-segmenter`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_segmenter: Option<CardEntry>,
    /// The ImageNet network, imported rather than trained (`train import`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imagenet: Option<ImportedEntry>,
    /// Xception, where a reader imported their own Keras weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xception: Option<ImportedEntry>,
}

/// A pretrained network petlens imported: where its weights came from and what it ships.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportedEntry {
    pub architecture: String,
    pub parameters: usize,
    pub config: serde_json::Value,
    pub input_size: usize,
    pub source: ImportSource,
    /// The class names' file beside the weights.
    pub classes: String,
    pub weights: String,
    pub weights_bytes: usize,
    pub dtype: String,
    pub command: String,
}

/// The files an import read, with their checksums, and what they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportSource {
    /// `TensorFlow.js layers` or `Keras HDF5`.
    pub format: String,
    /// Who made the weights and where the copy came from.
    pub origin: String,
    pub licence: String,
    /// SHA-256 of every file read, by its name.
    pub sha256: std::collections::BTreeMap<String, String>,
}

impl ModelCard {
    /// The entry of the imported network called `network` (`imagenet`, `xception`).
    pub fn imported_mut(&mut self, network: &str) -> Option<&mut Option<ImportedEntry>> {
        match network {
            "imagenet" => Some(&mut self.imagenet),
            "xception" => Some(&mut self.xception),
            _ => None,
        }
    }

    /// Whether the classifier on the ImageNet network's features is the better verdict on
    /// validation (then the page's default verdict), by accuracy on the same validation photos.
    pub fn feature_verdict_is_better(&self) -> bool {
        let accuracy =
            |entry: &Option<CardEntry>| match entry.as_ref().map(|e| &e.validation_metrics) {
                Some(ValidationMetrics::Classification(m)) => Some(m.accuracy),
                _ => None,
            };
        match (
            accuracy(&self.feature_classifier),
            accuracy(&self.classifier),
        ) {
            (Some(features), Some(chapter)) => features > chapter,
            (Some(_), None) => true,
            _ => false,
        }
    }

    /// Whether the segmenter on the ImageNet network's features is the better mask on
    /// validation (then the page's default mask), by mean IoU on the same validation pairs.
    pub fn feature_mask_is_better(&self) -> bool {
        let mean_iou =
            |entry: &Option<CardEntry>| match entry.as_ref().map(|e| &e.validation_metrics) {
                Some(ValidationMetrics::Segmentation(m)) => Some(m.all.mean_iou),
                _ => None,
            };
        match (mean_iou(&self.feature_segmenter), mean_iou(&self.segmenter)) {
            (Some(features), Some(chapter)) => features > chapter,
            (Some(_), None) => true,
            _ => false,
        }
    }

    /// The two segmenters' validation figures side by side, one row per breed group (all, the
    /// main breeds, the others); empty unless the card has both.
    pub fn segmenters_side_by_side(&self) -> Vec<GroupComparison> {
        let metrics =
            |entry: &Option<CardEntry>| match entry.as_ref().map(|e| &e.validation_metrics) {
                Some(ValidationMetrics::Segmentation(m)) => Some(m.clone()),
                _ => None,
            };
        let (Some(scratch), Some(features)) =
            (metrics(&self.segmenter), metrics(&self.feature_segmenter))
        else {
            return Vec::new();
        };
        let groups = [
            ("all", Some(&scratch.all), Some(&features.all)),
            (
                "main breeds",
                scratch.main_breeds.as_ref(),
                features.main_breeds.as_ref(),
            ),
            (
                "other breeds",
                scratch.other_breeds.as_ref(),
                features.other_breeds.as_ref(),
            ),
        ];
        groups
            .into_iter()
            .filter_map(|(group, scratch, features)| {
                Some(GroupComparison {
                    group: group.into(),
                    from_scratch: scratch?.clone(),
                    on_features: features?.clone(),
                })
            })
            .collect()
    }

    /// Every trained model's entry the card has, named as its files are (`segmenter`,
    /// `classifier`, `feature_classifier`, `feature_segmenter`).
    pub fn trained(&self) -> Vec<(&'static str, &CardEntry)> {
        [
            (ModelKind::Segmenter.name(), &self.segmenter),
            (ModelKind::Classifier.name(), &self.classifier),
            (FEATURE_CLASSIFIER, &self.feature_classifier),
            (FEATURE_SEGMENTER, &self.feature_segmenter),
        ]
        .into_iter()
        .filter_map(|(name, entry)| Some((name, entry.as_ref()?)))
        .collect()
    }
}

/// What one shipped model is, how it was trained and how well it does on validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardEntry {
    pub architecture: String,
    pub parameters: usize,
    /// The model's config, as in `<model>.json` (which is what every loader reads).
    pub config: serde_json::Value,
    /// Square input size in pixels.
    pub input_size: usize,
    pub data: TrainingData,
    pub split: Split,
    /// Epochs trained, planned, and the one whose weights shipped.
    pub epochs: usize,
    pub planned_epochs: usize,
    pub best_epoch: usize,
    pub wall_seconds: f64,
    pub backend: String,
    pub devices: usize,
    /// The optimizer and schedule in words.
    pub optimizer: String,
    pub recipe: RecipeRecord,
    pub validation_metrics: ValidationMetrics,
    /// File names in the same directory.
    pub weights: String,
    pub weights_bytes: usize,
    pub dtype: String,
    pub history: String,
    pub curves: String,
    /// The run's expected wall time, given before it started.
    #[serde(default)]
    pub estimated_minutes: Option<f64>,
    /// The command that started the run.
    #[serde(default)]
    pub command: Option<String>,
    /// Every command that trained the run: the first, then each `--resume`.
    #[serde(default)]
    pub commands: Vec<String>,
    /// Anything a reader of the figures should know (written by hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Where the training photos came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingData {
    /// The directories as given on the command line.
    pub dirs: Vec<String>,
    /// What each directory gave (classifier).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<DataSource>,
    /// Photos found (segmenter: image/trimap pairs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photos: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<String>,
}

/// One directory's part of a data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSource {
    /// The directory as given on the command line.
    pub dir: String,
    /// What was taken from it: `train/{cat,dog}`, `{cat,dog}`, `images (species from the breed
    /// name)` or `validation/{cat,dog}`.
    pub part: String,
    pub photos: usize,
}

/// How the photos were split into training and validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Split {
    /// The segmenter's: a seeded share of each breed, every photo named.
    ByBreed {
        seed: u64,
        valid_fraction: f64,
        stratified_by: String,
        train: Vec<String>,
        validation: Vec<String>,
    },
    /// The classifier's: folders as they come (validation is the first `validation/` folder).
    BySource {
        sources: Vec<DataSource>,
        n_train: usize,
        n_validation: usize,
    },
}

impl Split {
    /// Training and validation photo counts.
    pub fn counts(&self) -> (usize, usize) {
        match self {
            Split::ByBreed {
                train, validation, ..
            } => (train.len(), validation.len()),
            Split::BySource {
                n_train,
                n_validation,
                ..
            } => (*n_train, *n_validation),
        }
    }
}

/// The training recipe's settings, as the run used them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipeRecord {
    pub schedule: LrSchedule,
    pub loss: LossConfig,
    pub augment: AugmentConfig,
    /// Which weights shipped: the last step's or an exponential moving average.
    pub weights: String,
}

/// Validation figures of either model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ValidationMetrics {
    Classification(ClassificationMetrics),
    Segmentation(SegmentationMetrics),
}

/// The classifier's validation figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationMetrics {
    pub n: usize,
    /// With test-time augmentation (what the page does).
    pub accuracy: f64,
    /// Rows: truth cat/dog; columns: predicted cat/dog.
    pub confusion: Vec<Vec<u64>>,
    pub test_time_augmentation: String,
    pub accuracy_without_flip: f64,
}

/// The segmenter's validation figures over all photos, and per breed group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentationMetrics {
    #[serde(flatten)]
    pub all: GroupFigures,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_breeds: Option<GroupFigures>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_breeds: Option<GroupFigures>,
}

/// One breed group's validation figures of both segmenters (the page's card shows them side by
/// side).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupComparison {
    pub group: String,
    /// The chapter's segmenter, trained from scratch.
    pub from_scratch: GroupFigures,
    /// The decoder on the ImageNet network's features.
    pub on_features: GroupFigures,
}

/// Segmentation figures over a group of photos (all of them, or a breed group).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupFigures {
    pub n: usize,
    pub pixel_accuracy: f64,
    pub mean_iou: f64,
    pub iou: ClassIou,
    /// The group's breeds, where it is named by them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breeds: Vec<String>,
}

/// Intersection over union of each segmentation class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassIou {
    pub pet: f64,
    pub background: f64,
    pub border: f64,
}

/// One epoch's figures, as written to `<model>.history.json` and drawn by the page.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EpochRecord {
    pub epoch: usize,
    pub loss: f64,
    pub accuracy: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    /// Segmenter only: mean IoU on the validation split at model resolution.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub val_mean_iou: Option<f64>,
    pub images_per_s: f64,
    pub lr: f64,
    pub seconds: f64,
}
