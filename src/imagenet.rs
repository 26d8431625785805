//! The imported ImageNet network as the page and `train imagenet` use it: the model built from
//! its shipped config and weights, the 1000 class names, and the top classes of a photo (Keras's
//! `decode_predictions`).

use burn::prelude::*;
use burn::tensor::activation::softmax;
use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::data::model_input;
use crate::explain::gradcam::{class_activation_map, read_heatmap};
use crate::explain::{Heatmap, PetClass};
use crate::model::{
    FeatureClassifier, FeatureClassifierConfig, FeatureSegmenter, FeatureSegmenterConfig, Layered,
    MobileNet, MobileNetConfig, Xception, XceptionConfig,
};
use crate::readback::{ReadbackError, read_floats};
use crate::segmentation::{MaskModel, Segmentation, segmentations};
use crate::shipped::ImagenetFiles;
use crate::weights::{self, WeightsError};

/// How many classes the page shows.
pub const TOP: usize = 5;

/// One class of a reading: its ImageNet index, Keras's name for it and its softmax probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopClass {
    pub class: usize,
    pub name: String,
    pub p: f32,
}

impl TopClass {
    /// The name as people write it (`Egyptian cat` for Keras's `Egyptian_cat`).
    pub fn readable_name(&self) -> String {
        self.name.replace('_', " ")
    }
}

/// The class names, by index, from Keras's `imagenet_class_index.json`
/// (`{"0": ["n01440764", "tench"], …}`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassNames {
    names: Vec<String>,
}

impl ClassNames {
    /// Parses Keras's class index; every index from 0 to its length must be there once.
    pub fn from_keras_index(bytes: &[u8]) -> Result<Self, WeightsError> {
        let index: std::collections::BTreeMap<String, (String, String)> =
            serde_json::from_slice(bytes).map_err(|e| {
                WeightsError::Config(format!("the ImageNet class index is not Keras's: {e}"))
            })?;
        let mut names = vec![None; index.len()];
        for (key, (_, name)) in index {
            let slot = key
                .parse::<usize>()
                .ok()
                .and_then(|i| names.get_mut(i))
                .ok_or_else(|| {
                    WeightsError::Config(format!("the ImageNet class index has a key {key:?}"))
                })?;
            *slot = Some(name);
        }
        let names = names
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                WeightsError::Config("the ImageNet class index skips an index".into())
            })?;
        Ok(Self { names })
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The `k` most probable classes of one photo's `probabilities`, most probable first (a tie
    /// goes to the lower index, as NumPy's stable `argsort` in `decode_predictions` does).
    pub fn top(&self, probabilities: &[f32], k: usize) -> Vec<TopClass> {
        let mut order: Vec<usize> = (0..probabilities.len().min(self.names.len())).collect();
        order.sort_by(|&a, &b| {
            probabilities[b]
                .total_cmp(&probabilities[a])
                .then(a.cmp(&b))
        });
        order
            .into_iter()
            .take(k)
            .map(|class| TopClass {
                class,
                name: self.names[class].clone(),
                p: probabilities[class],
            })
            .collect()
    }
}

/// What [`ImagenetModel::read`] gives.
pub struct Reading {
    pub top: Vec<TopClass>,
    /// P(dog) of the classifier on the network's features, flip-averaged (`None` without one).
    pub p_dog: Option<f32>,
    /// The mask of the segmenter on the network's features, flip-averaged (`None` without one).
    pub segmentation: Option<Segmentation>,
    /// Milliseconds from the photo to the classes.
    pub ms: f64,
    /// `[1, 3, s, s]`: the photo as the network's input.
    pub input: Tensor<4>,
}

/// The config shipped beside an imported network's weights: which network and its settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ImagenetConfig {
    /// Tried first: only MobileNet's config has a width (`alpha`).
    MobileNet(MobileNetConfig),
    Xception(XceptionConfig),
}

impl ImagenetConfig {
    /// The square input size.
    pub fn image_size(&self) -> usize {
        match self {
            ImagenetConfig::MobileNet(c) => c.image_size,
            ImagenetConfig::Xception(c) => c.image_size,
        }
    }

    pub fn classes(&self) -> usize {
        match self {
            ImagenetConfig::MobileNet(c) => c.classes,
            ImagenetConfig::Xception(c) => c.classes,
        }
    }

    /// The architecture in words.
    pub fn describe(&self) -> String {
        match self {
            ImagenetConfig::MobileNet(c) => c.describe(),
            ImagenetConfig::Xception(c) => c.describe(),
        }
    }

    /// A short name (`mobilenet_v1_0.75_224`, `xception_299`), as `train imagenet` prints it.
    pub fn name(&self) -> String {
        match self {
            ImagenetConfig::MobileNet(c) => format!("mobilenet_v1_{}_{}", c.alpha, c.image_size),
            ImagenetConfig::Xception(c) => format!("xception_{}", c.image_size),
        }
    }
}

/// An imported ImageNet network: Keras's MobileNet v1 (shipped) or Xception (a reader's own
/// weights). Each is stored as its own record (`<name>.bpk`).
// One per page or command: the variants' size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum ImagenetNet {
    MobileNet(MobileNet),
    Xception(Xception),
}

impl ImagenetNet {
    /// The network as something whose layers can be read by name.
    pub fn layered(&self) -> &dyn Layered {
        match self {
            ImagenetNet::MobileNet(net) => net,
            ImagenetNet::Xception(net) => net,
        }
    }

    /// The convolutional base through block `depth` (`None`: all of it). `[n, 3, s, s]` ->
    /// `[n, c, h, w]`.
    pub fn features_at(&self, x: Tensor<4>, depth: Option<usize>) -> Tensor<4> {
        match self {
            ImagenetNet::MobileNet(net) => net.features_at(x, depth),
            ImagenetNet::Xception(net) => net.features_at(x, depth),
        }
    }

    /// The rest after [`ImagenetNet::features_at`]: `[n, c, h, w]` -> `[n, classes]` logits.
    pub fn head_from(&self, features: Tensor<4>, depth: Option<usize>) -> Tensor<2> {
        match self {
            ImagenetNet::MobileNet(net) => net.head_from(features, depth),
            ImagenetNet::Xception(net) => net.head_from(features, depth),
        }
    }

    /// The globally pooled features of the whole convolutional base (what the top reads, and
    /// what a [`crate::model::FeatureClassifier`] reads). `[n, 3, s, s]` -> `[n, c]`.
    pub fn pooled(&self, x: Tensor<4>) -> Tensor<2> {
        self.pooled_from(self.features_at(x, None), None)
    }

    /// The network as MobileNet (the network a [`FeatureSegmenter`] decodes), if it is.
    pub fn mobilenet(&self) -> Option<&MobileNet> {
        match self {
            ImagenetNet::MobileNet(net) => Some(net),
            ImagenetNet::Xception(_) => None,
        }
    }

    /// The network's outputs at strides 2 to 32, finest first, for a decoder on them
    /// (MobileNet's; `None` for Xception, whose residual blocks petlens does not decode).
    /// `[n, 3, s, s]` -> `[[n, c_i, s/2^(i+1), ..]; 5]`.
    pub fn pyramid(&self, x: Tensor<4>) -> Option<Vec<Tensor<4>>> {
        match self {
            ImagenetNet::MobileNet(net) => Some(net.pyramid(x)),
            ImagenetNet::Xception(_) => None,
        }
    }

    /// The width of [`ImagenetNet::pooled`]'s features.
    pub fn pooled_width(&self) -> usize {
        match self {
            ImagenetNet::MobileNet(net) => net.preds.weight.dims()[0],
            ImagenetNet::Xception(net) => net.preds.weight.dims()[0],
        }
    }

    /// The blocks after `depth` and global average pooling. `[n, c, h, w]` -> `[n, c_last]`.
    pub fn pooled_from(&self, features: Tensor<4>, depth: Option<usize>) -> Tensor<2> {
        match self {
            ImagenetNet::MobileNet(net) => net.pooled_from(features, depth),
            ImagenetNet::Xception(net) => net.pooled_from(features, depth),
        }
    }

    /// The pooled features of the photos and of their mirror images, in one pass.
    /// `[n, 3, s, s]` -> (`[n, c]`, `[n, c]` mirrored).
    pub fn pooled_with_mirror(&self, x: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let [n, _, _, _] = x.dims();
        let both = Tensor::cat(vec![x.clone(), x.flip([3])], 0); // [2n, 3, s, s]
        let pooled = self.pooled(both); // [2n, c]
        (pooled.clone().narrow(0, 0, n), pooled.narrow(0, n, n))
    }

    /// The top's logits from pooled features. `[n, c]` -> `[n, classes]`.
    pub fn logits_from_pooled(&self, pooled: Tensor<2>) -> Tensor<2> {
        match self {
            ImagenetNet::MobileNet(net) => net.preds.forward(pooled),
            ImagenetNet::Xception(net) => net.preds.forward(pooled),
        }
    }

    /// The verdict of `head` on this network's features, as the page and `train eval` give it:
    /// P(dog) averaged over the photo and its mirror image, with the unflipped photo's alone.
    /// `[n, 3, s, s]` -> (`[n, 1]` unflipped, `[n, 1]` averaged).
    pub fn verdict(&self, head: &FeatureClassifier, x: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let (pooled, mirrored) = self.pooled_with_mirror(x);
        flip_averaged(head, pooled, mirrored)
    }

    /// `[n, 3, s, s]` -> `[n, classes]` softmax probabilities.
    pub fn probabilities(&self, x: Tensor<4>) -> Tensor<2> {
        softmax(self.head_from(self.features_at(x, None), None), 1)
    }

    /// Its blocks (Grad-CAM's depth choices).
    pub fn blocks(&self) -> usize {
        match self {
            ImagenetNet::MobileNet(net) => net.blocks.len(),
            ImagenetNet::Xception(net) => net.blocks(),
        }
    }

    /// Its layers' names, in order.
    pub fn layer_names(&self) -> Vec<String> {
        match self {
            ImagenetNet::MobileNet(net) => net.layer_names(),
            ImagenetNet::Xception(net) => net.layer_names(),
        }
    }

    /// Every layer's output, named. `[1, 3, s, s]` in.
    pub fn activations(&self, x: Tensor<4>) -> Vec<(String, Tensor<4>)> {
        match self {
            ImagenetNet::MobileNet(net) => net.activations(x),
            ImagenetNet::Xception(net) => net.activations(x),
        }
    }
}

/// A [`FeatureSegmenter`] on the MobileNet whose features it decodes: a mask model, whose masks
/// are averaged over the photo and its mirror image (the page's mirror pass, which the verdict on
/// the same features shares).
pub struct FeatureMask<'a> {
    pub encoder: &'a MobileNet,
    pub decoder: &'a FeatureSegmenter,
}

impl MaskModel for FeatureMask<'_> {
    fn probabilities(&self, x: Tensor<4>) -> Tensor<4> {
        let [n, _, _, _] = x.dims();
        let both = Tensor::cat(vec![x.clone(), x.flip([3])], 0); // [2n, 3, s, s]
        flip_averaged_mask(self.decoder, &self.encoder.pyramid(both), n)
    }
}

/// The decoder's probabilities for `n` photos from the pyramid of them and their mirror images
/// (`[2n, c_i, ..]` levels, photos first), each mirror's mask flipped back and averaged with
/// its photo's. -> `[n, classes, s, s]`.
fn flip_averaged_mask(decoder: &FeatureSegmenter, pyramid: &[Tensor<4>], n: usize) -> Tensor<4> {
    let p = decoder.probabilities(pyramid); // [2n, classes, s, s]
    (p.clone().narrow(0, 0, n) + p.narrow(0, n, n).flip([3])) / 2.0 // [n, classes, s, s]
}

/// `head`'s P(dog) for pooled features and their mirror images' (`[n, c]` each): (`[n, 1]`
/// unflipped, `[n, 1]` averaged over both).
fn flip_averaged(
    head: &FeatureClassifier,
    pooled: Tensor<2>,
    mirrored: Tensor<2>,
) -> (Tensor<2>, Tensor<2>) {
    let single = head.p_dog(pooled); // [n, 1]
    let averaged = (single.clone() + head.p_dog(mirrored)) / 2.0; // [n, 1]
    (single, averaged)
}

/// The ImageNet network, loaded, with its class names and input size, and the cat-vs-dog
/// classifier and the segmenter trained on its features where the release ships them for it.
#[derive(Debug)]
pub struct ImagenetModel {
    pub net: ImagenetNet,
    pub classes: ClassNames,
    pub config: ImagenetConfig,
    pub verdict: Option<FeatureClassifier>,
    pub mask: Option<MaskHead>,
}

/// What one pass through the network gives: the photo's pooled features `[1, c]`, its mirror
/// image's where a head needs them, and the segmenter's probabilities `[1, 3, s, s]` where it
/// shares the pass.
struct Pass {
    pooled: Tensor<2>,
    mirrored: Option<Tensor<2>>,
    mask: Option<Tensor<4>>,
}

/// The segmenter on the network's features, with the input size it was trained at.
#[derive(Debug)]
pub struct MaskHead {
    pub decoder: FeatureSegmenter,
    pub image_size: usize,
}

impl ImagenetModel {
    /// Builds the network from its shipped files on `device` (decoded on the CPU first, as the
    /// pipeline's models are: a WebGPU adapter may not hold f16).
    pub fn from_files(files: &ImagenetFiles, device: &Device) -> Result<Self, WeightsError> {
        let config: ImagenetConfig = serde_json::from_slice(&files.config)
            .map_err(|e| WeightsError::Config(e.to_string()))?;
        let classes = ClassNames::from_keras_index(&files.classes)?;
        if classes.len() != config.classes() {
            return Err(WeightsError::Mismatch(format!(
                "the class index names {} classes, the network has {}",
                classes.len(),
                config.classes()
            )));
        }
        // Decoded on the CPU and moved afterwards, as the pipeline's models are.
        let cpu = Device::flex();
        let net = match &config {
            ImagenetConfig::MobileNet(c) => ImagenetNet::MobileNet(
                weights::from_bytes(c.init(&cpu), &files.weights)?
                    .to_device(device)
                    .valid(),
            ),
            ImagenetConfig::Xception(c) => ImagenetNet::Xception(
                weights::from_bytes(c.init(&cpu), &files.weights)?
                    .to_device(device)
                    .valid(),
            ),
        };
        Ok(Self {
            net,
            classes,
            config,
            verdict: None,
            mask: None,
        })
    }

    /// Adds the classifier on this network's features (its shipped config and weights),
    /// refused unless it was trained on `network` (this network's shipped name) and reads
    /// features of this network's width.
    pub fn with_verdict(
        mut self,
        network: &str,
        config: &FeatureClassifierConfig,
        weights: &[u8],
        device: &Device,
    ) -> Result<Self, WeightsError> {
        if config.backbone != network || config.features != self.net.pooled_width() {
            return Err(WeightsError::Mismatch(format!(
                "the feature classifier reads {} features of {}, but {network} gives {}",
                config.features,
                config.backbone,
                self.net.pooled_width()
            )));
        }
        let head = weights::from_bytes(config.init(&Device::flex()), weights)?;
        self.verdict = Some(head.to_device(device));
        Ok(self)
    }

    /// Adds the segmenter on this network's features (its shipped config and weights), refused
    /// unless it was trained on `network` (this network's shipped name) and decodes this
    /// network's pyramid (MobileNet's, of the same widths).
    pub fn with_mask(
        mut self,
        network: &str,
        config: &FeatureSegmenterConfig,
        weights: &[u8],
        device: &Device,
    ) -> Result<Self, WeightsError> {
        let pyramid = match &self.config {
            ImagenetConfig::MobileNet(c) => c.pyramid_channels(),
            ImagenetConfig::Xception(_) => Vec::new(),
        };
        if config.backbone != network || config.encoder_channels != pyramid {
            return Err(WeightsError::Mismatch(format!(
                "the feature segmenter decodes {:?} channels of {}, but {network} gives {pyramid:?}",
                config.encoder_channels, config.backbone
            )));
        }
        let decoder = weights::from_bytes(config.init(&Device::flex()), weights)?;
        self.mask = Some(MaskHead {
            decoder: decoder.to_device(device),
            image_size: config.image_size,
        });
        Ok(self)
    }

    /// The square input size.
    pub fn input_size(&self) -> usize {
        self.config.image_size()
    }

    /// The network's reading of a photo: its `TOP` classes, the verdict of the classifier and
    /// the mask of the segmenter on its features, their time, and the photo as the network's
    /// input (for later requests about the same photo). The photo and its mirror image go
    /// through the network once, as a batch of two, for all three where the segmenter reads
    /// the network at its own input size.
    pub async fn read(&self, photo: &RgbImage, device: &Device) -> Result<Reading, ReadbackError> {
        let start = web_time::Instant::now();
        let input = model_input(&[photo], self.input_size(), device);
        let pass = self.pass(input.clone());
        let logits = self.net.logits_from_pooled(pass.pooled.clone()); // [1, classes]
        let p_dog = match (&self.verdict, pass.mirrored) {
            (Some(head), Some(mirrored)) => {
                let (_, p_dog) = flip_averaged(head, pass.pooled, mirrored); // [1, 1]
                let p_dog = read_floats(p_dog, "the feature classifier's verdict").await?;
                p_dog.first().copied()
            }
            _ => None,
        };
        let top = self.top_of(softmax(logits, 1), TOP).await?;
        let segmentation = match pass.mask.or_else(|| self.mask_at_own_size(photo, device)) {
            Some(probabilities) => segmentations(probabilities, &[photo.dimensions()])
                .await?
                .pop(),
            None => None,
        };
        Ok(Reading {
            top,
            p_dog,
            segmentation,
            ms: start.elapsed().as_secs_f64() * 1000.0,
            input,
        })
    }

    /// One pass of a photo's input `[1, 3, s, s]` through the network: with its mirror image
    /// where a head averages over both, and through the segmenter too where it reads the
    /// network at this size.
    fn pass(&self, input: Tensor<4>) -> Pass {
        let shared_mask = self
            .mask
            .as_ref()
            .filter(|m| m.image_size == self.input_size());
        if let (Some(encoder), Some(mask)) = (self.net.mobilenet(), shared_mask) {
            let both = Tensor::cat(vec![input.clone(), input.flip([3])], 0); // [2, 3, s, s]
            let mut pyramid = encoder.pyramid(both); // [[2, c_i, ..]; 5]
            let probabilities = flip_averaged_mask(&mask.decoder, &pyramid, 1); // [1, 3, s, s]
            let deepest = pyramid.pop().expect("the pyramid has its levels"); // [2, c, s/32, s/32]
            let pooled = encoder.pooled_from(deepest, None); // [2, c]
            return Pass {
                pooled: pooled.clone().narrow(0, 0, 1),
                mirrored: Some(pooled.narrow(0, 1, 1)),
                mask: Some(probabilities),
            };
        }
        if self.verdict.is_some() {
            let (pooled, mirrored) = self.net.pooled_with_mirror(input); // [1, c] each
            return Pass {
                pooled,
                mirrored: Some(mirrored),
                mask: None,
            };
        }
        Pass {
            pooled: self.net.pooled(input), // [1, c]
            mirrored: None,
            mask: None,
        }
    }

    /// The segmenter's probabilities `[1, 3, s', s']` for a photo at the segmenter's own input
    /// size, where it differs from the network's (a pass of its own).
    fn mask_at_own_size(&self, photo: &RgbImage, device: &Device) -> Option<Tensor<4>> {
        let (encoder, mask) = (self.net.mobilenet()?, self.mask.as_ref()?);
        let feature_mask = FeatureMask {
            encoder,
            decoder: &mask.decoder,
        };
        Some(feature_mask.probabilities(model_input(&[photo], mask.image_size, device)))
    }

    /// Grad-CAM of ImageNet class `class` after block `depth` (`None`: the last, the book's
    /// choice) for one photo's input `[1, 3, s, s]`. As the book does on Xception, the score
    /// is the class's softmax probability.
    pub async fn gradcam(
        &self,
        input: Tensor<4>,
        class: usize,
        depth: Option<usize>,
    ) -> Result<Heatmap, ReadbackError> {
        let features = self.net.features_at(input, depth); // [1, c, h, w]
        let map = class_activation_map(features, |leaf| {
            let logits = self.net.head_from(leaf, depth); // [1, classes]
            softmax(logits, 1).narrow(1, class, 1) // [1, 1]
        });
        read_heatmap(map).await
    }

    /// Grad-CAM of the classifier on this network's features, for "cat" and "dog", after
    /// block `depth` (`None`: the last) for one photo's input `[1, 3, s, s]`: the chapter's
    /// recipe with the dog logit as the score (its negation for "cat"), as for the chapter's
    /// model. `None` without that classifier.
    pub async fn verdict_gradcam(
        &self,
        input: Tensor<4>,
        depth: Option<usize>,
    ) -> Option<Result<[Heatmap; 2], ReadbackError>> {
        let head = self.verdict.as_ref()?;
        let features = self.net.features_at(input, depth); // [1, c, h, w]
        let map = |class: PetClass| {
            class_activation_map(features.clone(), |leaf| {
                let logit = head.forward(self.net.pooled_from(leaf, depth)); // [1, 1]
                match class {
                    PetClass::Dog => logit,
                    PetClass::Cat => logit.neg(),
                }
            })
        };
        let read = async {
            let cat = read_heatmap(map(PetClass::Cat)).await?;
            let dog = read_heatmap(map(PetClass::Dog)).await?;
            Ok([cat, dog])
        };
        Some(read.await)
    }

    /// The `k` most probable classes of one photo's input `[1, 3, s, s]` (in [0, 1]).
    pub async fn top(&self, input: Tensor<4>, k: usize) -> Result<Vec<TopClass>, ReadbackError> {
        self.top_of(self.net.probabilities(input), k).await
    }

    /// The `k` most probable classes of one photo's `[1, classes]` probabilities.
    async fn top_of(
        &self,
        probabilities: Tensor<2>,
        k: usize,
    ) -> Result<Vec<TopClass>, ReadbackError> {
        let values = read_floats(probabilities, "the ImageNet probabilities").await?;
        Ok(self.classes.top(&values, k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> ClassNames {
        ClassNames::from_keras_index(
            br#"{"1": ["n2", "goldfish"], "0": ["n1", "tench"], "2": ["n3", "great_white_shark"]}"#,
        )
        .expect("a valid index")
    }

    #[test]
    fn the_top_classes_are_the_most_probable_first_ties_to_the_lower_index() {
        let top = names().top(&[0.2, 0.4, 0.4], 2);
        assert_eq!(
            top.iter().map(|t| t.class).collect::<Vec<_>>(),
            vec![1, 2],
            "{top:?}"
        );
        assert_eq!(top[1].name, "great_white_shark");
        assert_eq!(top[1].readable_name(), "great white shark");
    }

    #[test]
    fn an_index_with_a_gap_is_refused() {
        let gap = br#"{"0": ["n1", "tench"], "2": ["n3", "shark"]}"#;
        assert!(ClassNames::from_keras_index(gap).is_err());
        assert!(ClassNames::from_keras_index(b"[1, 2]").is_err());
    }
}
