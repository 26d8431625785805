//! `train eval`: validation figures of weights on a data directory, through the page's own
//! inference path.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use clap::{Args, Subcommand};
use image::RgbImage;
use rayon::prelude::*;

use super::{CliError, report_skipped};
use crate::card::{ClassIou, ClassificationMetrics, GroupFigures, SegmentationMetrics};
use crate::data::datasets::{self, Examples, TrimapPair};
use crate::data::decode_photo;
use crate::explain::PetClass;
use crate::model::{
    Classifier, ClassifierConfig, ModelKind, SEGMENT_CLASSES, Segmenter, SegmenterConfig,
};
use crate::pipeline::segment_photos;
use crate::train::metrics::Confusion;
use crate::train::task::Batch;

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
            let (config, weights): (SegmenterConfig, _) =
                load_config(args.weights, ModelKind::Segmenter)?;
            let model = load_weights(config.init(&device), &weights)?;
            let pairs = datasets::oxford_pairs(&args.data)?;
            serde_json::to_string(&eval_segmenter(&model, config.image_size, &pairs, &device)?)
        }
        EvalModel::Classifier(args) => {
            let (config, weights): (ClassifierConfig, _) =
                load_config(args.weights, ModelKind::Classifier)?;
            let model = load_weights(config.init(&device), &weights)?;
            let examples = datasets::load_labelled(&args.data, config.image_size as u32)?;
            report_skipped(&examples);
            serde_json::to_string(&eval_classifier(&model, &examples, &device))
        }
    };
    println!("{}", json.map_err(|e| CliError::Other(e.to_string()))?);
    Ok(())
}

/// The weights file (default: the shipped one) and the config written beside it, which every
/// model is built from: a missing or unreadable config is an error, never a default.
fn load_config<C: burn::config::Config>(
    weights: Option<PathBuf>,
    model: ModelKind,
) -> Result<(C, PathBuf), CliError> {
    let path = weights
        .unwrap_or_else(|| PathBuf::from("www/models").join(format!("{}.bpk", model.name())));
    let config_path = path.with_extension("json");
    let config = C::load(&config_path).map_err(|e| CliError::at(&config_path, e))?;
    Ok((config, path))
}

fn load_weights<M: burn::module::Module>(model: M, path: &Path) -> Result<M, CliError> {
    let bytes = std::fs::read(path).map_err(|e| CliError::at(path, e))?;
    crate::weights::from_bytes(model, &bytes).map_err(|e| CliError::at(path, e))
}

/// The breeds most of the Oxford-IIIT Pet subset's pairs come from; segmentation figures are
/// reported for them and for all other breeds apart.
pub const MAIN_BREEDS: [&str; 3] = ["Abyssinian", "Bengal", "american_bulldog"];

/// A photo with its full-resolution ground truth.
struct EvalPhoto {
    photo: RgbImage,
    truth: Vec<u8>,
}

fn eval_photo(pair: &TrimapPair) -> Result<EvalPhoto, String> {
    let bytes = std::fs::read(&pair.image).map_err(|e| e.to_string())?;
    let photo = decode_photo(&bytes).map_err(|e| e.to_string())?;
    let truth = datasets::read_trimap(&pair.trimap, photo.dimensions())?;
    Ok(EvalPhoto { photo, truth })
}

/// Segmenter metrics at each photo's own resolution (the page's masks, compared with the
/// full-resolution trimap), over all pairs and for [`MAIN_BREEDS`] and the other breeds apart.
pub fn eval_segmenter(
    model: &Segmenter,
    size: usize,
    pairs: &[TrimapPair],
    device: &Device,
) -> Result<SegmentationMetrics, CliError> {
    let classes = SEGMENT_CLASSES.len();
    let mut groups = [Confusion::new(classes), Confusion::new(classes)]; // main breeds, others
    let mut counts = [0usize; 2];
    for chunk in pairs.chunks(16) {
        let loaded: Vec<Result<EvalPhoto, String>> = chunk.par_iter().map(eval_photo).collect();
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
        let inputs: Vec<&RgbImage> = photos.iter().map(|(_, p)| &p.photo).collect();
        let segmentations = pollster::block_on(segment_photos(model, size, &inputs, device))
            .map_err(|e| CliError::Other(e.to_string()))?;
        for ((group, photo), segmentation) in photos.iter().zip(segmentations) {
            groups[*group].add(&photo.truth, &segmentation.mask);
            counts[*group] += 1;
        }
    }
    let mut all = groups[0].clone();
    all.merge(&groups[1]);
    let figures = |confusion: &Confusion, n: usize, breeds: &[&str]| GroupFigures {
        n,
        pixel_accuracy: confusion.accuracy(),
        mean_iou: confusion.mean_iou(),
        iou: ClassIou {
            pet: confusion.iou(0),
            background: confusion.iou(1),
            border: confusion.iou(2),
        },
        breeds: breeds.iter().map(ToString::to_string).collect(),
    };
    Ok(SegmentationMetrics {
        all: figures(&all, counts[0] + counts[1], &[]),
        main_breeds: Some(figures(&groups[0], counts[0], &MAIN_BREEDS)),
        other_breeds: Some(figures(&groups[1], counts[1], &[])),
    })
}

/// Classifier accuracy and confusion (rows: truth cat/dog, columns: predicted cat/dog) with
/// the page's flip averaging, and the accuracy of the unflipped photos alone.
pub fn eval_classifier(
    model: &Classifier,
    examples: &Examples,
    device: &Device,
) -> ClassificationMetrics {
    let (mut averaged, mut single) = (Confusion::new(2), Confusion::new(2));
    let indices: Vec<usize> = (0..examples.len()).collect();
    for chunk in indices.chunks(32) {
        let batch = Batch::gather(examples, chunk, None);
        let (x, _) = batch.to_tensors(device);
        let p_single = model.p_dog(x.clone()); // [n, 1]
        let (_, p_averaged) = model.p_dog_flip_averaged(x); // [n, 1]
        for (confusion, p) in [(&mut single, p_single), (&mut averaged, p_averaged)] {
            let p = p.into_data().iter::<f32>().collect::<Vec<_>>();
            let predicted: Vec<u8> = p.iter().map(|&p| PetClass::from_p_dog(p) as u8).collect();
            confusion.add(&batch.targets, &predicted);
        }
    }
    ClassificationMetrics {
        n: examples.len(),
        accuracy: averaged.accuracy(),
        confusion: averaged.rows(),
        test_time_augmentation: "probabilities averaged over the photo and its mirror image".into(),
        accuracy_without_flip: single.accuracy(),
    }
}
