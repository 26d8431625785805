//! The page's shared state: the models, the result on screen and the signals the components
//! read, provided once through Leptos context.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use image::RgbImage;
use leptos::prelude::*;

use super::engine::Backend;
use super::models::ModelThread;
use crate::data::resize_mask;
use crate::explain::{Heatmap, PetClass};
use crate::model::LayerId;
use crate::overlay::{self, Layers};
use crate::pipeline::Analysis;

/// Longest side of the on-screen canvas; downloads keep the photo's own resolution.
const DISPLAY_MAX_SIDE: u32 = 1024;

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

/// "Latest request wins": each request takes a [`Ticket`]; a result whose ticket is no longer
/// the latest (a newer request came, or [`Latest::cancel`]) is dropped.
#[derive(Clone, Default)]
pub struct Latest(Rc<Cell<u64>>);

impl Latest {
    /// A ticket for a new request, which makes every older one stale.
    pub fn next(&self) -> Ticket {
        self.cancel();
        Ticket {
            latest: self.clone(),
            number: self.0.get(),
        }
    }

    /// Makes every ticket handed out so far stale.
    pub fn cancel(&self) {
        self.0.set(self.0.get() + 1);
    }
}

/// One request's claim on a [`Latest`].
#[derive(Clone)]
pub struct Ticket {
    latest: Latest,
    number: u64,
}

impl Ticket {
    pub fn is_current(&self) -> bool {
        self.latest.0.get() == self.number
    }
}

/// The latest result at display size, so that toggling layers redraws without recomputing.
pub struct Shown {
    pub analysis: Analysis,
    pub photo: RgbImage,
    pub mask: Vec<u8>,
    pub heatmaps: [Vec<f32>; 2],
    /// The segmenter's normalised entropy.
    pub uncertainty: Vec<f32>,
}

impl Shown {
    pub fn new(analysis: Analysis) -> Self {
        let (w, h) = analysis.photo.dimensions();
        let (dw, dh) = overlay::display_size(w, h, DISPLAY_MAX_SIDE);
        let photo = image::imageops::resize(
            &analysis.photo,
            dw,
            dh,
            image::imageops::FilterType::Triangle,
        );
        let mask = resize_mask(
            &analysis.mask,
            w as usize,
            h as usize,
            dw as usize,
            dh as usize,
        );
        let heatmaps =
            PetClass::ALL.map(|c| analysis.heatmap(c).upsample(dw as usize, dh as usize));
        let uncertainty = analysis
            .probabilities
            .entropy()
            .upsample(dw as usize, dh as usize);
        Self {
            analysis,
            photo,
            mask,
            heatmaps,
            uncertainty,
        }
    }

    /// Replaces the heatmaps (Grad-CAM at another block) in the analysis and at display size.
    /// The maps the layers are drawn from at display size, with Grad-CAM for `class`.
    pub fn maps(&self, class: PetClass) -> overlay::Maps<'_> {
        overlay::Maps {
            mask: &self.mask,
            heatmap: &self.heatmaps[class as usize],
            uncertainty: &self.uncertainty,
        }
    }

    pub fn set_heatmaps(&mut self, heatmaps: [Heatmap; 2]) {
        let (dw, dh) = self.photo.dimensions();
        self.heatmaps = heatmaps
            .each_ref()
            .map(|h| h.upsample(dw as usize, dh as usize));
        self.analysis.heatmaps = heatmaps;
    }
}

/// State that is not reactive: the models' thread and the latest result.
#[derive(Default)]
pub struct Engine {
    pub models: RefCell<Option<Rc<ModelThread>>>,
    pub shown: RefCell<Option<Shown>>,
    /// The photo being analysed: a newer one wins.
    pub photos: Latest,
    /// Grad-CAM recomputed at another block: a newer choice or a new photo wins.
    pub heatmaps: Latest,
}

impl Engine {
    /// The models' thread, once a photo is on screen (the thread keeps that photo).
    pub fn current(&self) -> Option<Rc<ModelThread>> {
        self.shown.borrow().as_ref()?;
        self.models.borrow().clone()
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

/// Everything the components share (`Copy`: signals, and the engine in Leptos's arena).
#[derive(Clone, Copy)]
pub struct AppState {
    engine: StoredValue<Rc<Engine>, LocalStorage>,
    pub status: RwSignal<Status>,
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
    /// The layers the activation viewer offers, once the models are loaded.
    pub layers: RwSignal<Vec<LayerId>>,
    /// Residual blocks of the classifier, once it is loaded (Grad-CAM's depth choices).
    pub classifier_blocks: RwSignal<usize>,
    pub view: View,
    /// The `?bench` report (JSON), when one was asked for.
    pub bench_report: RwSignal<Option<String>>,
    /// The models' thread's wasm memory after the last analysis (the soak test reads it).
    pub models_memory: RwSignal<usize>,
}

impl AppState {
    pub fn new() -> Self {
        Self {
            engine: StoredValue::new_local(Rc::default()),
            status: RwSignal::new(Status::Loading),
            message: RwSignal::new("Loading the models…".into()),
            error: RwSignal::new(None),
            backend: RwSignal::new(None),
            notice: RwSignal::new(None),
            handled: RwSignal::new(0),
            revision: RwSignal::new(0),
            heat_revision: RwSignal::new(0),
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
            },
            bench_report: RwSignal::new(None),
            models_memory: RwSignal::new(0),
        }
    }

    /// The models and the result on screen.
    pub fn engine(&self) -> Rc<Engine> {
        self.engine.get_value()
    }

    /// The shared state, from any component under [`super::App`].
    pub fn get() -> Self {
        expect_context::<Self>()
    }

    /// A finished photo that went wrong: the message, and the page ready for the next one.
    pub fn fail(&self, message: String) {
        self.error.set(Some(message));
        self.handled.update(|n| *n += 1);
    }
}
