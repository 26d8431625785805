//! An imported network's files in the ship directory (`www/models/`): `<network>.bpk` (f16),
//! `<network>.json` (its config), `imagenet_classes.json` (Keras's class index), its card entry
//! and the manifest.

use std::path::Path;

use burn::module::Module;

use crate::card::{ImportSource, ImportedEntry};
use crate::imagenet::ImagenetConfig;
use crate::shipped::ImagenetFiles;
use crate::train::run::{FitError, io_err, json, write_atomic};
use crate::train::ship::update_card;

/// What an import ships: a network and the config it was built from.
pub struct Imported<'a, M> {
    pub net: M,
    pub config: &'a ImagenetConfig,
    /// Keras's `imagenet_class_index.json`, as read.
    pub classes: &'a [u8],
    pub source: ImportSource,
    pub command: String,
}

/// Writes the network's three files (`<network>.json`, `<network>.bpk`, the class index), its
/// card entry and the manifest into `dir`; returns the entry.
pub fn ship_imported<M: Module>(
    dir: &Path,
    network: &str,
    imported: Imported<'_, M>,
) -> Result<ImportedEntry, FitError> {
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let [config_name, weights_name, classes_name] = ImagenetFiles::names(network);
    let parameters = imported.net.num_params();
    let bytes = crate::weights::to_bytes(imported.net, true).map_err(|e| io_err(dir, e))?;
    write_atomic(&dir.join(&weights_name), &bytes)?;
    write_atomic(&dir.join(&config_name), &json(imported.config)?)?;
    write_atomic(&dir.join(&classes_name), imported.classes)?;
    let entry = ImportedEntry {
        architecture: imported.config.describe(),
        parameters,
        config: serde_json::to_value(imported.config).map_err(|e| io_err(dir, e))?,
        input_size: imported.config.image_size(),
        source: imported.source,
        classes: classes_name,
        weights: weights_name,
        weights_bytes: bytes.len(),
        dtype: "f16".into(),
        command: imported.command,
    };
    let card_entry = entry.clone();
    update_card(dir, |card| {
        if let Some(slot) = card.imported_mut(network) {
            *slot = Some(card_entry);
        }
    })?;
    Ok(entry)
}
