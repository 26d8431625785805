//! Photo in, mask + verdict + Grad-CAM out: the one inference path that the browser (on WebGPU
//! or the CPU) and the native tests run. Each stage is its own async step so that the page can
//! yield to the browser between them and time them.

use burn::prelude::*;
use image::RgbImage;
use serde::{Deserialize, Serialize};
use web_time::Instant;

use crate::card::ModelCard;
use crate::data::{PhotoError, decode_photo, model_input};
use crate::explain::{ClassProbabilities, GradCam, Heatmap, LayerActivation, PetClass};
use crate::imagenet::TopClass;
use crate::model::{
    Classifier, ClassifierConfig, LayerId, Layered, ModelKind, Network, Segmenter, SegmenterConfig,
};
use crate::readback::{ReadbackError, read_scalar};
use crate::segmentation::{Segmentation, segmentations};
use crate::shipped::ShippedFiles;
use crate::weights::{self, WeightsError};

/// Why an analysis failed.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("{0}")]
    Photo(#[from] PhotoError),
    #[error(transparent)]
    Readback(#[from] ReadbackError),
    #[error("there is no layer named {0}")]
    UnknownLayer(String),
}

/// Milliseconds spent in each stage.
#[derive(Debug, Clone, Copy, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct Timings {
    pub decode: f64,
    pub segment: f64,
    pub classify: f64,
    pub gradcam: f64,
    /// The ImageNet network's reading (`crate::imagenet::ImagenetModel::read`); 0 without it.
    #[serde(default)]
    pub imagenet: f64,
    /// The whole analysis as the page waited for it, from sending the photo to the models'
    /// threads to their answer: less than the stages' sum where two threads ran it. 0 natively.
    #[serde(default)]
    pub wall: f64,
}

/// Share of the photo's pixels in each segmentation class.
#[derive(Debug, Clone, Copy, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct MaskFraction {
    pub pet: f64,
    pub background: f64,
    pub border: f64,
}

impl MaskFraction {
    /// Counts the classes of a mask (0 pet, 1 background, 2 border).
    pub fn of(mask: &[u8]) -> Self {
        let mut counts = [0usize; 3];
        for &c in mask {
            counts[usize::from(c).min(2)] += 1;
        }
        let n = mask.len().max(1) as f64;
        Self {
            pet: counts[0] as f64 / n,
            background: counts[1] as f64 / n,
            border: counts[2] as f64 / n,
        }
    }
}

/// The classifier's verdict and what it looked at.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub p_dog: f32,
    /// `[1, c, h, w]` output of the last block, kept for Grad-CAM.
    pub features: Tensor<4>,
}

impl Verdict {
    /// The more likely class.
    pub fn label(&self) -> PetClass {
        PetClass::from_p_dog(self.p_dog)
    }
}

/// One cat-vs-dog classifier's P(dog) for a photo, named as its files are (`classifier`,
/// `feature_classifier`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelVerdict {
    pub model: String,
    pub p_dog: f32,
}

/// One segmenter's mask of a photo, named as its files are (`segmenter`, `feature_segmenter`).
#[derive(Debug, Clone)]
pub struct ModelMask {
    pub model: String,
    /// One class per photo pixel: 0 pet, 1 background, 2 border.
    pub pixels: Vec<u8>,
    /// The segmenter's class probabilities at its own resolution (confidence, uncertainty).
    pub probabilities: ClassProbabilities,
    pub fraction: MaskFraction,
}

impl ModelMask {
    pub fn new(model: &str, segmentation: Segmentation) -> Self {
        Self {
            model: model.into(),
            fraction: MaskFraction::of(&segmentation.mask),
            pixels: segmentation.mask,
            probabilities: segmentation.probabilities,
        }
    }
}

/// Which model of each pair the page shows first: the one on the ImageNet network's features
/// where the card says it is the better one on validation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultModels {
    pub feature_verdict: bool,
    pub feature_mask: bool,
}

impl DefaultModels {
    /// From this release's card (none: the chapter's models stay the defaults).
    pub fn of(card: Option<&ModelCard>) -> Self {
        card.map_or_else(Self::default, |card| Self {
            feature_verdict: card.feature_verdict_is_better(),
            feature_mask: card.feature_mask_is_better(),
        })
    }
}

/// Everything petlens says about one photo.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The upright RGB photo at its own resolution.
    pub photo: RgbImage,
    /// The mask shown: the default one (the segmenter better on validation, of those run) until
    /// the reader picks another.
    pub mask: ModelMask,
    /// The other segmenters' masks (the one on the ImageNet network's features where it ran).
    pub other_masks: Vec<ModelMask>,
    /// The default verdict's P(dog): the classifier better on validation, of those run.
    pub p_dog: f32,
    /// Every classifier's verdict, the default one (`p_dog`'s) first: the chapter's model, and
    /// the one on the ImageNet network's features where it ran.
    pub verdicts: Vec<ModelVerdict>,
    /// Grad-CAM for "cat" and "dog" on the classifier's last feature grid.
    pub heatmaps: [Heatmap; 2],
    pub timings: Timings,
    /// What the ImageNet network sees, its most probable classes first (empty without it).
    pub imagenet_top: Vec<TopClass>,
}

impl Analysis {
    /// The more likely class.
    pub fn label(&self) -> PetClass {
        PetClass::from_p_dog(self.p_dog)
    }

    /// The heatmap of one class.
    pub fn heatmap(&self, class: PetClass) -> &Heatmap {
        &self.heatmaps[class as usize]
    }

    /// Every segmenter's name, the shown one first.
    pub fn mask_models(&self) -> Vec<String> {
        std::iter::once(&self.mask)
            .chain(&self.other_masks)
            .map(|m| m.model.clone())
            .collect()
    }

    /// Shows segmenter `model`'s mask (false when it did not run on this photo): its mask
    /// changes places with the one shown.
    pub fn show_mask(&mut self, model: &str) -> bool {
        self.other_mask_index(model).is_some_and(|i| {
            std::mem::swap(&mut self.mask, &mut self.other_masks[i]);
            true
        })
    }

    /// Where segmenter `model`'s mask is in [`Analysis::other_masks`].
    pub fn other_mask_index(&self, model: &str) -> Option<usize> {
        self.other_masks.iter().position(|m| m.model == model)
    }
}

fn parse_config<C: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<C, WeightsError> {
    serde_json::from_slice(bytes).map_err(|e| WeightsError::Config(e.to_string()))
}

/// A photo as each model sees it: what a later request about the same photo (Grad-CAM at another
/// block, a layer's activations) needs, a few hundred kB where the photo may be 192 MB.
#[derive(Debug, Clone)]
pub struct ModelInputs {
    /// `[1, 3, s, s]` at the segmenter's input size.
    pub segmenter: Tensor<4>,
    /// `[1, 3, s, s]` at the classifier's input size.
    pub classifier: Tensor<4>,
}

impl ModelInputs {
    /// The input of `model`.
    pub fn of(&self, model: ModelKind) -> &Tensor<4> {
        match model {
            ModelKind::Segmenter => &self.segmenter,
            ModelKind::Classifier => &self.classifier,
        }
    }
}

/// The two models, loaded, on one device, with their input sizes.
#[derive(Debug)]
pub struct Pipeline {
    segmenter: Segmenter,
    classifier: Classifier,
    segmenter_size: usize,
    classifier_size: usize,
    device: Device,
}

fn elapsed_ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// Grad-CAM of both classes from one feature map `[1, c, h, w]`.
async fn heatmaps_of(
    cam: GradCam<'_>,
    features: &Tensor<4>,
) -> Result<[Heatmap; 2], ReadbackError> {
    let cat = cam.heatmap(features.clone(), PetClass::Cat).await?;
    let dog = cam.heatmap(features.clone(), PetClass::Dog).await?;
    Ok([cat, dog])
}

/// The activations of `network`'s `layer` for its `input`.
pub async fn read_layer(
    net: &dyn Layered,
    input: Tensor<4>,
    network: Network,
    layer: &str,
) -> Result<LayerActivation, AnalysisError> {
    let tensor = net.layer_output(input, layer).ok_or_else(|| {
        AnalysisError::UnknownLayer(
            LayerId {
                network,
                layer: layer.into(),
            }
            .to_string(),
        )
    })?;
    Ok(LayerActivation::read(layer.to_string(), tensor).await?)
}

impl Pipeline {
    /// Builds both models from the files shipped together, as fetched by the page or read by
    /// `train`: each model's architecture and input size come from its own config file, never
    /// from defaults in the code.
    pub fn from_shipped(files: &ShippedFiles, device: &Device) -> Result<Self, WeightsError> {
        let segmenter_config: SegmenterConfig = parse_config(&files.segmenter_config)?;
        let classifier_config: ClassifierConfig = parse_config(&files.classifier_config)?;
        // Decoded on the CPU and moved to `device` afterwards: the weights are stored in f16,
        // which a WebGPU adapter without `shader-f16` cannot hold even for the cast to f32.
        let cpu = Device::flex();
        Ok(Self {
            segmenter: weights::from_bytes(segmenter_config.init(&cpu), &files.segmenter)?
                .to_device(device)
                .valid(),
            classifier: weights::from_bytes(classifier_config.init(&cpu), &files.classifier)?
                .to_device(device)
                .valid(),
            segmenter_size: segmenter_config.image_size,
            classifier_size: classifier_config.image_size,
            device: device.clone(),
        })
    }

    pub fn segmenter(&self) -> &Segmenter {
        &self.segmenter
    }

    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    /// Where the models run.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The square input size a model was trained at.
    pub fn input_size(&self, model: ModelKind) -> usize {
        match model {
            ModelKind::Segmenter => self.segmenter_size,
            ModelKind::Classifier => self.classifier_size,
        }
    }

    /// A photo as `model`'s input, `[1, 3, s, s]` on the pipeline's device.
    pub fn input(&self, model: ModelKind, photo: &RgbImage) -> Tensor<4> {
        model_input(&[photo], self.input_size(model), &self.device)
    }

    /// A photo as both models' inputs (for requests about a photo outside an analysis).
    pub fn inputs(&self, photo: &RgbImage) -> ModelInputs {
        ModelInputs {
            segmenter: self.input(ModelKind::Segmenter, photo),
            classifier: self.input(ModelKind::Classifier, photo),
        }
    }

    /// The segmentation of a photo of `size` (width, height) from the segmenter's `input`
    /// (`[1, 3, s, s]`): its mask at the photo's resolution and the probabilities.
    pub async fn segment(
        &self,
        input: Tensor<4>,
        size: (u32, u32),
    ) -> Result<Segmentation, AnalysisError> {
        let segmentations = segmentations(self.segmenter.probabilities(input), &[size]).await?;
        let segmentation = segmentations.into_iter().next();
        Ok(segmentation.ok_or(ReadbackError::Empty {
            what: "the segmenter's mask",
        })?)
    }

    /// The classifier's probability of "dog" for its `input` (`[1, 3, s, s]`), averaged over the
    /// photo and its mirror image, with the (unflipped) photo's feature map that Grad-CAM explains.
    pub async fn classify(&self, input: Tensor<4>) -> Result<Verdict, AnalysisError> {
        let (features, p_dog) = self.classifier.p_dog_flip_averaged(input); // [1, 512, h, w], [1, 1]
        let p_dog = read_scalar(p_dog, "the classifier's verdict").await?;
        Ok(Verdict { p_dog, features })
    }

    /// Grad-CAM of both classes at the last block.
    pub async fn gradcam(&self, verdict: &Verdict) -> Result<[Heatmap; 2], AnalysisError> {
        Ok(heatmaps_of(GradCam::new(&self.classifier), &verdict.features).await?)
    }

    /// Grad-CAM of both classes after residual block `depth` (`None`: the last), for the
    /// classifier's input of a photo (`[1, 3, s, s]`).
    pub async fn gradcam_at(
        &self,
        input: &Tensor<4>,
        depth: Option<usize>,
    ) -> Result<[Heatmap; 2], AnalysisError> {
        let features = self.classifier.features_at(input.clone(), depth); // [1, c, h, w]
        let cam = GradCam {
            classifier: &self.classifier,
            depth,
        };
        Ok(heatmaps_of(cam, &features).await?)
    }

    /// The activations of a layer of one of the two models for a photo's inputs.
    pub async fn layer_activation(
        &self,
        inputs: &ModelInputs,
        model: ModelKind,
        layer: &str,
    ) -> Result<LayerActivation, AnalysisError> {
        let net: &dyn Layered = match model {
            ModelKind::Classifier => &self.classifier,
            ModelKind::Segmenter => &self.segmenter,
        };
        read_layer(net, inputs.of(model).clone(), Network::Model(model), layer).await
    }

    /// Every layer the activation viewer offers: the classifier's, then the segmenter's.
    pub fn layers(&self) -> Vec<LayerId> {
        let of = |model: ModelKind, names: Vec<String>| {
            names.into_iter().map(move |layer| LayerId {
                network: Network::Model(model),
                layer,
            })
        };
        of(ModelKind::Classifier, self.classifier.layer_names())
            .chain(of(ModelKind::Segmenter, self.segmenter.layer_names()))
            .collect()
    }

    /// The whole analysis of one photo file.
    pub async fn analyze(&self, photo_bytes: &[u8]) -> Result<Analysis, AnalysisError> {
        let analysed = self.analyze_with(photo_bytes, async || true).await?;
        let (analysis, _) = analysed.expect("a checkpoint that always continues never cancels");
        Ok(analysis)
    }

    /// The analysis stage by stage (decode, segment, classify, Grad-CAM), calling
    /// `between_stages` after each: the browser yields to the event loop there, and a `false`
    /// answer (a newer photo arrived) stops the run with `Ok(None)`. Returns the models' inputs
    /// too, for later requests about the same photo.
    pub async fn analyze_with(
        &self,
        photo_bytes: &[u8],
        mut between_stages: impl AsyncFnMut() -> bool,
    ) -> Result<Option<(Analysis, ModelInputs)>, AnalysisError> {
        let mut timings = Timings::default();
        let start = Instant::now();
        let photo = decode_photo(photo_bytes)?;
        timings.decode = elapsed_ms(start);
        if !between_stages().await {
            return Ok(None);
        }
        let start = Instant::now();
        let segmenter_input = self.input(ModelKind::Segmenter, &photo);
        let segmentation = self
            .segment(segmenter_input.clone(), photo.dimensions())
            .await?;
        timings.segment = elapsed_ms(start);
        if !between_stages().await {
            return Ok(None);
        }
        let start = Instant::now();
        let inputs = ModelInputs {
            segmenter: segmenter_input,
            classifier: self.input(ModelKind::Classifier, &photo),
        };
        let verdict = self.classify(inputs.classifier.clone()).await?;
        timings.classify = elapsed_ms(start);
        if !between_stages().await {
            return Ok(None);
        }
        let start = Instant::now();
        let heatmaps = self.gradcam(&verdict).await?;
        timings.gradcam = elapsed_ms(start);
        let analysis = Analysis {
            photo,
            mask: ModelMask::new(ModelKind::Segmenter.name(), segmentation),
            other_masks: Vec::new(),
            p_dog: verdict.p_dog,
            verdicts: vec![ModelVerdict {
                model: ModelKind::Classifier.name().into(),
                p_dog: verdict.p_dog,
            }],
            heatmaps,
            timings,
            imagenet_top: Vec::new(),
        };
        Ok(Some((analysis, inputs)))
    }
}
