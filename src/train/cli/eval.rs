//! `train eval`: the arguments of [`crate::train::eval`], and each model's figures printed as
//! one JSON line with its name (`"model"`).

use std::path::PathBuf;

use burn::prelude::*;
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use super::{CliError, report_skipped};
use crate::data::datasets;
use crate::imagenet::FeatureMask;
use crate::model::{
    ClassifierConfig, FEATURE_CLASSIFIER, FEATURE_SEGMENTER, ModelKind, SegmenterConfig,
};
use crate::train::eval::{
    eval_classifier, eval_feature_classifier, eval_segmenter, load_feature_classifier,
    load_feature_segmenter, load_model, shipped_head,
};

#[derive(Subcommand, Debug)]
pub(super) enum EvalModel {
    /// Pixel accuracy and IoU at the photos' own resolution on an Oxford-IIIT Pet layout
    /// directory, one line per segmenter.
    Segmenter(SegmenterEvalArgs),
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
    /// Directory of the ImageNet network the models on its features read, and of their
    /// default weights.
    #[arg(long, default_value = "www/models")]
    shipped: PathBuf,
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

/// The segmenters petlens ships.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Mask {
    /// The chapter's U-Net-like model, trained from scratch (`segmenter.bpk`).
    Segmenter,
    /// The U-Net decoder on the ImageNet network's features (`feature_segmenter.bpk`, with the
    /// network its config names from the same directory).
    FeatureSegmenter,
}

impl Mask {
    fn name(self) -> &'static str {
        match self {
            Mask::Segmenter => ModelKind::Segmenter.name(),
            Mask::FeatureSegmenter => FEATURE_SEGMENTER,
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
}

#[derive(Args, Debug)]
pub(super) struct SegmenterEvalArgs {
    #[command(flatten)]
    common: EvalArgs,
    /// Which segmenters (comma-separated; default: the chapter's, and the one on ImageNet
    /// features where it is shipped). With --weights, exactly one.
    #[arg(long, value_enum, value_delimiter = ',')]
    models: Vec<Mask>,
}

/// The models to evaluate, each with its weights file (`None`: the shipped one): those named,
/// or the chapter's model and, where `shipped` holds its weights, the one on ImageNet features.
fn chosen<T: Copy>(
    named: &[T],
    weights: &Option<PathBuf>,
    chapter: T,
    on_features: (T, PathBuf),
) -> Result<Vec<(T, Option<PathBuf>)>, CliError> {
    match (named, weights) {
        ([], None) => {
            let mut all = vec![(chapter, None)];
            if on_features.1.exists() {
                all.push((on_features.0, None));
            }
            Ok(all)
        }
        ([], Some(_)) => Ok(vec![(chapter, weights.clone())]),
        ([one], _) => Ok(vec![(*one, weights.clone())]),
        (_, Some(_)) => Err(CliError::Input(
            "--weights names one model's file: give one --models".into(),
        )),
        (many, None) => Ok(many.iter().map(|&m| (m, None)).collect()),
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
            let common = &args.common;
            let pairs = datasets::oxford_pairs(&common.data)?;
            let on_features = shipped_head(&common.shipped, FEATURE_SEGMENTER);
            let models = chosen(
                &args.models,
                &common.weights,
                Mask::Segmenter,
                (Mask::FeatureSegmenter, on_features),
            )?;
            for (mask, weights) in models {
                let figures = match mask {
                    Mask::Segmenter => {
                        let (config, model) =
                            load_model(weights, ModelKind::Segmenter, |c: &SegmenterConfig| {
                                c.init(&device)
                            })?;
                        eval_segmenter(&model, config.image_size, &pairs, &device)?
                    }
                    Mask::FeatureSegmenter => {
                        let (network, head) =
                            load_feature_segmenter(weights, &common.shipped, &device)?;
                        let encoder = network.net.mobilenet().ok_or_else(|| {
                            CliError::Other("the feature segmenter decodes MobileNet".into())
                        })?;
                        let model = FeatureMask {
                            encoder,
                            decoder: &head.decoder,
                        };
                        eval_segmenter(&model, head.image_size, &pairs, &device)?
                    }
                };
                print_line(mask.name(), figures)?;
            }
            Ok(())
        }
        EvalModel::Classifier(args) => {
            let common = &args.common;
            let on_features = shipped_head(&common.shipped, FEATURE_CLASSIFIER);
            let models = chosen(
                &args.models,
                &common.weights,
                Verdict::Classifier,
                (Verdict::FeatureClassifier, on_features),
            )?;
            for (verdict, weights) in models {
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
                            load_feature_classifier(weights, &common.shipped, &device)?;
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
