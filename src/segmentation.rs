//! Masks from a segmenter's class probabilities: what the page's pipeline, the ImageNet
//! network's reading (the decoder on its features) and `train eval` share, apart from either,
//! so that neither imports the other.

use burn::prelude::*;
use image::RgbImage;

use crate::data::{class_map_at, model_input};
use crate::explain::ClassProbabilities;
use crate::model::{SEGMENT_CLASSES, Segmenter};
use crate::readback::{ReadbackError, read_floats};

/// What the segmenter says about one photo.
#[derive(Debug, Clone)]
pub struct Segmentation {
    /// One class per photo pixel: 0 pet, 1 background, 2 border.
    pub mask: Vec<u8>,
    /// The softmax at the model's resolution.
    pub probabilities: ClassProbabilities,
}

/// A model that gives per-pixel class probabilities for photos at its input size: the chapter's
/// segmenter, or the decoder on the ImageNet network's features with that network
/// ([`crate::imagenet::FeatureMask`]).
pub trait MaskModel {
    /// `[n, 3, s, s]` in [0, 1] -> `[n, classes, s, s]`, summing to 1 over dim 1.
    fn probabilities(&self, x: Tensor<4>) -> Tensor<4>;
}

impl MaskModel for Segmenter {
    fn probabilities(&self, x: Tensor<4>) -> Tensor<4> {
        Segmenter::probabilities(self, x)
    }
}

/// The segmentation of each of `photos` (masks at each photo's own resolution) by `model` at
/// its input `size`: the page's path, which `train eval` runs in batches.
pub async fn segment_photos(
    model: &impl MaskModel,
    size: usize,
    photos: &[&RgbImage],
    device: &Device,
) -> Result<Vec<Segmentation>, ReadbackError> {
    let sizes: Vec<(u32, u32)> = photos.iter().map(|p| p.dimensions()).collect();
    let input = model_input(photos, size, device); // [n, 3, s, s]
    segmentations(model.probabilities(input), &sizes).await
}

/// The segmentation of the photos of `sizes` (width, height) from a model's class
/// probabilities for them, `[n, classes, s, s]`.
pub async fn segmentations(
    probabilities: Tensor<4>,
    sizes: &[(u32, u32)],
) -> Result<Vec<Segmentation>, ReadbackError> {
    let size = probabilities.dims()[2];
    let values = read_floats(probabilities, "the segmenter's probabilities").await?;
    let per_photo = SEGMENT_CLASSES.len() * size * size;
    Ok(values
        .chunks(per_photo)
        .zip(sizes)
        .map(|(values, &(width, height))| {
            let planes: Vec<Vec<f32>> = values.chunks(size * size).map(<[f32]>::to_vec).collect();
            Segmentation {
                mask: class_map_at(&planes, size, width as usize, height as usize),
                probabilities: ClassProbabilities {
                    size,
                    values: values.to_vec(),
                },
            }
        })
        .collect())
}
