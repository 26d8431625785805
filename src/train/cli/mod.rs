//! The `train` command line: a thin argument layer over one file per command (training both
//! models, evaluation, benchmarks, the interpretability views, training curves).

mod bench;
mod eval;
mod explain;
mod fit;
mod imagenet;

use std::path::Path;
use std::process::ExitCode;

use burn::prelude::*;
use clap::{Parser, Subcommand, ValueEnum};

use super::fit::FitError;
use crate::data::datasets::{DataError, Examples};

/// Train petlens's models on real data, evaluate them, and write the weights the page ships.
#[derive(Parser, Debug)]
#[command(name = "train", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train the segmenter on Oxford-IIIT Pet directories (images/, annotations/trimaps/).
    Segmenter(fit::SegmenterArgs),
    /// Train the cat-vs-dog classifier on directories with train/{cat,dog} and
    /// validation/{cat,dog}, plain {cat,dog}/ folders, or Oxford-IIIT Pet images/.
    Classifier(fit::ClassifierArgs),
    /// Train a cat-vs-dog classifier on the frozen ImageNet network's pooled features (chapter
    /// 8's feature extraction, with augmentation), on the same data as `train classifier`.
    FeatureClassifier(fit::FeatureClassifierArgs),
    /// Train a U-Net decoder on the frozen ImageNet network's feature pyramid (strides 2-32)
    /// on the same pairs and split as `train segmenter`.
    FeatureSegmenter(fit::FeatureSegmenterArgs),
    /// Evaluate weights: one JSON object per line, one line per model.
    Eval {
        #[command(subcommand)]
        model: eval::EvalModel,
    },
    /// Training images/s and single-photo inference ms per model, one JSON line each.
    Bench(bench::BenchArgs),
    /// Write the interpretability views for one photo as PNG files: activation grids of every
    /// layer, filter patterns, Grad-CAM overlays (the page's code, with the shipped weights).
    Explain(explain::ExplainArgs),
    /// Draw a run's history.json (loss, accuracy, IoU per epoch) as a PNG.
    Curves(explain::CurvesArgs),
    /// Import Keras's ImageNet-pretrained MobileNet (TensorFlow.js layers format) into the
    /// page's files: f16 weights, config, class names, card entry.
    Import(imagenet::ImportArgs),
    /// A photo's top ImageNet classes from the imported network, as one JSON line.
    Imagenet(imagenet::ImagenetArgs),
}

/// The CPU and GPU backends burn offers natively in this build.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    /// burn's `flex` CPU backend (the fastest CPU backend here).
    Flex,
    /// GPUs through wgpu (Vulkan, Metal or DX12); a software Vulkan such as lavapipe also works.
    #[cfg(feature = "wgpu")]
    Wgpu,
    /// NVIDIA GPUs through CUDA (build with `--features cuda`).
    #[cfg(feature = "cuda")]
    Cuda,
}

impl Backend {
    /// The first `n` devices of this backend, for data-parallel training.
    fn devices(self, n: usize) -> Result<Vec<Device>, CliError> {
        let n = n.max(1);
        match self {
            Backend::Flex if n == 1 => Ok(vec![Device::flex()]),
            Backend::Flex => Err(CliError::Other(
                "--devices > 1 needs a GPU backend (--backend wgpu or cuda): flex is one CPU device"
                    .into(),
            )),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu if n == 1 => Ok(vec![Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)]),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Ok((0..n)
                .map(|i| Device::wgpu(burn::tensor::DeviceKind::DiscreteGpu(i)))
                .collect()),
            #[cfg(feature = "cuda")]
            Backend::Cuda => Ok((0..n).map(Device::cuda).collect()),
        }
    }

    fn name(self) -> String {
        format!("{self:?}").to_lowercase()
    }
}

/// A failure, with the process exit code it maps to (2: bad input, 1: anything else).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Fit(#[from] FitError),
    #[error(transparent)]
    Eval(#[from] crate::train::eval::EvalError),
    #[error(transparent)]
    Import(#[from] crate::train::import::ImportError),
    /// A file given on the command line that is not what it should be (a photo that does not
    /// decode, a class index that is not Keras's).
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// An error about `path`.
    fn at(path: &Path, why: impl std::fmt::Display) -> Self {
        CliError::Other(format!("{}: {why}", path.display()))
    }

    /// A bad input file (exit code 2).
    fn input(path: &Path, why: impl std::fmt::Display) -> Self {
        CliError::Input(format!("{}: {why}", path.display()))
    }
}

/// Runs the command line and maps errors to exit codes.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                CliError::Data(_)
                | CliError::Import(_)
                | CliError::Input(_)
                | CliError::Fit(FitError::EmptySplit(_) | FitError::ResumeMismatch { .. }) => {
                    ExitCode::from(2)
                }
                _ => ExitCode::FAILURE,
            }
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    // A misspelt cap would silently measure the wrong kernels: refuse it up front.
    crate::ops::isa::max_from_env().map_err(|e| CliError::Other(e.to_string()))?;
    match cli.command {
        Command::Segmenter(args) => fit::train_segmenter(args),
        Command::Classifier(args) => fit::train_classifier(args),
        Command::FeatureClassifier(args) => fit::train_feature_classifier(args),
        Command::FeatureSegmenter(args) => fit::train_feature_segmenter(args),
        Command::Eval { model } => eval::run(model),
        Command::Bench(args) => bench::run(&args),
        Command::Explain(args) => explain::explain(&args),
        Command::Curves(args) => explain::curves(&args),
        Command::Import(args) => imagenet::import(&args),
        Command::Imagenet(args) => imagenet::imagenet(&args),
    }
}

/// Prints a warning for every file a loader skipped.
fn report_skipped(examples: &Examples) {
    for (path, why) in &examples.skipped {
        eprintln!("warning: skipped {}: {why}", path.display());
    }
    if !examples.skipped.is_empty() {
        eprintln!("warning: {} file(s) skipped", examples.skipped.len());
    }
}
