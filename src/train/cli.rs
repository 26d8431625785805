//! The `train` command line: train either model, evaluate weights, benchmark.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use burn::prelude::*;
use clap::{Args, Parser, Subcommand, ValueEnum};
use image::RgbImage;
use rayon::prelude::*;
use serde_json::{Value, json};

use super::fit::{FitError, FitOptions, RunConfig, RunState, fit, json as to_json, write_atomic};
use super::metrics::Confusion;
use super::recipe::Recipe;
use super::task::{LossConfig, Trainable};
use crate::data::datasets::{self, DataError, Examples, TrimapPair};
use crate::data::{class_map_at, decode_photo, images_to_tensor, resize_for_model};
use crate::explain::PetClass;
use crate::model::{Classifier, ClassifierConfig, Segmenter, SegmenterConfig};

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
    Segmenter(SegmenterArgs),
    /// Train the cat-vs-dog classifier on directories with train/{cat,dog} and
    /// validation/{cat,dog}, plain {cat,dog}/ folders, or Oxford-IIIT Pet images/.
    Classifier(ClassifierArgs),
    /// Evaluate weights; the last line printed is one JSON object.
    Eval {
        #[command(subcommand)]
        model: EvalModel,
    },
    /// Training images/s and single-photo inference ms per model, one JSON line each.
    Bench(BenchArgs),
    /// Write the interpretability views for one photo as PNG files: activation grids of every
    /// layer, filter patterns, Grad-CAM overlays (the page's code, with the shipped weights).
    Explain(ExplainArgs),
    /// Draw a run's history.json (loss, accuracy, IoU per epoch) as a PNG.
    Curves(CurvesArgs),
}

#[derive(Args, Debug)]
struct ExplainArgs {
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
}

#[derive(Args, Debug)]
struct CurvesArgs {
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

#[derive(Subcommand, Debug)]
enum EvalModel {
    /// Pixel accuracy and IoU at the photos' own resolution on an Oxford-IIIT Pet layout directory.
    Segmenter(EvalArgs),
    /// Accuracy and confusion matrix on a directory with cat/ and dog/ subfolders.
    Classifier(EvalArgs),
}

#[derive(Args, Debug)]
struct EvalArgs {
    /// Data directory.
    #[arg(long)]
    data: PathBuf,
    /// Weights file (default: the shipped ones in www/models/).
    #[arg(long)]
    weights: Option<PathBuf>,
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

#[derive(Args, Debug)]
struct SegmenterArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Channels of the first encoder stage (the chapter: 64).
    #[arg(long)]
    width: Option<usize>,
    /// Encoder-to-decoder skip connections (U-Net-like); without it, the chapter's model.
    #[arg(long)]
    skips: bool,
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
struct ClassifierArgs {
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Photos per training step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Timed training steps per model (after one warm-up step).
    #[arg(long, default_value_t = 3)]
    steps: usize,
    /// Backend to measure.
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
    /// Models to measure (comma separated): segmenter, classifier, seed_segmenter_160,
    /// seed_segmenter_200, seed_xception_like_180 (the chapter's exact architectures).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "segmenter,classifier,seed_segmenter_160,seed_segmenter_200,seed_xception_like_180"
    )]
    models: Vec<String>,
}

/// A failure, with the process exit code it maps to (2: bad input, 1: anything else).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Fit(#[from] FitError),
    #[error("{0}")]
    Other(String),
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
                | CliError::Fit(FitError::EmptySplit(_) | FitError::ResumeMismatch { .. }) => {
                    ExitCode::from(2)
                }
                _ => ExitCode::FAILURE,
            }
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Segmenter(args) => train_segmenter(args),
        Command::Classifier(args) => train_classifier(args),
        Command::Eval {
            model: EvalModel::Segmenter(args),
        } => {
            let (config, path) =
                load_sidecar(args.weights, "segmenter", SegmenterConfig::shipped())?;
            let model = load_weights(config.init(&Device::flex()), &path)?;
            let pairs = datasets::oxford_pairs(&args.data)?;
            println!(
                "{}",
                eval_segmenter(&model, config.image_size, &pairs, &Device::flex())
            );
            Ok(())
        }
        Command::Eval {
            model: EvalModel::Classifier(args),
        } => {
            let (config, path) =
                load_sidecar(args.weights, "classifier", ClassifierConfig::shipped())?;
            let model = load_weights(config.init(&Device::flex()), &path)?;
            let examples = datasets::load_labelled(&args.data, config.image_size as u32)?;
            report_skipped(&examples);
            println!("{}", eval_classifier(&model, &examples, &Device::flex()));
            Ok(())
        }
        Command::Bench(args) => bench(&args),
        Command::Curves(args) => curves(&args),
        Command::Explain(args) => {
            let pipeline = shipped_pipeline(Path::new("www/models"))?;
            let summary = super::explain::explain(
                &pipeline,
                &super::explain::ExplainRequest {
                    photo: &args.photo,
                    out: &args.out,
                    filter_layers: &args.filter_layers,
                    filters: args.filters,
                },
            )
            .map_err(CliError::Other)?;
            eprintln!("wrote {} ({})", args.out.display(), summary["label"]);
            Ok(())
        }
    }
}

fn curves(args: &CurvesArgs) -> Result<(), CliError> {
    let bytes = std::fs::read(&args.history)
        .map_err(|e| CliError::Other(format!("{}: {e}", args.history.display())))?;
    let history: Vec<super::metrics::EpochRecord> = serde_json::from_slice(&bytes)
        .map_err(|e| CliError::Other(format!("{}: {e}", args.history.display())))?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.history.with_extension("png"));
    super::curves::write_curves(&history, &args.title, &out)
        .map_err(|e| CliError::Other(e.to_string()))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

fn report_skipped(examples: &Examples) {
    for (path, why) in &examples.skipped {
        eprintln!("warning: skipped {}: {why}", path.display());
    }
    if !examples.skipped.is_empty() {
        eprintln!("warning: {} file(s) skipped", examples.skipped.len());
    }
}

/// The session's options around `run`.
fn fit_options(common: &CommonArgs, run: RunConfig) -> FitOptions {
    FitOptions {
        out: common
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("runs").join(&run.model)),
        run,
        max_minutes: common.max_minutes,
        patience: common.patience,
        max_steps: common.max_steps,
        resume: common.resume,
        quiet: common.quiet,
        command: command_line(),
        estimated_minutes: common.estimated_minutes,
    }
}

/// This process's command line as `cargo run` would be typed for it.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("cargo run --release --bin train -- {}", args.join(" "))
}

/// The run's options from the command line, for `n_train` training and `n_validation`
/// validation examples.
fn run_config<M: Trainable>(
    common: &CommonArgs,
    model_config: &impl serde::Serialize,
    loss: LossConfig,
    (n_train, n_validation): (usize, usize),
) -> Result<RunConfig, CliError> {
    let batch_size = common.batch_size.max(1);
    Ok(RunConfig {
        model: M::NAME.into(),
        model_config: serde_json::to_value(model_config)
            .map_err(|e| CliError::Other(e.to_string()))?,
        data: common.data.clone(),
        n_train,
        n_validation,
        epochs: common.epochs,
        batch_size,
        seed: common.seed,
        schedule: RunConfig::schedule(
            common.lr,
            &common.recipe,
            n_train,
            batch_size,
            common.epochs,
        ),
        recipe: common.recipe.clone(),
        loss,
        augment: common.recipe.augment(M::AUGMENT),
        backend: common.backend.name(),
        devices: common.devices,
    })
}

/// The breeds most of the Oxford-IIIT Pet subset's pairs come from; segmentation figures are
/// reported for them and for all other breeds apart.
pub const MAIN_BREEDS: [&str; 3] = ["Abyssinian", "Bengal", "american_bulldog"];

fn train_segmenter(args: SegmenterArgs) -> Result<(), CliError> {
    let common = &args.common;
    let devices = common.backend.devices(common.devices)?;
    let mut config = SegmenterConfig::shipped();
    if let Some(size) = common.image_size {
        config.image_size = size;
    }
    if let Some(width) = args.width {
        config.width = width;
    }
    config.skips = args.skips;
    let mut pairs = Vec::new();
    for dir in &common.data {
        pairs.extend(datasets::oxford_pairs(dir)?);
    }
    let (train_pairs, valid_pairs) =
        datasets::split_by_breed(&pairs, args.valid_fraction, common.seed);
    eprintln!(
        "segmenter: {} pairs -> {} train / {} validation (seeded {}, stratified by breed)",
        pairs.len(),
        train_pairs.len(),
        valid_pairs.len(),
        common.seed
    );
    let size = config.image_size as u32;
    let train = datasets::load_segmentation(&train_pairs, size);
    let valid = datasets::load_segmentation(&valid_pairs, size);
    report_skipped(&train);
    report_skipped(&valid);
    let loss = LossConfig {
        dice_weight: args.dice_weight,
        class_weights: vec![1.0, 1.0, args.border_weight],
        ..LossConfig::default()
    };
    let run = run_config::<Segmenter>(common, &config, loss, (train.len(), valid.len()))?;
    let options = fit_options(common, run);
    let split = json!({
        "seed": common.seed,
        "valid_fraction": args.valid_fraction,
        "stratified_by": "breed",
        "train": train.names,
        "validation": valid.names,
    });
    std::fs::create_dir_all(&options.out)
        .map_err(|e| CliError::Other(format!("{}: {e}", options.out.display())))?;
    write_atomic(&options.out.join("split.json"), &to_json(&split)?)?;
    let device = devices[0].clone();
    device.seed(common.seed);
    let (model, state) = fit(config.init(&device), &train, &valid, &options, &devices)?;
    if let Some(ship) = &common.ship {
        let metrics = eval_segmenter(&model, config.image_size, &valid_pairs, &device);
        ship_model(ShipInfo {
            dir: ship,
            model,
            config: serde_json::to_value(&config).map_err(|e| CliError::Other(e.to_string()))?,
            architecture: format!(
                "{}: 6 stride-2/1 conv-BN-ReLU encoder units, 6 transposed-conv-BN-ReLU decoder units, width {}{}",
                if config.skips {
                    "U-Net-like segmenter after chapter 9"
                } else {
                    "chapter 9 segmenter"
                },
                config.width,
                if config.skips {
                    ", encoder outputs at 1/4 and 1/2 size added to the decoder's (skip connections)"
                } else {
                    ""
                }
            ),
            data: json!({"dirs": common.data, "photos": pairs.len(), "licence": "Oxford-IIIT Pet, CC BY-SA 4.0"}),
            split,
            metrics,
            state,
            options: &options,
        })?;
    }
    Ok(())
}

fn train_classifier(args: ClassifierArgs) -> Result<(), CliError> {
    let common = &args.common;
    let devices = common.backend.devices(common.devices)?;
    let mut config = ClassifierConfig::shipped();
    if let Some(size) = common.image_size {
        config.image_size = size;
    }
    let (train, valid, sources) =
        datasets::load_classifier_data(&common.data, config.image_size as u32)?;
    report_skipped(&train);
    report_skipped(&valid);
    eprintln!(
        "classifier: {} train / {} validation photos",
        train.len(),
        valid.len()
    );
    let loss = LossConfig {
        label_smoothing: common.recipe.label_smoothing,
        ..LossConfig::default()
    };
    let run = run_config::<Classifier>(common, &config, loss, (train.len(), valid.len()))?;
    let options = fit_options(common, run);
    let split = json!({"sources": sources, "n_train": train.len(), "n_validation": valid.len()});
    let device = devices[0].clone();
    device.seed(common.seed);
    let (model, state) = fit(config.init(&device), &train, &valid, &options, &devices)?;
    if let Some(ship) = &common.ship {
        let metrics = eval_classifier(&model, &valid, &device);
        ship_model(ShipInfo {
            dir: ship,
            model,
            config: serde_json::to_value(&config).map_err(|e| CliError::Other(e.to_string()))?,
            architecture: format!(
                "chapter 9 Xception-like: 5x5 conv, residual blocks of BN-ReLU-SeparableConv2d x2 + max pooling ({}), GAP, dropout {}, dense; flip-averaged at test time",
                config
                    .block_channels
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("-"),
                config.dropout
            ),
            data: json!({"dirs": common.data, "sources": sources}),
            split,
            metrics,
            state,
            options: &options,
        })?;
    }
    Ok(())
}

/// What goes into `www/models/` for one model.
struct ShipInfo<'a, M> {
    dir: &'a Path,
    model: M,
    config: Value,
    architecture: String,
    data: Value,
    split: Value,
    metrics: Value,
    state: RunState,
    options: &'a FitOptions,
}

/// Writes `<name>.bpk` (f16), `<name>.json` (its config), `<name>.history.json` and the
/// model's entry in `card.json`.
fn ship_model<M: Trainable>(info: ShipInfo<'_, M>) -> Result<(), CliError> {
    let name = M::NAME;
    let run = &info.options.run;
    std::fs::create_dir_all(info.dir)
        .map_err(|e| CliError::Other(format!("{}: {e}", info.dir.display())))?;
    let parameters = info.model.num_params();
    let bytes =
        crate::weights::to_bytes(info.model, true).map_err(|e| CliError::Other(e.to_string()))?;
    write_atomic(&info.dir.join(format!("{name}.bpk")), &bytes)?;
    write_atomic(
        &info.dir.join(format!("{name}.json")),
        &to_json(&info.config)?,
    )?;
    write_atomic(
        &info.dir.join(format!("{name}.history.json")),
        &to_json(&info.state.history)?,
    )?;
    let curves = info.dir.join(format!("{name}.curves.png"));
    super::curves::write_curves(&info.state.history, name, &curves)
        .map_err(|e| CliError::Other(e.to_string()))?;
    let card_path = info.dir.join("card.json");
    let mut card: Value = std::fs::read(&card_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| json!({}));
    card[name] = json!({
        "architecture": info.architecture,
        "parameters": parameters,
        "config": info.config,
        "input_size": info.config["image_size"],
        "data": info.data,
        "split": info.split,
        "epochs": info.state.epochs_done,
        "planned_epochs": run.epochs,
        "best_epoch": info.state.best_epoch,
        "wall_seconds": info.state.wall_seconds.round(),
        "backend": run.backend,
        "devices": run.devices,
        "optimizer": run.recipe.optimizer_summary(&run.schedule, run.batch_size),
        "recipe": {
            "recipe": run.recipe,
            "schedule": run.schedule,
            "loss": run.loss,
            "augment": run.augment,
            "weights": if run.recipe.ema_decay > 0.0 { format!("exponential moving average (decay {})", run.recipe.ema_decay) } else { "last step's".into() },
        },
        "validation_metrics": info.metrics,
        "weights": format!("{name}.bpk"),
        "weights_bytes": bytes.len(),
        "dtype": "f16",
        "history": format!("{name}.history.json"),
        "curves": format!("{name}.curves.png"),
        "estimated_minutes": info.state.estimated_minutes,
        "command": info.state.commands.first(),
        "commands": info.state.commands,
    });
    write_atomic(&card_path, &to_json(&card)?)?;
    eprintln!(
        "shipped {name}: {} ({} bytes) in {}",
        parameters,
        bytes.len(),
        info.dir.display()
    );
    Ok(())
}

/// The config written next to a weights file (`x.bpk` -> `x.json`), or the shipped one.
fn load_sidecar<C: burn::config::Config>(
    weights: Option<PathBuf>,
    name: &str,
    shipped: C,
) -> Result<(C, PathBuf), CliError> {
    let path = weights.unwrap_or_else(|| PathBuf::from("www/models").join(format!("{name}.bpk")));
    let sidecar = path.with_extension("json");
    let config = if sidecar.is_file() {
        C::load(&sidecar).map_err(|e| CliError::Other(format!("{}: {e}", sidecar.display())))?
    } else {
        shipped
    };
    Ok((config, path))
}

/// The pipeline of the models shipped in `dir`, each built from its own config file.
fn shipped_pipeline(dir: &Path) -> Result<crate::pipeline::Pipeline, CliError> {
    use crate::pipeline::{Pipeline, ShippedFiles};
    let files = ShippedFiles::read(dir).map_err(|e| CliError::Other(e.to_string()))?;
    Pipeline::from_shipped(&files, &Device::flex()).map_err(|e| CliError::Other(e.to_string()))
}

fn read_file(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::Other(format!("{}: {e}", path.display())))
}

fn load_weights<M: burn::module::Module>(model: M, path: &Path) -> Result<M, CliError> {
    let bytes = read_file(path)?;
    crate::weights::from_bytes(model, &bytes)
        .map_err(|e| CliError::Other(format!("{}: {e}", path.display())))
}

/// A photo ready for the segmenter with its full-resolution ground truth.
struct EvalPhoto {
    input: RgbImage,
    truth: Vec<u8>,
    width: usize,
    height: usize,
}

fn eval_photo(pair: &TrimapPair, size: usize) -> Result<EvalPhoto, String> {
    let bytes = std::fs::read(&pair.image).map_err(|e| e.to_string())?;
    let photo = decode_photo(&bytes).map_err(|e| e.to_string())?;
    let truth = datasets::read_trimap(&pair.trimap, photo.dimensions())?;
    Ok(EvalPhoto {
        input: resize_for_model(&photo, size as u32),
        truth,
        width: photo.width() as usize,
        height: photo.height() as usize,
    })
}

/// Segmenter metrics at each photo's own resolution (the prediction upsampled to the photo and
/// compared with the full-resolution trimap), over all pairs and for [`MAIN_BREEDS`] and the
/// other breeds apart.
pub fn eval_segmenter(
    model: &Segmenter,
    size: usize,
    pairs: &[TrimapPair],
    device: &Device,
) -> Value {
    let mut groups = [Confusion::new(3), Confusion::new(3)]; // main breeds, others
    let mut counts = [0usize; 2];
    for chunk in pairs.chunks(16) {
        let loaded: Vec<Result<EvalPhoto, String>> = chunk
            .par_iter()
            .map(|pair| eval_photo(pair, size))
            .collect();
        let mut photos = Vec::new();
        for (pair, item) in chunk.iter().zip(loaded) {
            match item {
                Ok(photo) => {
                    photos.push((usize::from(!MAIN_BREEDS.contains(&pair.breed())), photo))
                }
                Err(why) => eprintln!("warning: skipped {}: {why}", pair.name),
            }
        }
        if photos.is_empty() {
            continue;
        }
        let inputs: Vec<&RgbImage> = photos.iter().map(|(_, p)| &p.input).collect();
        let probabilities = model.probabilities(images_to_tensor(&inputs, device)); // [n, 3, s, s]
        let values: Vec<f32> = probabilities.into_data().try_to_vec().unwrap_or_default();
        let plane = size * size;
        for (k, (group, photo)) in photos.iter().enumerate() {
            let planes: Vec<Vec<f32>> = (0..3)
                .map(|c| values[(k * 3 + c) * plane..][..plane].to_vec())
                .collect();
            groups[*group].add(
                &photo.truth,
                &class_map_at(&planes, size, photo.width, photo.height),
            );
            counts[*group] += 1;
        }
    }
    let mut all = groups[0].clone();
    all.merge(&groups[1]);
    let mut report = segmentation_figures(&all, counts[0] + counts[1]);
    report["main_breeds"] = segmentation_figures(&groups[0], counts[0]);
    report["main_breeds"]["breeds"] = json!(MAIN_BREEDS);
    report["other_breeds"] = segmentation_figures(&groups[1], counts[1]);
    report
}

fn segmentation_figures(confusion: &Confusion, n: usize) -> Value {
    json!({
        "n": n,
        "pixel_accuracy": confusion.accuracy(),
        "mean_iou": confusion.mean_iou(),
        "iou": {"pet": confusion.iou(0), "background": confusion.iou(1), "border": confusion.iou(2)},
    })
}

/// Classifier accuracy and confusion (rows: truth cat/dog, columns: predicted cat/dog) with
/// the page's flip averaging, and the accuracy of the unflipped photos alone.
pub fn eval_classifier(model: &Classifier, examples: &Examples, device: &Device) -> Value {
    let (mut averaged, mut single) = (Confusion::new(2), Confusion::new(2));
    let indices: Vec<usize> = (0..examples.len()).collect();
    for chunk in indices.chunks(32) {
        let batch = super::task::Batch::gather(examples, chunk, None);
        let (x, _) = batch.to_tensors(device);
        let p_single = model.p_dog(x.clone()); // [n, 1]
        let (_, p_averaged) = model.p_dog_flip_averaged(x); // [n, 1]
        for (confusion, p) in [(&mut single, p_single), (&mut averaged, p_averaged)] {
            let p: Vec<f32> = p.into_data().try_to_vec().unwrap_or_default();
            let predicted: Vec<u8> = p.iter().map(|&p| PetClass::from_p_dog(p) as u8).collect();
            confusion.add(&batch.targets, &predicted);
        }
    }
    json!({"n": examples.len(), "accuracy": averaged.accuracy(), "confusion": averaged.rows(),
           "test_time_augmentation": "probabilities averaged over the photo and its mirror image",
           "accuracy_without_flip": single.accuracy()})
}

/// The models `train bench` measures: the shipped ones and the chapter's exact ones.
const BENCH_MODELS: [&str; 5] = [
    "segmenter",
    "classifier",
    "seed_segmenter_160",
    "seed_segmenter_200",
    "seed_xception_like_180",
];

fn bench(args: &BenchArgs) -> Result<(), CliError> {
    let device = args.backend.devices(1)?.remove(0);
    let backend = args.backend.name();
    for name in &args.models {
        let figure = match name.as_str() {
            "segmenter" => {
                let c = SegmenterConfig::shipped();
                bench_model(c.init(&device), c.image_size, args, &device)
            }
            "classifier" => {
                let c = ClassifierConfig::shipped();
                bench_model(c.init(&device), c.image_size, args, &device)
            }
            "seed_segmenter_160" | "seed_segmenter_200" => {
                let size = if name.ends_with("160") { 160 } else { 200 };
                let c = SegmenterConfig::new().with_image_size(size);
                bench_model(c.init(&device), size, args, &device)
            }
            "seed_xception_like_180" => {
                let c = ClassifierConfig::new().with_image_size(180);
                bench_model(c.init(&device), 180, args, &device)
            }
            other => {
                return Err(CliError::Other(format!(
                    "unknown model {other}; choose from {}",
                    BENCH_MODELS.join(", ")
                )));
            }
        };
        println!(
            "{}",
            json!({"model": name, "image_size": figure.0, "batch": args.batch_size, "backend": backend,
                   "optimizer": "rmsprop", "train_images_per_s": figure.1, "infer_ms": figure.2})
        );
    }
    Ok(())
}

/// Training images/s over `args.steps` steps after a warm-up step, and single-photo inference ms.
/// RMSprop with Keras's defaults (rho 0.9, no momentum, epsilon 1e-7), as the chapter trains.
fn bench_model<M: Trainable>(
    model: M,
    size: usize,
    args: &BenchArgs,
    device: &Device,
) -> (usize, f64, f64) {
    use burn::optim::{GradientsParams, RmsPropConfig};
    let train_device = device.clone().autodiff();
    let mut model = model.fork(&train_device).train();
    let mut optim = RmsPropConfig::new()
        .with_alpha(0.9)
        .with_momentum(0.0)
        .with_epsilon(1e-7)
        .init();
    let n = args.batch_size.max(1);
    let batch = |dev: &Device, n: usize| {
        let x = Tensor::<4>::random(
            [n, 3, size, size],
            burn::tensor::Distribution::Uniform(0.0, 1.0),
            dev,
        );
        let targets = if M::CLASSES == 2 { n } else { n * size * size };
        (x, Tensor::<1, Int>::zeros([targets], dev))
    };
    let mut timed = 0.0;
    for step in 0..=args.steps {
        let (x, y) = batch(&train_device, n);
        let start = Instant::now();
        let (loss, _) = model.loss_and_predictions(x, y, &LossConfig::default());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
        let _ = model.num_params();
        let _: f32 = loss.inner().into_scalar();
        if step > 0 {
            timed += start.elapsed().as_secs_f64();
        }
    }
    let valid = model.valid();
    let (x, y) = batch(device, 1);
    let _ = valid
        .loss_and_predictions(x.clone(), y.clone(), &LossConfig::default())
        .1
        .into_data();
    let start = Instant::now();
    let runs = 5;
    for _ in 0..runs {
        let _ = valid
            .loss_and_predictions(x.clone(), y.clone(), &LossConfig::default())
            .1
            .into_data();
    }
    let infer_ms = start.elapsed().as_secs_f64() * 1000.0 / runs as f64;
    (size, (n * args.steps) as f64 / timed.max(1e-9), infer_ms)
}
