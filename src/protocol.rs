//! The only thing the page (`crate::app`) and the models' thread (`crate::worker`, a
//! dedicated Web Worker running this same wasm module) share: the messages between them, a typed
//! request or reply as JSON with its large arrays alongside as typed arrays whose buffers are
//! transferred, not copied. Every request about a photo names its analysis (the id of the
//! `Analyze` request that brought the photo in) and so does its reply, so that neither side
//! can pair an answer with the wrong photo.

use serde::{Deserialize, Serialize};

use crate::imagenet::TopClass;
use crate::pipeline::{DefaultModels, MaskFraction, ModelVerdict, Timings};
use crate::shipped::Manifest;

/// Where the models run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    WebGpu,
    Cpu,
}

impl Backend {
    /// The name in the page and in `data-result`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::WebGpu => "webgpu",
            Backend::Cpu => "cpu",
        }
    }
}

/// One segmenter's mask in an analysis reply, whose arrays travel beside the message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaskSummary {
    /// The segmenter, named as its files are (`segmenter`, `feature_segmenter`).
    pub model: String,
    pub fraction: MaskFraction,
    /// The side of its probabilities' square grid (its input size).
    pub probabilities_size: usize,
}

impl MaskSummary {
    pub fn of(mask: &crate::pipeline::ModelMask) -> Self {
        Self {
            model: mask.model.clone(),
            fraction: mask.fraction,
            probabilities_size: mask.probabilities.size,
        }
    }
}

/// The ImageNet network's reading in a `Reading` reply, whose mask's arrays travel beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadingSummary {
    pub top: Vec<TopClass>,
    pub ms: f64,
    pub p_dog: Option<f32>,
    pub mask: Option<MaskSummary>,
    pub defaults: DefaultModels,
}

/// Which model is downloading, and how far it got.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadProgress {
    pub model: String,
    pub received: usize,
    pub total: Option<usize>,
}

/// What the page asks of the models' thread. Requests with an `id` are answered with it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Request {
    /// Pick the backend (`None`: WebGPU when there is one), fetch the weights, build the models.
    /// The pool's later threads get the first one's `manifest`, so that every thread runs the
    /// same release (and the manifest is read once per visit); `None`: read it.
    Load {
        backend: Option<Backend>,
        #[serde(default)]
        manifest: Option<Manifest>,
    },
    /// Fetch and build the imported network called `network` (`imagenet`: the shipped
    /// MobileNet; `xception`, where one was imported), after `Load`, in place of the one
    /// loaded; analyses wait for it to finish (or fail) and then carry its reading.
    LoadImagenet { network: String },
    /// Analyse the photo file in `bytes[0]` with the chapter's models; `id` becomes the
    /// analysis's id. With `read`, the ImageNet network's reading too (where one thread does
    /// both); without, another thread of the pool reads the photo (`Read`) at the same time. A
    /// newer `Analyze` or `Read` cancels this one.
    Analyze {
        id: u64,
        #[serde(default)]
        read: bool,
    },
    /// The ImageNet network's reading of the photo file in `bytes[0]` for analysis `id` (its
    /// classes, and the verdict and mask on its features). A newer `Analyze` or `Read` cancels
    /// this one.
    Read { id: u64 },
    /// Grad-CAM of classifier `model` (`classifier`, `feature_classifier`) after its block
    /// `depth` (`None`: the last) of analysis `analysis`.
    GradCam {
        id: u64,
        analysis: u64,
        model: String,
        depth: Option<usize>,
    },
    /// Grad-CAM of ImageNet class `class` after MobileNet block `depth` (`None`: the last) of
    /// analysis `analysis`.
    ImagenetGradCam {
        id: u64,
        analysis: u64,
        class: usize,
        depth: Option<usize>,
    },
    /// One layer's activations (`<model>.<layer>`) for analysis `analysis`.
    Layer {
        id: u64,
        analysis: u64,
        layer: String,
    },
    /// Filter patterns of filters `first..first + count` of a classifier or ImageNet layer;
    /// with `robust`, each beside its robust pattern ([`crate::explain::RobustAscent`]).
    Filters {
        id: u64,
        layer: String,
        first: usize,
        count: usize,
        #[serde(default)]
        robust: bool,
    },
    /// Stop the filter patterns of `id` at their next step.
    Cancel { id: u64 },
    /// The page's `?bench=N` report.
    Bench { runs: usize },
}

/// The reply keys of the requests and replies that carry no id of their own (ids the page
/// hands out count up from 1 and never reach these).
pub const IMAGENET: u64 = u64::MAX - 3;
pub const STARTED: u64 = u64::MAX - 2;
pub const BENCH: u64 = u64::MAX - 1;
pub const LOADED: u64 = u64::MAX;

impl Request {
    /// The key its reply (or its failure) is delivered under.
    pub fn key(&self) -> u64 {
        match self {
            Request::Load { .. } => LOADED,
            Request::LoadImagenet { .. } => IMAGENET,
            Request::Bench { .. } => BENCH,
            Request::Analyze { id, .. }
            | Request::Read { id }
            | Request::GradCam { id, .. }
            | Request::ImagenetGradCam { id, .. }
            | Request::Layer { id, .. }
            | Request::Filters { id, .. }
            | Request::Cancel { id } => *id,
        }
    }
}

/// What the models' thread answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reply {
    /// The thread runs and takes requests.
    Started,
    /// Weights downloaded so far.
    Progress {
        model: String,
        received: usize,
        total: Option<usize>,
    },
    Loaded {
        backend: Backend,
        /// Why WebGPU was not used, when it was not.
        notice: Option<String>,
        layers: Vec<String>,
        /// Residual blocks of the classifier (Grad-CAM's depth choices).
        blocks: usize,
        /// The release's manifest the thread loaded (`None` where none could be read).
        #[serde(default)]
        manifest: Option<Manifest>,
    },
    /// The ImageNet network is ready.
    ImagenetLoaded {
        /// Its name (`imagenet`, `xception`).
        network: String,
        /// The imported networks this release ships (the page offers each).
        available: Vec<String>,
        /// Its architecture in words.
        architecture: String,
        /// Its depthwise separable blocks (Grad-CAM's depth choices).
        blocks: usize,
        /// Its layers for the activation viewer (`imagenet.<layer>`).
        layers: Vec<String>,
    },
    /// An analysis: `bytes` = [photo RGB, display photo RGB, then per mask: mask, display
    /// mask], `floats` = [cat heatmap, dog heatmap, display cat heatmap, display dog heatmap,
    /// then per mask: probabilities, display uncertainty].
    Analysis {
        id: u64,
        size: [u32; 2],
        display: [u32; 2],
        p_dog: f32,
        /// Every segmenter's mask, the default one (shown) first, in the order of the arrays.
        masks: Vec<MaskSummary>,
        timings: Timings,
        /// Width and height of the Grad-CAM maps.
        heatmap: [usize; 2],
        /// The models' thread's wasm memory, for the soak test.
        memory_bytes: usize,
        /// The ImageNet network's top classes (empty when it is not available).
        imagenet_top: Vec<TopClass>,
        /// Every classifier's verdict (`p_dog` is the default one's).
        verdicts: Vec<ModelVerdict>,
    },
    /// The ImageNet network's reading of analysis `id`'s photo (`None` without the network):
    /// with a mask, `bytes` = [mask, display mask] and `floats` = [probabilities, display
    /// uncertainty].
    Reading {
        id: u64,
        reading: Option<ReadingSummary>,
        /// This thread's wasm memory.
        memory_bytes: usize,
    },
    /// Grad-CAM maps of classifier `model` for analysis `analysis` after block `depth`:
    /// `floats` = [cat, dog].
    Heatmaps {
        id: u64,
        analysis: u64,
        model: String,
        depth: Option<usize>,
        heatmap: [usize; 2],
    },
    /// The ImageNet Grad-CAM map of `class` for analysis `analysis`: `floats` = `[map]`.
    ImagenetHeatmap {
        id: u64,
        analysis: u64,
        class: usize,
        depth: Option<usize>,
        heatmap: [usize; 2],
    },
    /// A layer's activations for analysis `analysis`: `floats` = `[values]`.
    Layer {
        id: u64,
        analysis: u64,
        name: String,
        shape: [usize; 3],
    },
    /// Gradient-ascent steps done of all.
    FilterProgress {
        id: u64,
        done: usize,
        total: usize,
    },
    /// The patterns, each of `size`: `bytes` = one RGB image per pattern, and each pattern's
    /// activation before and after (with `robust`, each filter's plain pattern, then its robust
    /// one). The page sets the patterns of all the pool's threads in one grid.
    Filters {
        id: u64,
        size: [u32; 2],
        rises: Vec<(f32, f32)>,
    },
    Bench {
        report: String,
    },
    /// A newer request replaced this one, or it was cancelled.
    Cancelled {
        id: u64,
    },
    Failed {
        id: u64,
        message: String,
    },
}

impl Reply {
    /// The key of the request this answers; `None` for progress, which listeners take.
    pub fn key(&self) -> Option<u64> {
        match self {
            Reply::Started => Some(STARTED),
            Reply::Loaded { .. } => Some(LOADED),
            Reply::ImagenetLoaded { .. } => Some(IMAGENET),
            Reply::Bench { .. } => Some(BENCH),
            Reply::Analysis { id, .. }
            | Reply::Reading { id, .. }
            | Reply::Heatmaps { id, .. }
            | Reply::ImagenetHeatmap { id, .. }
            | Reply::Layer { id, .. }
            | Reply::Filters { id, .. }
            | Reply::Cancelled { id }
            | Reply::Failed { id, .. } => Some(*id),
            Reply::Progress { .. } | Reply::FilterProgress { .. } => None,
        }
    }
}

/// A message with its arrays (the bytes of a photo file, RGB images, masks; float maps).
#[derive(Debug, Default)]
pub struct Envelope<T> {
    pub message: Option<T>,
    pub bytes: Vec<Vec<u8>>,
    pub floats: Vec<Vec<f32>>,
}

impl<T: Serialize + for<'de> Deserialize<'de>> Envelope<T> {
    pub fn new(message: T) -> Self {
        Self {
            message: Some(message),
            bytes: Vec::new(),
            floats: Vec::new(),
        }
    }

    pub fn with_bytes(mut self, bytes: Vec<Vec<u8>>) -> Self {
        self.bytes = bytes;
        self
    }

    pub fn with_floats(mut self, floats: Vec<Vec<f32>>) -> Self {
        self.floats = floats;
        self
    }
}

#[cfg(target_arch = "wasm32")]
impl<T: Serialize + for<'de> Deserialize<'de>> Envelope<T> {
    /// The JS object to post, and the buffers to transfer with it.
    pub fn to_js(&self) -> Result<(wasm_bindgen::JsValue, js_sys::Array), String> {
        use js_sys::{Array, Float32Array, Object, Reflect, Uint8Array};
        let meta = serde_json::to_string(&self.message).map_err(|e| e.to_string())?;
        let object = Object::new();
        let transfer = Array::new();
        let bytes: Array = self
            .bytes
            .iter()
            .map(|b| {
                let array = Uint8Array::from(b.as_slice());
                transfer.push(&array.buffer());
                array
            })
            .collect();
        let floats: Array = self
            .floats
            .iter()
            .map(|f| {
                let array = Float32Array::from(f.as_slice());
                transfer.push(&array.buffer());
                array
            })
            .collect();
        let set =
            |key: &str, value: &wasm_bindgen::JsValue| Reflect::set(&object, &key.into(), value);
        set("meta", &meta.into())
            .and_then(|_| set("bytes", &bytes))
            .and_then(|_| set("floats", &floats))
            .map_err(|e| format!("{e:?}"))?;
        Ok((object.into(), transfer))
    }

    /// Reads a posted object back.
    pub fn from_js(value: &wasm_bindgen::JsValue) -> Result<Self, String> {
        use js_sys::{Array, Float32Array, Reflect, Uint8Array};
        use wasm_bindgen::JsCast;
        let get = |key: &str| Reflect::get(value, &key.into()).map_err(|e| format!("{e:?}"));
        let meta = get("meta")?.as_string().ok_or("a message without meta")?;
        let message = serde_json::from_str(&meta).map_err(|e| format!("{e}: {meta}"))?;
        let arrays = |key: &str| -> Result<Array, String> {
            get(key)?
                .dyn_into::<Array>()
                .map_err(|_| format!("{key} is not an array"))
        };
        let bytes = arrays("bytes")?
            .iter()
            .map(|a| Uint8Array::new(&a).to_vec())
            .collect();
        let floats = arrays("floats")?
            .iter()
            .map(|a| Float32Array::new(&a).to_vec())
            .collect();
        Ok(Self {
            message: Some(message),
            bytes,
            floats,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every reply about a photo is delivered under its request's key and names the same
    /// analysis as its request.
    #[test]
    fn replies_answer_under_their_requests_key_and_analysis() {
        let request = Request::GradCam {
            id: 7,
            analysis: 3,
            model: "classifier".into(),
            depth: Some(1),
        };
        let reply = Reply::Heatmaps {
            id: 7,
            analysis: 3,
            model: "classifier".into(),
            depth: Some(1),
            heatmap: [4, 4],
        };
        assert_eq!(reply.key(), Some(request.key()));
        let failed = Reply::Failed {
            id: request.key(),
            message: "no".into(),
        };
        assert_eq!(failed.key(), Some(7));
        let load = Request::Load {
            backend: None,
            manifest: None,
        };
        assert_eq!(load.key(), LOADED);
        let progress = Reply::FilterProgress {
            id: 9,
            done: 1,
            total: 2,
        };
        assert_eq!(progress.key(), None, "progress goes to listeners");
    }

    #[test]
    fn messages_round_trip_through_json() {
        let request = Request::Layer {
            id: 2,
            analysis: 1,
            layer: "classifier.stem".into(),
        };
        let json = serde_json::to_string(&request).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"layer","id":2,"analysis":1,"layer":"classifier.stem"}"#
        );
        match serde_json::from_str(&json).unwrap() {
            Request::Layer {
                id,
                analysis,
                layer,
            } => assert_eq!((id, analysis, layer.as_str()), (2, 1, "classifier.stem")),
            other => panic!("{other:?}"),
        }
    }
}
