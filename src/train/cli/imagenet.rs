//! `train import` (pretrained Keras weights into the page's files) and `train imagenet` (a photo's
//! top ImageNet classes, as Keras's `decode_predictions` gives them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use clap::Args;

use super::CliError;
use super::fit::command_line;
use crate::card::ImportSource;
use crate::data::{decode_photo, model_input};
use crate::imagenet::{ImagenetModel, TopClass};
use crate::shipped::{ImagenetFiles, content_hash};
use crate::train::import::ship::{Imported, ship_imagenet};
use crate::train::import::{Tensors, config_of, mobilenet_from, tfjs, verify_checksums};

#[derive(Args, Debug)]
pub(super) struct ImportArgs {
    /// A TensorFlow.js layers model of Keras's MobileNet: a directory with `model.json` and its
    /// weight shards.
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
    /// Directory of the shipped models (`imagenet.json`, `imagenet.bpk`,
    /// `imagenet_classes.json`).
    #[arg(long, default_value = "www/models")]
    models: PathBuf,
}

/// One line of `train imagenet`: the model and its top classes.
#[derive(serde::Serialize)]
struct Reading {
    model: String,
    top: Vec<TopClass>,
}

/// Reads, checks and converts the weights, then writes the page's files.
pub(super) fn import(args: &ImportArgs) -> Result<(), CliError> {
    if let Some(list) = &args.checksums {
        verify_checksums(&args.tfjs, list)?;
    }
    let tensors = Tensors::new(tfjs::read(&args.tfjs)?)?;
    let config = config_of(&tensors)?;
    let net = mobilenet_from(&config, tensors)?;
    let classes = std::fs::read(&args.classes).map_err(|e| CliError::input(&args.classes, e))?;
    let names = crate::imagenet::ClassNames::from_keras_index(&classes)
        .map_err(|e| CliError::input(&args.classes, e))?;
    if names.len() != config.classes {
        return Err(CliError::input(
            &args.classes,
            format!(
                "{} classes, but the network has {}",
                names.len(),
                config.classes
            ),
        ));
    }
    let source = ImportSource {
        format: "TensorFlow.js layers".into(),
        origin: args.origin.clone(),
        licence: args.licence.clone(),
        sha256: checksums_of(&args.tfjs, &args.classes)?,
    };
    let entry = ship_imagenet(
        &args.out,
        Imported {
            net,
            config: &config,
            classes: &classes,
            source,
            command: command_line(),
        },
    )?;
    eprintln!(
        "imported {} ({} parameters, {} bytes in f16) into {}",
        entry.architecture,
        entry.parameters,
        entry.weights_bytes,
        args.out.display()
    );
    Ok(())
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
    let files = ImagenetFiles::read(&args.models).map_err(|e| CliError::Other(e.to_string()))?;
    let device = Device::flex();
    let model =
        ImagenetModel::from_files(&files, &device).map_err(|e| CliError::at(&args.models, e))?;
    let bytes = std::fs::read(&args.photo).map_err(|e| CliError::input(&args.photo, e))?;
    let photo = decode_photo(&bytes).map_err(|e| CliError::input(&args.photo, e))?;
    let input = model_input(&[&photo], model.input_size(), &device);
    let top = pollster::block_on(model.top(input, args.top))
        .map_err(|e| CliError::Other(e.to_string()))?;
    let reading = Reading {
        model: format!("mobilenet_v1_{}_{}", model.config.alpha, model.input_size()),
        top,
    };
    let line = serde_json::to_string(&reading).map_err(|e| CliError::Other(e.to_string()))?;
    println!("{line}");
    Ok(())
}
