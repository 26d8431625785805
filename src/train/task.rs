//! What differs between the two models during training: the loss, the predictions it is scored
//! on, and the augmentation; everything else (the loop, checkpoints) is shared.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::tensor::activation::relu;
use image::RgbImage;
use rand::rngs::StdRng;

use crate::data::augment::{AugmentConfig, Warp};
use crate::data::datasets::{Examples, Targets};
use crate::data::photo::images_to_tensor;
use crate::model::{Classifier, Segmenter};

/// A model the shared training loop can fit.
pub trait Trainable: Module + Clone + Sized {
    /// Name used for files (`segmenter.bpk`) and logs.
    const NAME: &'static str;
    /// Classes scored by the confusion matrix.
    const CLASSES: usize;
    /// Random transform applied to training batches.
    const AUGMENT: AugmentConfig;

    /// Mean loss over the batch (tracked when `x` is on an autodiff device) and the predicted
    /// class of every target element, in the order of `targets`.
    fn loss_and_predictions(
        &self,
        x: Tensor<4>,
        targets: Tensor<1, Int>,
    ) -> (Tensor<1>, Tensor<1, Int>);
}

impl Trainable for Classifier {
    const NAME: &'static str = "classifier";
    const CLASSES: usize = 2;
    const AUGMENT: AugmentConfig = AugmentConfig::CLASSIFIER;

    fn loss_and_predictions(
        &self,
        x: Tensor<4>,
        targets: Tensor<1, Int>,
    ) -> (Tensor<1>, Tensor<1, Int>) {
        let [n, _, _, _] = x.dims();
        let logits = self.forward(x).reshape([n]); // [n]
        let y = targets.float(); // [n]
        // Binary cross-entropy on logits, in its overflow-free form:
        // max(l, 0) - l * y + log(1 + exp(-|l|)).
        let loss =
            relu(logits.clone()) - logits.clone() * y + logits.clone().abs().neg().exp().log1p();
        (loss.mean(), logits.greater_elem(0.0).int())
    }
}

impl Trainable for Segmenter {
    const NAME: &'static str = "segmenter";
    const CLASSES: usize = 3;
    const AUGMENT: AugmentConfig = AugmentConfig::SEGMENTER;

    fn loss_and_predictions(
        &self,
        x: Tensor<4>,
        targets: Tensor<1, Int>,
    ) -> (Tensor<1>, Tensor<1, Int>) {
        let device = x.device();
        let logits = self.forward(x); // [n, c, s, s]
        let [n, c, h, w] = logits.dims();
        let per_pixel = logits.permute([0, 2, 3, 1]).reshape([n * h * w, c]); // [n*s*s, c]
        let loss = CrossEntropyLossConfig::new()
            .init(&device)
            .forward(per_pixel.clone(), targets);
        (loss, per_pixel.argmax(1).reshape([n * h * w]))
    }
}

/// A batch ready for the model: inputs and flattened targets.
pub struct Batch {
    pub images: Vec<RgbImage>,
    pub targets: Vec<u8>,
}

impl Batch {
    /// Gathers examples `indices`, warped by a random transform each when `augment` is given.
    pub fn gather(
        examples: &Examples,
        indices: &[usize],
        augment: Option<(&AugmentConfig, &mut StdRng)>,
    ) -> Self {
        let warps: Vec<Warp> = match augment {
            Some((config, rng)) => indices.iter().map(|_| Warp::random(config, rng)).collect(),
            None => vec![Warp::IDENTITY; indices.len()],
        };
        let images = indices
            .iter()
            .zip(&warps)
            .map(|(&i, warp)| {
                if *warp == Warp::IDENTITY {
                    examples.images[i].clone()
                } else {
                    warp.apply_rgb(&examples.images[i])
                }
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
