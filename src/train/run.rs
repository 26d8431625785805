//! A run directory: the run's options (`run.json`, which `--resume` must match), its state
//! between invocations (`state.json`), and the checkpoint files, each written atomically.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::recipe::{LrSchedule, Recipe};
use super::task::LossConfig;
use crate::card::{AugmentConfig, EpochRecord};

/// Everything that defines a training run, saved as `run.json` in its directory: a resumed
/// run must have the same, so that it continues the same schedule on the same data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// `classifier` or `segmenter`.
    pub model: String,
    /// The model's config (what `--ship` writes beside the weights).
    pub model_config: serde_json::Value,
    /// The `--data` directories, as given.
    pub data: Vec<PathBuf>,
    pub n_train: usize,
    pub n_validation: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    pub schedule: LrSchedule,
    pub recipe: Recipe,
    pub loss: LossConfig,
    pub augment: AugmentConfig,
    pub backend: String,
    pub devices: usize,
}

impl RunConfig {
    /// The planned schedule for `n_train` photos: warm-up, then cosine decay to 0 at the last
    /// step of the last epoch.
    pub fn schedule(
        lr: f64,
        recipe: &Recipe,
        n_train: usize,
        batch_size: usize,
        epochs: usize,
    ) -> LrSchedule {
        let steps_per_epoch = n_train.div_ceil(batch_size.max(1));
        LrSchedule {
            base_lr: lr,
            warmup_steps: (recipe.warmup_epochs * steps_per_epoch as f64).round() as usize,
            total_steps: steps_per_epoch * epochs,
        }
    }

    /// The options that differ from `saved`, by name (top-level keys and the recipe's).
    pub fn differences(&self, saved: &RunConfig) -> Vec<String> {
        let (a, b) = (to_value(self), to_value(saved));
        let mut differ = Vec::new();
        for (key, value) in a.as_object().into_iter().flatten() {
            let other = &b[key];
            match (value.as_object(), other.as_object()) {
                (Some(inner), Some(saved_inner)) if key == "recipe" => {
                    for (k, v) in inner {
                        if saved_inner.get(k) != Some(v) {
                            differ.push(format!(
                                "{k}: {} (saved: {})",
                                v,
                                saved_inner.get(k).unwrap_or(&serde_json::Value::Null)
                            ));
                        }
                    }
                }
                _ if value != other => differ.push(format!("{key}: {value} (saved: {other})")),
                _ => {}
            }
        }
        differ
    }
}

fn to_value<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// How this invocation trains: the run (saved, fixed for its life) and what may change from one
/// session to the next (stopping rules, progress bars).
#[derive(Debug, Clone)]
pub struct FitOptions {
    pub run: RunConfig,
    /// Stop after the epoch that passes this many minutes of training (resumed runs included).
    /// The schedule does not depend on it: size `--epochs` to the time there is.
    pub max_minutes: Option<f64>,
    /// Stop when the validation score has not improved for this many epochs.
    pub patience: usize,
    /// Stop after this many optimizer steps in total (smoke tests).
    pub max_steps: Option<usize>,
    /// Checkpoints, `run.json`, `history.json` and `best.bpk` go here.
    pub out: PathBuf,
    /// Continue from the checkpoint in `out`.
    pub resume: bool,
    /// Hide progress bars (tests, non-terminals).
    pub quiet: bool,
    /// This invocation's command line, kept in the run's state for the model card.
    pub command: String,
    /// The expected wall time of the whole run, in minutes (recorded by a new run).
    pub estimated_minutes: Option<f64>,
}

/// What survives between invocations: written atomically next to the checkpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunState {
    pub epochs_done: usize,
    pub steps_done: usize,
    /// The best validation score so far (accuracy for the classifier, mean IoU for the
    /// segmenter) and its epoch.
    pub best_score: Option<f64>,
    pub best_epoch: Option<usize>,
    pub wall_seconds: f64,
    pub history: Vec<EpochRecord>,
    /// The command line of every invocation that trained this run (the first started it,
    /// the others resumed it).
    #[serde(default)]
    pub commands: Vec<String>,
    /// Wall time the run was expected to take, in minutes (from one measured epoch), as given
    /// by the first invocation's `--estimated-minutes`.
    #[serde(default)]
    pub estimated_minutes: Option<f64>,
    /// The epoch `--max-steps` stopped before its end, which `--resume` continues.
    #[serde(default)]
    pub partial_epoch: Option<PartialEpoch>,
}

/// How far into an unfinished epoch a run got: its steps (the epoch's order is seeded by its
/// number, so a resume skips exactly the batches already trained) and its running figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PartialEpoch {
    pub epoch: usize,
    pub steps: usize,
    pub loss_sum: f64,
    pub seen: usize,
    /// The training confusion matrix so far.
    pub counts: Vec<u64>,
    pub seconds: f64,
}

/// Why training stopped or failed.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error("{0}")]
    Io(String),
    #[error("cannot resume: {0}")]
    Resume(String),
    #[error("cannot resume {dir}: its run was started with other options; start a new run (another --out) or resume with the saved ones:\n  {}", differences.join("\n  "))]
    ResumeMismatch {
        dir: String,
        differences: Vec<String>,
    },
    #[error("the {0} split is empty")]
    EmptySplit(&'static str),
    #[error("no device to train on")]
    NoDevice,
}

pub(crate) fn io_err(path: &Path, e: impl std::fmt::Display) -> FitError {
    FitError::Io(format!("{}: {e}", path.display()))
}

/// Writes through a temporary file and a rename, so a crash or a full disk mid-write leaves the
/// previous file intact.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FitError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_err(path, e)
    })?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))
}

pub(super) fn save_model<M: Module>(model: M, path: &Path) -> Result<(), FitError> {
    let bytes = crate::weights::to_bytes(model, false).map_err(|e| io_err(path, e))?;
    write_atomic(path, &bytes)
}

/// Checks `--resume` against the saved run, or saves a new run's options.
pub(super) fn start_run(paths: &CheckpointPaths, options: &FitOptions) -> Result<(), FitError> {
    if !options.resume {
        return write_atomic(&paths.run, &json(&options.run)?);
    }
    let bytes = std::fs::read(&paths.run).map_err(|e| {
        FitError::Resume(format!(
            "{}: {e} (a run directory written by this version of train holds run.json)",
            paths.run.display()
        ))
    })?;
    let saved: RunConfig = serde_json::from_slice(&bytes)
        .map_err(|e| FitError::Resume(format!("{}: {e}", paths.run.display())))?;
    let differences = options.run.differences(&saved);
    if differences.is_empty() {
        Ok(())
    } else {
        Err(FitError::ResumeMismatch {
            dir: options.out.display().to_string(),
            differences,
        })
    }
}

/// The files of a run directory.
pub(super) struct CheckpointPaths {
    pub(super) run: PathBuf,
    pub(super) model: PathBuf,
    pub(super) ema: PathBuf,
    pub(super) optimizer: PathBuf,
    pub(super) state: PathBuf,
    pub(super) best: PathBuf,
    pub(super) history: PathBuf,
}

impl CheckpointPaths {
    pub(super) fn new(out: &Path) -> Self {
        Self {
            run: out.join("run.json"),
            model: out.join("checkpoint.bpk"),
            ema: out.join("ema.bpk"),
            optimizer: out.join("optimizer.bpk"),
            state: out.join("state.json"),
            best: out.join("best.bpk"),
            history: out.join("history.json"),
        }
    }

    pub(super) fn save<M: Module>(
        &self,
        model: &M,
        ema: Option<&M>,
        optim: &burn::optim::ModuleOptimizer,
        state: &RunState,
    ) -> Result<(), FitError> {
        save_model(model.clone(), &self.model)?;
        if let Some(ema) = ema {
            save_model(ema.clone(), &self.ema)?;
        }
        let optim_bytes = optim.into_bytes().map_err(|e| io_err(&self.optimizer, e))?;
        write_atomic(&self.optimizer, &optim_bytes)?;
        write_atomic(&self.history, &json(&state.history)?)?;
        // The state file goes last: it names an epoch only once that epoch's files are complete.
        write_atomic(&self.state, &json(state)?)
    }

    /// The checkpointed model and the run's state.
    pub(super) fn load<M: Module>(&self, model: M) -> Result<(M, RunState), FitError> {
        let state: RunState = serde_json::from_slice(&read_for_resume(&self.state)?)
            .map_err(|e| FitError::Resume(format!("{}: {e}", self.state.display())))?;
        let model = crate::weights::from_bytes(model, &read_for_resume(&self.model)?)
            .map_err(|e| FitError::Resume(e.to_string()))?;
        Ok((model, state))
    }

    /// The optimizer's state, into an optimizer built for the loaded model.
    pub(super) fn load_optimizer(
        &self,
        optim: burn::optim::ModuleOptimizer,
    ) -> Result<burn::optim::ModuleOptimizer, FitError> {
        optim
            .from_bytes(burn::tensor::Bytes::from_bytes_vec(read_for_resume(
                &self.optimizer,
            )?))
            .map_err(|e| FitError::Resume(format!("{}: {e}", self.optimizer.display())))
    }

    /// The weight average, loaded into a copy of the (loaded) model so that its parameters keep
    /// the model's ids, which the average is matched by.
    pub(super) fn load_ema<M: Module>(&self, model: M) -> Result<M, FitError> {
        let bytes = std::fs::read(&self.ema)
            .map_err(|e| FitError::Resume(format!("{}: {e}", self.ema.display())))?;
        crate::weights::from_bytes(model, &bytes).map_err(|e| FitError::Resume(e.to_string()))
    }

    pub(super) fn load_best<M: Module>(&self, model: M) -> Result<M, FitError> {
        let bytes = std::fs::read(&self.best).map_err(|e| io_err(&self.best, e))?;
        crate::weights::from_bytes(model, &bytes).map_err(|e| io_err(&self.best, e))
    }
}

fn read_for_resume(path: &Path) -> Result<Vec<u8>, FitError> {
    std::fs::read(path).map_err(|e| FitError::Resume(format!("{}: {e}", path.display())))
}

/// Pretty JSON bytes.
pub fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, FitError> {
    serde_json::to_vec_pretty(value).map_err(|e| FitError::Io(e.to_string()))
}
