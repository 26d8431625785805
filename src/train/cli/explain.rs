//! `train explain` and `train curves`: the interpretability views and the training curves as
//! PNG files.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use clap::Args;

use super::CliError;
use crate::card::EpochRecord;
use crate::pipeline::Pipeline;
use crate::shipped::ShippedFiles;
use crate::train::explain::{ExplainRequest, explain as write_views};

#[derive(Args, Debug)]
pub(super) struct ExplainArgs {
    /// The photo to look at.
    #[arg(long)]
    photo: PathBuf,
    /// Output directory.
    #[arg(long, default_value = "explain")]
    out: PathBuf,
    /// Classifier layers whose filter patterns are drawn (comma separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "block.0.sepconv1,block.2.sepconv1,block.4.sepconv1"
    )]
    filter_layers: Vec<String>,
    /// Filters drawn per layer (the first N; 30 gradient-ascent steps each).
    #[arg(long, default_value_t = 16)]
    filters: usize,
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

pub(super) fn explain(args: &ExplainArgs) -> Result<(), CliError> {
    let pipeline = shipped_pipeline(&args.models)?;
    let summary = write_views(
        &pipeline,
        &ExplainRequest {
            photo: &args.photo,
            out: &args.out,
            filter_layers: &args.filter_layers,
            filters: args.filters,
        },
    )
    .map_err(CliError::Other)?;
    eprintln!("wrote {} ({})", args.out.display(), summary.label.name());
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
