//! The page's handle on one models' thread ([`crate::worker`]): starts the worker with this
//! page's own wasm module, sends [`Request`]s and awaits their [`Reply`]s, so that the page's
//! thread only draws. [`super::pool::ModelPool`] holds one per thread it uses. Knows nothing of
//! the page's components or state.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures_channel::oneshot;
use image::RgbImage;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::explain::{ClassProbabilities, Heatmap, LayerActivation};
use crate::model::LayerId;
use crate::net::js_error;
use crate::overlay::{Displayed, ShownMask, ShownReading};
use crate::pipeline::{Analysis, ModelMask};
use crate::protocol::{Backend, Envelope, LoadProgress, MaskSummary, Reply, Request, STARTED};
use crate::shipped::Manifest;

/// Ids of requests, shared by the pool's threads: the two parts of one analysis (the chapter's
/// models on one thread, the ImageNet reading on another) go out under the same id, which later
/// requests about the photo name.
pub type Ids = Rc<Cell<u64>>;

/// The next id of `ids`.
pub fn next_id(ids: &Ids) -> u64 {
    ids.set(ids.get() + 1);
    ids.get()
}

/// The thread's answer to the page's first request.
pub struct Loaded {
    pub backend: Backend,
    pub notice: Option<String>,
    pub layers: Vec<LayerId>,
    pub blocks: usize,
    /// The release's manifest it loaded, which the pool's other threads load too.
    pub manifest: Option<Manifest>,
}

/// The loaded ImageNet network, as the page describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagenetInfo {
    /// Its name (`imagenet`, `xception`).
    pub network: String,
    /// The imported networks the release ships, which the page offers.
    pub available: Vec<String>,
    /// Its architecture in words.
    pub architecture: String,
    /// Its blocks (Grad-CAM's depth choices).
    pub blocks: usize,
    /// Its layers, for the activation viewer and filter patterns.
    pub layers: Vec<LayerId>,
}

/// An analysis as the models' thread answered it.
pub struct Analysed {
    /// The analysis's id, which later requests about the photo name.
    pub id: u64,
    pub displayed: Displayed,
    /// The models' thread's wasm memory after it.
    pub memory_bytes: usize,
}

/// Grad-CAM maps of one classifier for one analysis at one block.
pub struct Heatmaps {
    pub analysis: u64,
    pub model: String,
    pub depth: Option<usize>,
    pub maps: [Heatmap; 2],
}

/// Grad-CAM of one ImageNet class for one analysis.
pub struct ImagenetHeatmap {
    pub analysis: u64,
    pub class: usize,
    pub depth: Option<usize>,
    pub map: Heatmap,
}

/// Filter patterns as one grid image, and each filter's mean activation before and after.
pub struct Patterns {
    pub grid: RgbImage,
    pub rises: Vec<(f32, f32)>,
}

/// One thread's share of a filter-pattern run: its patterns, each filter's rise.
pub struct PatternShare {
    pub patterns: Vec<RgbImage>,
    pub rises: Vec<(f32, f32)>,
}

/// A thread's reading of a photo (`reading` is `None` where it has no ImageNet network).
pub struct Read {
    pub reading: Option<ShownReading>,
    /// The thread's wasm memory after it.
    pub memory_bytes: usize,
}

/// Told the weights' download progress.
pub type LoadListener = Box<dyn Fn(LoadProgress)>;
/// Told a filter-pattern run's steps done of all.
type StepListener = Box<dyn Fn(usize, usize)>;

/// Where replies go: the request waiting for each, and the progress listeners.
#[derive(Default)]
struct Router {
    waiting: RefCell<HashMap<u64, oneshot::Sender<Envelope<Reply>>>>,
    load_progress: RefCell<Option<LoadListener>>,
    /// The filter-pattern run listened to, by id.
    filter_progress: RefCell<Option<(u64, StepListener)>>,
}

impl Router {
    fn deliver(&self, envelope: Envelope<Reply>) {
        let Some(reply) = &envelope.message else {
            return;
        };
        match reply {
            Reply::Progress {
                model,
                received,
                total,
            } => {
                if let Some(listener) = self.load_progress.borrow().as_ref() {
                    listener(LoadProgress {
                        model: model.clone(),
                        received: *received,
                        total: *total,
                    });
                }
            }
            Reply::FilterProgress { id, done, total } => {
                if let Some((listening, listener)) = self.filter_progress.borrow().as_ref()
                    && listening == id
                {
                    listener(*done, *total);
                }
            }
            reply => {
                let key = reply.key();
                if let Some(sender) = key.and_then(|k| self.waiting.borrow_mut().remove(&k)) {
                    let _ = sender.send(envelope);
                }
            }
        }
    }

    /// Every waiting request fails with `message` (the worker died).
    fn fail_all(&self, message: &str) {
        for (id, sender) in self.waiting.borrow_mut().drain() {
            let _ = sender.send(Envelope::new(Reply::Failed {
                id,
                message: message.to_string(),
            }));
        }
    }
}

/// The models' thread, started and loaded.
pub struct ModelThread {
    worker: web_sys::Worker,
    router: Rc<Router>,
    ids: Ids,
}

/// The URL of this page's wasm-bindgen glue (trunk preloads it), which the worker imports.
fn glue_url() -> Result<String, String> {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let link = document
        .query_selector("link[rel=modulepreload]")
        .ok()
        .flatten()
        .ok_or("the page names no script module to start the models' thread with")?;
    link.get_attribute("href")
        .ok_or_else(|| "the script module has no address".into())
}

impl ModelThread {
    /// Starts the worker, loads the models on `backend` (WebGPU when `None` and available)
    /// and reports the weights' download through `progress` (where given).
    pub async fn start(
        backend: Option<Backend>,
        manifest: Option<Manifest>,
        progress: Option<LoadListener>,
        ids: Ids,
    ) -> Result<(Self, Loaded), String> {
        let options = web_sys::WorkerOptions::new();
        options.set_type(web_sys::WorkerType::Module);
        let worker = web_sys::Worker::new_with_options("worker.js", &options).map_err(js_error)?;
        let router = Rc::new(Router::default());
        *router.load_progress.borrow_mut() = progress;
        let on_message = {
            let router = router.clone();
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
                match Envelope::<Reply>::from_js(&event.data()) {
                    Ok(envelope) => router.deliver(envelope),
                    Err(e) => web_sys::console::error_1(&e.into()),
                }
            })
        };
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
        let on_error = {
            let router = router.clone();
            Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(move |event: web_sys::ErrorEvent| {
                router.fail_all(&format!("the models' thread stopped: {}", event.message()));
            })
        };
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
        let thread = Self {
            worker,
            router,
            ids,
        };
        let started = thread.waiting(STARTED);
        let first = js_sys::Object::new();
        js_sys::Reflect::set(&first, &"glue".into(), &glue_url()?.into()).map_err(js_error)?;
        js_sys::Reflect::set(&first, &"module".into(), &wasm_bindgen::module())
            .map_err(js_error)?;
        thread.worker.post_message(&first).map_err(js_error)?;
        expect_reply(started.await)?;
        let loaded = thread
            .call(Request::Load { backend, manifest }, Vec::new())
            .await?;
        match loaded.message {
            Some(Reply::Loaded {
                backend,
                notice,
                layers,
                blocks,
                manifest,
            }) => Ok((
                thread,
                Loaded {
                    backend,
                    notice,
                    layers: layers.iter().filter_map(|l| LayerId::parse(l)).collect(),
                    blocks,
                    manifest,
                },
            )),
            other => Err(unexpected(other)),
        }
    }

    fn waiting(&self, key: u64) -> oneshot::Receiver<Envelope<Reply>> {
        let (sender, receiver) = oneshot::channel();
        self.router.waiting.borrow_mut().insert(key, sender);
        receiver
    }

    fn next_id(&self) -> u64 {
        next_id(&self.ids)
    }

    fn send(&self, request: Request, bytes: Vec<Vec<u8>>) -> Result<(), String> {
        let (message, transfer) = Envelope::new(request).with_bytes(bytes).to_js()?;
        self.worker
            .post_message_with_transfer(&message, &transfer)
            .map_err(js_error)
    }

    /// Sends `request` and waits for its reply; a failure becomes an error.
    async fn call(&self, request: Request, bytes: Vec<Vec<u8>>) -> Result<Envelope<Reply>, String> {
        self.request(request, bytes).await
    }

    /// Sends `request` now (so that the pool's threads work on their parts at the same time)
    /// and returns its reply to await; a failure becomes an error.
    fn request(
        &self,
        request: Request,
        bytes: Vec<Vec<u8>>,
    ) -> impl Future<Output = Result<Envelope<Reply>, String>> + 'static + use<> {
        let reply = self.waiting(request.key());
        let sent = self.send(request, bytes);
        async move {
            sent?;
            expect_reply(reply.await)
        }
    }

    /// Loads the imported network `network` (after the page's models), in place of the one
    /// loaded. The request is sent now, so that requests sent after this call find it loading.
    pub fn load_imagenet(
        &self,
        network: &str,
    ) -> impl Future<Output = Result<ImagenetInfo, String>> + 'static + use<> {
        let request = Request::LoadImagenet {
            network: network.to_string(),
        };
        let reply = self.waiting(request.key());
        let sent = self.send(request, Vec::new());
        async move {
            sent?;
            match expect_reply(reply.await)?.message {
                Some(Reply::ImagenetLoaded {
                    network,
                    available,
                    architecture,
                    blocks,
                    layers,
                }) => Ok(ImagenetInfo {
                    network,
                    available,
                    architecture,
                    blocks,
                    layers: layers.iter().filter_map(|l| LayerId::parse(l)).collect(),
                }),
                other => Err(unexpected(other)),
            }
        }
    }

    /// The analysis `id` of a photo file at photo and display size by the chapter's models,
    /// with the ImageNet network's reading where `read` asks for it; `None` when a newer photo
    /// replaced it. The request is sent now.
    pub fn analyze(
        &self,
        id: u64,
        photo: Vec<u8>,
        read: bool,
    ) -> impl Future<Output = Result<Option<Analysed>, String>> + 'static + use<> {
        let reply = self.request(Request::Analyze { id, read }, vec![photo]);
        async move {
            let reply = reply.await?;
            match reply.message {
                Some(Reply::Analysis {
                    size,
                    display,
                    p_dog,
                    masks,
                    timings,
                    heatmap,
                    memory_bytes,
                    imagenet_top,
                    verdicts,
                    ..
                }) => {
                    let mut bytes = reply.bytes.into_iter();
                    let mut floats = reply.floats.into_iter();
                    let [photo, shown_photo] = take_next(&mut bytes)?;
                    let [cat, dog, shown_cat, shown_dog] = take_next(&mut floats)?;
                    let map = |values| Heatmap {
                        width: heatmap[0],
                        height: heatmap[1],
                        values,
                    };
                    let image = |[w, h]: [u32; 2], raw| {
                        RgbImage::from_raw(w, h, raw).ok_or("an image of the wrong size")
                    };
                    let mut read = masks
                        .into_iter()
                        .map(|summary| read_mask(summary, &mut bytes, &mut floats))
                        .collect::<Result<Vec<_>, _>>()?
                        .into_iter();
                    let (mask, shown_mask) = read.next().ok_or("an analysis without a mask")?;
                    let (other_masks, shown_others): (Vec<_>, Vec<_>) = read.unzip();
                    let analysis = Analysis {
                        photo: image(size, photo)?,
                        mask,
                        other_masks,
                        p_dog,
                        verdicts,
                        heatmaps: [map(cat), map(dog)],
                        timings,
                        imagenet_top,
                    };
                    let displayed = Displayed {
                        analysis,
                        photo: image(display, shown_photo)?,
                        mask: shown_mask,
                        other_masks: shown_others,
                        heatmaps: [shown_cat, shown_dog],
                    };
                    Ok(Some(Analysed {
                        id,
                        displayed,
                        memory_bytes,
                    }))
                }
                Some(Reply::Cancelled { .. }) => Ok(None),
                other => Err(unexpected(other)),
            }
        }
    }

    /// The ImageNet network's reading of analysis `id`'s photo file; `None` when a newer photo
    /// replaced it. The request is sent now.
    pub fn read(
        &self,
        id: u64,
        photo: Vec<u8>,
    ) -> impl Future<Output = Result<Option<Read>, String>> + 'static + use<> {
        let reply = self.request(Request::Read { id }, vec![photo]);
        async move {
            let reply = reply.await?;
            match reply.message {
                Some(Reply::Reading {
                    reading,
                    memory_bytes,
                    ..
                }) => {
                    let reading = match reading {
                        Some(summary) => {
                            let mask = match summary.mask {
                                Some(mask) => Some(read_mask(
                                    mask,
                                    &mut reply.bytes.into_iter(),
                                    &mut reply.floats.into_iter(),
                                )?),
                                None => None,
                            };
                            Some(ShownReading {
                                top: summary.top,
                                ms: summary.ms,
                                p_dog: summary.p_dog,
                                mask,
                                defaults: summary.defaults,
                            })
                        }
                        None => None,
                    };
                    Ok(Some(Read {
                        reading,
                        memory_bytes,
                    }))
                }
                Some(Reply::Cancelled { .. }) => Ok(None),
                other => Err(unexpected(other)),
            }
        }
    }

    /// Grad-CAM of both classes of classifier `model` after its block `depth` (`None`: the
    /// last) of analysis `analysis`.
    pub async fn gradcam_at(
        &self,
        analysis: u64,
        model: String,
        depth: Option<usize>,
    ) -> Result<Heatmaps, String> {
        let id = self.next_id();
        let request = Request::GradCam {
            id,
            analysis,
            model,
            depth,
        };
        let reply = self.call(request, Vec::new()).await?;
        match reply.message {
            Some(Reply::Heatmaps {
                analysis,
                model,
                depth,
                heatmap,
                ..
            }) => {
                let [cat, dog] = take(reply.floats)?;
                let map = |values| Heatmap {
                    width: heatmap[0],
                    height: heatmap[1],
                    values,
                };
                Ok(Heatmaps {
                    analysis,
                    model,
                    depth,
                    maps: [map(cat), map(dog)],
                })
            }
            other => Err(unexpected(other)),
        }
    }

    /// Grad-CAM of ImageNet class `class` after block `depth` (`None`: the last) of analysis
    /// `analysis`.
    pub async fn imagenet_gradcam(
        &self,
        analysis: u64,
        class: usize,
        depth: Option<usize>,
    ) -> Result<ImagenetHeatmap, String> {
        let id = self.next_id();
        let request = Request::ImagenetGradCam {
            id,
            analysis,
            class,
            depth,
        };
        let reply = self.call(request, Vec::new()).await?;
        match reply.message {
            Some(Reply::ImagenetHeatmap {
                analysis,
                class,
                depth,
                heatmap,
                ..
            }) => {
                let [values] = take(reply.floats)?;
                Ok(ImagenetHeatmap {
                    analysis,
                    class,
                    depth,
                    map: Heatmap {
                        width: heatmap[0],
                        height: heatmap[1],
                        values,
                    },
                })
            }
            other => Err(unexpected(other)),
        }
    }

    /// One layer's activations for analysis `analysis`.
    pub async fn layer_activation(
        &self,
        analysis: u64,
        layer: &LayerId,
    ) -> Result<LayerActivation, String> {
        let id = self.next_id();
        let request = Request::Layer {
            id,
            analysis,
            layer: layer.to_string(),
        };
        let reply = self.call(request, Vec::new()).await?;
        match reply.message {
            Some(Reply::Layer { name, shape, .. }) => {
                let [values] = take(reply.floats)?;
                Ok(LayerActivation {
                    name,
                    shape,
                    values,
                })
            }
            other => Err(unexpected(other)),
        }
    }

    /// Filter patterns of `filters` of a classifier or ImageNet layer (with `robust`, each
    /// beside its robust pattern), with progress; `None` when cancelled
    /// ([`ModelThread::cancel_filters`]) or replaced by a newer run. The request is sent now.
    pub fn filter_patterns<P: Fn(usize, usize) + 'static>(
        &self,
        layer: &LayerId,
        filters: std::ops::Range<usize>,
        robust: bool,
        progress: P,
    ) -> impl Future<Output = Result<Option<PatternShare>, String>> + 'static + use<P> {
        let id = self.next_id();
        *self.router.filter_progress.borrow_mut() = Some((id, Box::new(progress)));
        let request = Request::Filters {
            id,
            layer: layer.to_string(),
            first: filters.start,
            count: filters.len(),
            robust,
        };
        let reply = self.request(request, Vec::new());
        async move {
            let reply = reply.await?;
            match reply.message {
                Some(Reply::Filters {
                    size: [w, h],
                    rises,
                    ..
                }) => {
                    let patterns = reply
                        .bytes
                        .into_iter()
                        .map(|raw| {
                            RgbImage::from_raw(w, h, raw).ok_or("a pattern of the wrong size")
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(Some(PatternShare { patterns, rises }))
                }
                Some(Reply::Cancelled { .. }) => Ok(None),
                other => Err(unexpected(other)),
            }
        }
    }

    /// Stops the filter patterns running now at their next step.
    pub fn cancel_filters(&self) {
        if let Some((id, _)) = self.router.filter_progress.borrow().as_ref() {
            let _ = self.send(Request::Cancel { id: *id }, Vec::new());
        }
    }

    /// The `?bench=N` report (JSON).
    pub async fn bench(&self, runs: usize) -> Result<String, String> {
        let reply = self.call(Request::Bench { runs }, Vec::new()).await?;
        match reply.message {
            Some(Reply::Bench { report }) => Ok(report),
            other => Err(unexpected(other)),
        }
    }
}

/// One mask of a reply (its summary, and its next two byte and two float arrays) at photo and
/// display size.
fn read_mask(
    summary: MaskSummary,
    bytes: &mut impl Iterator<Item = Vec<u8>>,
    floats: &mut impl Iterator<Item = Vec<f32>>,
) -> Result<(ModelMask, ShownMask), String> {
    let [pixels, shown_pixels] = take_next(bytes)?;
    let [probabilities, uncertainty] = take_next(floats)?;
    let mask = ModelMask {
        model: summary.model,
        pixels,
        probabilities: ClassProbabilities {
            size: summary.probabilities_size,
            values: probabilities,
        },
        fraction: summary.fraction,
    };
    let shown = ShownMask {
        pixels: shown_pixels,
        uncertainty,
    };
    Ok((mask, shown))
}

/// A reply that arrived, failures turned into errors.
fn expect_reply(
    reply: Result<Envelope<Reply>, oneshot::Canceled>,
) -> Result<Envelope<Reply>, String> {
    let reply = reply.map_err(|_| "the models' thread went away".to_string())?;
    match &reply.message {
        Some(Reply::Failed { message, .. }) => Err(message.clone()),
        _ => Ok(reply),
    }
}

fn unexpected(reply: Option<Reply>) -> String {
    format!("the models' thread answered out of turn: {reply:?}")
}

/// The next `N` arrays of a reply's.
fn take_next<T, const N: usize>(arrays: &mut impl Iterator<Item = T>) -> Result<[T; N], String> {
    let next: Vec<T> = arrays.take(N).collect();
    let n = next.len();
    next.try_into()
        .map_err(|_| format!("a reply with {n} arrays left instead of {N}"))
}

/// Exactly `N` arrays of a reply.
fn take<T, const N: usize>(arrays: Vec<T>) -> Result<[T; N], String> {
    let n = arrays.len();
    arrays
        .try_into()
        .map_err(|_| format!("a reply with {n} arrays instead of {N}"))
}
