//! `train import` (pretrained Keras weights into the page's files) and `train imagenet` (a photo's
//! top ImageNet classes, as Keras's `decode_predictions` gives them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use clap::Args;

use super::CliError;
use super::fit::command_line;
use crate::card::{ImportSource, ImportedEntry};
use crate::data::{decode_photo, model_input};
use crate::imagenet::{ImagenetConfig, ImagenetModel, TopClass};
use crate::shipped::{ImagenetFiles, content_hash};
use crate::train::import::ship::{Imported, ship_imported};
use crate::train::import::{
    Tensors, config_of, mobilenet_from, tfjs, verify_checksums, xception_config_of, xception_from,
};

#[derive(Args, Debug)]
pub(super) struct ImportArgs {
    /// A TensorFlow.js layers model of Keras's MobileNet or Xception: a directory with
    /// `model.json` and its weight shards (`scripts/keras_h5_to_tfjs.py` makes one from Keras's
    /// `.h5` weights files).
    #[arg(long)]
    tfjs: PathBuf,
    /// Keras's `imagenet_class_index.json`.
    #[arg(long)]
    classes: PathBuf,
    /// A `sha256sum`-style list (`<hash>  <file>`, names relative to the model directory) that
    /// every file must match.
    #[arg(long)]
    checksums: Option<PathBuf>,
    /// Who made the weights and where this copy came from (for the model card).
    #[arg(long, default_value = "not given")]
    origin: String,
    /// The weights' licence (for the model card).
    #[arg(long, default_value = "not given")]
    licence: String,
    /// Where to write the page's files.
    #[arg(long, default_value = "www/models")]
    out: PathBuf,
}

#[derive(Args, Debug)]
pub(super) struct ImagenetArgs {
    /// The photo to read.
    #[arg(long)]
    photo: PathBuf,
    /// How many classes to print.
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// Directory of the shipped models (`<network>.json`, `<network>.bpk`,
    /// `imagenet_classes.json`).
    #[arg(long, default_value = "www/models")]
    models: PathBuf,
    /// The imported network: `imagenet` (the shipped MobileNet) or `xception` (once imported).
    #[arg(long, default_value = "imagenet")]
    network: String,
}

/// One line of `train imagenet`: the model and its top classes.
#[derive(serde::Serialize)]
struct Reading {
    model: String,
    top: Vec<TopClass>,
}

/// Reads, checks and converts the weights (MobileNet, or Xception when the tensors are
/// Xception's), then writes the page's files.
pub(super) fn import(args: &ImportArgs) -> Result<(), CliError> {
    if let Some(list) = &args.checksums {
        verify_checksums(&args.tfjs, list)?;
    }
    let tensors = Tensors::new(tfjs::read(&args.tfjs)?)?;
    let classes = std::fs::read(&args.classes).map_err(|e| CliError::input(&args.classes, e))?;
    let names = crate::imagenet::ClassNames::from_keras_index(&classes)
        .map_err(|e| CliError::input(&args.classes, e))?;
    let source = ImportSource {
        format: "TensorFlow.js layers".into(),
        origin: args.origin.clone(),
        licence: args.licence.clone(),
        sha256: checksums_of(&args.tfjs, &args.classes)?,
    };
    let fits = |classes: usize| {
        if names.len() == classes {
            return Ok(());
        }
        Err(CliError::input(
            &args.classes,
            format!("{} classes, but the network has {classes}", names.len()),
        ))
    };
    let ship = Ship {
        out: &args.out,
        classes: &classes,
        source,
    };
    let entry = if tensors.shape("block1_conv1/kernel").is_some() {
        let config = xception_config_of(&tensors)?;
        fits(config.classes)?;
        let net = xception_from(&config, tensors)?;
        ship.network("xception", net, ImagenetConfig::Xception(config))?
    } else {
        let config = config_of(&tensors)?;
        fits(config.classes)?;
        let net = mobilenet_from(&config, tensors)?;
        ship.network("imagenet", net, ImagenetConfig::MobileNet(config))?
    };
    eprintln!(
        "imported {} ({} parameters, {} bytes in f16) into {}",
        entry.architecture,
        entry.parameters,
        entry.weights_bytes,
        args.out.display()
    );
    Ok(())
}

/// Where and with what an imported network is shipped.
struct Ship<'a> {
    out: &'a Path,
    classes: &'a [u8],
    source: ImportSource,
}

impl Ship<'_> {
    /// Writes `net` as the imported network `network` ([`ship_imported`]).
    fn network<M: burn::module::Module>(
        self,
        network: &str,
        net: M,
        config: ImagenetConfig,
    ) -> Result<ImportedEntry, CliError> {
        let imported = Imported {
            net,
            config: &config,
            classes: self.classes,
            source: self.source,
            command: command_line(),
        };
        Ok(ship_imported(self.out, network, imported)?)
    }
}

/// SHA-256 of every file the import read, by name.
fn checksums_of(dir: &Path, classes: &Path) -> Result<BTreeMap<String, String>, CliError> {
    let entries = std::fs::read_dir(dir).map_err(|e| CliError::at(dir, e))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.push(classes.to_path_buf());
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).map_err(|e| CliError::at(&path, e))?;
            let name = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            Ok((name, content_hash(&bytes)))
        })
        .collect()
}

/// Prints the photo's top classes as one JSON line.
pub(super) fn imagenet(args: &ImagenetArgs) -> Result<(), CliError> {
    let files = ImagenetFiles::read(&args.models, &args.network)
        .map_err(|e| CliError::Other(e.to_string()))?;
    let device = Device::flex();
    let model =
        ImagenetModel::from_files(&files, &device).map_err(|e| CliError::at(&args.models, e))?;
    let bytes = std::fs::read(&args.photo).map_err(|e| CliError::input(&args.photo, e))?;
    let photo = decode_photo(&bytes).map_err(|e| CliError::input(&args.photo, e))?;
    let input = model_input(&[&photo], model.input_size(), &device);
    let top = pollster::block_on(model.top(input, args.top))
        .map_err(|e| CliError::Other(e.to_string()))?;
    let reading = Reading {
        model: model.config.name(),
        top,
    };
    let line = serde_json::to_string(&reading).map_err(|e| CliError::Other(e.to_string()))?;
    println!("{line}");
    Ok(())
}
