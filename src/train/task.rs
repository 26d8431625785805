//! What differs between the two models during training: the loss, the predictions it is scored
//! on, and the augmentation; everything else (the loop, checkpoints) is shared.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::tensor::activation::{relu, softmax};
use image::RgbImage;
use rand::rngs::StdRng;

use crate::card::AugmentConfig;
use crate::card::{CardEntry, EpochRecord, ModelCard};
use crate::data::augment::{ColorJitter, Warp};
use crate::data::datasets::{Examples, Targets};
use crate::data::photo::images_to_tensor;
use crate::imagenet::ImagenetNet;
use crate::model::ModelKind;
use crate::model::{
    Classifier, FEATURE_CLASSIFIER, FEATURE_SEGMENTER, FeatureClassifier, FeatureSegmenter,
    MobileNet, Segmenter,
};

pub use crate::card::LossConfig;

/// What a training step needs of a model (the shared loop's and `train bench`'s): its loss
/// and the predictions it is scored on.
pub trait Scored: Module + Clone + Sized {
    /// Classes scored by the confusion matrix.
    const CLASSES: usize;
    /// Whether there is a target per pixel (the segmenters) rather than per image.
    const PER_PIXEL: bool;

    /// Mean loss over the batch (tracked when `x` is on an autodiff device) and the predicted
    /// class of every target element, in the order of `targets`.
    fn loss_and_predictions(
        &self,
        x: Tensor<4>,
        targets: Tensor<1, Int>,
        loss: &LossConfig,
    ) -> (Tensor<1>, Tensor<1, Int>);
}

/// A model the shared training loop can fit and ship.
pub trait Trainable: Scored {
    /// Name used for files (`segmenter.bpk`) and logs.
    const NAME: &'static str;
    /// The chapter's random transform for training batches (the recipe may override parts).
    const AUGMENT: AugmentConfig;

    /// The validation figure the best epoch is chosen by (higher is better): the figure the
    /// model's targets are stated in.
    fn score(record: &EpochRecord) -> f64;

    /// Its entry in the model card.
    fn card_entry(card: &mut ModelCard) -> &mut Option<CardEntry>;

    /// What the page loads of it (its own parameters, never a frozen network under it).
    type Shipped: Module;
    fn shipped(self) -> Self::Shipped;
}

/// Binary cross-entropy on `[n]` dog logits (labels smoothed by `loss.label_smoothing`) and the
/// verdicts, for both cat-vs-dog models.
fn binary_loss_and_verdicts(
    logits: Tensor<1>,
    targets: Tensor<1, Int>,
    loss: &LossConfig,
) -> (Tensor<1>, Tensor<1, Int>) {
    let s = loss.label_smoothing;
    let y = targets.float() * (1.0 - s) + s / 2.0; // [n], smoothed
    // Binary cross-entropy on logits, in its overflow-free form:
    // max(l, 0) - l * y + log(1 + exp(-|l|)).
    let bce = relu(logits.clone()) - logits.clone() * y + logits.clone().abs().neg().exp().log1p();
    (bce.mean(), crate::model::is_dog(logits).int())
}

impl Scored for Classifier {
    const CLASSES: usize = 2;
    const PER_PIXEL: bool = false;

    fn loss_and_predictions(
        &self,
        x: Tensor<4>,
        targets: Tensor<1, Int>,
        loss: &LossConfig,
    ) -> (Tensor<1>, Tensor<1, Int>) {
        let [n, _, _, _] = x.dims();
        binary_loss_and_verdicts(self.forward(x).reshape([n]), targets, loss)
    }
}

impl Trainable for Classifier {
    const NAME: &'static str = ModelKind::Classifier.name();
    const AUGMENT: AugmentConfig = AugmentConfig::CHAPTER_CLASSIFIER;

    fn score(record: &EpochRecord) -> f64 {
        record.val_accuracy
    }

    fn card_entry(card: &mut ModelCard) -> &mut Option<CardEntry> {
        &mut card.classifier
    }

    type Shipped = Self;
    fn shipped(self) -> Self {
        self
    }
}

impl Scored for Segmenter {
    const CLASSES: usize = 3;
    const PER_PIXEL: bool = true;

    fn loss_and_predictions(
        &self,
        x: Tensor<4>,
        targets: Tensor<1, Int>,
        loss: &LossConfig,
    ) -> (Tensor<1>, Tensor<1, Int>) {
        segmentation_loss_and_classes(self.forward(x), targets, loss)
    }
}

impl Trainable for Segmenter {
    const NAME: &'static str = ModelKind::Segmenter.name();
    const AUGMENT: AugmentConfig = AugmentConfig::CHAPTER_SEGMENTER;

    fn score(record: &EpochRecord) -> f64 {
        segmentation_score(record)
    }

    fn card_entry(card: &mut ModelCard) -> &mut Option<CardEntry> {
        &mut card.segmenter
    }

    type Shipped = Self;
    fn shipped(self) -> Self {
        self
    }
}

/// ImageNet classification from the imported weights, for `train bench` (the whole network
/// learning, as fine-tuning it would): softmax cross-entropy over its classes.
impl Scored for MobileNet {
    const CLASSES: usize = 1000;
    const PER_PIXEL: bool = false;

    fn loss_and_predictions(
        &self,
        x: Tensor<4>,
        targets: Tensor<1, Int>,
        _loss: &LossConfig,
    ) -> (Tensor<1>, Tensor<1, Int>) {
        let logits = self.forward(x); // [n, classes]
        let [n, _] = logits.dims();
        let predicted = logits.clone().argmax(1).reshape([n]);
        let loss = CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits, targets);
        (loss, predicted)
    }
}

/// A segmenter's validation score: mean IoU (pixel accuracy for runs recorded before it).
fn segmentation_score(record: &EpochRecord) -> f64 {
    record.val_mean_iou.unwrap_or(record.val_accuracy)
}

/// Per-pixel cross-entropy (weighted by `loss.class_weights`) plus `loss.dice_weight` times the
/// soft Dice loss, and the predicted class of every pixel, for both segmenters.
/// `[n, c, s, s]` logits and `[n*s*s]` targets.
fn segmentation_loss_and_classes(
    logits: Tensor<4>,
    targets: Tensor<1, Int>,
    loss: &LossConfig,
) -> (Tensor<1>, Tensor<1, Int>) {
    let device = logits.device();
    let [n, c, h, w] = logits.dims();
    let per_pixel = logits.permute([0, 2, 3, 1]).reshape([n * h * w, c]); // [n*s*s, c]
    let uniform = loss.class_weights.iter().all(|&w| w == 1.0);
    let cross_entropy = CrossEntropyLossConfig::new()
        .with_weights((!uniform).then(|| loss.class_weights.clone()))
        .init(&device)
        .forward(per_pixel.clone(), targets.clone());
    let predicted = per_pixel.clone().argmax(1).reshape([n * h * w]);
    let total = if loss.dice_weight > 0.0 {
        cross_entropy + soft_dice_loss(per_pixel, targets) * loss.dice_weight
    } else {
        cross_entropy
    };
    (total, predicted)
}

/// A head on the frozen ImageNet network as it trains (chapter 8's feature extraction, with
/// augmentation): a [`FeatureClassifier`] or a [`FeatureSegmenter`]. The network under it runs
/// forward only on the device's plain backend (no autodiff graph, batch norm in inference mode)
/// and is neither saved nor moved; only the head learns, and only the head ships.
#[derive(Module, Debug)]
pub struct FrozenBackbone<H: Module> {
    #[module(skip)]
    pub backbone: ImagenetNet,
    pub head: H,
}

/// A frozen network's output as a constant input of the head: back on the autodiff backend
/// when the head is being differentiated (`autodiff`), untracked.
fn constant<const D: usize>(features: Tensor<D>, autodiff: bool) -> Tensor<D> {
    if autodiff {
        features.autodiff()
    } else {
        features
    }
}

impl FrozenBackbone<FeatureClassifier> {
    /// Dog logits. `[n, 3, s, s]` -> `[n]`.
    fn logits(&self, x: Tensor<4>) -> Tensor<1> {
        let [n, _, _, _] = x.dims();
        let autodiff = x.is_autodiff();
        let pooled = constant(self.backbone.pooled(x.inner()), autodiff); // [n, c]
        self.head.forward(pooled).reshape([n]) // [n]
    }
}

impl Scored for FrozenBackbone<FeatureClassifier> {
    const CLASSES: usize = 2;
    const PER_PIXEL: bool = false;

    fn loss_and_predictions(
        &self,
        x: Tensor<4>,
        targets: Tensor<1, Int>,
        loss: &LossConfig,
    ) -> (Tensor<1>, Tensor<1, Int>) {
        binary_loss_and_verdicts(self.logits(x), targets, loss)
    }
}

impl Trainable for FrozenBackbone<FeatureClassifier> {
    const NAME: &'static str = FEATURE_CLASSIFIER;
    const AUGMENT: AugmentConfig = AugmentConfig::CHAPTER_CLASSIFIER;

    fn score(record: &EpochRecord) -> f64 {
        record.val_accuracy
    }

    fn card_entry(card: &mut ModelCard) -> &mut Option<CardEntry> {
        &mut card.feature_classifier
    }

    type Shipped = FeatureClassifier;
    fn shipped(self) -> FeatureClassifier {
        self.head
    }
}

impl FrozenBackbone<FeatureSegmenter> {
    /// Class logits. `[n, 3, s, s]` -> `[n, classes, s, s]`.
    fn logits(&self, x: Tensor<4>) -> Tensor<4> {
        let autodiff = x.is_autodiff();
        let pyramid: Vec<Tensor<4>> = self
            .backbone
            .pyramid(x.inner())
            .expect("a feature segmenter trains on MobileNet (checked when it is built)")
            .into_iter()
            .map(|level| constant(level, autodiff))
            .collect(); // [[n, c_i, s/2^(i+1), ..]; 5]
        self.head.forward(&pyramid) // [n, classes, s, s]
    }
}

impl Scored for FrozenBackbone<FeatureSegmenter> {
    const CLASSES: usize = 3;
    const PER_PIXEL: bool = true;

    fn loss_and_predictions(
        &self,
        x: Tensor<4>,
        targets: Tensor<1, Int>,
        loss: &LossConfig,
    ) -> (Tensor<1>, Tensor<1, Int>) {
        segmentation_loss_and_classes(self.logits(x), targets, loss)
    }
}

impl Trainable for FrozenBackbone<FeatureSegmenter> {
    const NAME: &'static str = FEATURE_SEGMENTER;
    const AUGMENT: AugmentConfig = AugmentConfig::CHAPTER_SEGMENTER;

    fn score(record: &EpochRecord) -> f64 {
        segmentation_score(record)
    }

    fn card_entry(card: &mut ModelCard) -> &mut Option<CardEntry> {
        &mut card.feature_segmenter
    }

    type Shipped = FeatureSegmenter;
    fn shipped(self) -> FeatureSegmenter {
        self.head
    }
}

/// `1 - ` the mean over classes of the soft Dice coefficient `2|P∩Y| / (|P| + |Y|)` between the
/// softmax probabilities and the one-hot targets, over the whole batch: it weighs every class
/// by its own size, so that the thin border and small pets count as much as the background.
/// `[m, c]` logits and `[m]` targets -> `[1]`.
fn soft_dice_loss(per_pixel: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [m, c] = per_pixel.dims();
    let p = softmax(per_pixel, 1); // [m, c]
    let y = targets.one_hot::<2>(c).float(); // [m, c]
    debug_assert_eq!(y.dims(), [m, c]);
    let intersection = (p.clone() * y.clone()).sum_dim(0); // [1, c]
    let sizes = p.sum_dim(0) + y.sum_dim(0); // [1, c]
    let dice = (intersection * 2.0 + 1.0) / (sizes + 1.0); // [1, c]
    (dice.mean().neg() + 1.0).reshape([1])
}

/// A batch ready for the model: inputs and flattened targets.
pub struct Batch {
    pub images: Vec<RgbImage>,
    pub targets: Vec<u8>,
}

impl Batch {
    /// Gathers examples `indices`, warped and colour-jittered by a random transform each when
    /// `augment` is given.
    pub fn gather(
        examples: &Examples,
        indices: &[usize],
        augment: Option<(&AugmentConfig, &mut StdRng)>,
    ) -> Self {
        let (warps, jitters): (Vec<Warp>, Vec<ColorJitter>) = match augment {
            Some((config, rng)) => indices
                .iter()
                .map(|_| {
                    let warp = Warp::random(config, rng);
                    (warp, ColorJitter::random(config.color_jitter, rng))
                })
                .unzip(),
            None => (
                vec![Warp::IDENTITY; indices.len()],
                vec![ColorJitter::IDENTITY; indices.len()],
            ),
        };
        let images = indices
            .iter()
            .zip(warps.iter().zip(&jitters))
            .map(|(&i, (warp, jitter))| {
                let mut image = if *warp == Warp::IDENTITY {
                    examples.images[i].clone()
                } else {
                    warp.apply_rgb(&examples.images[i])
                };
                jitter.apply(&mut image);
                image
            })
            .collect();
        let targets = match &examples.targets {
            Targets::Labels(labels) => indices.iter().map(|&i| labels[i]).collect(),
            Targets::Masks(masks) => indices
                .iter()
                .zip(&warps)
                .flat_map(|(&i, warp)| {
                    let (w, h) = examples.images[i].dimensions();
                    warp.apply_mask(&masks[i], w as usize, h as usize)
                })
                .collect(),
        };
        Batch { images, targets }
    }

    /// Splits the batch into at most `n` contiguous shards of near-equal size (none empty).
    pub fn shards(&self, n: usize) -> Vec<Batch> {
        let images = self.images.len();
        let per_image = self.targets.len() / images.max(1);
        let size = images.div_ceil(n.max(1)).max(1);
        self.images
            .chunks(size)
            .zip(self.targets.chunks(size * per_image.max(1)))
            .map(|(images, targets)| Batch {
                images: images.to_vec(),
                targets: targets.to_vec(),
            })
            .collect()
    }

    /// Tensors on `device`: `[n, 3, s, s]` inputs and `[n]` or `[n*s*s]` targets.
    pub fn to_tensors(&self, device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
        let refs: Vec<&RgbImage> = self.images.iter().collect();
        let targets: Vec<i64> = self.targets.iter().map(|&t| i64::from(t)).collect();
        let n = targets.len();
        (
            images_to_tensor(&refs, device),
            Tensor::from_data(TensorData::new(targets, [n]), device),
        )
    }
}
