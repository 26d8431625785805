//! The page (Leptos, client-side rendered): drop in a photo, see the mask, the verdict and the
//! Grad-CAM heatmap computed in the browser.

mod canvas;
mod engine;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use image::RgbImage;
use leptos::prelude::*;
use wasm_bindgen::prelude::*;

use crate::explain::PetClass;
use crate::overlay::{self, CLASS_COLOURS, Layers};
use crate::pipeline::{Analysis, Pipeline};
use engine::Backend;

/// Longest side of the on-screen canvas; downloads keep the photo's own resolution.
const DISPLAY_MAX_SIDE: u32 = 1024;

/// Entry point called by the generated JS glue.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

/// What the page is doing, as shown in `data-testid="status"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Loading,
    Ready,
    Working,
    Error,
}

impl Status {
    fn text(self) -> &'static str {
        match self {
            Status::Loading => "loading",
            Status::Ready => "ready",
            Status::Working => "working",
            Status::Error => "error",
        }
    }
}

/// The latest result at display size, so that toggling layers redraws without recomputing.
struct Shown {
    analysis: Analysis,
    photo: RgbImage,
    mask: Vec<u8>,
    heatmaps: [Vec<f32>; 2],
}

impl Shown {
    fn new(analysis: Analysis) -> Self {
        let (w, h) = analysis.photo.dimensions();
        let (dw, dh) = overlay::display_size(w, h, DISPLAY_MAX_SIDE);
        let photo = image::imageops::resize(
            &analysis.photo,
            dw,
            dh,
            image::imageops::FilterType::Triangle,
        );
        let mask = overlay::resize_mask(
            &analysis.mask,
            w as usize,
            h as usize,
            dw as usize,
            dh as usize,
        );
        let heatmaps =
            PetClass::ALL.map(|c| analysis.heatmap(c).upsample(dw as usize, dh as usize));
        Self {
            analysis,
            photo,
            mask,
            heatmaps,
        }
    }
}

/// State that is not reactive: the models and the latest result.
#[derive(Default)]
struct Engine {
    pipeline: RefCell<Option<Rc<Pipeline>>>,
    shown: RefCell<Option<Shown>>,
    /// Bumped for every new photo; a run whose number is stale stops.
    generation: Cell<u64>,
}

fn result_json(analysis: &Analysis, backend: Backend) -> String {
    let t = analysis.timings;
    serde_json::json!({
        "label": analysis.label().name(),
        "p_dog": analysis.p_dog,
        "mask_fraction": analysis.mask_fraction,
        "backend": backend.name(),
        "timings_ms": {"decode": t.decode, "segment": t.segment, "classify": t.classify, "gradcam": t.gradcam},
        "width": analysis.photo.width(),
        "height": analysis.photo.height(),
    })
    .to_string()
}

fn verdict_text(analysis: &Analysis) -> String {
    let class = analysis.label();
    let p = if class == PetClass::Dog {
        analysis.p_dog
    } else {
        1.0 - analysis.p_dog
    };
    format!("{} ({:.1}% sure)", class.name(), p * 100.0)
}

#[component]
fn App() -> impl IntoView {
    let engine = Rc::new(Engine::default());
    let status = RwSignal::new(Status::Loading);
    let message = RwSignal::new(String::from("Loading the models…"));
    let error = RwSignal::new(None::<String>);
    let backend = RwSignal::new(None::<Backend>);
    let notice = RwSignal::new(None::<String>);
    let verdict = RwSignal::new(String::new());
    let result = RwSignal::new(String::new());
    let timings = RwSignal::new(String::new());
    let revision = RwSignal::new(0u64);
    let show_mask = RwSignal::new(true);
    let show_heatmap = RwSignal::new(false);
    let heatmap_class = RwSignal::new(PetClass::Dog);
    let opacity = RwSignal::new(0.4f32);
    let canvas_ref = NodeRef::<leptos::html::Canvas>::new();

    // Start-up: pick the backend, fetch the weights, build the pipeline.
    {
        let engine = engine.clone();
        leptos::task::spawn_local(async move {
            let (device, chosen, fallback) = engine::pick_device(engine::requested_backend()).await;
            backend.set(Some(chosen));
            notice.set(fallback);
            let loaded = engine::load_pipeline(&device, move |bytes| {
                message.set(format!("Loading the models… {:.1} MB", bytes as f64 / 1e6));
            })
            .await;
            match loaded {
                Ok(pipeline) => {
                    *engine.pipeline.borrow_mut() = Some(Rc::new(pipeline));
                    message.set("Pick, drop or paste a photo of a cat or a dog.".into());
                    status.set(Status::Ready);
                }
                Err(e) => {
                    error.set(Some(format!(
                        "The models could not be loaded: {e}. Reload the page to try again."
                    )));
                    status.set(Status::Error);
                }
            }
        });
    }

    // Analyse one photo; a newer photo cancels an older run.
    let run = {
        let engine = engine.clone();
        move |bytes: Vec<u8>, name: String| {
            let Some(pipeline) = engine.pipeline.borrow().clone() else {
                error.set(Some(
                    "The models are still loading; try again in a moment.".into(),
                ));
                return;
            };
            let generation = engine.generation.get() + 1;
            engine.generation.set(generation);
            let engine = engine.clone();
            error.set(None);
            status.set(Status::Working);
            message.set(format!("Looking at {name}…"));
            leptos::task::spawn_local(async move {
                let current = {
                    let engine = engine.clone();
                    move || engine.generation.get() == generation
                };
                match engine::analyze(&pipeline, &bytes, current).await {
                    Ok(Some(analysis)) => {
                        let chosen = backend.get_untracked().unwrap_or(Backend::Cpu);
                        verdict.set(verdict_text(&analysis));
                        result.set(result_json(&analysis, chosen));
                        let t = analysis.timings;
                        timings.set(format!(
                            "decode {:.0} ms · segment {:.0} ms · classify {:.0} ms · Grad-CAM {:.0} ms ({})",
                            t.decode, t.segment, t.classify, t.gradcam, chosen.name()
                        ));
                        *engine.shown.borrow_mut() = Some(Shown::new(analysis));
                        revision.update(|r| *r += 1);
                        message.set(format!("{name}: done."));
                        status.set(Status::Ready);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        if engine.generation.get() == generation {
                            error.set(Some(format!("{name}: {e}")));
                            message.set("Try another photo.".into());
                            status.set(Status::Ready);
                        }
                    }
                }
            });
        }
    };

    // Redraw whenever the result or a layer setting changes.
    {
        let engine = engine.clone();
        Effect::new(move |_| {
            revision.track();
            let layers = Layers {
                mask: show_mask.get(),
                heatmap: show_heatmap.get(),
                opacity: opacity.get(),
            };
            let class = heatmap_class.get();
            let (Some(canvas), Some(shown)) = (
                canvas_ref.get(),
                engine.shown.borrow().as_ref().map(|s| {
                    overlay::compose(&s.photo, &s.mask, &s.heatmaps[class as usize], layers)
                }),
            ) else {
                return;
            };
            if let Err(e) = canvas::draw(&canvas, &shown) {
                error.set(Some(format!("drawing failed: {e:?}")));
            }
        });
    }

    let on_file = {
        let run = run.clone();
        move |ev: leptos::ev::Event| {
            let input: web_sys::HtmlInputElement = event_target(&ev);
            let Some(file) = input.files().and_then(|files| files.get(0)) else {
                return;
            };
            input.set_value("");
            let run = run.clone();
            leptos::task::spawn_local(async move {
                match canvas::file_bytes(&file).await {
                    Ok(bytes) => run(bytes, file.name()),
                    Err(e) => {
                        error.set(Some(format!("{}: could not be read ({e:?})", file.name())))
                    }
                }
            });
        }
    };

    let download = {
        let engine = engine.clone();
        move |what: &'static str| {
            let shown = engine.shown.borrow();
            let Some(shown) = shown.as_ref() else {
                return;
            };
            let a = &shown.analysis;
            let (w, h) = a.photo.dimensions();
            let image = match what {
                "cutout" => overlay::cutout(&a.photo, &a.mask),
                _ => overlay::mask_image(&a.mask, w, h),
            };
            let saved = overlay::png_bytes(&image)
                .map_err(|e| format!("{e}"))
                .and_then(|png| {
                    canvas::download(&png, &format!("petlens-{what}.png"), "image/png")
                        .map_err(|e| format!("{e:?}"))
                });
            if let Err(e) = saved {
                error.set(Some(format!("The download failed: {e}")));
            }
        }
    };
    let download_cutout = {
        let download = download.clone();
        move |_| download("cutout")
    };
    let download_mask = move |_| download("mask");

    let legend = crate::model::SEGMENT_CLASSES
        .iter()
        .zip(CLASS_COLOURS)
        .map(|(name, [r, g, b])| {
            view! { <span class="swatch" style=format!("background: rgb({r},{g},{b})")></span><span>{*name}</span> }
        })
        .collect_view();

    view! {
        <main>
            <header>
                <h1>"petlens"</h1>
                <p class="tagline">"See what a convnet sees in your pet photo: segmentation, cat-vs-dog and Grad-CAM, computed in your browser."</p>
            </header>
            <section class="controls">
                <label class="picker">
                    "Choose a photo "
                    <input type="file" accept="image/*" data-testid="photo-input" on:change=on_file
                        prop:disabled=move || status.get() == Status::Loading />
                </label>
                <span class="badge" data-testid="backend">{move || backend.get().map(|b| b.name().to_uppercase()).unwrap_or_else(|| "…".into())}</span>
                <label>"Backend "
                    <select data-testid="backend-switch" on:change=move |ev| {
                        let value = event_target_value(&ev);
                        if let Some(window) = web_sys::window() {
                            let _ = window.location().set_search(&format!("backend={value}"));
                        }
                    }>
                        <option value="auto" selected=move || engine::requested_backend().is_none()>"auto"</option>
                        <option value="webgpu" selected=move || engine::requested_backend() == Some(Backend::WebGpu)>"WebGPU"</option>
                        <option value="cpu" selected=move || engine::requested_backend() == Some(Backend::Cpu)>"CPU"</option>
                    </select>
                </label>
            </section>
            <p class="status"><span data-testid="status">{move || status.get().text()}</span>" · "<span>{move || message.get()}</span></p>
            <Show when=move || notice.get().is_some()>
                <p class="notice">{move || notice.get().unwrap_or_default()}</p>
            </Show>
            <Show when=move || error.get().is_some()>
                <p class="error" role="alert" data-testid="error">{move || error.get().unwrap_or_default()}</p>
            </Show>
            <section class="result" data-testid="result" data-result=move || result.get()>
                <p class="verdict" data-testid="verdict">{move || verdict.get()}</p>
                <div class="layers">
                    <label><input type="checkbox" data-testid="toggle-mask" prop:checked=move || show_mask.get()
                        on:change=move |ev| show_mask.set(event_target_checked(&ev)) />" mask"</label>
                    <label><input type="checkbox" data-testid="toggle-heatmap" prop:checked=move || show_heatmap.get()
                        on:change=move |ev| show_heatmap.set(event_target_checked(&ev)) />" Grad-CAM for "</label>
                    <select data-testid="heatmap-class" on:change=move |ev| {
                        heatmap_class.set(if event_target_value(&ev) == "cat" { PetClass::Cat } else { PetClass::Dog })
                    }>
                        <option value="dog" selected>"dog"</option>
                        <option value="cat">"cat"</option>
                    </select>
                    <label>" opacity "<input type="range" min="0" max="1" step="0.05" data-testid="opacity"
                        prop:value=move || opacity.get().to_string()
                        on:input=move |ev| opacity.set(event_target_value(&ev).parse().unwrap_or(0.4)) /></label>
                </div>
                <p class="legend">{legend}</p>
                <canvas node_ref=canvas_ref data-testid="canvas"></canvas>
                <p class="timings" data-testid="timings">{move || timings.get()}</p>
                <div class="downloads">
                    <button data-testid="download-cutout" on:click=download_cutout prop:disabled=move || revision.get() == 0>"Download the cut-out pet (PNG)"</button>
                    <button data-testid="download-mask" on:click=download_mask prop:disabled=move || revision.get() == 0>"Download the mask (PNG)"</button>
                </div>
            </section>
            <footer>
                <p>"Models: the segmenter and the Xception-like classifier of chapter 9 of "<em>"Deep Learning with Python"</em>
                   " (Chollet, 2nd ed.), trained with burn; see the "<a href="models/card.json">"model card"</a>"."</p>
            </footer>
        </main>
    }
}
