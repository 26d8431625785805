//! `train eval`: the arguments of [`crate::train::eval`], and its figures printed as one JSON line.

use std::path::PathBuf;

use burn::prelude::*;
use clap::{Args, Subcommand};

use super::{CliError, report_skipped};
use crate::data::datasets;
use crate::model::{ClassifierConfig, ModelKind, SegmenterConfig};
use crate::train::eval::{eval_classifier, eval_segmenter, load_model};

#[derive(Subcommand, Debug)]
pub(super) enum EvalModel {
    /// Pixel accuracy and IoU at the photos' own resolution on an Oxford-IIIT Pet layout directory.
    Segmenter(EvalArgs),
    /// Accuracy and confusion matrix on a directory with cat/ and dog/ subfolders.
    Classifier(EvalArgs),
}

#[derive(Args, Debug)]
pub(super) struct EvalArgs {
    /// Data directory.
    #[arg(long)]
    data: PathBuf,
    /// Weights file (default: the shipped ones in www/models/); its model is built from the
    /// config beside it (`x.bpk` -> `x.json`).
    #[arg(long)]
    weights: Option<PathBuf>,
}

/// Evaluates and prints the figures as one JSON object.
pub(super) fn run(model: EvalModel) -> Result<(), CliError> {
    let device = Device::flex();
    let json = match model {
        EvalModel::Segmenter(args) => {
            let (config, model) =
                load_model(args.weights, ModelKind::Segmenter, |c: &SegmenterConfig| {
                    c.init(&device)
                })?;
            let pairs = datasets::oxford_pairs(&args.data)?;
            serde_json::to_string(&eval_segmenter(&model, config.image_size, &pairs, &device)?)
        }
        EvalModel::Classifier(args) => {
            let (config, model) = load_model(
                args.weights,
                ModelKind::Classifier,
                |c: &ClassifierConfig| c.init(&device),
            )?;
            let examples = datasets::load_labelled(&args.data, config.image_size as u32)?;
            report_skipped(&examples);
            serde_json::to_string(&eval_classifier(&model, &examples, &device))
        }
    };
    println!("{}", json.map_err(|e| CliError::Other(e.to_string()))?);
    Ok(())
}
