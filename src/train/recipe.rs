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

/// The learning rate of optimizer step `step` (0-based) under `schedule`: linear warm-up, then
/// cosine decay to 0. A function of the step alone, so a resumed run continues it exactly.
pub fn learning_rate(schedule: &LrSchedule, step: usize) -> f64 {
    let LrSchedule {
        base_lr,
        warmup_steps,
        total_steps,
    } = *schedule;
    if step < warmup_steps {
        return base_lr * (step + 1) as f64 / warmup_steps as f64;
    }
    let span = total_steps.saturating_sub(warmup_steps).max(1);
    let t = ((step - warmup_steps) as f64 / span as f64).min(1.0);
    base_lr * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_up_then_cosine_to_zero() {
        let s = LrSchedule {
            base_lr: 1.0,
            warmup_steps: 4,
            total_steps: 104,
        };
        let at = |step| learning_rate(&s, step);
        assert_eq!(at(0), 0.25);
        assert_eq!(at(3), 1.0);
        assert_eq!(at(4), 1.0);
        assert!((at(54) - 0.5).abs() < 1e-12);
        assert!(at(104) < 1e-12 && at(500) < 1e-12);
        assert!((1..104).all(|k| at(k) <= at(k - 1) || k <= 4));
    }
}
