//! Validation figures of weights on a data directory, through the page's own inference path
//! (`train eval`, and the trainer at the end of a run).

use std::path::{Path, PathBuf};

use burn::prelude::*;
use image::RgbImage;
use rayon::prelude::*;

use crate::card::{ClassIou, ClassificationMetrics, GroupFigures, SegmentationMetrics};
use crate::data::datasets::{self, Examples, TrimapPair};
use crate::data::decode_photo;
use crate::explain::PetClass;
use crate::imagenet::{ImagenetModel, ImagenetNet, MaskHead};
use crate::model::{
    Classifier, FEATURE_CLASSIFIER, FEATURE_SEGMENTER, FeatureClassifier, FeatureClassifierConfig,
    FeatureSegmenterConfig, ModelKind, SEGMENT_CLASSES,
};
use crate::readback::ReadbackError;
use crate::segmentation::{MaskModel, segment_photos};
use crate::shipped::ImagenetFiles;
use crate::train::metrics::Confusion;
use crate::train::task::Batch;

/// Why weights could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: {why}")]
    File { path: PathBuf, why: String },
    #[error(transparent)]
    Readback(#[from] ReadbackError),
    /// A model on a network it cannot read (a segmenter on Xception's features).
    #[error("{0}")]
    Unsupported(String),
}

impl EvalError {
    fn at(path: &Path, why: impl std::fmt::Display) -> Self {
        EvalError::File {
            path: path.to_path_buf(),
            why: why.to_string(),
        }
    }
}

/// A model built from the config written beside its weights (`x.bpk` -> `x.json`; default: the
/// shipped `www/models/<model>.bpk`) with those weights loaded: a missing or unreadable config is
/// an error, never a default.
pub fn load_model<C: burn::config::Config, M: burn::module::Module>(
    weights: Option<PathBuf>,
    model: ModelKind,
    init: impl FnOnce(&C) -> M,
) -> Result<(C, M), EvalError> {
    let path = weights
        .unwrap_or_else(|| PathBuf::from("www/models").join(format!("{}.bpk", model.name())));
    let config_path = path.with_extension("json");
    let config = C::load(&config_path).map_err(|e| EvalError::at(&config_path, e))?;
    let bytes = std::fs::read(&path).map_err(|e| EvalError::at(&path, e))?;
    let module =
        crate::weights::from_bytes(init(&config), &bytes).map_err(|e| EvalError::at(&path, e))?;
    Ok((config, module))
}

/// A classifier on the ImageNet network's features from its weights file (default: the shipped
/// one in `models`) and the config beside it, with the network its config names, read from
/// `models` (`www/models`).
pub fn load_feature_classifier(
    weights: Option<PathBuf>,
    models: &Path,
    device: &Device,
) -> Result<(ImagenetModel, FeatureClassifier), EvalError> {
    let path = weights.unwrap_or_else(|| shipped_head(models, FEATURE_CLASSIFIER));
    let (config, weights): (FeatureClassifierConfig, _) = read_head(&path)?;
    let mut network = load_network(models, &config.backbone, device)?
        .with_verdict(&config.backbone, &config, &weights, device)
        .map_err(|e| EvalError::at(&path, e))?;
    let head = network
        .verdict
        .take()
        .expect("with_verdict adds the classifier or refuses");
    Ok((network, head))
}

/// The segmenter on the ImageNet network's features, the same way.
pub fn load_feature_segmenter(
    weights: Option<PathBuf>,
    models: &Path,
    device: &Device,
) -> Result<(ImagenetModel, MaskHead), EvalError> {
    let path = weights.unwrap_or_else(|| shipped_head(models, FEATURE_SEGMENTER));
    let (config, weights): (FeatureSegmenterConfig, _) = read_head(&path)?;
    let mut network = load_network(models, &config.backbone, device)?
        .with_mask(&config.backbone, &config, &weights, device)
        .map_err(|e| EvalError::at(&path, e))?;
    let head = network
        .mask
        .take()
        .expect("with_mask adds the segmenter or refuses");
    Ok((network, head))
}

/// A head's config (beside its weights, `x.bpk` -> `x.json`) and weights.
fn read_head<C: burn::config::Config>(path: &Path) -> Result<(C, Vec<u8>), EvalError> {
    let config_path = path.with_extension("json");
    let config = C::load(&config_path).map_err(|e| EvalError::at(&config_path, e))?;
    let weights = std::fs::read(path).map_err(|e| EvalError::at(path, e))?;
    Ok((config, weights))
}

/// The imported network `network` from `models`.
fn load_network(models: &Path, network: &str, device: &Device) -> Result<ImagenetModel, EvalError> {
    let files = ImagenetFiles::read(models, network).map_err(|e| EvalError::at(models, e))?;
    ImagenetModel::from_files(&files, device).map_err(|e| EvalError::at(models, e))
}

/// Where `train feature-classifier --ship <models>` (or `feature-segmenter`) puts the weights
/// of `head` (one of [`crate::shipped::HEADS`]).
pub fn shipped_head(models: &Path, head: &str) -> PathBuf {
    models.join(format!("{head}.bpk"))
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
    model: &impl MaskModel,
    size: usize,
    pairs: &[TrimapPair],
    device: &Device,
) -> Result<SegmentationMetrics, EvalError> {
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
        let segmentations = pollster::block_on(segment_photos(model, size, &inputs, device))?;
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
    eval_verdicts(examples, device, |x| {
        let p_single = model.p_dog(x.clone()); // [n, 1]
        let (_, p_averaged) = model.p_dog_flip_averaged(x); // [n, 1]
        (p_single, p_averaged)
    })
}

/// The same figures for a classifier on the ImageNet network's features (`examples` at the
/// network's input size).
pub fn eval_feature_classifier(
    backbone: &ImagenetNet,
    head: &FeatureClassifier,
    examples: &Examples,
    device: &Device,
) -> ClassificationMetrics {
    eval_verdicts(examples, device, |x| backbone.verdict(head, x))
}

/// Accuracy and confusion of `verdict`, which maps `[n, 3, s, s]` photos to P(dog) `[n, 1]`
/// for the photos alone and averaged with their mirror images.
fn eval_verdicts(
    examples: &Examples,
    device: &Device,
    verdict: impl Fn(Tensor<4>) -> (Tensor<2>, Tensor<2>),
) -> ClassificationMetrics {
    let (mut averaged, mut single) = (Confusion::new(2), Confusion::new(2));
    let indices: Vec<usize> = (0..examples.len()).collect();
    for chunk in indices.chunks(32) {
        let batch = Batch::gather(examples, chunk, None);
        let (x, _) = batch.to_tensors(device);
        let (p_single, p_averaged) = verdict(x);
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
