//! The page's shared state: the handle on the models' thread, the result on screen and the
//! signals the components read, provided once through Leptos context. The status shown is
//! derived from the models' loading and the work in flight, never written directly.

use std::cell::RefCell;
use std::rc::Rc;

use leptos::prelude::*;

use super::models::ImagenetInfo;
use super::pool::ModelPool;
use crate::explain::PetClass;
use crate::latest::Latest;
use crate::model::{LayerId, ModelKind};
use crate::overlay::{Displayed, Layers};
use crate::protocol::{Backend, LoadProgress};

/// What the page is doing, as shown in `data-testid="status"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Loading,
    Ready,
    Working,
    Error,
}

impl Status {
    pub fn text(self) -> &'static str {
        match self {
            Status::Loading => "loading",
            Status::Ready => "ready",
            Status::Working => "working",
            Status::Error => "error",
        }
    }
}

/// Where the models' thread is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelsState {
    Loading,
    Loaded,
    Failed,
}

/// Where the ImageNet network is (it loads after the page's own models).
#[derive(Debug, Clone, PartialEq)]
pub enum ImagenetState {
    /// Downloading: how far, once the download has started.
    Loading(Option<LoadProgress>),
    Ready(ImagenetInfo),
    /// Not available: why.
    Failed(String),
}

/// The result on screen, at display size, with the id of the analysis it came from (the
/// models' thread answers later requests about that photo under the same id).
pub struct Shown {
    pub analysis: u64,
    pub displayed: Displayed,
}

/// State that is not reactive: the models' thread and the latest result.
#[derive(Default)]
pub struct Engine {
    pub models: RefCell<Option<Rc<ModelPool>>>,
    pub shown: RefCell<Option<Shown>>,
    /// The photo being analysed: a newer one wins.
    pub photos: Latest,
    /// Grad-CAM recomputed at another block: a newer choice or a new result wins.
    pub heatmaps: Latest,
    /// The last photo file sent and its name, to read it again with another ImageNet network.
    pub last_photo: RefCell<Option<(Vec<u8>, String)>>,
}

impl Engine {
    /// The models' thread and the analysis on screen, once there is one.
    pub fn current(&self) -> Option<(Rc<ModelPool>, u64)> {
        let analysis = self.shown.borrow().as_ref()?.analysis;
        Some((self.models.borrow().clone()?, analysis))
    }
}

/// How the result is drawn: which layers over the photo, and Grad-CAM's class and block.
#[derive(Clone, Copy)]
pub struct View {
    pub show_mask: RwSignal<bool>,
    pub show_heatmap: RwSignal<bool>,
    pub show_uncertainty: RwSignal<bool>,
    pub heatmap_class: RwSignal<PetClass>,
    /// The compare slider: the share of the width (from the left) that shows the overlays.
    pub compare: RwSignal<f32>,
    pub opacity: RwSignal<f32>,
    /// Grad-CAM's block (`None`: the last).
    pub gradcam_depth: RwSignal<Option<usize>>,
    /// The classifier Grad-CAM explains (`classifier`, `feature_classifier`).
    pub gradcam_model: RwSignal<String>,
}

impl View {
    /// The layers as toggled (tracked: a change redraws).
    pub fn layers(&self) -> Layers {
        Layers {
            mask: self.show_mask.get(),
            heatmap: self.show_heatmap.get(),
            uncertainty: self.show_uncertainty.get(),
            opacity: self.opacity.get(),
        }
    }

    pub fn layers_untracked(&self) -> Layers {
        Layers {
            mask: self.show_mask.get_untracked(),
            heatmap: self.show_heatmap.get_untracked(),
            uncertainty: self.show_uncertainty.get_untracked(),
            opacity: self.opacity.get_untracked(),
        }
    }
}

/// Requests about the photo in flight (an analysis, Grad-CAM, a layer): the page is "working"
/// while there is one. Dropping it ends the request, however it ended.
pub struct InFlight(RwSignal<u32>);

impl Drop for InFlight {
    fn drop(&mut self) {
        // `try_`: the page may be gone when a late answer drops its guard.
        let _ = self.0.try_update(|n| *n = n.saturating_sub(1));
    }
}

/// Everything the components share (`Copy`: signals, and the engine in Leptos's arena).
#[derive(Clone, Copy)]
pub struct AppState {
    engine: StoredValue<Rc<Engine>, LocalStorage>,
    pub models_state: RwSignal<ModelsState>,
    in_flight: RwSignal<u32>,
    pub message: RwSignal<String>,
    pub error: RwSignal<Option<String>>,
    pub backend: RwSignal<Option<Backend>>,
    /// Why the page fell back to the CPU, when it did.
    pub notice: RwSignal<Option<String>>,
    /// Photos handled to the end, result or error: lets tests (and screen readers) tell a new
    /// outcome from an old one.
    pub handled: RwSignal<u64>,
    /// Bumped when a new result is on screen.
    pub revision: RwSignal<u64>,
    /// Bumped when the heatmaps change (Grad-CAM at another block).
    pub heat_revision: RwSignal<u64>,
    /// Bumped when the mask shown changes (the reader picked the other segmenter's).
    pub mask_revision: RwSignal<u64>,
    /// The layers the activation viewer offers, once the models are loaded.
    pub layers: RwSignal<Vec<LayerId>>,
    /// Residual blocks of the classifier, once it is loaded (Grad-CAM's depth choices).
    pub classifier_blocks: RwSignal<usize>,
    pub view: View,
    /// The `?bench` report (JSON), when one was asked for.
    pub bench_report: RwSignal<Option<String>>,
    /// The wasm memory of the models' threads that ran the last analysis (the soak test reads it).
    pub models_memory: RwSignal<usize>,
    /// The models' threads ready (the pool grows after the page is ready).
    pub threads: RwSignal<usize>,
    pub imagenet: RwSignal<ImagenetState>,
}

impl AppState {
    pub fn new() -> Self {
        Self {
            engine: StoredValue::new_local(Rc::default()),
            models_state: RwSignal::new(ModelsState::Loading),
            in_flight: RwSignal::new(0),
            message: RwSignal::new("Loading the models…".into()),
            error: RwSignal::new(None),
            backend: RwSignal::new(None),
            notice: RwSignal::new(None),
            handled: RwSignal::new(0),
            revision: RwSignal::new(0),
            heat_revision: RwSignal::new(0),
            mask_revision: RwSignal::new(0),
            layers: RwSignal::new(Vec::new()),
            classifier_blocks: RwSignal::new(0),
            view: View {
                show_mask: RwSignal::new(true),
                show_heatmap: RwSignal::new(false),
                show_uncertainty: RwSignal::new(false),
                heatmap_class: RwSignal::new(PetClass::Dog),
                compare: RwSignal::new(1.0),
                opacity: RwSignal::new(0.4),
                gradcam_depth: RwSignal::new(None),
                gradcam_model: RwSignal::new(ModelKind::Classifier.name().into()),
            },
            bench_report: RwSignal::new(None),
            models_memory: RwSignal::new(0),
            threads: RwSignal::new(0),
            imagenet: RwSignal::new(ImagenetState::Loading(None)),
        }
    }

    /// The models and the result on screen.
    pub fn engine(&self) -> Rc<Engine> {
        self.engine.get_value()
    }

    /// Reads the result on screen (`None` before the first), tracked: the caller runs again
    /// when a new result arrives or its mask changes.
    pub fn read_shown<T>(&self, read: impl FnOnce(&Displayed) -> T) -> Option<T> {
        self.revision.track();
        self.mask_revision.track();
        let engine = self.engine();
        let shown = engine.shown.borrow();
        shown.as_ref().map(|s| read(&s.displayed))
    }

    /// The shared state, from any component under [`super::App`].
    pub fn get() -> Self {
        expect_context::<Self>()
    }

    /// What the page is doing (tracked): derived from the models' state and the requests in
    /// flight.
    pub fn status(&self) -> Status {
        match self.models_state.get() {
            ModelsState::Loading => Status::Loading,
            ModelsState::Failed => Status::Error,
            ModelsState::Loaded if self.in_flight.get() > 0 => Status::Working,
            ModelsState::Loaded => Status::Ready,
        }
    }

    /// Whether the models are still loading (tracked).
    pub fn loading(&self) -> bool {
        self.models_state.get() == ModelsState::Loading
    }

    /// Marks a request about the photo in flight until the returned guard is dropped.
    pub fn begin(&self) -> InFlight {
        self.in_flight.update(|n| *n += 1);
        InFlight(self.in_flight)
    }

    /// A finished photo that went wrong: the message, and the page ready for the next one.
    pub fn fail(&self, message: String) {
        self.error.set(Some(message));
        self.handled.update(|n| *n += 1);
    }
}
