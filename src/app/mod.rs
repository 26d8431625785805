//! The page (Leptos, client-side rendered): drop in a photo, see the mask, the verdict and the
//! Grad-CAM heatmap computed in the browser.

mod bench;
mod canvas;
mod card;
mod engine;
mod inside;

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

/// Sample photos shipped in `www/samples/` (Oxford-IIIT Pet, CC BY-SA 4.0): file stem and what
/// the photo shows.
const SAMPLES: [(&str, &str); 6] = [
    ("Siamese_117", "a Siamese cat"),
    ("Bengal_10", "a Bengal cat"),
    ("Birman_102", "a Birman cat"),
    ("beagle_14", "a beagle"),
    ("samoyed_32", "a Samoyed"),
    ("shiba_inu_208", "a Shiba Inu"),
];

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
    /// Replaces the heatmaps (Grad-CAM at another block) in the analysis and at display size.
    fn set_heatmaps(&mut self, heatmaps: [crate::explain::Heatmap; 2]) {
        let (dw, dh) = self.photo.dimensions();
        self.heatmaps = heatmaps
            .each_ref()
            .map(|h| h.upsample(dw as usize, dh as usize));
        self.analysis.heatmaps = heatmaps;
    }

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

impl Engine {
    /// The models and the photo on screen, when both are there.
    fn current(&self) -> Option<(Rc<Pipeline>, RgbImage)> {
        let pipeline = self.pipeline.borrow().clone()?;
        let photo = self.shown.borrow().as_ref()?.analysis.photo.clone();
        Some((pipeline, photo))
    }
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
    // Photos handled to the end, result or error: lets tests (and screen readers) tell a new
    // outcome from an old one.
    let handled = RwSignal::new(0u64);
    let show_mask = RwSignal::new(true);
    let show_heatmap = RwSignal::new(false);
    let heatmap_class = RwSignal::new(PetClass::Dog);
    let opacity = RwSignal::new(0.4f32);
    let load_progress = RwSignal::new(None::<engine::LoadProgress>);
    let layer_names = RwSignal::new(Vec::<String>::new());
    let bench_report = RwSignal::new(None::<String>);
    // Grad-CAM's block (None: the last) and a counter of heatmap recomputations.
    let gradcam_depth = RwSignal::new(None::<usize>);
    let heat_revision = RwSignal::new(0u64);
    let dragging = RwSignal::new(false);
    let canvas_ref = NodeRef::<leptos::html::Canvas>::new();

    // Start-up: pick the backend, fetch the weights, build the pipeline.
    {
        let engine = engine.clone();
        leptos::task::spawn_local(async move {
            let (device, chosen, fallback) = engine::pick_device(engine::requested_backend()).await;
            backend.set(Some(chosen));
            notice.set(fallback);
            let loaded = engine::load_pipeline(&device, move |p| load_progress.set(Some(p))).await;
            load_progress.set(None);
            match loaded {
                Ok(pipeline) => {
                    layer_names.set(pipeline.layer_names());
                    let pipeline = Rc::new(pipeline);
                    *engine.pipeline.borrow_mut() = Some(pipeline.clone());
                    if let Some(runs) = bench::requested_runs() {
                        let report = bench::run(&pipeline, runs, chosen.name()).await;
                        bench_report.set(Some(match report {
                            Ok(report) => report.to_string(),
                            Err(e) => serde_json::json!({"error": e}).to_string(),
                        }));
                    }
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
                        gradcam_depth.set(None);
                        revision.update(|r| *r += 1);
                        message.set(format!("{name}: done."));
                        status.set(Status::Ready);
                        handled.update(|n| *n += 1);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        if engine.generation.get() == generation {
                            error.set(Some(format!("{name}: {e}")));
                            message.set("Try another photo.".into());
                            status.set(Status::Ready);
                            handled.update(|n| *n += 1);
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
            heat_revision.track();
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

    // Any photo from the picker, a drop or a paste.
    let take_file = {
        let run = run.clone();
        move |file: web_sys::File| {
            let run = run.clone();
            leptos::task::spawn_local(async move {
                match canvas::file_bytes(&file).await {
                    Ok(bytes) => run(bytes, file.name()),
                    Err(e) => {
                        error.set(Some(format!("{}: could not be read ({e:?})", file.name())));
                        handled.update(|n| *n += 1);
                    }
                }
            });
        }
    };

    let on_file = {
        let take_file = take_file.clone();
        move |ev: leptos::ev::Event| {
            let input: web_sys::HtmlInputElement = event_target(&ev);
            let file = input.files().and_then(|files| files.get(0));
            input.set_value("");
            if let Some(file) = file {
                take_file(file);
            }
        }
    };

    let on_drop = {
        let take_file = take_file.clone();
        move |ev: leptos::ev::DragEvent| {
            ev.prevent_default();
            dragging.set(false);
            match ev
                .data_transfer()
                .and_then(|d| d.files())
                .and_then(|f| f.get(0))
            {
                Some(file) => take_file(file),
                None => error.set(Some(
                    "Nothing to analyse was dropped: drop an image file (a photo from your files)."
                        .into(),
                )),
            }
        }
    };

    // Paste anywhere on the page (Ctrl+V / Cmd+V after copying an image).
    let paste_listener = {
        let take_file = take_file.clone();
        window_event_listener(leptos::ev::paste, move |ev: web_sys::ClipboardEvent| {
            let Some(files) = ev.clipboard_data().and_then(|d| d.files()) else {
                return;
            };
            if let Some(file) = files.get(0) {
                ev.prevent_default();
                take_file(file);
            } else if status.get_untracked() != Status::Loading {
                error.set(Some(
                    "The clipboard holds no image: copy a photo (not its address) and paste again."
                        .into(),
                ));
            }
        })
    };
    on_cleanup(move || paste_listener.remove());

    let on_sample = {
        let run = run.clone();
        move |stem: &'static str| {
            let run = run.clone();
            leptos::task::spawn_local(async move {
                match engine::fetch_bytes(&format!("samples/{stem}.jpg")).await {
                    Ok(bytes) => run(bytes, format!("{stem}.jpg")),
                    Err(e) => {
                        error.set(Some(format!("The sample {stem} could not be loaded: {e}")))
                    }
                }
            });
        }
    };
    let samples = SAMPLES
        .iter()
        .map(|&(stem, what)| {
            let on_sample = on_sample.clone();
            view! {
                <button class="sample" data-testid="sample" data-sample=stem title=format!("Try {what}")
                    prop:disabled=move || status.get() == Status::Loading
                    on:click=move |_| on_sample(stem)>
                    <img src=format!("samples/{stem}.jpg") alt=what width="96" height="96" loading="lazy" />
                </button>
            }
        })
        .collect_view();

    // Grad-CAM after an earlier block: a finer, less abstract map.
    let on_depth = {
        let engine = engine.clone();
        move |ev: leptos::ev::Event| {
            let depth = event_target_value(&ev).parse::<usize>().ok();
            gradcam_depth.set(depth);
            let Some((pipeline, photo)) = engine.current() else {
                return;
            };
            let engine = engine.clone();
            let generation = engine.generation.get();
            status.set(Status::Working);
            leptos::task::spawn_local(async move {
                let heatmaps = pipeline.gradcam_at(&photo, depth).await;
                if engine.generation.get() != generation {
                    return;
                }
                status.set(Status::Ready);
                match heatmaps {
                    Ok(heatmaps) => {
                        if let Some(shown) = engine.shown.borrow_mut().as_mut() {
                            shown.set_heatmaps(heatmaps);
                        }
                        heat_revision.update(|r| *r += 1);
                    }
                    Err(e) => error.set(Some(format!("Grad-CAM failed: {e}"))),
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
                "composite" => {
                    let class = heatmap_class.get_untracked();
                    let heatmap = a.heatmap(class).upsample(w as usize, h as usize);
                    let layers = Layers {
                        mask: show_mask.get_untracked(),
                        heatmap: show_heatmap.get_untracked(),
                        opacity: opacity.get_untracked(),
                    };
                    overlay::compose(&a.photo, &a.mask, &heatmap, layers)
                }
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
    let download_mask = {
        let download = download.clone();
        move |_| download("mask")
    };
    let download_composite = move |_| download("composite");

    let legend = crate::model::SEGMENT_CLASSES
        .iter()
        .zip(CLASS_COLOURS)
        .map(|(name, [r, g, b])| {
            view! { <span class="swatch" style=format!("background: rgb({r},{g},{b})")></span><span>{*name}</span> }
        })
        .collect_view();

    view! {
        <main class:dragging=move || dragging.get()
            on:dragover=move |ev: leptos::ev::DragEvent| { ev.prevent_default(); dragging.set(true); }
            on:dragleave=move |_| dragging.set(false)
            on:drop=on_drop>
            <header>
                <h1>"petlens"</h1>
                <p class="tagline">"See what a convnet sees in your pet photo: segmentation, cat-vs-dog and Grad-CAM, computed in your browser."</p>
            </header>
            <section class="controls">
                <label class="picker">
                    "Choose, drop or paste a photo "
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
            <section class="samples" aria-label="Sample photos">
                <span>"or try a sample: "</span>{samples}
                <p class="attribution">"Sample photos: the Oxford-IIIT Pet Dataset (Parkhi, Vedaldi, Zisserman, Jawahar, CVPR 2012), "
                    <a href="https://creativecommons.org/licenses/by-sa/4.0/">"CC BY-SA 4.0"</a>"."</p>
            </section>
            <p class="status" aria-live="polite"><span data-testid="status" data-handled=move || handled.get().to_string()>{move || status.get().text()}</span>" · "<span>{move || message.get()}</span></p>
            <Show when=move || load_progress.get().is_some()>
                {move || load_progress.get().map(|p| {
                    let label = format!("Loading the {}: {:.2}{} MB", p.model, p.received as f64 / 1e6,
                        p.total.map(|t| format!(" of {:.2}", t as f64 / 1e6)).unwrap_or_default());
                    view! {
                        <label class="load-progress">{label.clone()}
                            <progress data-testid="load-progress" aria-label=label
                                max=p.total.unwrap_or(1) value=p.total.map(|_| p.received)></progress>
                        </label>
                    }
                })}
            </Show>
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
                    <label>" at "<select data-testid="gradcam-depth" on:change=on_depth
                        prop:value=move || gradcam_depth.get().map(|d| d.to_string()).unwrap_or_else(|| "last".into())>
                        <option value="last">"the last block"</option>
                        <option value="0">"block 0"</option>
                        <option value="1">"block 1"</option>
                        <option value="2">"block 2"</option>
                        <option value="3">"block 3"</option>
                    </select></label>
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
                    <button data-testid="download-composite" on:click=download_composite prop:disabled=move || revision.get() == 0>"Download this view (PNG)"</button>
                </div>
            </section>
            <Show when=move || bench_report.get().is_some()>
                <pre class="bench" data-testid="bench">{move || bench_report.get().unwrap_or_default()}</pre>
            </Show>
            <inside::Inside engine=engine.clone() revision=revision layers=layer_names />
            <card::ModelCard />
            <footer>
                <p>"Models: the segmenter and the Xception-like classifier of chapter 9 of "<em>"Deep Learning with Python"</em>
                   " (Chollet, 2nd ed.), trained with burn; see the "<a href="models/card.json">"model card"</a>"."</p>
            </footer>
        </main>
    }
}
