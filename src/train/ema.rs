//! An exponential moving average of a model's weights (Polyak averaging, as `timm`'s
//! `ModelEmaV2` keeps it): the averaged model generalises better than the last step's weights,
//! so it is what validation scores and what `--ship` writes.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::prelude::*;

/// The averaged copy of a model (on the plain device, no autodiff).
#[derive(Debug, Clone)]
pub struct Ema<M> {
    /// The averaged weights. Batch-norm running statistics are averaged too.
    pub model: M,
    /// Weight of the old average per step, once warmed up.
    pub decay: f64,
}

impl<M: Module + Clone> Ema<M> {
    /// Starts the average at `model`'s current weights.
    pub fn new(model: M, decay: f64) -> Self {
        Self { model, decay }
    }

    /// The decay at optimizer step `step` (0-based): `min(decay, (1 + step) / (10 + step))`, so
    /// that the first steps, far from any useful weights, are forgotten quickly (TensorFlow's
    /// `ExponentialMovingAverage` with `num_updates`).
    pub fn decay_at(&self, step: usize) -> f64 {
        let warm = (1.0 + step as f64) / (10.0 + step as f64);
        self.decay.min(warm)
    }

    /// Moves the average towards `current` (the trained model, autodiff or not) after step
    /// `step`: `average = d * average + (1 - d) * current`.
    pub fn update<T: Module>(&mut self, current: &T, step: usize) {
        let mut values = ParamValues::default();
        current.visit(&mut values);
        let mut blend = Blend {
            values: values.0,
            decay: self.decay_at(step),
        };
        self.model = self.model.clone().map(&mut blend);
    }
}

/// Every float parameter and buffer of a module, flattened, by id.
#[derive(Default)]
struct ParamValues(HashMap<ParamId, Tensor<1>>);

impl ModuleVisitor for ParamValues {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val().inner();
        let n = value.shape().num_elements();
        self.0.insert(param.id, value.reshape([n]));
    }
}

/// Blends each parameter of the average with the same parameter (same id) of the model.
struct Blend {
    values: HashMap<ParamId, Tensor<1>>,
    decay: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(current) = self.values.remove(&param.id) else {
            return param;
        };
        let decay = self.decay;
        param.map(|average| {
            let current = current
                .reshape(average.shape())
                .to_device(&average.device());
            average * decay + current * (1.0 - decay)
        })
    }
}
