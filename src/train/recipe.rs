//! How a model is trained, as one typed value: the optimizer, the learning-rate schedule, the
//! loss's options, the weight average and the augmentation. Every part is a command-line flag
//! (clap), written to the run directory and the model card (serde), and compared on `--resume`.

use burn::module::{Module, ModuleVisitor, Param, ParamGroup, ParamId};
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer};
use burn::prelude::*;
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::card::AugmentConfig;
pub use crate::card::LrSchedule;

/// The optimizer.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam without weight decay (what earlier petlens runs used).
    Adam,
    /// AdamW: decoupled weight decay on convolution and dense weights, none on batch-norm
    /// parameters and biases (which only shift and scale, and would be pulled to zero).
    Adamw,
}

/// The recipe's flags, shared by both models (`--help` of `train classifier` or `segmenter`).
#[derive(Args, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// Optimizer.
    #[arg(long, value_enum, default_value_t = OptimizerKind::Adamw)]
    pub optimizer: OptimizerKind,
    /// AdamW's decoupled weight decay (per unit of learning rate).
    #[arg(long, default_value_t = 0.05)]
    pub weight_decay: f64,
    /// Epochs of linear learning-rate warm-up before the cosine decay.
    #[arg(long, default_value_t = 2.0)]
    pub warmup_epochs: f64,
    /// Label smoothing of the classifier's targets (0: off): a target of 1 becomes `1 - s/2`.
    #[arg(long, default_value_t = 0.1)]
    pub label_smoothing: f64,
    /// Decay of the exponential moving average of the weights (0: off). With it on, validation
    /// scores the average and `--ship` writes it.
    #[arg(long, default_value_t = 0.999)]
    pub ema_decay: f64,
    /// Random resized crops covering at least this share of the photo (0: the chapter's zoom).
    #[arg(long)]
    pub crop_min_area: Option<f32>,
    /// Largest random rotation, in degrees either way.
    #[arg(long)]
    pub rotation_degrees: Option<f32>,
    /// Colour jitter strength: brightness, contrast and saturation within `1 +- s` (0: off).
    #[arg(long)]
    pub color_jitter: Option<f32>,
}

impl Recipe {
    /// The augmentation: `defaults` (the model's) with this recipe's overrides.
    pub fn augment(&self, defaults: AugmentConfig) -> AugmentConfig {
        AugmentConfig {
            crop_min_area: self.crop_min_area.unwrap_or(defaults.crop_min_area),
            rotation_degrees: self.rotation_degrees.unwrap_or(defaults.rotation_degrees),
            color_jitter: self.color_jitter.unwrap_or(defaults.color_jitter),
            ..defaults
        }
    }

    /// The optimizer for `model`.
    pub fn optimizer<M: Module>(&self, model: &M) -> ModuleOptimizer {
        match self.optimizer {
            OptimizerKind::Adam => AdamConfig::new().init(),
            OptimizerKind::Adamw => AdamWConfig::new()
                .with_weight_decay(self.weight_decay as f32)
                .init()
                .with_group(
                    ParamGroup::from_ids(vectors(model)),
                    AdamWConfig::new().with_weight_decay(0.0).build(),
                    None,
                ),
        }
    }

    /// One line for the model card.
    pub fn optimizer_summary(&self, schedule: &LrSchedule, batch_size: usize) -> String {
        let optimizer = match self.optimizer {
            OptimizerKind::Adam => "Adam".to_string(),
            OptimizerKind::Adamw => format!(
                "AdamW (weight decay {}, none on batch norm and biases)",
                self.weight_decay
            ),
        };
        format!(
            "{optimizer}, lr {} with {} warm-up steps then cosine decay to 0 over {} steps, batch {batch_size}",
            schedule.base_lr, schedule.warmup_steps, schedule.total_steps
        )
    }
}

/// Ids of the parameters with fewer than two dimensions: batch-norm scales and shifts, biases.
fn vectors<M: Module>(model: &M) -> Vec<ParamId> {
    struct Vectors(Vec<ParamId>);
    impl ModuleVisitor for Vectors {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if D < 2 {
                self.0.push(param.id);
            }
        }
    }
    let mut found = Vectors(Vec::new());
    model.visit(&mut found);
    found.0
}
