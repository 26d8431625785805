//! `train segmenter`, `train classifier`, `train feature-classifier` and `train feature-segmenter`: the run's options from the command line, the data,
//! the shared training loop, and `--ship`.

use std::path::PathBuf;

use clap::Args;

use super::{Backend, CliError, report_skipped};
use burn::prelude::*;

use crate::card::{
    ClassificationMetrics, SegmentationMetrics, Split, TrainingData, ValidationMetrics,
};
use crate::data::datasets::{self, Examples, TrimapPair};
use crate::imagenet::{FeatureMask, ImagenetConfig, ImagenetModel};
use crate::model::{
    ClassifierConfig, FeatureClassifier, FeatureClassifierConfig, FeatureSegmenter,
    FeatureSegmenterConfig, Segmenter, SegmenterConfig, SkipMerge,
};
use crate::shipped::ImagenetFiles;
use crate::train::eval::{EvalError, eval_classifier, eval_feature_classifier, eval_segmenter};
use crate::train::fit::{FitOptions, RunConfig, fit, json as to_json, write_atomic};
use crate::train::recipe::Recipe;
use crate::train::ship::{CardConfig, OnNetwork, ShipInfo, ship_model};
use crate::train::task::{FrozenBackbone, LossConfig, Trainable};

#[derive(Args, Debug)]
struct CommonArgs {
    /// Data directory; repeat for several (`--data a --data b`).
    #[arg(long, required = true)]
    data: Vec<PathBuf>,
    /// Epochs: the learning-rate schedule is planned over them (the run stops earlier on
    /// --patience or --max-minutes, and `--resume` continues it).
    #[arg(long, default_value_t = 40)]
    epochs: usize,
    /// Photos per optimizer step.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Square input size (default: the shipped model's).
    #[arg(long)]
    image_size: Option<usize>,
    /// Peak learning rate (after the warm-up; cosine decay to 0 at the last epoch).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Seed of the split, the shuffling, augmentation and initialisation.
    #[arg(long, default_value_t = 1337)]
    seed: u64,
    /// Run directory: checkpoints, history.json, best.bpk.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write the best weights (f16), history and model-card entry here, e.g. www/models.
    #[arg(long)]
    ship: Option<PathBuf>,
    /// Continue from the checkpoint in --out.
    #[arg(long)]
    resume: bool,
    /// Stop after the epoch that passes this many minutes of training in total (resumes
    /// included); `--resume` later continues the schedule where it stopped.
    #[arg(long)]
    max_minutes: Option<f64>,
    /// Stop when the validation score (classifier: accuracy, segmenter: mean IoU) has not
    /// improved for this many epochs.
    #[arg(long, default_value_t = 8)]
    patience: usize,
    /// Stop after this many optimizer steps (smoke tests).
    #[arg(long)]
    max_steps: Option<usize>,
    /// Backend to train on.
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
    /// Train data-parallel on this many devices of the backend (GPUs 0..N): each step's batch
    /// is split across them and the gradients are averaged on the first.
    #[arg(long, default_value_t = 1)]
    devices: usize,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
    /// The run's expected wall time in minutes (measure an epoch first), kept for the card.
    #[arg(long)]
    estimated_minutes: Option<f64>,
    #[command(flatten)]
    recipe: Recipe,
}

/// What both segmenters' runs share: the split and the loss.
#[derive(Args, Debug)]
struct SegmentationArgs {
    /// Share of each breed held out for validation.
    #[arg(long, default_value_t = 0.15)]
    valid_fraction: f64,
    /// Weight of the soft Dice loss added to the cross-entropy (0: cross-entropy only).
    #[arg(long, default_value_t = 1.0)]
    dice_weight: f64,
    /// Cross-entropy weight of the thin border class (pet and background weigh 1).
    #[arg(long, default_value_t = 1.0)]
    border_weight: f32,
}

#[derive(Args, Debug)]
pub(super) struct SegmenterArgs {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    segmentation: SegmentationArgs,
    /// Channels of the first encoder stage (the chapter: 64).
    #[arg(long)]
    width: Option<usize>,
    /// Encoder-to-decoder skip connections (U-Net-like); without it, the chapter's model.
    #[arg(long)]
    skips: bool,
}

#[derive(Args, Debug)]
pub(super) struct FeatureSegmenterArgs {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    segmentation: SegmentationArgs,
    #[command(flatten)]
    backbone: BackboneArgs,
    /// The decoder's channels at every stage.
    #[arg(long, default_value_t = 24)]
    width: usize,
    /// How the encoder's outputs join the decoder: concat (U-Net) or add.
    #[arg(long, default_value = "concat")]
    merge: SkipMerge,
}

/// The frozen network a head on ImageNet features reads.
#[derive(Args, Debug)]
struct BackboneArgs {
    /// Directory of the imported network (`<backbone>.json`, `.bpk` and the class index).
    #[arg(long, default_value = "www/models")]
    models: PathBuf,
    /// The imported network whose features it reads (frozen).
    #[arg(long, default_value = "imagenet")]
    backbone: String,
}

impl BackboneArgs {
    /// The network, on `device`.
    fn load(&self, device: &Device) -> Result<ImagenetModel, CliError> {
        let files = ImagenetFiles::read(&self.models, &self.backbone)
            .map_err(|e| CliError::at(&self.models, e))?;
        ImagenetModel::from_files(&files, device).map_err(|e| CliError::at(&self.models, e))
    }
}

#[derive(Args, Debug)]
pub(super) struct ClassifierArgs {
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args, Debug)]
pub(super) struct FeatureClassifierArgs {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    backbone: BackboneArgs,
    /// Units of a hidden dense layer with ReLU (chapter 8's 256); 0: the logit reads the
    /// features directly.
    #[arg(long, default_value_t = 0)]
    hidden: usize,
    /// Dropout before the logit while training.
    #[arg(long, default_value_t = 0.5)]
    dropout: f64,
}

impl CommonArgs {
    /// The session's options around `run`.
    fn fit_options(&self, run: RunConfig) -> FitOptions {
        FitOptions {
            out: self
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("runs").join(&run.model)),
            run,
            max_minutes: self.max_minutes,
            patience: self.patience,
            max_steps: self.max_steps,
            resume: self.resume,
            quiet: self.quiet,
            command: command_line(),
            estimated_minutes: self.estimated_minutes,
        }
    }

    /// The run's options from the command line, for `n_train` training and `n_validation`
    /// validation examples.
    fn run_config<M: Trainable>(
        &self,
        model_config: &impl serde::Serialize,
        loss: LossConfig,
        (n_train, n_validation): (usize, usize),
    ) -> Result<RunConfig, CliError> {
        let batch_size = self.batch_size.max(1);
        Ok(RunConfig {
            model: M::NAME.into(),
            model_config: serde_json::to_value(model_config)
                .map_err(|e| CliError::Other(e.to_string()))?,
            data: self.data.clone(),
            n_train,
            n_validation,
            epochs: self.epochs,
            batch_size,
            seed: self.seed,
            schedule: RunConfig::schedule(self.lr, &self.recipe, n_train, batch_size, self.epochs),
            recipe: self.recipe.clone(),
            loss,
            augment: self.recipe.augment(M::AUGMENT),
            backend: self.backend.name(),
            devices: self.devices,
        })
    }

    fn data_dirs(&self) -> Vec<String> {
        self.data.iter().map(|d| d.display().to_string()).collect()
    }
}

/// This process's command line as `cargo run` would be typed for it.
pub(super) fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("cargo run --release --bin train -- {}", args.join(" "))
}

pub(super) fn train_segmenter(args: SegmenterArgs) -> Result<(), CliError> {
    let mut config = SegmenterConfig::trainer_default();
    if let Some(size) = args.common.image_size {
        config.image_size = size;
    }
    if let Some(width) = args.width {
        config.width = width;
    }
    config.skips = args.skips;
    train_segmentation(
        &args.common,
        &args.segmentation,
        &config,
        config.image_size,
        |device| config.init(device),
        |model: &Segmenter, pairs, device| eval_segmenter(model, config.image_size, pairs, device),
    )
}

pub(super) fn train_feature_segmenter(args: FeatureSegmenterArgs) -> Result<(), CliError> {
    let device = args.common.backend.devices(args.common.devices)?.remove(0);
    let network = args.backbone.load(&device)?;
    let ImagenetConfig::MobileNet(mobilenet) = &network.config else {
        return Err(CliError::Input(format!(
            "--backbone {}: the segmenter decodes MobileNet's features only",
            args.backbone.backbone
        )));
    };
    let size = args.common.image_size.unwrap_or(network.input_size());
    if !size.is_multiple_of(32) {
        return Err(CliError::Input(format!(
            "--image-size {size}: the network halves the photo five times, so a multiple of 32"
        )));
    }
    let config = FeatureSegmenterConfig::new(mobilenet.pyramid_channels())
        .with_backbone(args.backbone.backbone.clone())
        .with_width(args.width)
        .with_merge(args.merge)
        .with_image_size(size);
    train_segmentation(
        &args.common,
        &args.segmentation,
        &config,
        size,
        |device| FrozenBackbone {
            backbone: network.net,
            head: config.init(device),
        },
        |model: &FrozenBackbone<FeatureSegmenter>, pairs, device| {
            let mask = FeatureMask {
                encoder: model.backbone.mobilenet().ok_or_else(|| {
                    EvalError::Unsupported("the segmenter decodes MobileNet".into())
                })?,
                decoder: &model.head,
            };
            eval_segmenter(&mask, size, pairs, device)
        },
    )
}

/// Trains a segmenter (`init` builds it on the training device) on the Oxford-IIIT Pet pairs at
/// `size` px, and ships it with `--ship` with `metrics` on the validation pairs.
fn train_segmentation<M: Trainable, C: CardConfig>(
    common: &CommonArgs,
    args: &SegmentationArgs,
    config: &C,
    size: usize,
    init: impl FnOnce(&Device) -> M,
    metrics: impl FnOnce(&M, &[TrimapPair], &Device) -> Result<SegmentationMetrics, EvalError>,
) -> Result<(), CliError> {
    let devices = common.backend.devices(common.devices)?;
    let mut pairs = Vec::new();
    for dir in &common.data {
        pairs.extend(datasets::oxford_pairs(dir)?);
    }
    let (train_pairs, valid_pairs) =
        datasets::split_by_breed(&pairs, args.valid_fraction, common.seed);
    eprintln!(
        "{}: {} pairs -> {} train / {} validation (seeded {}, stratified by breed)",
        M::NAME,
        pairs.len(),
        train_pairs.len(),
        valid_pairs.len(),
        common.seed
    );
    let train = datasets::load_segmentation(&train_pairs, size as u32);
    let valid = datasets::load_segmentation(&valid_pairs, size as u32);
    report_skipped(&train);
    report_skipped(&valid);
    let loss = LossConfig {
        dice_weight: args.dice_weight,
        class_weights: vec![1.0, 1.0, args.border_weight],
        ..LossConfig::default()
    };
    let run = common.run_config::<M>(config, loss, (train.len(), valid.len()))?;
    let options = common.fit_options(run);
    let split = Split::ByBreed {
        seed: common.seed,
        valid_fraction: args.valid_fraction,
        stratified_by: "breed".into(),
        train: train.names.clone(),
        validation: valid.names.clone(),
    };
    std::fs::create_dir_all(&options.out).map_err(|e| CliError::at(&options.out, e))?;
    write_atomic(&options.out.join("split.json"), &to_json(&split)?)?;
    let device = devices[0].clone();
    device.seed(common.seed);
    let (model, state) = fit(init(&device), &train, &valid, &options, &devices)?;
    let Some(ship) = &common.ship else {
        return Ok(());
    };
    let metrics = metrics(&model, &valid_pairs, &device)?;
    Ok(ship_model(ShipInfo {
        dir: ship,
        model,
        config,
        data: TrainingData {
            dirs: common.data_dirs(),
            sources: Vec::new(),
            photos: Some(pairs.len()),
            licence: Some("Oxford-IIIT Pet, CC BY-SA 4.0".into()),
        },
        split,
        metrics: ValidationMetrics::Segmentation(metrics),
        state,
        options: &options,
    })?)
}

pub(super) fn train_classifier(args: ClassifierArgs) -> Result<(), CliError> {
    let common = &args.common;
    let mut config = ClassifierConfig::trainer_default();
    if let Some(size) = common.image_size {
        config.image_size = size;
    }
    train_cat_vs_dog(
        common,
        config.image_size,
        &config,
        |device| config.init(device),
        eval_classifier,
    )
}

pub(super) fn train_feature_classifier(args: FeatureClassifierArgs) -> Result<(), CliError> {
    let common = &args.common;
    let device = common.backend.devices(common.devices)?.remove(0);
    let network = args.backbone.load(&device)?;
    let size = network.input_size();
    if common.image_size.is_some_and(|s| s != size) {
        return Err(CliError::Input(format!(
            "--image-size: the classifier reads {}'s features, whose input is {size} px",
            args.backbone.backbone
        )));
    }
    let config = FeatureClassifierConfig::new(network.net.pooled_width())
        .with_backbone(args.backbone.backbone.clone())
        .with_hidden(args.hidden)
        .with_dropout(args.dropout);
    let card_config = OnNetwork {
        config: &config,
        input_size: size,
    };
    train_cat_vs_dog(
        common,
        size,
        &card_config,
        |device| FrozenBackbone {
            backbone: network.net,
            head: config.init(device),
        },
        |model: &FrozenBackbone<FeatureClassifier>, valid, device| {
            eval_feature_classifier(&model.backbone, &model.head, valid, device)
        },
    )
}

/// Trains a cat-vs-dog model (`init` builds it on the training device) on the classifier's
/// data at `size` px, and ships it with `--ship` with `metrics` on the validation photos.
fn train_cat_vs_dog<M: Trainable, C: CardConfig>(
    common: &CommonArgs,
    size: usize,
    config: &C,
    init: impl FnOnce(&Device) -> M,
    metrics: impl FnOnce(&M, &Examples, &Device) -> ClassificationMetrics,
) -> Result<(), CliError> {
    let devices = common.backend.devices(common.devices)?;
    let (train, valid, sources) = datasets::load_classifier_data(&common.data, size as u32)?;
    report_skipped(&train);
    report_skipped(&valid);
    eprintln!(
        "{}: {} train / {} validation photos",
        M::NAME,
        train.len(),
        valid.len()
    );
    let loss = LossConfig {
        label_smoothing: common.recipe.label_smoothing,
        ..LossConfig::default()
    };
    let run = common.run_config::<M>(config, loss, (train.len(), valid.len()))?;
    let options = common.fit_options(run);
    let device = devices[0].clone();
    device.seed(common.seed);
    let (model, state) = fit(init(&device), &train, &valid, &options, &devices)?;
    let Some(ship) = &common.ship else {
        return Ok(());
    };
    let metrics = metrics(&model, &valid, &device);
    Ok(ship_model(ShipInfo {
        dir: ship,
        model,
        config,
        data: TrainingData {
            dirs: common.data_dirs(),
            sources: sources.clone(),
            photos: None,
            licence: None,
        },
        split: Split::BySource {
            sources,
            n_train: train.len(),
            n_validation: valid.len(),
        },
        metrics: ValidationMetrics::Classification(metrics),
        state,
        options: &options,
    })?)
}
