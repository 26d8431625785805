//! The models' thread: a dedicated Web Worker (`www/worker.js`) that runs this same wasm module
//! with the pipeline in it, so that no analysis, Grad-CAM or filter pattern ever holds the
//! page's thread. It answers [`Request`]s with [`Reply`]s and shares nothing else with the page
//! (no Leptos here). A newer photo cancels an older analysis at its next stage, and Cancel stops
//! filter patterns at their next step.
//!
//! Between requests it keeps one analysis: its id and the models' inputs (a few hundred kB),
//! which is all that Grad-CAM at another block and a layer's activations need. The photo itself
//! (up to 64 MP, 192 MB decoded) leaves with the reply.

mod assets;
mod bench;
mod device;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gloo::timers::future::TimeoutFuture;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use burn::prelude::*;

use crate::explain::{FilterAscent, FilterError, RobustAscent};
use crate::imagenet::ImagenetModel;
use crate::latest::Latest;
use crate::model::{FEATURE_CLASSIFIER, LayerId, Layered, ModelKind, Network};
use crate::overlay::{Displayed, ShownMask, ShownReading};
use crate::pipeline::{Analysis, DefaultModels, ModelInputs, ModelMask, Pipeline, read_layer};
use crate::protocol::{
    Backend, Envelope, IMAGENET, LOADED, LoadProgress, MaskSummary, ReadingSummary, Reply, Request,
};
use crate::shipped::Manifest;

/// Posts a reply to the page, its arrays transferred.
fn post(reply: Envelope<Reply>) {
    let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    match reply.to_js() {
        Ok((message, transfer)) => {
            if let Err(e) = scope.post_message_with_transfer(&message, &transfer) {
                web_sys::console::error_1(&e);
            }
        }
        Err(e) => web_sys::console::error_1(&e.into()),
    }
}

fn failed(id: u64, message: impl std::fmt::Display) -> Envelope<Reply> {
    Envelope::new(Reply::Failed {
        id,
        message: message.to_string(),
    })
}

/// Tells the page how far a download is.
fn post_progress(progress: LoadProgress) {
    post(Envelope::new(Reply::Progress {
        model: progress.model,
        received: progress.received,
        total: progress.total,
    }))
}

/// Lets the browser run other tasks (a newer request's message) between heavy stages.
async fn yield_to_browser() {
    TimeoutFuture::new(0).await;
}

/// The chapter's models' analysis of a photo file, stage by stage, yielding to the browser
/// between stages. `is_current` says whether this photo is still the latest; when a newer one
/// has arrived the stale run stops at the next stage boundary (`Ok(None)`).
async fn analyze(
    pipeline: &Pipeline,
    bytes: &[u8],
    is_current: impl Fn() -> bool,
) -> Result<Option<(Analysis, ModelInputs)>, String> {
    pipeline
        .analyze_with(bytes, async || {
            yield_to_browser().await;
            is_current()
        })
        .await
        .map_err(|e| e.to_string())
}

/// The ImageNet network's reading of a photo as the page shows it (the verdict and the mask on
/// its features each the default one as `defaults` says), and the photo as the network's input.
async fn read(
    model: &ImagenetModel,
    photo: &image::RgbImage,
    defaults: DefaultModels,
    device: &Device,
) -> Result<(ShownReading, Tensor<4>), String> {
    let reading = model.read(photo, device).await.map_err(|e| e.to_string())?;
    let input = reading.input.clone();
    Ok((
        ShownReading::new(reading, photo.dimensions(), defaults),
        input,
    ))
}

/// What the thread keeps of one photo for later requests about it: the chapter's models'
/// inputs where this thread analysed it, the ImageNet network's where it read it.
struct Kept {
    analysis: u64,
    inputs: Option<ModelInputs>,
    imagenet_input: Option<Tensor<4>>,
}

/// What the thread keeps between requests.
#[derive(Default)]
struct ModelsThread {
    pipeline: RefCell<Option<Rc<Pipeline>>>,
    /// This visit's manifest and cache, from `Load` for `LoadImagenet`.
    assets: RefCell<Option<Rc<assets::Assets>>>,
    imagenet: RefCell<Option<Rc<ImagenetModel>>>,
    /// Set while the ImageNet network downloads: analyses wait for it.
    imagenet_loading: Cell<bool>,
    /// Which verdict and mask are the defaults (read from the card with the ImageNet network).
    defaults: Cell<DefaultModels>,
    backend: Cell<Option<Backend>>,
    kept: RefCell<Option<Rc<Kept>>>,
    analyses: Latest,
    filters: Latest,
    /// The id of the filter patterns running now.
    filters_id: Cell<u64>,
}

/// Starts answering the page's messages (called by `www/worker.js` once the module is loaded).
#[wasm_bindgen]
pub fn worker_main() {
    console_error_panic_hook::set_once();
    let thread = Rc::new(ModelsThread::default());
    let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let on_message =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            let thread = thread.clone();
            wasm_bindgen_futures::spawn_local(async move {
                match Envelope::<Request>::from_js(&event.data()) {
                    Ok(envelope) => thread.handle(envelope).await,
                    Err(e) => web_sys::console::error_1(
                        &format!("a message the models' thread cannot read: {e}").into(),
                    ),
                }
            });
        });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    post(Envelope::new(Reply::Started));
}

impl ModelsThread {
    async fn handle(self: Rc<Self>, envelope: Envelope<Request>) {
        let Some(request) = envelope.message else {
            return;
        };
        if let Request::Cancel { id } = request {
            if self.filters_id.get() == id {
                self.filters.cancel();
            }
            return;
        }
        let pipeline = self.pipeline.borrow().clone();
        let reply = match (&request, pipeline) {
            (Request::Load { backend, manifest }, _) => self.load(*backend, manifest.clone()).await,
            (Request::LoadImagenet { network }, Some(pipeline)) => {
                self.load_imagenet(&pipeline, network).await
            }
            (_, Some(pipeline)) => self.answer(&pipeline, request, envelope.bytes).await,
            (_, None) => failed(request.key(), "the models are not loaded yet"),
        };
        post(reply);
    }

    async fn load(&self, backend: Option<Backend>, manifest: Option<Manifest>) -> Envelope<Reply> {
        let (device, chosen, notice) = device::pick_device(backend).await;
        let assets = Rc::new(assets::Assets::open(manifest).await);
        *self.assets.borrow_mut() = Some(assets.clone());
        match assets.load_pipeline(&device, post_progress).await {
            Ok(pipeline) => {
                let layers = pipeline.layers().iter().map(ToString::to_string).collect();
                let blocks = pipeline.classifier().blocks.len();
                *self.pipeline.borrow_mut() = Some(Rc::new(pipeline));
                self.backend.set(Some(chosen));
                Envelope::new(Reply::Loaded {
                    backend: chosen,
                    notice,
                    layers,
                    blocks,
                    manifest: assets.manifest().cloned(),
                })
            }
            Err(e) => failed(LOADED, e),
        }
    }

    async fn load_imagenet(&self, pipeline: &Pipeline, network: &str) -> Envelope<Reply> {
        self.imagenet_loading.set(true);
        // Another network reads photos at another size: the kept photo's input no longer fits
        // (the page analyses the photo again).
        if self.imagenet.borrow_mut().take().is_some() {
            *self.kept.borrow_mut() = None;
        }
        let Some(assets) = self.assets.borrow().clone() else {
            self.imagenet_loading.set(false);
            return failed(IMAGENET, "the page's models are not loaded");
        };
        let loaded = assets
            .load_imagenet(pipeline.device(), network, post_progress)
            .await;
        self.defaults
            .set(DefaultModels::of(assets.card().await.as_ref()));
        self.imagenet_loading.set(false);
        match loaded {
            Ok(model) => {
                let architecture = model.config.describe();
                let blocks = model.net.blocks();
                let layers = model
                    .net
                    .layer_names()
                    .into_iter()
                    .map(|layer| {
                        LayerId {
                            network: Network::Imagenet,
                            layer,
                        }
                        .to_string()
                    })
                    .collect();
                *self.imagenet.borrow_mut() = Some(Rc::new(model));
                Envelope::new(Reply::ImagenetLoaded {
                    network: network.to_string(),
                    available: assets.imported_networks(),
                    architecture,
                    blocks,
                    layers,
                })
            }
            Err(e) => failed(IMAGENET, e),
        }
    }

    /// The ImageNet network once its download has settled (`None` when it failed or was never
    /// asked for).
    async fn imagenet(&self) -> Option<Rc<ImagenetModel>> {
        while self.imagenet_loading.get() {
            TimeoutFuture::new(20).await;
        }
        self.imagenet.borrow().clone()
    }

    async fn answer(
        &self,
        pipeline: &Pipeline,
        request: Request,
        mut bytes: Vec<Vec<u8>>,
    ) -> Envelope<Reply> {
        match request {
            Request::Analyze { id, read } => {
                self.analyze(pipeline, id, bytes.pop().unwrap_or_default(), read)
                    .await
            }
            Request::Read { id } => {
                self.read(pipeline, id, bytes.pop().unwrap_or_default())
                    .await
            }
            Request::GradCam {
                id,
                analysis,
                model,
                depth,
            } => match self.kept(analysis) {
                Ok(kept) => {
                    let imagenet = self.imagenet.borrow().clone();
                    gradcam(pipeline, imagenet.as_deref(), id, &kept, model, depth).await
                }
                Err(e) => failed(id, e),
            },
            Request::ImagenetGradCam {
                id,
                analysis,
                class,
                depth,
            } => {
                let model = self.imagenet.borrow().clone();
                match (self.kept(analysis), model) {
                    (Ok(kept), Some(model)) => {
                        imagenet_gradcam(&model, id, &kept, class, depth).await
                    }
                    (Err(e), _) => failed(id, e),
                    (_, None) => failed(id, "the ImageNet network is not loaded"),
                }
            }
            Request::Layer {
                id,
                analysis,
                layer,
            } => match self.kept(analysis) {
                Ok(kept) => {
                    let imagenet = self.imagenet.borrow().clone();
                    layer_activation(pipeline, imagenet.as_deref(), id, &kept, &layer).await
                }
                Err(e) => failed(id, e),
            },
            Request::Filters {
                id,
                layer,
                first,
                count,
                robust,
            } => {
                let filters = first..first + count;
                self.filters(pipeline, id, &layer, filters, robust).await
            }
            Request::Bench { runs } => {
                let backend = self.backend.get().unwrap_or(Backend::Cpu);
                let imagenet = self.imagenet().await;
                let report = bench::run(pipeline, imagenet.as_deref(), runs, backend.name()).await;
                Envelope::new(Reply::Bench { report })
            }
            Request::Load { .. } | Request::LoadImagenet { .. } | Request::Cancel { .. } => {
                unreachable!("`handle` answers loads and cancels itself")
            }
        }
    }

    /// The kept analysis `analysis`, or why it is not kept.
    fn kept(&self, analysis: u64) -> Result<Rc<Kept>, &'static str> {
        match self.kept.borrow().as_ref() {
            Some(kept) if kept.analysis == analysis => Ok(kept.clone()),
            Some(_) => Err("that photo has been replaced by a newer one"),
            None => Err("no photo has been analysed yet"),
        }
    }

    /// The chapter's models' analysis of a photo, with the ImageNet network's reading where
    /// `with_reading` asks for it and the network is there.
    async fn analyze(
        &self,
        pipeline: &Pipeline,
        id: u64,
        photo: Vec<u8>,
        with_reading: bool,
    ) -> Envelope<Reply> {
        let ticket = self.analyses.next();
        let current = {
            let ticket = ticket.clone();
            move || ticket.is_current()
        };
        let imagenet = if with_reading {
            self.imagenet().await
        } else {
            None
        };
        let (analysis, inputs) = match analyze(pipeline, &photo, &current).await {
            Ok(Some(analysed)) => analysed,
            Ok(None) => return Envelope::new(Reply::Cancelled { id }),
            Err(e) => return failed(id, e),
        };
        drop(photo);
        let reading = match imagenet {
            Some(model) if current() => {
                let defaults = self.defaults.get();
                match read(&model, &analysis.photo, defaults, pipeline.device()).await {
                    Ok(reading) => Some(reading),
                    Err(e) => return failed(id, e),
                }
            }
            Some(_) => return Envelope::new(Reply::Cancelled { id }),
            None => None,
        };
        let mut displayed = Displayed::new(analysis);
        let imagenet_input = reading.map(|(reading, input)| {
            displayed.add_reading(reading);
            input
        });
        *self.kept.borrow_mut() = Some(Rc::new(Kept {
            analysis: id,
            inputs: Some(inputs),
            imagenet_input,
        }));
        analysis_reply(id, displayed)
    }

    /// The ImageNet network's reading of a photo, which another thread of the pool analyses
    /// with the chapter's models at the same time (`None` without the network).
    async fn read(&self, pipeline: &Pipeline, id: u64, bytes: Vec<u8>) -> Envelope<Reply> {
        let ticket = self.analyses.next();
        let Some(model) = self.imagenet().await else {
            return reading_reply(id, None);
        };
        let photo = match crate::data::decode_photo(&bytes) {
            Ok(photo) => photo,
            Err(e) => return failed(id, e),
        };
        drop(bytes);
        yield_to_browser().await;
        if !ticket.is_current() {
            return Envelope::new(Reply::Cancelled { id });
        }
        match read(&model, &photo, self.defaults.get(), pipeline.device()).await {
            Ok((reading, input)) => {
                *self.kept.borrow_mut() = Some(Rc::new(Kept {
                    analysis: id,
                    inputs: None,
                    imagenet_input: Some(input),
                }));
                reading_reply(id, Some(reading))
            }
            Err(e) => failed(id, e),
        }
    }

    async fn filters(
        &self,
        pipeline: &Pipeline,
        id: u64,
        layer: &str,
        filters: std::ops::Range<usize>,
        robust: bool,
    ) -> Envelope<Reply> {
        let ticket = self.filters.next();
        self.filters_id.set(id);
        let Some(layer) = LayerId::parse(layer).filter(|l| l.network.has_filter_patterns()) else {
            return failed(
                id,
                format!("{layer} is not a layer of the classifier or the ImageNet network"),
            );
        };
        let imagenet = self.imagenet.borrow().clone();
        let (net, size): (&dyn Layered, usize) = match (layer.network, imagenet.as_deref()) {
            (Network::Imagenet, Some(model)) => (model.net.layered(), model.input_size()),
            (Network::Imagenet, None) => {
                return failed(id, "the ImageNet network is not loaded");
            }
            (Network::Model(_), _) => (
                pipeline.classifier(),
                pipeline.input_size(ModelKind::Classifier),
            ),
        };
        let ascent = FilterAscent::default();
        let robust_ascent = RobustAscent::default();
        let per_filter = ascent.steps + if robust { robust_ascent.steps } else { 0 };
        let total = filters.len() * per_filter;
        let (mut patterns, mut rises) = (Vec::new(), Vec::new());
        for (done, k) in filters.enumerate() {
            let ticket = ticket.clone();
            let on_step = async |offset: usize, step: usize| {
                let done = done * per_filter + offset + step + 1;
                post(Envelope::new(Reply::FilterProgress { id, done, total }));
                yield_to_browser().await;
                ticket.is_current()
            };
            let plain = ascent
                .run(
                    net,
                    &layer.layer,
                    k,
                    size,
                    pipeline.device(),
                    async |step, _| on_step(0, step).await,
                )
                .await;
            let robust_pattern = match (&plain, robust) {
                (Ok(_), true) => Some(
                    robust_ascent
                        .run(net, &layer.layer, k, pipeline.device(), async |step, _| {
                            on_step(ascent.steps, step).await
                        })
                        .await,
                ),
                _ => None,
            };
            for result in std::iter::once(plain).chain(robust_pattern) {
                match result {
                    Ok(pattern) => {
                        let (first, last) = (
                            pattern.activations[0],
                            pattern.activations.last().copied().unwrap_or(0.0),
                        );
                        rises.push((first, last));
                        patterns.push(pattern.image);
                    }
                    Err(FilterError::Cancelled) => return Envelope::new(Reply::Cancelled { id }),
                    Err(e) => return failed(id, e),
                }
            }
        }
        // A robust pattern is drawn at its own size: shown beside the plain one at the same.
        if let Some((w, h)) = patterns.first().map(image::RgbImage::dimensions) {
            for pattern in &mut patterns {
                if pattern.dimensions() != (w, h) {
                    *pattern = image::imageops::resize(
                        pattern,
                        w,
                        h,
                        image::imageops::FilterType::Triangle,
                    );
                }
            }
        }
        let size = patterns.first().map_or([0, 0], |p| [p.width(), p.height()]);
        Envelope::new(Reply::Filters { id, size, rises }).with_bytes(
            patterns
                .into_iter()
                .map(image::RgbImage::into_raw)
                .collect(),
        )
    }
}

/// The reply of an analysis: everything moves into it (its buffers are then transferred, not
/// copied again).
fn analysis_reply(id: u64, displayed: Displayed) -> Envelope<Reply> {
    let Displayed {
        analysis,
        photo: shown_photo,
        mask: shown_mask,
        other_masks: shown_others,
        heatmaps: [shown_cat, shown_dog],
    } = displayed;
    let Analysis {
        photo,
        mask,
        other_masks,
        p_dog,
        verdicts,
        heatmaps: [cat, dog],
        timings,
        imagenet_top,
    } = analysis;
    let size = [photo.width(), photo.height()];
    let display = [shown_photo.width(), shown_photo.height()];
    let heatmap = [cat.width, cat.height];
    let mut bytes = vec![photo.into_raw(), shown_photo.into_raw()];
    let mut floats = vec![cat.values, dog.values, shown_cat, shown_dog];
    let summaries = std::iter::once((mask, shown_mask))
        .chain(other_masks.into_iter().zip(shown_others))
        .map(|(mask, shown)| push_mask(mask, shown, &mut bytes, &mut floats))
        .collect();
    Envelope::new(Reply::Analysis {
        id,
        size,
        display,
        p_dog,
        masks: summaries,
        timings,
        heatmap,
        memory_bytes: wasm_memory_bytes(),
        imagenet_top,
        verdicts,
    })
    .with_bytes(bytes)
    .with_floats(floats)
}

/// Moves one mask's arrays into a reply (two byte arrays: the mask at photo and at display size;
/// two float arrays: the probabilities and the display uncertainty), the order the page's
/// `read_mask` takes them back in; returns the mask's summary.
fn push_mask(
    mask: ModelMask,
    shown: ShownMask,
    bytes: &mut Vec<Vec<u8>>,
    floats: &mut Vec<Vec<f32>>,
) -> MaskSummary {
    let summary = MaskSummary::of(&mask);
    bytes.extend([mask.pixels, shown.pixels]);
    floats.extend([mask.probabilities.values, shown.uncertainty]);
    summary
}

/// The reply of a reading (`None`: the thread has no ImageNet network).
fn reading_reply(id: u64, reading: Option<ShownReading>) -> Envelope<Reply> {
    let Some(reading) = reading else {
        return Envelope::new(Reply::Reading {
            id,
            reading: None,
            memory_bytes: wasm_memory_bytes(),
        });
    };
    let ShownReading {
        top,
        ms,
        p_dog,
        mask,
        defaults,
    } = reading;
    let (mut bytes, mut floats) = (Vec::new(), Vec::new());
    let summary = mask.map(|(mask, shown)| push_mask(mask, shown, &mut bytes, &mut floats));
    Envelope::new(Reply::Reading {
        id,
        reading: Some(ReadingSummary {
            top,
            ms,
            p_dog,
            mask: summary,
            defaults,
        }),
        memory_bytes: wasm_memory_bytes(),
    })
    .with_bytes(bytes)
    .with_floats(floats)
}

/// Why a request about the chapter's models goes unanswered by a thread that only read the
/// photo (the pool sends such requests to the thread that analysed it).
const NOT_ANALYSED_HERE: &str = "this thread did not run the chapter's models on that photo";

/// Grad-CAM of both classes after block `depth` of a kept analysis, for the chapter's
/// classifier or the one on the ImageNet network's features (`model`).
async fn gradcam(
    pipeline: &Pipeline,
    imagenet: Option<&ImagenetModel>,
    id: u64,
    kept: &Kept,
    model: String,
    depth: Option<usize>,
) -> Envelope<Reply> {
    let maps = if model == FEATURE_CLASSIFIER {
        let read = match (imagenet, &kept.imagenet_input) {
            (Some(imagenet), Some(input)) => imagenet.verdict_gradcam(input.clone(), depth).await,
            _ => None,
        };
        match read {
            Some(maps) => maps.map_err(|e| e.to_string()),
            None => Err("the classifier on ImageNet features is not loaded".to_string()),
        }
    } else {
        match &kept.inputs {
            Some(inputs) => pipeline
                .gradcam_at(&inputs.classifier, depth)
                .await
                .map_err(|e| e.to_string()),
            None => Err(NOT_ANALYSED_HERE.to_string()),
        }
    };
    match maps {
        Ok([cat, dog]) => Envelope::new(Reply::Heatmaps {
            id,
            analysis: kept.analysis,
            model,
            depth,
            heatmap: [cat.width, cat.height],
        })
        .with_floats(vec![cat.values, dog.values]),
        Err(e) => failed(id, e),
    }
}

/// Grad-CAM of one ImageNet class after MobileNet block `depth` of a kept analysis.
async fn imagenet_gradcam(
    model: &ImagenetModel,
    id: u64,
    kept: &Kept,
    class: usize,
    depth: Option<usize>,
) -> Envelope<Reply> {
    let Some(input) = kept.imagenet_input.clone() else {
        return failed(
            id,
            "that photo was analysed before the ImageNet network was loaded",
        );
    };
    if class >= model.classes.len() {
        return failed(id, format!("there is no ImageNet class {class}"));
    }
    match model.gradcam(input, class, depth).await {
        Ok(map) => Envelope::new(Reply::ImagenetHeatmap {
            id,
            analysis: kept.analysis,
            class,
            depth,
            heatmap: [map.width, map.height],
        })
        .with_floats(vec![map.values]),
        Err(e) => failed(id, e),
    }
}

/// One layer's activations for a kept analysis.
async fn layer_activation(
    pipeline: &Pipeline,
    imagenet: Option<&ImagenetModel>,
    id: u64,
    kept: &Kept,
    layer: &str,
) -> Envelope<Reply> {
    let Some(layer) = LayerId::parse(layer) else {
        return failed(id, format!("{layer} is not a layer of petlens's networks"));
    };
    let read = match (layer.network, imagenet, &kept.imagenet_input) {
        (Network::Model(model), _, _) => match &kept.inputs {
            Some(inputs) => pipeline.layer_activation(inputs, model, &layer.layer).await,
            None => return failed(id, NOT_ANALYSED_HERE),
        },
        (Network::Imagenet, Some(model), Some(input)) => {
            read_layer(
                model.net.layered(),
                input.clone(),
                Network::Imagenet,
                &layer.layer,
            )
            .await
        }
        (Network::Imagenet, ..) => {
            return failed(id, "the ImageNet network has not read this photo");
        }
    };
    match read {
        Ok(activation) => Envelope::new(Reply::Layer {
            id,
            analysis: kept.analysis,
            name: activation.name,
            shape: activation.shape,
        })
        .with_floats(vec![activation.values]),
        Err(e) => failed(id, e),
    }
}

/// The size of this thread's wasm memory (it only grows, so it is the peak so far: the soak
/// test and the memory benchmark read it).
fn wasm_memory_bytes() -> usize {
    wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .ok()
        .and_then(|m| m.buffer().dyn_into::<js_sys::ArrayBuffer>().ok())
        .map_or(0, |b| b.byte_length() as usize)
}
