//! `--ship`: the files the page loads, written into `www/models/` (or another directory): the
//! weights (f16), the config beside them, the history and curves, the model's card entry and the
//! manifest of content hashes the page caches the files under.

use std::path::Path;

use super::run::{FitError, FitOptions, RunState, io_err, json as to_json, write_atomic};
use super::task::Trainable;
use crate::card::{CardEntry, ModelCard, RecipeRecord, Split, TrainingData, ValidationMetrics};
use crate::model::{
    ClassifierConfig, FeatureClassifierConfig, FeatureSegmenterConfig, SegmenterConfig,
};
use crate::shipped::{MANIFEST, Manifest};

/// What the card reads of a model's config.
pub trait CardConfig: serde::Serialize {
    fn input_size(&self) -> usize;
    fn architecture(&self) -> String;
}

impl CardConfig for SegmenterConfig {
    fn input_size(&self) -> usize {
        self.image_size
    }

    fn architecture(&self) -> String {
        self.describe()
    }
}

impl CardConfig for ClassifierConfig {
    fn input_size(&self) -> usize {
        self.image_size
    }

    fn architecture(&self) -> String {
        self.describe()
    }
}

impl CardConfig for FeatureSegmenterConfig {
    fn input_size(&self) -> usize {
        self.image_size
    }

    fn architecture(&self) -> String {
        self.describe()
    }
}

/// A [`FeatureClassifierConfig`] as the card shows it: its own config, and the input size of
/// the network it reads (said once, in that network's config).
pub struct OnNetwork<'a> {
    pub config: &'a FeatureClassifierConfig,
    pub input_size: usize,
}

impl serde::Serialize for OnNetwork<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.config.serialize(serializer)
    }
}

impl CardConfig for OnNetwork<'_> {
    fn input_size(&self) -> usize {
        self.input_size
    }

    fn architecture(&self) -> String {
        self.config.describe()
    }
}

/// What goes into the ship directory for one model.
pub struct ShipInfo<'a, M, C> {
    pub dir: &'a Path,
    pub model: M,
    pub config: &'a C,
    pub data: TrainingData,
    pub split: Split,
    pub metrics: ValidationMetrics,
    pub state: RunState,
    pub options: &'a FitOptions,
}

/// Writes `<name>.bpk` (f16), `<name>.json` (its config), `<name>.history.json`,
/// `<name>.curves.png`, the model's entry in `card.json` (the other model's entry stays) and
/// `manifest.json` (the hashes of every shipped file in the directory).
pub fn ship_model<M: Trainable, C: CardConfig>(info: ShipInfo<'_, M, C>) -> Result<(), FitError> {
    let name = M::NAME;
    std::fs::create_dir_all(info.dir).map_err(|e| io_err(info.dir, e))?;
    let shipped = info.model.shipped();
    let parameters = burn::module::Module::num_params(&shipped);
    let bytes = crate::weights::to_bytes(shipped, true).map_err(|e| io_err(info.dir, e))?;
    write_atomic(&info.dir.join(format!("{name}.bpk")), &bytes)?;
    write_atomic(
        &info.dir.join(format!("{name}.json")),
        &to_json(info.config)?,
    )?;
    write_atomic(
        &info.dir.join(format!("{name}.history.json")),
        &to_json(&info.state.history)?,
    )?;
    let curves = info.dir.join(format!("{name}.curves.png"));
    crate::train::curves::write_curves(&info.state.history, name, &curves)
        .map_err(|e| io_err(&curves, e))?;
    let run = &info.options.run;
    let entry = CardEntry {
        architecture: info.config.architecture(),
        parameters,
        config: serde_json::to_value(info.config).map_err(|e| io_err(info.dir, e))?,
        input_size: info.config.input_size(),
        data: info.data,
        split: info.split,
        epochs: info.state.epochs_done,
        planned_epochs: run.epochs,
        best_epoch: info.state.best_epoch.unwrap_or(info.state.epochs_done),
        wall_seconds: info.state.wall_seconds.round(),
        backend: run.backend.clone(),
        devices: run.devices,
        optimizer: run.recipe.optimizer_summary(&run.schedule, run.batch_size),
        recipe: RecipeRecord {
            schedule: run.schedule,
            loss: run.loss.clone(),
            augment: run.augment,
            weights: if run.recipe.ema_decay > 0.0 {
                format!(
                    "exponential moving average (decay {})",
                    run.recipe.ema_decay
                )
            } else {
                "last step's".into()
            },
        },
        validation_metrics: info.metrics,
        weights: format!("{name}.bpk"),
        weights_bytes: bytes.len(),
        dtype: "f16".into(),
        history: format!("{name}.history.json"),
        curves: format!("{name}.curves.png"),
        estimated_minutes: info.state.estimated_minutes,
        command: info.state.commands.first().cloned(),
        commands: info.state.commands,
        note: None,
    };
    update_card(info.dir, |card| *M::card_entry(card) = Some(entry))?;
    eprintln!(
        "shipped {name}: {parameters} parameters ({} bytes) in {}",
        bytes.len(),
        info.dir.display()
    );
    Ok(())
}

/// Changes `card.json` in `dir` (the other models' entries stay) and rewrites the manifest of
/// the directory's shipped files, which the change follows.
pub(crate) fn update_card(dir: &Path, change: impl FnOnce(&mut ModelCard)) -> Result<(), FitError> {
    let card_path = dir.join("card.json");
    let mut card = read_card(&card_path)?;
    change(&mut card);
    write_atomic(&card_path, &to_json(&card)?)?;
    let manifest = Manifest::of_dir(dir).map_err(|e| io_err(dir, e))?;
    write_atomic(&dir.join(MANIFEST), &to_json(&manifest)?)
}

/// The card already in the directory (the other model's entry), or an empty one; a card that
/// is there but unreadable is an error rather than silently replaced.
fn read_card(path: &Path) -> Result<ModelCard, FitError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| io_err(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ModelCard::default()),
        Err(e) => Err(io_err(path, e)),
    }
}
