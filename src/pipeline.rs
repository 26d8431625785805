//! Photo in, mask + verdict + Grad-CAM out: the one inference path that the browser (on WebGPU
//! or the CPU) and the native tests run. Each stage is its own async step so that the page can
//! yield to the browser between them and time them.

use burn::prelude::*;
use image::RgbImage;
use serde::Serialize;
use web_time::Instant;

use crate::data::{PhotoError, class_map_at, decode_photo, images_to_tensor, resize_for_model};
use crate::explain::{GradCam, Heatmap, LayerActivation, PetClass};
use crate::model::{Classifier, ClassifierConfig, Segmenter, SegmenterConfig};
use crate::weights::{self, WeightsError};

/// Why an analysis failed.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("{0}")]
    Photo(#[from] PhotoError),
    #[error("the inference backend failed: {0}")]
    Backend(String),
}

/// Milliseconds spent in each stage.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Timings {
    pub decode: f64,
    pub segment: f64,
    pub classify: f64,
    pub gradcam: f64,
}

/// Share of the photo's pixels in each segmentation class.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
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

/// The two models, loaded, on one device.
#[derive(Debug)]
pub struct Pipeline {
    pub segmenter: Segmenter,
    pub classifier: Classifier,
    pub segmenter_size: usize,
    pub classifier_size: usize,
    pub device: Device,
}

fn elapsed_ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// Reads a tensor back (asynchronously: the browser cannot block on the GPU).
pub async fn read_floats<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, AnalysisError> {
    tensor
        .into_data_async()
        .await
        .map_err(|e| AnalysisError::Backend(format!("{e:?}")))?
        .try_to_vec::<f32>()
        .map_err(|e| AnalysisError::Backend(format!("{e:?}")))
}

/// Grad-CAM of both classes from one feature map `[1, c, h, w]`.
async fn heatmaps_of(
    cam: GradCam<'_>,
    features: &Tensor<4>,
) -> Result<[Heatmap; 2], AnalysisError> {
    let cat = cam.heatmap(features.clone(), PetClass::Cat).await;
    let dog = cam.heatmap(features.clone(), PetClass::Dog).await;
    match (cat, dog) {
        (Ok(cat), Ok(dog)) => Ok([cat, dog]),
        (Err(e), _) | (_, Err(e)) => Err(AnalysisError::Backend(e)),
    }
}

impl Pipeline {
    /// Builds both models from the files shipped together, as fetched by the page or read by
    /// `train`: each model's architecture and input size come from its own config file, never
    /// from defaults in the code.
    pub fn from_shipped(files: &ShippedFiles, device: &Device) -> Result<Self, WeightsError> {
        Self::from_parts(
            parse_config(&files.segmenter_config)?,
            &files.segmenter,
            parse_config(&files.classifier_config)?,
            &files.classifier,
            device,
        )
    }

    /// Loads weights of the given architectures.
    pub fn from_parts(
        segmenter_config: SegmenterConfig,
        segmenter: &[u8],
        classifier_config: ClassifierConfig,
        classifier: &[u8],
        device: &Device,
    ) -> Result<Self, WeightsError> {
        // Decoded on the CPU and moved to `device` afterwards: the weights are stored in f16,
        // which a WebGPU adapter without `shader-f16` cannot hold even for the cast to f32.
        let cpu = Device::flex();
        Ok(Self {
            segmenter: weights::from_bytes(segmenter_config.init(&cpu), segmenter)?
                .to_device(device)
                .valid(),
            classifier: weights::from_bytes(classifier_config.init(&cpu), classifier)?
                .to_device(device)
                .valid(),
            segmenter_size: segmenter_config.image_size,
            classifier_size: classifier_config.image_size,
            device: device.clone(),
        })
    }

    /// Segmentation mask at the photo's resolution.
    pub async fn segment(&self, photo: &RgbImage) -> Result<Vec<u8>, AnalysisError> {
        let size = self.segmenter_size;
        let input = resize_for_model(photo, size as u32);
        let probabilities = self
            .segmenter
            .probabilities(images_to_tensor(&[&input], &self.device)); // [1, 3, s, s]
        let values = read_floats(probabilities).await?;
        let planes: Vec<Vec<f32>> = values.chunks(size * size).map(<[f32]>::to_vec).collect();
        Ok(class_map_at(
            &planes,
            size,
            photo.width() as usize,
            photo.height() as usize,
        ))
    }

    /// The classifier's probability of "dog", averaged over the photo and its mirror image,
    /// with the (unflipped) photo's feature map that Grad-CAM explains.
    pub async fn classify(&self, photo: &RgbImage) -> Result<Verdict, AnalysisError> {
        let input = resize_for_model(photo, self.classifier_size as u32);
        let (features, p_dog) = self
            .classifier
            .p_dog_flip_averaged(images_to_tensor(&[&input], &self.device)); // [1, 512, h, w], [1, 1]
        let p_dog = read_floats(p_dog)
            .await?
            .first()
            .copied()
            .ok_or_else(|| AnalysisError::Backend("the classifier returned nothing".into()))?;
        Ok(Verdict { p_dog, features })
    }

    /// Grad-CAM of both classes at the last block.
    pub async fn gradcam(&self, verdict: &Verdict) -> Result<[Heatmap; 2], AnalysisError> {
        heatmaps_of(GradCam::new(&self.classifier), &verdict.features).await
    }

    /// Grad-CAM of both classes after residual block `depth` (`None`: the last), for a photo.
    pub async fn gradcam_at(
        &self,
        photo: &RgbImage,
        depth: Option<usize>,
    ) -> Result<[Heatmap; 2], AnalysisError> {
        let input = resize_for_model(photo, self.classifier_size as u32);
        let features = self
            .classifier
            .features_at(images_to_tensor(&[&input], &self.device), depth); // [1, c, h, w]
        let cam = GradCam {
            classifier: &self.classifier,
            depth,
        };
        heatmaps_of(cam, &features).await
    }

    /// The activations of one layer for a photo: `classifier.<layer>` or `segmenter.<layer>`
    /// as listed by [`Pipeline::layer_names`].
    pub async fn layer_activation(
        &self,
        photo: &RgbImage,
        qualified: &str,
    ) -> Result<LayerActivation, AnalysisError> {
        let unknown = || AnalysisError::Backend(format!("no layer named {qualified}"));
        let (model, layer) = qualified.split_once('.').ok_or_else(unknown)?;
        let tensor = match model {
            "classifier" => {
                let input = resize_for_model(photo, self.classifier_size as u32);
                self.classifier
                    .layer(images_to_tensor(&[&input], &self.device), layer)
            }
            "segmenter" => {
                let input = resize_for_model(photo, self.segmenter_size as u32);
                self.segmenter
                    .layer(images_to_tensor(&[&input], &self.device), layer)
            }
            _ => None,
        }
        .ok_or_else(unknown)?;
        LayerActivation::read(layer.to_string(), tensor)
            .await
            .map_err(AnalysisError::Backend)
    }

    /// Every layer the activation viewer offers, qualified by model (`classifier.stem`, …).
    pub fn layer_names(&self) -> Vec<String> {
        let classifier = self.classifier.layer_names().into_iter();
        let segmenter = self.segmenter.layer_names().into_iter();
        classifier
            .map(|n| format!("classifier.{n}"))
            .chain(segmenter.map(|n| format!("segmenter.{n}")))
            .collect()
    }

    /// The whole analysis of one photo.
    pub async fn analyze(&self, photo_bytes: &[u8]) -> Result<Analysis, AnalysisError> {
        let start = Instant::now();
        let photo = decode_photo(photo_bytes)?;
        let decode = elapsed_ms(start);
        self.analyze_photo(photo, decode).await
    }

    /// The analysis of an already decoded photo (`decode_ms`: what decoding took).
    pub async fn analyze_photo(
        &self,
        photo: RgbImage,
        decode_ms: f64,
    ) -> Result<Analysis, AnalysisError> {
        let analysis = self
            .analyze_photo_with(photo, decode_ms, async || true)
            .await?;
        Ok(analysis.expect("a checkpoint that always continues never cancels"))
    }

    /// The analysis, calling `between_stages` after each stage: the browser yields to the event
    /// loop there, and a `false` answer (a newer photo arrived) stops the run with `Ok(None)`.
    pub async fn analyze_photo_with(
        &self,
        photo: RgbImage,
        decode_ms: f64,
        mut between_stages: impl AsyncFnMut() -> bool,
    ) -> Result<Option<Analysis>, AnalysisError> {
        let start = Instant::now();
        let mask = self.segment(&photo).await?;
        let segment = elapsed_ms(start);
        if !between_stages().await {
            return Ok(None);
        }
        let start = Instant::now();
        let verdict = self.classify(&photo).await?;
        let classify = elapsed_ms(start);
        if !between_stages().await {
            return Ok(None);
        }
        let start = Instant::now();
        let heatmaps = self.gradcam(&verdict).await?;
        let gradcam = elapsed_ms(start);
        Ok(Some(Analysis {
            mask_fraction: MaskFraction::of(&mask),
            photo,
            mask,
            p_dog: verdict.p_dog,
            heatmaps,
            timings: Timings {
                decode: decode_ms,
                segment,
                classify,
                gradcam,
            },
        }))
    }
}
