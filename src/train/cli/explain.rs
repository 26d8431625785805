//! `train explain` and `train curves`: the interpretability views and the training curves as
//! PNG files.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use clap::Args;

use super::CliError;
use crate::card::EpochRecord;
use crate::imagenet::ImagenetModel;
use crate::pipeline::Pipeline;
use crate::shipped::{ImagenetFiles, ShippedFiles};
use crate::train::explain::{ExplainRequest, explain as write_views, explain_imagenet};

/// Which network `train explain` looks into.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ExplainModel {
    /// petlens's classifier and segmenter.
    Pets,
    /// The imported ImageNet network (MobileNet v1): the book's figures on a pretrained network.
    Imagenet,
    /// Xception, once imported from a reader's own Keras weights: the book's own network.
    Xception,
}

#[derive(Args, Debug)]
pub(super) struct ExplainArgs {
    /// The photo to look at.
    #[arg(long)]
    photo: PathBuf,
    /// The network to look into.
    #[arg(long, value_enum, default_value = "pets")]
    model: ExplainModel,
    /// Output directory.
    #[arg(long, default_value = "explain")]
    out: PathBuf,
    /// Layers whose filter patterns are drawn (comma separated; default: an early, a middle and
    /// a late layer of the network, as the book's block2_sepconv1, block6_sepconv2 and
    /// block13_sepconv1 of Xception).
    #[arg(long, value_delimiter = ',')]
    filter_layers: Option<Vec<String>>,
    /// Filters drawn per layer (the first N; 30 gradient-ascent steps each).
    #[arg(long, default_value_t = 16)]
    filters: usize,
    /// Also draw each filter's robust pattern (random jitter, scale and rotation at every step,
    /// a decorrelated colour and frequency parameterisation), `filters/<layer>.robust.png`.
    #[arg(long)]
    robust: bool,
    /// Directory of the shipped models (configs and weights).
    #[arg(long, default_value = "www/models")]
    models: PathBuf,
}

#[derive(Args, Debug)]
pub(super) struct CurvesArgs {
    /// A history.json written by training (a run directory's or a shipped `<model>.history.json`).
    #[arg(long)]
    history: PathBuf,
    /// PNG to write (default: next to the history, `.png` instead of `.json`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Title of the panels.
    #[arg(long, default_value = "training")]
    title: String,
}

/// The default filter layers of each network: early, middle, late.
fn default_filter_layers(model: ExplainModel) -> Vec<String> {
    let layers: &[&str] = match model {
        ExplainModel::Pets => &["block.0.sepconv1", "block.2.sepconv1", "block.4.sepconv1"],
        ExplainModel::Imagenet => &["conv_pw_2_bn", "conv_pw_6_bn", "conv_pw_13_bn"],
        ExplainModel::Xception => &["block2_sepconv1", "block6_sepconv2", "block13_sepconv1"],
    };
    layers.iter().map(ToString::to_string).collect()
}

pub(super) fn explain(args: &ExplainArgs) -> Result<(), CliError> {
    let filter_layers = args
        .filter_layers
        .clone()
        .unwrap_or_else(|| default_filter_layers(args.model));
    let request = ExplainRequest {
        photo: &args.photo,
        out: &args.out,
        filter_layers: &filter_layers,
        filters: args.filters,
        robust: args.robust,
    };
    let verdict = match args.model {
        ExplainModel::Pets => {
            let pipeline = shipped_pipeline(&args.models)?;
            let summary = write_views(&pipeline, &request).map_err(CliError::Other)?;
            summary.label.name().to_string()
        }
        ExplainModel::Imagenet | ExplainModel::Xception => {
            let network = if args.model == ExplainModel::Xception {
                "xception"
            } else {
                "imagenet"
            };
            let files = ImagenetFiles::read(&args.models, network)
                .map_err(|e| CliError::Other(e.to_string()))?;
            let model = ImagenetModel::from_files(&files, &Device::flex())
                .map_err(|e| CliError::at(&args.models, e))?;
            let summary = explain_imagenet(&model, &request).map_err(CliError::Other)?;
            summary
                .top
                .first()
                .map_or_else(String::new, |t| t.name.clone())
        }
    };
    eprintln!("wrote {} ({verdict})", args.out.display());
    Ok(())
}

/// The pipeline of the models shipped in `dir`, each built from its own config file.
fn shipped_pipeline(dir: &Path) -> Result<Pipeline, CliError> {
    let files = ShippedFiles::read(dir).map_err(|e| CliError::Other(e.to_string()))?;
    Pipeline::from_shipped(&files, &Device::flex()).map_err(|e| CliError::at(dir, e))
}

pub(super) fn curves(args: &CurvesArgs) -> Result<(), CliError> {
    let bytes = std::fs::read(&args.history).map_err(|e| CliError::at(&args.history, e))?;
    let history: Vec<EpochRecord> =
        serde_json::from_slice(&bytes).map_err(|e| CliError::at(&args.history, e))?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.history.with_extension("png"));
    crate::train::curves::write_curves(&history, &args.title, &out)
        .map_err(|e| CliError::Other(e.to_string()))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}
