//! The card as a reader sees it: its rows in words and the training curves' series, shared by
//! the page (table and SVG charts) and `train curves` (PNG), so that both show the same thing.

use super::{
    CardEntry, ClassificationMetrics, EpochRecord, GroupFigures, ImportedEntry, RecipeRecord,
    Split, TrainingData, ValidationMetrics,
};

/// One line of a training-curve chart.
#[derive(Debug, Clone, Copy)]
pub struct Curve {
    pub label: &'static str,
    /// sRGB colour.
    pub colour: [u8; 3],
    value: fn(&EpochRecord) -> Option<f64>,
}

const BLUE: [u8; 3] = [31, 119, 180];
const ORANGE: [u8; 3] = [255, 127, 14];
const GREEN: [u8; 3] = [44, 160, 44];

/// The loss chart: training and validation loss.
pub const LOSS_CURVES: [Curve; 2] = [
    Curve {
        label: "training loss",
        colour: BLUE,
        value: |r| Some(r.loss),
    },
    Curve {
        label: "validation loss",
        colour: ORANGE,
        value: |r| Some(r.val_loss),
    },
];

/// The accuracy chart: training and validation accuracy, and the segmenter's validation mean IoU.
pub const ACCURACY_CURVES: [Curve; 3] = [
    Curve {
        label: "training accuracy",
        colour: BLUE,
        value: |r| Some(r.accuracy),
    },
    Curve {
        label: "validation accuracy",
        colour: ORANGE,
        value: |r| Some(r.val_accuracy),
    },
    Curve {
        label: "validation mean IoU",
        colour: GREEN,
        value: |r| r.val_mean_iou,
    },
];

impl Curve {
    /// `(epoch, value)` for every epoch that has a finite value.
    pub fn points(&self, history: &[EpochRecord]) -> Vec<(usize, f64)> {
        history
            .iter()
            .filter_map(|r| (self.value)(r).map(|v| (r.epoch, v)))
            .filter(|(_, v)| v.is_finite())
            .collect()
    }

    /// The colour as CSS (`#1f77b4`).
    pub fn css(&self) -> String {
        let [r, g, b] = self.colour;
        format!("#{r:02x}{g:02x}{b:02x}")
    }
}

impl CardEntry {
    /// The card's rows as `(heading, text)`, in the order the page shows them.
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let mut rows = vec![
            ("architecture", self.architecture.clone()),
            ("parameters", self.parameters.to_string()),
            ("input", format!("{} px", self.input_size)),
            ("data", self.data.summary()),
            ("split", self.split.summary()),
            (
                "epochs (best)",
                format!("{} ({})", self.epochs, self.best_epoch),
            ),
            ("training time", self.training_time()),
            ("optimizer", self.optimizer.clone()),
            ("recipe", self.recipe.summary()),
            ("validation", self.validation_metrics.summary()),
            (
                "command",
                self.command.clone().unwrap_or_else(|| "–".into()),
            ),
        ];
        // Every command after the first resumed the run (`--resume`, same options).
        let resumed = self.commands.get(1..).unwrap_or_default();
        if !resumed.is_empty() {
            rows.push(("resumed with", resumed.join("\n")));
        }
        if let Some(note) = &self.note {
            rows.push(("note", note.clone()));
        }
        rows
    }

    /// Wall time in minutes, with the estimate given before the run.
    fn training_time(&self) -> String {
        let estimate = self
            .estimated_minutes
            .map(|m| format!(" (estimated {m:.0} min)"))
            .unwrap_or_default();
        format!("{:.0} min{estimate}", self.wall_seconds / 60.0)
    }
}

impl TrainingData {
    /// The directories, joined, with the data's licence.
    fn summary(&self) -> String {
        let mut text = self.dirs.join(" + ");
        if let Some(licence) = &self.licence {
            text.push_str(&format!(" ({licence})"));
        }
        text
    }
}

impl Split {
    /// Counts, and how the split was drawn.
    fn summary(&self) -> String {
        let (train, validation) = self.counts();
        let how = match self {
            Split::ByBreed { stratified_by, .. } => {
                format!(", seeded, stratified by {stratified_by}")
            }
            Split::BySource { sources, .. } => {
                let parts: Vec<String> = sources
                    .iter()
                    .map(|s| {
                        let name = s.dir.rsplit('/').find(|p| !p.is_empty()).unwrap_or(&s.dir);
                        format!("{} {name}/{}", s.photos, s.part)
                    })
                    .collect();
                format!(": {}", parts.join(", "))
            }
        };
        format!("{train} training / {validation} validation{how}")
    }
}

impl RecipeRecord {
    /// How the weights were averaged, the augmentation and the loss, as short text.
    fn summary(&self) -> String {
        let augment = &self.augment;
        let crops = if augment.crop_min_area > 0.0 {
            format!(
                "random resized crops (at least {:.0}% of the photo)",
                augment.crop_min_area * 100.0
            )
        } else {
            format!("zoom ±{:.0}%", augment.zoom * 100.0)
        };
        let mut parts = vec![
            format!("weights: {}", self.weights),
            format!(
                "augmentation: flips, rotations up to {:.0}°, {crops}, colour jitter {:.2}",
                augment.rotation_degrees, augment.color_jitter
            ),
        ];
        if self.loss.label_smoothing > 0.0 {
            parts.push(format!("label smoothing {}", self.loss.label_smoothing));
        }
        if self.loss.dice_weight > 0.0 {
            parts.push(format!(
                "cross-entropy + {} × Dice loss",
                self.loss.dice_weight
            ));
        }
        parts.join("; ")
    }
}

impl ValidationMetrics {
    /// The figures as short text, with the breed groups apart where there are any.
    pub fn summary(&self) -> String {
        match self {
            ValidationMetrics::Classification(m) => m.summary(),
            ValidationMetrics::Segmentation(m) => {
                let mut text = m.all.summary();
                for (name, group) in [
                    ("main 3 breeds", &m.main_breeds),
                    ("other breeds", &m.other_breeds),
                ] {
                    if let Some(group) = group {
                        text.push_str(&format!("; {name}: {}", group.summary()));
                    }
                }
                text
            }
        }
    }
}

impl ClassificationMetrics {
    fn summary(&self) -> String {
        format!(
            "accuracy {:.3}, n = {}, flip-averaged",
            self.accuracy, self.n
        )
    }
}

impl GroupFigures {
    fn summary(&self) -> String {
        format!(
            "pixel accuracy {:.3}, mean IoU {:.3}, n = {}",
            self.pixel_accuracy, self.mean_iou, self.n
        )
    }
}

impl ImportedEntry {
    /// The card's rows for an imported network, in the order the page shows them.
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let files: Vec<String> = self
            .source
            .sha256
            .iter()
            .map(|(name, hash)| format!("{name} {hash}"))
            .collect();
        vec![
            ("architecture", self.architecture.clone()),
            ("parameters", self.parameters.to_string()),
            ("input", format!("{} px", self.input_size)),
            (
                "weights",
                format!(
                    "{}, {} ({} bytes)",
                    self.source.format, self.dtype, self.weights_bytes
                ),
            ),
            ("origin", self.source.origin.clone()),
            ("licence", self.source.licence.clone()),
            ("source files (SHA-256)", files.join("\n")),
            ("command", self.command.clone()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: usize, val_mean_iou: Option<f64>) -> EpochRecord {
        EpochRecord {
            epoch,
            loss: 1.0 / epoch as f64,
            accuracy: 0.5,
            val_loss: f64::NAN,
            val_accuracy: 0.6,
            val_mean_iou,
            images_per_s: 1.0,
            lr: 1e-3,
            seconds: 1.0,
        }
    }

    #[test]
    fn curves_skip_missing_and_non_finite_values() {
        let history = [record(1, None), record(2, Some(0.4))];
        assert_eq!(LOSS_CURVES[0].points(&history), vec![(1, 1.0), (2, 0.5)]);
        assert!(LOSS_CURVES[1].points(&history).is_empty());
        assert_eq!(ACCURACY_CURVES[2].points(&history), vec![(2, 0.4)]);
        assert_eq!(LOSS_CURVES[0].css(), "#1f77b4");
    }

    #[test]
    fn a_split_by_source_names_each_folder_with_its_count() {
        let split = Split::BySource {
            sources: vec![super::super::DataSource {
                dir: "../shared/data/cats-vs-dogs/".into(),
                part: "train/{cat,dog}".into(),
                photos: 2000,
            }],
            n_train: 2000,
            n_validation: 1000,
        };
        assert_eq!(
            split.summary(),
            "2000 training / 1000 validation: 2000 cats-vs-dogs/train/{cat,dog}"
        );
    }
}
