//! The models' threads: up to one Web Worker per logical core the visitor's machine has
//! (`navigator.hardwareConcurrency`, at most [`MAX_THREADS`]; `?threads=N` chooses), each with
//! its own instance of the module and every model. petlens cannot build wasm threads with a
//! stable toolchain, so the pool shares work out by request instead:
//! - an analysis runs the chapter's models on the first thread and the ImageNet network's
//!   reading of the same photo on the second, at the same time (the reading is the longer part,
//!   so a third thread would not shorten it); later requests about the photo go to the thread
//!   that holds its inputs;
//! - a grid of filter patterns is split into one contiguous share per thread.
//!
//! The first thread downloads the weights into the cache and the page is ready as soon as it
//! has loaded them; the others start after it, one at a time, read the weights from the cache
//! and join as they become ready (`on_threads` is told the count), so that start-up and the
//! first analysis never wait for them.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::explain::LayerActivation;
use crate::explain::filters::{pattern_grid, shares};
use crate::model::{FEATURE_CLASSIFIER, LayerId, Network};
use crate::protocol::Backend;
use crate::shipped::Manifest;

use super::models::{
    Analysed, Heatmaps, Ids, ImagenetHeatmap, ImagenetInfo, LoadListener, Loaded, ModelThread,
    Patterns, next_id,
};

/// The most threads the pool starts: each holds every model (tens of MB), and filter grids and
/// the two parts of an analysis use no more than that on the machines measured.
pub const MAX_THREADS: usize = 4;

/// The threads the page uses: `?threads=N` (1 to [`MAX_THREADS`]), else one per logical core
/// the browser reports, capped.
pub fn wanted_threads() -> usize {
    let Some(window) = web_sys::window() else {
        return 1;
    };
    let asked = window
        .location()
        .search()
        .ok()
        .and_then(|s| web_sys::UrlSearchParams::new_with_str(&s).ok())
        .and_then(|p| p.get("threads"))
        .and_then(|n| n.parse::<usize>().ok());
    let cores = window.navigator().hardware_concurrency() as usize;
    asked.unwrap_or(cores).clamp(1, MAX_THREADS)
}

/// Told how many threads are ready.
type ThreadsListener = Box<dyn Fn(usize)>;

/// The models' threads that are ready, the first one first.
pub struct ModelPool {
    threads: RefCell<Vec<Rc<ModelThread>>>,
    ids: Ids,
    /// How many threads to have.
    wanted: usize,
    /// The backend the first thread chose, which the others use.
    backend: Backend,
    /// The release the first thread loaded, which the others load (from the cache).
    manifest: Option<Manifest>,
    /// The imported network asked for last (`None` before, or once its load failed).
    network: RefCell<Option<String>>,
    /// Set once the other threads have been started.
    growing: Cell<bool>,
    /// The analysis whose ImageNet reading ran on another thread than its chapter's models, and
    /// that thread's index.
    reader_of: Cell<(u64, usize)>,
    on_threads: ThreadsListener,
}

impl ModelPool {
    /// Starts the first thread and loads the models on `backend` (WebGPU when `None` and
    /// available), reporting the weights' download through `progress`; the pool grows to
    /// `wanted` threads after the first ImageNet network has loaded ([`ModelPool::load_imagenet`]).
    pub async fn start(
        backend: Option<Backend>,
        wanted: usize,
        progress: LoadListener,
        on_threads: impl Fn(usize) + 'static,
    ) -> Result<(Rc<Self>, Loaded), String> {
        let ids = Ids::default();
        let (first, loaded) =
            ModelThread::start(backend, None, Some(progress), ids.clone()).await?;
        on_threads(1);
        let pool = Self {
            threads: RefCell::new(vec![Rc::new(first)]),
            ids,
            wanted,
            backend: loaded.backend,
            manifest: loaded.manifest.clone(),
            network: RefCell::new(None),
            growing: Cell::new(false),
            reader_of: Cell::new((0, 0)),
            on_threads: Box::new(on_threads),
        };
        Ok((Rc::new(pool), loaded))
    }

    /// The ready threads.
    fn threads(&self) -> Vec<Rc<ModelThread>> {
        self.threads.borrow().clone()
    }

    fn first(&self) -> Rc<ModelThread> {
        self.threads.borrow()[0].clone()
    }

    /// The thread that holds analysis `analysis`'s ImageNet input.
    fn reader_of(&self, analysis: u64) -> Rc<ModelThread> {
        let (read, index) = self.reader_of.get();
        let threads = self.threads.borrow();
        match threads.get(index) {
            Some(thread) if read == analysis => thread.clone(),
            _ => threads[0].clone(),
        }
    }

    /// Loads the imported network `network` on every ready thread, in place of the one loaded.
    /// The requests are sent now, so that requests sent after this call find it loading. The
    /// first time, the other threads start once it has loaded.
    pub fn load_imagenet(
        self: &Rc<Self>,
        network: &str,
    ) -> impl Future<Output = Result<ImagenetInfo, String>> + 'static + use<> {
        *self.network.borrow_mut() = Some(network.to_string());
        let threads = self.threads();
        let loads: Vec<_> = threads
            .iter()
            .map(|thread| thread.load_imagenet(network))
            .collect();
        let pool = self.clone();
        async move {
            let mut results = Vec::with_capacity(loads.len());
            for load in loads {
                results.push(load.await);
            }
            let first = results.swap_remove(0);
            if first.is_err() {
                *pool.network.borrow_mut() = None;
            }
            if !pool.growing.replace(true) {
                leptos::task::spawn_local(pool.clone().grow());
            }
            first
        }
    }

    /// Starts the other threads one after the other, each loading the page's models and the
    /// imported network from the cache, and adds each once it is ready. A thread that fails
    /// to start is left out (the pool works with fewer).
    async fn grow(self: Rc<Self>) {
        for _ in 1..self.wanted {
            let started = ModelThread::start(
                Some(self.backend),
                self.manifest.clone(),
                None,
                self.ids.clone(),
            )
            .await;
            let Ok((thread, _)) = started else {
                return;
            };
            // The network may change while this one loads: it holds the latest before joining.
            loop {
                let network = self.network.borrow().clone();
                let Some(network) = network else { break };
                let loaded = thread.load_imagenet(&network).await;
                if loaded.is_err() || self.network.borrow().as_deref() == Some(network.as_str()) {
                    break;
                }
            }
            self.threads.borrow_mut().push(Rc::new(thread));
            (self.on_threads)(self.threads.borrow().len());
        }
    }

    /// The analysis of a photo file; `None` when a newer photo replaced it. With two threads
    /// and an ImageNet network, the chapter's models and the network's reading run at the same
    /// time on the first two threads; with one, the first thread runs both.
    pub async fn analyze(&self, photo: Vec<u8>) -> Result<Option<Analysed>, String> {
        let start = web_time::Instant::now();
        let analysed = self.analyze_on_threads(photo).await?;
        Ok(analysed.map(|mut analysed| {
            analysed.displayed.analysis.timings.wall = start.elapsed().as_secs_f64() * 1000.0;
            analysed
        }))
    }

    async fn analyze_on_threads(&self, photo: Vec<u8>) -> Result<Option<Analysed>, String> {
        let id = next_id(&self.ids);
        let threads = self.threads();
        let reader = threads.get(1).filter(|_| self.network.borrow().is_some());
        let Some(reader) = reader else {
            self.reader_of.set((id, 0));
            return threads[0].analyze(id, photo, true).await;
        };
        self.reader_of.set((id, 1));
        let analysed = threads[0].analyze(id, photo.clone(), false);
        let read = reader.read(id, photo);
        let (Some(mut analysed), Some(read)) = (analysed.await?, read.await?) else {
            return Ok(None);
        };
        if let Some(reading) = read.reading {
            analysed.displayed.add_reading(reading);
        }
        analysed.memory_bytes += read.memory_bytes;
        Ok(Some(analysed))
    }

    /// Grad-CAM of both classes of classifier `model` after its block `depth` of analysis
    /// `analysis`, on the thread that holds that classifier's input.
    pub async fn gradcam_at(
        &self,
        analysis: u64,
        model: String,
        depth: Option<usize>,
    ) -> Result<Heatmaps, String> {
        let thread = if model == FEATURE_CLASSIFIER {
            self.reader_of(analysis)
        } else {
            self.first()
        };
        thread.gradcam_at(analysis, model, depth).await
    }

    /// Grad-CAM of ImageNet class `class` after block `depth` of analysis `analysis`.
    pub async fn imagenet_gradcam(
        &self,
        analysis: u64,
        class: usize,
        depth: Option<usize>,
    ) -> Result<ImagenetHeatmap, String> {
        let thread = self.reader_of(analysis);
        thread.imagenet_gradcam(analysis, class, depth).await
    }

    /// One layer's activations for analysis `analysis`.
    pub async fn layer_activation(
        &self,
        analysis: u64,
        layer: &LayerId,
    ) -> Result<LayerActivation, String> {
        let thread = match layer.network {
            Network::Imagenet => self.reader_of(analysis),
            Network::Model(_) => self.first(),
        };
        thread.layer_activation(analysis, layer).await
    }

    /// Filter patterns of `filters` of a classifier or ImageNet layer (with `robust`, each
    /// beside its robust pattern), one contiguous share per ready thread, as one grid, with
    /// progress summed over the threads; `None` when cancelled or replaced by a newer run.
    pub async fn filter_patterns(
        &self,
        layer: &LayerId,
        filters: std::ops::Range<usize>,
        robust: bool,
        progress: impl Fn(usize, usize) + 'static,
    ) -> Result<Option<Patterns>, String> {
        let threads = self.threads();
        let shares = shares(filters, threads.len());
        let steps = Rc::new(RefCell::new(vec![(0, 0); shares.len()]));
        let progress = Rc::new(progress);
        let runs: Vec<_> = threads
            .iter()
            .zip(shares)
            .enumerate()
            .map(|(i, (thread, share))| {
                let (steps, progress) = (steps.clone(), progress.clone());
                thread.filter_patterns(layer, share, robust, move |done, total| {
                    steps.borrow_mut()[i] = (done, total);
                    let (done, total) = steps
                        .borrow()
                        .iter()
                        .fold((0, 0), |(d, t), (done, total)| (d + done, t + total));
                    progress(done, total);
                })
            })
            .collect();
        let (mut patterns, mut rises) = (Vec::new(), Vec::new());
        let mut complete = true;
        for run in runs {
            match run.await {
                Ok(Some(share)) => {
                    patterns.extend(share.patterns);
                    rises.extend(share.rises);
                }
                Ok(None) => complete = false,
                Err(e) => {
                    self.cancel_filters();
                    return Err(e);
                }
            }
        }
        if !complete {
            return Ok(None);
        }
        let columns = if robust { 2 } else { 8 };
        Ok(Some(Patterns {
            grid: pattern_grid(&patterns, columns),
            rises,
        }))
    }

    /// Stops the filter patterns running now, on every thread, at their next step.
    pub fn cancel_filters(&self) {
        for thread in self.threads() {
            thread.cancel_filters();
        }
    }

    /// The `?bench=N` report of the first thread (JSON).
    pub async fn bench(&self, runs: usize) -> Result<String, String> {
        self.first().bench(runs).await
    }
}
