//! Grad-CAM (Selvaraju et al., 2017), as in chapter 9: which parts of the photo made the
//! classifier decide "cat" or "dog".

use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::model::Classifier;
use crate::readback::{ReadbackError, read_floats};

/// The class whose evidence a heatmap shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PetClass {
    Cat,
    Dog,
}

impl PetClass {
    /// Both classes, cat first.
    pub const ALL: [PetClass; 2] = [PetClass::Cat, PetClass::Dog];

    /// The more likely class for a probability of "dog": "dog" above 1/2, as
    /// [`crate::model::is_dog`] decides on logits (a tie is "cat" in both).
    pub fn from_p_dog(p_dog: f32) -> Self {
        if p_dog > 0.5 {
            PetClass::Dog
        } else {
            PetClass::Cat
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            PetClass::Cat => "cat",
            PetClass::Dog => "dog",
        }
    }
}

/// A class activation map on the feature grid, values in [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    pub width: usize,
    pub height: usize,
    pub values: Vec<f32>,
}

impl Heatmap {
    /// The map sampled at the photo's resolution.
    pub fn upsample(&self, width: usize, height: usize) -> Vec<f32> {
        crate::data::upsample_bilinear(&self.values, self.width, self.height, width, height)
    }
}

/// Grad-CAM over a [`Classifier`] split after residual block `depth` (`None`: the last block).
pub struct GradCam<'a> {
    pub classifier: &'a Classifier,
    pub depth: Option<usize>,
}

impl<'a> GradCam<'a> {
    /// Grad-CAM at the last convolutional block, the chapter's choice.
    pub fn new(classifier: &'a Classifier) -> Self {
        Self {
            classifier,
            depth: None,
        }
    }

    /// The un-normalised map `relu(sum_k alpha_k A_k)` for one photo, `[h, w]`, where
    /// `alpha_k` is the spatial mean of d score / d A_k. `features` is `[1, c, h, w]` from
    /// [`Classifier::features_at`] on a plain (inference) device. The score is the dog logit,
    /// or its negation for "cat" (the model has one sigmoid output: p(cat) = sigmoid(-logit)).
    pub fn raw_map(&self, features: Tensor<4>, class: PetClass) -> Tensor<2> {
        class_activation_map(features, |leaf| {
            let logit = self.classifier.head_from(leaf, self.depth); // [1, 1]
            match class {
                PetClass::Dog => logit,
                PetClass::Cat => logit.neg(),
            }
        })
    }

    /// The normalised heatmap for one photo: [`GradCam::raw_map`] divided by its maximum.
    pub async fn heatmap(
        &self,
        features: Tensor<4>,
        class: PetClass,
    ) -> Result<Heatmap, ReadbackError> {
        read_heatmap(self.raw_map(features, class)).await
    }
}

/// Grad-CAM's map for any score of a feature map: `relu(sum_k alpha_k A_k)` over the `[1, c, h,
/// w]` `features` (from a plain, inference device), where `alpha_k` is the spatial mean of
/// d score / d A_k, `[h, w]`. `score` runs the rest of the network on the autodiff leaf it is
/// given (the network's own parameters stay on the plain device and act as constants) and
/// returns the `[1, 1]` score.
pub fn class_activation_map(
    features: Tensor<4>,
    score: impl FnOnce(Tensor<4>) -> Tensor<2>,
) -> Tensor<2> {
    let [_, _, h, w] = features.dims();
    let leaf = features.detach().autodiff().require_grad();
    let grads = score(leaf.clone()).sum().backward();
    let feature_map = leaf.clone().inner(); // [1, c, h, w]
    let gradient = leaf
        .grad(&grads)
        .unwrap_or_else(|| feature_map.zeros_like()); // [1, c, h, w]
    let alpha = gradient.mean_dim(2).mean_dim(3); // [1, c, 1, 1]
    let cam = (feature_map * alpha).sum_dim(1); // [1, 1, h, w]
    relu(cam.reshape([h, w]))
}

/// A map read back and normalised to [0, 1].
pub async fn read_heatmap(map: Tensor<2>) -> Result<Heatmap, ReadbackError> {
    let [height, width] = map.dims();
    let values = read_floats(map, "the Grad-CAM map").await?;
    Ok(Heatmap {
        width,
        height,
        values: normalise(values),
    })
}

/// Scales to [0, 1] by the maximum; an all-zero map (no positive evidence) stays zero.
pub fn normalise(mut values: Vec<f32>) -> Vec<f32> {
    let max = values.iter().copied().fold(0.0f32, f32::max);
    if max > 0.0 {
        values.iter_mut().for_each(|v| *v /= max);
    }
    values
}
