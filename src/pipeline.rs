//! Photo in, mask + verdict + Grad-CAM out: the one inference path that the browser (on WebGPU
//! or the CPU) and the native tests run. Each stage is its own async step so that the page can
//! yield to the browser between them and time them.

use burn::prelude::*;
use image::RgbImage;
use serde::Serialize;
use web_time::Instant;

use crate::data::{PhotoError, class_map_at, decode_photo, model_input};
use crate::explain::{ClassProbabilities, GradCam, Heatmap, LayerActivation, PetClass};
use crate::model::{
    Classifier, ClassifierConfig, LayerId, ModelKind, SEGMENT_CLASSES, Segmenter, SegmenterConfig,
};
use crate::readback::{ReadbackError, read_floats, read_scalar};
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
}

/// The median and 90th percentile of some milliseconds (the page's `?bench` report).
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct LatencySummary {
    pub median_ms: f64,
    pub p90_ms: f64,
}

impl LatencySummary {
    /// Nearest-rank quantiles of `samples`; NaN for none.
    pub fn of(samples: &[f64]) -> Self {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let quantile = |q: f64| {
            let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
            sorted.get(rank - 1).copied().unwrap_or(f64::NAN)
        };
        Self {
            median_ms: quantile(0.5),
            p90_ms: quantile(0.9),
        }
    }
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

/// Everything petlens says about one photo.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The upright RGB photo at its own resolution.
    pub photo: RgbImage,
    /// One class per photo pixel: 0 pet, 1 background, 2 border.
    pub mask: Vec<u8>,
    /// The segmenter's class probabilities at its own resolution (confidence, uncertainty).
    pub probabilities: ClassProbabilities,
    pub mask_fraction: MaskFraction,
    pub p_dog: f32,
    /// Grad-CAM for "cat" and "dog" on the classifier's last feature grid.
    pub heatmaps: [Heatmap; 2],
    pub timings: Timings,
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
}

/// The four files a release ships for the two models (in `www/models/`): each model's config
/// (JSON, what its architecture and input size are) and its weights (burnpack).
#[derive(Debug, Clone, Default)]
pub struct ShippedFiles {
    pub segmenter_config: Vec<u8>,
    pub segmenter: Vec<u8>,
    pub classifier_config: Vec<u8>,
    pub classifier: Vec<u8>,
}

impl ShippedFiles {
    /// The files' names, in the order of the fields.
    pub const NAMES: [&str; 4] = [
        "segmenter.json",
        "segmenter.bpk",
        "classifier.json",
        "classifier.bpk",
    ];

    /// The files in the order of [`ShippedFiles::NAMES`].
    pub fn from_vec(files: [Vec<u8>; 4]) -> Self {
        let [segmenter_config, segmenter, classifier_config, classifier] = files;
        Self {
            segmenter_config,
            segmenter,
            classifier_config,
            classifier,
        }
    }

    /// Reads the files from a directory (`www/models`).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read(dir: &std::path::Path) -> std::io::Result<Self> {
        let mut files: [Vec<u8>; 4] = Default::default();
        for (file, name) in files.iter_mut().zip(Self::NAMES) {
            let path = dir.join(name);
            *file = std::fs::read(&path)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        }
        Ok(Self::from_vec(files))
    }
}

fn parse_config<C: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<C, WeightsError> {
    serde_json::from_slice(bytes).map_err(|e| WeightsError::Config(e.to_string()))
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

/// What the segmenter says about one photo.
#[derive(Debug, Clone)]
pub struct Segmentation {
    /// One class per photo pixel: 0 pet, 1 background, 2 border.
    pub mask: Vec<u8>,
    /// The softmax at the model's resolution.
    pub probabilities: ClassProbabilities,
}

/// The segmentation of each of `photos` (masks at each photo's own resolution) by `segmenter`
/// at its input `size`: the page's path, which `train eval` runs in batches.
pub async fn segment_photos(
    segmenter: &Segmenter,
    size: usize,
    photos: &[&RgbImage],
    device: &Device,
) -> Result<Vec<Segmentation>, AnalysisError> {
    let probabilities = segmenter.probabilities(model_input(photos, size, device)); // [n, 3, s, s]
    let values = read_floats(probabilities, "the segmenter's probabilities").await?;
    let per_photo = SEGMENT_CLASSES.len() * size * size;
    Ok(values
        .chunks(per_photo)
        .zip(photos)
        .map(|(values, photo)| {
            let planes: Vec<Vec<f32>> = values.chunks(size * size).map(<[f32]>::to_vec).collect();
            Segmentation {
                mask: class_map_at(
                    &planes,
                    size,
                    photo.width() as usize,
                    photo.height() as usize,
                ),
                probabilities: ClassProbabilities {
                    size,
                    values: values.to_vec(),
                },
            }
        })
        .collect())
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

    /// The photo's segmentation: its mask at the photo's resolution and the probabilities.
    pub async fn segment(&self, photo: &RgbImage) -> Result<Segmentation, AnalysisError> {
        let segmentations =
            segment_photos(&self.segmenter, self.segmenter_size, &[photo], &self.device).await?;
        let segmentation = segmentations.into_iter().next();
        Ok(segmentation.ok_or(ReadbackError::Empty {
            what: "the segmenter's mask",
        })?)
    }

    /// The classifier's probability of "dog", averaged over the photo and its mirror image,
    /// with the (unflipped) photo's feature map that Grad-CAM explains.
    pub async fn classify(&self, photo: &RgbImage) -> Result<Verdict, AnalysisError> {
        let input = self.input(ModelKind::Classifier, photo);
        let (features, p_dog) = self.classifier.p_dog_flip_averaged(input); // [1, 512, h, w], [1, 1]
        let p_dog = read_scalar(p_dog, "the classifier's verdict").await?;
        Ok(Verdict { p_dog, features })
    }

    /// Grad-CAM of both classes at the last block.
    pub async fn gradcam(&self, verdict: &Verdict) -> Result<[Heatmap; 2], AnalysisError> {
        Ok(heatmaps_of(GradCam::new(&self.classifier), &verdict.features).await?)
    }

    /// Grad-CAM of both classes after residual block `depth` (`None`: the last), for a photo.
    pub async fn gradcam_at(
        &self,
        photo: &RgbImage,
        depth: Option<usize>,
    ) -> Result<[Heatmap; 2], AnalysisError> {
        let input = self.input(ModelKind::Classifier, photo);
        let features = self.classifier.features_at(input, depth); // [1, c, h, w]
        let cam = GradCam {
            classifier: &self.classifier,
            depth,
        };
        Ok(heatmaps_of(cam, &features).await?)
    }

    /// The activations of one layer for a photo.
    pub async fn layer_activation(
        &self,
        photo: &RgbImage,
        layer: &LayerId,
    ) -> Result<LayerActivation, AnalysisError> {
        let input = self.input(layer.model, photo);
        let tensor = match layer.model {
            ModelKind::Classifier => self.classifier.layer(input, &layer.layer),
            ModelKind::Segmenter => self.segmenter.layer(input, &layer.layer),
        }
        .ok_or_else(|| AnalysisError::UnknownLayer(layer.to_string()))?;
        Ok(LayerActivation::read(layer.layer.clone(), tensor).await?)
    }

    /// Every layer the activation viewer offers: the classifier's, then the segmenter's.
    pub fn layers(&self) -> Vec<LayerId> {
        let of = |model: ModelKind, names: Vec<String>| {
            names.into_iter().map(move |layer| LayerId { model, layer })
        };
        of(ModelKind::Classifier, self.classifier.layer_names())
            .chain(of(ModelKind::Segmenter, self.segmenter.layer_names()))
            .collect()
    }

    /// The whole analysis of one photo file.
    pub async fn analyze(&self, photo_bytes: &[u8]) -> Result<Analysis, AnalysisError> {
        let analysis = self.analyze_with(photo_bytes, async || true).await?;
        Ok(analysis.expect("a checkpoint that always continues never cancels"))
    }

    /// The analysis stage by stage (decode, segment, classify, Grad-CAM), calling
    /// `between_stages` after each: the browser yields to the event loop there, and a `false`
    /// answer (a newer photo arrived) stops the run with `Ok(None)`.
    pub async fn analyze_with(
        &self,
        photo_bytes: &[u8],
        mut between_stages: impl AsyncFnMut() -> bool,
    ) -> Result<Option<Analysis>, AnalysisError> {
        let mut timings = Timings::default();
        let start = Instant::now();
        let photo = decode_photo(photo_bytes)?;
        timings.decode = elapsed_ms(start);
        if !between_stages().await {
            return Ok(None);
        }
        let start = Instant::now();
        let Segmentation {
            mask,
            probabilities,
        } = self.segment(&photo).await?;
        timings.segment = elapsed_ms(start);
        if !between_stages().await {
            return Ok(None);
        }
        let start = Instant::now();
        let verdict = self.classify(&photo).await?;
        timings.classify = elapsed_ms(start);
        if !between_stages().await {
            return Ok(None);
        }
        let start = Instant::now();
        let heatmaps = self.gradcam(&verdict).await?;
        timings.gradcam = elapsed_ms(start);
        Ok(Some(Analysis {
            mask_fraction: MaskFraction::of(&mask),
            photo,
            mask,
            probabilities,
            p_dog: verdict.p_dog,
            heatmaps,
            timings,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_summary_takes_nearest_rank_quantiles() {
        let samples: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        assert_eq!(
            LatencySummary::of(&samples),
            LatencySummary {
                median_ms: 5.0,
                p90_ms: 9.0
            }
        );
        assert_eq!(LatencySummary::of(&[7.0]).p90_ms, 7.0);
        assert!(LatencySummary::of(&[]).median_ms.is_nan());
    }
}
