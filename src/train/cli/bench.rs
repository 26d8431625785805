//! `train bench`: training images/s and single-photo inference ms of the shipped models (built
//! from the configs shipped beside their weights) and the chapter's exact ones, on random inputs
//! (speed does not depend on the values).

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use clap::{Args, ValueEnum};
use serde::Serialize;

use super::{Backend, CliError};
use crate::imagenet::ImagenetModel;
use crate::model::{ClassifierConfig, FEATURE_SEGMENTER, FeatureSegmenterConfig, SegmenterConfig};
use crate::ops::isa::{InstructionSet, cpu_model, instruction_set};
use crate::ops::kernel_set;
use crate::shipped::ImagenetFiles;
use crate::stats::LatencySummary;
use crate::train::task::{FrozenBackbone, LossConfig, Scored};

/// A model `train bench` measures.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum BenchModel {
    /// The shipped segmenter (its config in `--shipped`).
    Segmenter,
    /// The shipped classifier (its config in `--shipped`).
    Classifier,
    /// The shipped segmenter on ImageNet features (its config and the network it reads in
    /// `--shipped`): the frozen network and the decoder, trained and run as they are.
    FeatureSegmenter,
    /// The shipped ImageNet network (MobileNet v1 from Keras, its weights in `--shipped`),
    /// trained whole from its weights on 1000 classes and run as the page runs it: the network
    /// the feature classifier and segmenter train on.
    Imagenet,
    /// The chapter's segmenter at 160 px.
    #[value(name = "seed_segmenter_160")]
    #[serde(rename = "seed_segmenter_160")]
    SeedSegmenter160,
    /// The chapter's segmenter at 200 px.
    #[value(name = "seed_segmenter_200")]
    #[serde(rename = "seed_segmenter_200")]
    SeedSegmenter200,
    /// The chapter's Xception-like classifier at 180 px.
    #[value(name = "seed_xception_like_180")]
    #[serde(rename = "seed_xception_like_180")]
    SeedXceptionLike180,
}

#[derive(Args, Debug)]
pub(super) struct BenchArgs {
    /// Photos per training step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Timed training steps per model (after one warm-up step); 0 measures inference only.
    #[arg(long, default_value_t = 3)]
    steps: usize,
    /// Timed single-photo inference runs per model (after one warm-up run), of which the
    /// median is reported: a burst of the host's noise moves a mean, not a median.
    #[arg(long, default_value_t = 5)]
    infer_runs: usize,
    /// Backend to measure.
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
    /// Where the shipped models' configs are (`segmenter`, `classifier` and
    /// `feature-segmenter` time those).
    #[arg(long, default_value = "www/models")]
    shipped: PathBuf,
    /// Models to measure (comma separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "segmenter,classifier,seed_segmenter_160,seed_segmenter_200,seed_xception_like_180"
    )]
    models: Vec<BenchModel>,
}

/// One model's figures, printed as one JSON line: with the CPU they were measured on and the
/// instruction set the kernels ran with (a ratio holds only for that CPU).
#[derive(Debug, Serialize)]
struct BenchFigures {
    model: BenchModel,
    /// The architecture in words (from the config measured).
    architecture: String,
    image_size: usize,
    batch: usize,
    backend: String,
    cpu: String,
    instruction_set: InstructionSet,
    /// The matrix products' micro-kernels (the faster of AVX-512's and AVX2's on AVX-512 CPUs).
    gemm_kernels: InstructionSet,
    optimizer: &'static str,
    /// `None` with `--steps 0`.
    train_images_per_s: Option<f64>,
    infer_ms: f64,
}

/// A shipped model's config, read from the file beside its weights.
fn shipped_config<C: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> Result<C, CliError> {
    let path = dir.join(name);
    let bytes = std::fs::read(&path).map_err(|e| CliError::at(&path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| CliError::at(&path, e))
}

pub(super) fn run(args: &BenchArgs) -> Result<(), CliError> {
    let device = args.backend.devices(1)?.remove(0);
    for &model in &args.models {
        let segmenter = |c: SegmenterConfig| {
            let timing = measure(c.init(&device), c.image_size, args, &device);
            (c.describe(), c.image_size, timing)
        };
        let classifier = |c: ClassifierConfig| {
            let timing = measure(c.init(&device), c.image_size, args, &device);
            (c.describe(), c.image_size, timing)
        };
        let (architecture, image_size, timing) = match model {
            BenchModel::Segmenter => segmenter(shipped_config(&args.shipped, "segmenter.json")?),
            BenchModel::Classifier => classifier(shipped_config(&args.shipped, "classifier.json")?),
            BenchModel::FeatureSegmenter => {
                let c: FeatureSegmenterConfig =
                    shipped_config(&args.shipped, &format!("{FEATURE_SEGMENTER}.json"))?;
                let files = ImagenetFiles::read(&args.shipped, &c.backbone)
                    .map_err(|e| CliError::at(&args.shipped, e))?;
                let network = ImagenetModel::from_files(&files, &device)
                    .map_err(|e| CliError::at(&args.shipped, e))?;
                let model = FrozenBackbone {
                    backbone: network.net,
                    head: c.init(&device),
                };
                let timing = measure(model, c.image_size, args, &device);
                (c.describe(), c.image_size, timing)
            }
            BenchModel::Imagenet => {
                let files = ImagenetFiles::read(&args.shipped, "imagenet")
                    .map_err(|e| CliError::at(&args.shipped, e))?;
                let network = ImagenetModel::from_files(&files, &device)
                    .map_err(|e| CliError::at(&args.shipped, e))?;
                let Some(mobilenet) = network.net.mobilenet().cloned() else {
                    return Err(CliError::Other(
                        "the shipped ImageNet network is not MobileNet".into(),
                    ));
                };
                let size = network.input_size();
                let timing = measure(mobilenet, size, args, &device);
                (network.config.describe(), size, timing)
            }
            BenchModel::SeedSegmenter160 => segmenter(SegmenterConfig::new().with_image_size(160)),
            BenchModel::SeedSegmenter200 => segmenter(SegmenterConfig::new().with_image_size(200)),
            BenchModel::SeedXceptionLike180 => {
                classifier(ClassifierConfig::new().with_image_size(180))
            }
        };
        let figures = BenchFigures {
            model,
            architecture,
            image_size,
            batch: args.batch_size,
            backend: args.backend.name(),
            cpu: cpu_model(),
            instruction_set: instruction_set(),
            gemm_kernels: kernel_set(),
            optimizer: "rmsprop",
            train_images_per_s: timing.train_images_per_s,
            infer_ms: timing.infer_ms,
        };
        print_json(&figures)?;
    }
    // The ceiling of the convolutions' matrix products, as bench/keras_reference.py prints
    // numpy's (only meaningful for the CPU backend).
    // Every kernel set's GFLOP/s: the measurement behind the (fixed, per CPU) choice.
    let per_set: serde_json::Map<String, serde_json::Value> =
        crate::ops::kernel_set_gflops(2048, 3)
            .into_iter()
            .map(|(set, gflops)| (set.name().to_string(), gflops.into()))
            .collect();
    print_json(&serde_json::json!({
        "matmul_peak_gflops": crate::ops::matmul_peak_gflops(2048, 5),
        "gemm_gflops_per_kernel_set": per_set,
        "instruction_set": instruction_set(),
        "gemm_kernels": kernel_set(),
        "threads": rayon::current_num_threads(),
    }))
}

fn print_json(value: &impl Serialize) -> Result<(), CliError> {
    let line = serde_json::to_string(value).map_err(|e| CliError::Other(e.to_string()))?;
    println!("{line}");
    Ok(())
}

/// What one model measured.
struct Timing {
    train_images_per_s: Option<f64>,
    infer_ms: f64,
}

/// Training images/s over `args.steps` steps after a warm-up step, and the median single-photo
/// inference ms.
/// RMSprop with Keras's defaults (rho 0.9, no momentum, epsilon 1e-7), as the chapter trains.
fn measure<M: Scored>(model: M, size: usize, args: &BenchArgs, device: &Device) -> Timing {
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
        let targets = if M::PER_PIXEL { n * size * size } else { n };
        (x, Tensor::<1, Int>::zeros([targets], dev))
    };
    let mut timed = 0.0;
    let training_steps = if args.steps == 0 { 0 } else { args.steps + 1 };
    for step in 0..training_steps {
        let (x, y) = batch(&train_device, n);
        let start = Instant::now();
        let (loss, _) = model.loss_and_predictions(x, y, &LossConfig::default());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
        let _: f32 = loss.inner().into_scalar();
        if step > 0 {
            timed += start.elapsed().as_secs_f64();
        }
    }
    let valid = model.valid();
    let (x, y) = batch(device, 1);
    let infer = || {
        valid
            .loss_and_predictions(x.clone(), y.clone(), &LossConfig::default())
            .1
            .into_data()
    };
    infer(); // warm-up
    let runs: Vec<f64> = (0..args.infer_runs.max(1))
        .map(|_| {
            let start = Instant::now();
            infer();
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    Timing {
        train_images_per_s: (args.steps > 0).then(|| (n * args.steps) as f64 / timed.max(1e-9)),
        infer_ms: LatencySummary::of(&runs).median_ms,
    }
}
