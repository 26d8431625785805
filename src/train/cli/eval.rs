//! `train eval`: the arguments of [`crate::train::eval`], and each model's figures printed as
//! one JSON line with its name (`"model"`).

use std::path::PathBuf;

use burn::prelude::*;
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use super::{CliError, report_skipped};
use crate::data::datasets;
use crate::model::{ClassifierConfig, FEATURE_CLASSIFIER, ModelKind, SegmenterConfig};
use crate::train::eval::{
    eval_classifier, eval_feature_classifier, eval_segmenter, load_feature_classifier, load_model,
    shipped_feature_classifier,
};

#[derive(Subcommand, Debug)]
pub(super) enum EvalModel {
    /// Pixel accuracy and IoU at the photos' own resolution on an Oxford-IIIT Pet layout directory.
    Segmenter(EvalArgs),
    /// Accuracy and confusion matrix on a directory with cat/ and dog/ subfolders, one line per
    /// classifier.
    Classifier(ClassifierEvalArgs),
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

/// The cat-vs-dog classifiers petlens ships.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// The chapter's Xception-like model, trained from scratch (`classifier.bpk`).
    Classifier,
    /// Dense on the ImageNet network's features (`feature_classifier.bpk`, with the network
    /// its config names from the same directory).
    FeatureClassifier,
}

impl Verdict {
    fn name(self) -> &'static str {
        match self {
            Verdict::Classifier => ModelKind::Classifier.name(),
            Verdict::FeatureClassifier => FEATURE_CLASSIFIER,
        }
    }
}

#[derive(Args, Debug)]
pub(super) struct ClassifierEvalArgs {
    #[command(flatten)]
    common: EvalArgs,
    /// Which classifiers (comma-separated; default: the chapter's, and the one on ImageNet
    /// features where it is shipped). With --weights, exactly one.
    #[arg(long, value_enum, value_delimiter = ',')]
    models: Vec<Verdict>,
    /// Directory of the ImageNet network the feature classifier reads, and of its default
    /// weights.
    #[arg(long, default_value = "www/models")]
    shipped: PathBuf,
}

impl ClassifierEvalArgs {
    /// The classifiers to evaluate, each with its weights file (`None`: the shipped one).
    fn chosen(&self) -> Result<Vec<(Verdict, Option<PathBuf>)>, CliError> {
        let weights = &self.common.weights;
        match (self.models.as_slice(), weights) {
            ([], None) => {
                let mut all = vec![(Verdict::Classifier, None)];
                if shipped_feature_classifier(&self.shipped).exists() {
                    all.push((Verdict::FeatureClassifier, None));
                }
                Ok(all)
            }
            ([], Some(_)) => Ok(vec![(Verdict::Classifier, weights.clone())]),
            ([one], _) => Ok(vec![(*one, weights.clone())]),
            (_, Some(_)) => Err(CliError::Input(
                "--weights names one model's file: give one --models".into(),
            )),
            (many, None) => Ok(many.iter().map(|&m| (m, None)).collect()),
        }
    }
}

/// One printed line: the model's name and its figures.
#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    model: &'a str,
    #[serde(flatten)]
    figures: T,
}

fn print_line<T: Serialize>(model: &str, figures: T) -> Result<(), CliError> {
    let line = serde_json::to_string(&Line { model, figures })
        .map_err(|e| CliError::Other(e.to_string()))?;
    println!("{line}");
    Ok(())
}

/// Evaluates and prints each model's figures as one JSON object per line.
pub(super) fn run(model: EvalModel) -> Result<(), CliError> {
    let device = Device::flex();
    match model {
        EvalModel::Segmenter(args) => {
            let (config, model) =
                load_model(args.weights, ModelKind::Segmenter, |c: &SegmenterConfig| {
                    c.init(&device)
                })?;
            let pairs = datasets::oxford_pairs(&args.data)?;
            let figures = eval_segmenter(&model, config.image_size, &pairs, &device)?;
            print_line(ModelKind::Segmenter.name(), figures)
        }
        EvalModel::Classifier(args) => {
            for (verdict, weights) in args.chosen()? {
                let figures = match verdict {
                    Verdict::Classifier => {
                        let (config, model) =
                            load_model(weights, ModelKind::Classifier, |c: &ClassifierConfig| {
                                c.init(&device)
                            })?;
                        let examples =
                            datasets::load_labelled(&args.common.data, config.image_size as u32)?;
                        report_skipped(&examples);
                        eval_classifier(&model, &examples, &device)
                    }
                    Verdict::FeatureClassifier => {
                        let (backbone, head) =
                            load_feature_classifier(weights, &args.shipped, &device)?;
                        let size = backbone.input_size() as u32;
                        let examples = datasets::load_labelled(&args.common.data, size)?;
                        report_skipped(&examples);
                        eval_feature_classifier(&backbone.net, &head, &examples, &device)
                    }
                };
                print_line(verdict.name(), figures)?;
            }
            Ok(())
        }
    }
}
