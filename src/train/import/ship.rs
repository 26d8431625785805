//! The imported ImageNet network's files in the ship directory (`www/models/`): `imagenet.bpk`
//! (f16), `imagenet.json` (its config), `imagenet_classes.json` (Keras's class index), its card
//! entry and the manifest.

use std::path::Path;

use burn::module::Module;

use crate::card::{ImportSource, ImportedEntry};
use crate::model::{MobileNet, MobileNetConfig};
use crate::shipped::ImagenetFiles;
use crate::train::run::{FitError, io_err, json, write_atomic};
use crate::train::ship::update_card;

/// What an import ships.
pub struct Imported<'a> {
    pub net: MobileNet,
    pub config: &'a MobileNetConfig,
    /// Keras's `imagenet_class_index.json`, as read.
    pub classes: &'a [u8],
    pub source: ImportSource,
    pub command: String,
}

/// Writes the three files, the card entry and the manifest into `dir`; returns the entry.
pub fn ship_imagenet(dir: &Path, imported: Imported<'_>) -> Result<ImportedEntry, FitError> {
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let [config_name, weights_name, classes_name] = ImagenetFiles::NAMES;
    let parameters = imported.net.num_params();
    let bytes = crate::weights::to_bytes(imported.net, true).map_err(|e| io_err(dir, e))?;
    write_atomic(&dir.join(weights_name), &bytes)?;
    write_atomic(&dir.join(config_name), &json(imported.config)?)?;
    write_atomic(&dir.join(classes_name), imported.classes)?;
    let entry = ImportedEntry {
        architecture: imported.config.describe(),
        parameters,
        config: serde_json::to_value(imported.config).map_err(|e| io_err(dir, e))?,
        input_size: imported.config.image_size,
        source: imported.source,
        classes: classes_name.into(),
        weights: weights_name.into(),
        weights_bytes: bytes.len(),
        dtype: "f16".into(),
        command: imported.command,
    };
    let card_entry = entry.clone();
    update_card(dir, |card| card.imagenet = Some(card_entry))?;
    Ok(entry)
}
