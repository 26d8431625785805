//! The result: the verdict, the photo with its overlays (toggled, with Grad-CAM's class, block
//! and opacity), the timings and the downloads.

use leptos::prelude::*;

use super::analysis::{recompute_heatmaps, show_mask};
use super::state::{AppState, ImagenetState};
use super::{canvas, views};
use crate::explain::PetClass;
use crate::model::{FEATURE_CLASSIFIER, FEATURE_SEGMENTER, ModelKind, SEGMENT_CLASSES};
use crate::overlay::{self, CLASS_COLOURS, UNCERTAINTY_COLOUR};
use crate::pipeline::Analysis;
use crate::protocol::Backend;

/// What the download buttons save, each as a PNG at the photo's own resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Download {
    /// The pet cut out of the photo (transparent background).
    Cutout,
    /// The segmentation mask in the legend's colours.
    Mask,
    /// The photo with the overlays as they are shown.
    Composite,
}

impl Download {
    const ALL: [Download; 3] = [Download::Cutout, Download::Mask, Download::Composite];

    fn name(self) -> &'static str {
        match self {
            Download::Cutout => "cutout",
            Download::Mask => "mask",
            Download::Composite => "composite",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Download::Cutout => "Download the cut-out pet (PNG)",
            Download::Mask => "Download the mask (PNG)",
            Download::Composite => "Download this view (PNG)",
        }
    }

    /// The image to save, from the analysis at the photo's resolution.
    fn image(self, state: &AppState, analysis: &Analysis) -> image::RgbaImage {
        let (w, h) = analysis.photo.dimensions();
        match self {
            Download::Cutout => overlay::cutout(&analysis.photo, &analysis.mask.pixels),
            Download::Mask => overlay::mask_image(&analysis.mask.pixels, w, h),
            Download::Composite => {
                let class = state.view.heatmap_class.get_untracked();
                overlay::compose_analysis(analysis, class, state.view.layers_untracked())
            }
        }
    }

    fn save(self, state: AppState) {
        let engine = state.engine();
        let shown = engine.shown.borrow();
        let Some(shown) = shown.as_ref() else {
            return;
        };
        let saved = overlay::png_bytes(&self.image(&state, &shown.displayed.analysis))
            .map_err(|e| format!("{e}"))
            .and_then(|png| {
                let file = format!("petlens-{}.png", self.name());
                canvas::download(&png, &file, "image/png").map_err(|e| format!("{e:?}"))
            });
        if let Err(e) = saved {
            state.error.set(Some(format!("The download failed: {e}")));
        }
    }
}

/// The result as JSON in `data-result` (tests and scripts read it).
fn result_json(analysis: &Analysis, backend: Backend) -> String {
    let t = analysis.timings;
    serde_json::json!({
        "label": analysis.label().name(),
        "p_dog": analysis.p_dog,
        "mask_fraction": analysis.mask.fraction,
        "mask_model": analysis.mask.model,
        "masks": analysis.mask_models(),
        "backend": backend.name(),
        "timings_ms": t,
        "width": analysis.photo.width(),
        "height": analysis.photo.height(),
        "imagenet_top": analysis.imagenet_top,
        "verdicts": analysis.verdicts.iter().map(|v| serde_json::json!({
            "model": v.model,
            "p_dog": v.p_dog,
            "label": PetClass::from_p_dog(v.p_dog).name(),
        })).collect::<Vec<_>>(),
    })
    .to_string()
}

/// A classifier's name as the page shows it.
fn verdict_title(model: &str) -> &'static str {
    if model == FEATURE_CLASSIFIER {
        "on ImageNet features (MobileNet, chapter 8's feature extraction)"
    } else {
        "the chapter's convnet, trained from scratch"
    }
}

/// A segmenter's name as the page shows it.
fn mask_title(model: &str) -> &'static str {
    if model == FEATURE_SEGMENTER {
        "on ImageNet features (MobileNet + U-Net decoder)"
    } else {
        "from scratch (the chapter's model)"
    }
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

fn timings_text(analysis: &Analysis, backend: Backend) -> String {
    let t = analysis.timings;
    format!(
        "decode {:.0} ms · segment {:.0} ms · classify {:.0} ms · Grad-CAM {:.0} ms · ImageNet {:.0} ms · {:.0} ms in all ({})",
        t.decode,
        t.segment,
        t.classify,
        t.gradcam,
        t.imagenet,
        t.wall,
        backend.name()
    )
}

/// The verdict, the overlays on the photo, timings and downloads.
#[component]
pub fn ResultView() -> impl IntoView {
    let state = AppState::get();
    let view = state.view;
    let revision = state.revision;

    // Text of the result on screen, recomputed when a new one arrives.
    let described = move |describe: fn(&Analysis, Backend) -> String| {
        let backend = state.backend.get_untracked().unwrap_or(Backend::Cpu);
        state
            .read_shown(|d| describe(&d.analysis, backend))
            .unwrap_or_default()
    };
    let on_depth = move |ev: leptos::ev::Event| {
        let model = view.gradcam_model.get_untracked();
        recompute_heatmaps(state, model, event_target_value(&ev).parse::<usize>().ok())
    };
    let on_model =
        move |ev: leptos::ev::Event| recompute_heatmaps(state, event_target_value(&ev), None);
    // The explained classifier's blocks but the last (which is the "last block" choice).
    let depth_options = move || {
        let blocks = if view.gradcam_model.get() == FEATURE_CLASSIFIER {
            match state.imagenet.get() {
                ImagenetState::Ready(info) => info.blocks,
                _ => 0,
            }
        } else {
            state.classifier_blocks.get()
        };
        (0..blocks.saturating_sub(1))
            .map(|d| view! { <option value=d.to_string()>{format!("block {d}")}</option> })
            .collect_view()
    };
    // The classifiers the photo on screen has verdicts of.
    let model_options = move || {
        let models: Vec<String> = state
            .read_shown(|d| {
                d.analysis
                    .verdicts
                    .iter()
                    .map(|v| v.model.clone())
                    .collect()
            })
            .unwrap_or_default();
        models
            .into_iter()
            .map(|m| {
                let label = if m == FEATURE_CLASSIFIER { "on ImageNet features" } else { "the chapter's convnet" };
                view! { <option value=m.clone() selected=move || view.gradcam_model.get() == m>{label}</option> }
            })
            .collect_view()
    };
    // The segmenters that ran on the photo on screen, the chapter's first, the shown one chosen.
    let mask_options = move || {
        let (shown, mut models) = state
            .read_shown(|d| (d.analysis.mask.model.clone(), d.analysis.mask_models()))
            .unwrap_or_default();
        models.sort_by_key(|m| m != ModelKind::Segmenter.name());
        models
            .into_iter()
            .map(|m| {
                let selected = m == shown;
                view! { <option value=m.clone() selected=selected>{mask_title(&m)}</option> }
            })
            .collect_view()
    };
    let one_mask = move || {
        state
            .read_shown(|d| d.analysis.other_masks.is_empty())
            .unwrap_or(true)
    };
    let downloads = Download::ALL
        .map(|download| {
            view! {
                <button data-testid=format!("download-{}", download.name())
                    on:click=move |_| download.save(state)
                    prop:disabled=move || revision.get() == 0>{download.label()}</button>
            }
        })
        .collect_view();
    let legend = SEGMENT_CLASSES
        .iter()
        .zip(CLASS_COLOURS)
        .map(|(name, [r, g, b])| {
            view! { <span class="swatch" style=format!("background: rgb({r},{g},{b})")></span><span>{*name}</span> }
        })
        .collect_view();
    let [ur, ug, ub] = UNCERTAINTY_COLOUR;

    view! {
        <section class="result" data-testid="result" aria-label="Result" data-result=move || described(result_json)>
            <p class="hint" hidden=move || revision.get() != 0>"The mask, the verdict and Grad-CAM of your photo appear here."</p>
            <VerdictBar />
            <super::imagenet::ImagenetTop />
            <div class="result-body" hidden=move || revision.get() == 0>
            <div class="layers" role="group" aria-label="Overlays">
                <label><input type="checkbox" data-testid="toggle-mask" prop:checked=move || view.show_mask.get()
                    on:change=move |ev| view.show_mask.set(event_target_checked(&ev)) />" mask"</label>
                <label hidden=one_mask>" from "<select data-testid="mask-model" aria-label="the segmenter whose mask is shown"
                    on:change=move |ev| show_mask(state, &event_target_value(&ev))>{mask_options}</select></label>
                <label><input type="checkbox" data-testid="toggle-uncertainty" prop:checked=move || view.show_uncertainty.get()
                    on:change=move |ev| view.show_uncertainty.set(event_target_checked(&ev)) />" uncertainty"</label>
                <label><input type="checkbox" data-testid="toggle-heatmap" prop:checked=move || view.show_heatmap.get()
                    on:change=move |ev| view.show_heatmap.set(event_target_checked(&ev)) />" Grad-CAM for "</label>
                <select data-testid="heatmap-class" aria-label="Grad-CAM's class" on:change=move |ev| {
                    view.heatmap_class.set(if event_target_value(&ev) == "cat" { PetClass::Cat } else { PetClass::Dog })
                }>
                    <option value="dog" selected>"dog"</option>
                    <option value="cat">"cat"</option>
                </select>
                <label>" of "<select data-testid="gradcam-model" aria-label="the classifier Grad-CAM explains"
                    on:change=on_model prop:value=move || view.gradcam_model.get()>{model_options}</select></label>
                <label>" at "<select data-testid="gradcam-depth" on:change=on_depth
                    prop:value=move || view.gradcam_depth.get().map(|d| d.to_string()).unwrap_or_else(|| "last".into())>
                    <option value="last">"the last block"</option>
                    {depth_options}
                </select></label>
                <label>" opacity "<input type="range" min="0" max="1" step="0.05" data-testid="opacity"
                    prop:value=move || view.opacity.get().to_string()
                    on:input=move |ev| view.opacity.set(event_target_value(&ev).parse().unwrap_or(0.4)) /></label>
            </div>
            <p class="legend">{legend}
                <span class="swatch" style=format!("background: rgb({ur},{ug},{ub})")></span><span>"uncertain"</span></p>
            <views::CompareView />
            <views::SideBySide />
            <p class="timings" data-testid="timings">{move || described(timings_text)}</p>
            <div class="downloads">{downloads}</div>
            </div>
        </section>
    }
}

/// The verdict in words and its probability as a bar from "cat" to "dog".
#[component]
fn VerdictBar() -> impl IntoView {
    let state = AppState::get();
    let p_dog = move || state.read_shown(|d| d.analysis.p_dog);
    let text = move || {
        state
            .read_shown(|d| verdict_text(&d.analysis))
            .unwrap_or_default()
    };
    // Every classifier's verdict, the default first, when there is more than one.
    let verdicts = move || {
        state
            .read_shown(|d| d.analysis.verdicts.clone())
            .unwrap_or_default()
    };
    let rows = move || {
        verdicts()
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let title = verdict_title(&v.model);
                view! {
                    <li data-testid="verdict-row" data-model=v.model.clone()>
                        <span class="verdict-name">{title}
                            {(i == 0).then(|| view! { <span class="default">" · the verdict above (better on validation)"</span> })}</span>
                        <meter min="0" max="1" aria-label=format!("probability of dog, {title}") value=v.p_dog></meter>
                        <span>{format!("{} · P(dog) = {:.3}", PetClass::from_p_dog(v.p_dog).name(), v.p_dog)}</span>
                    </li>
                }
            })
            .collect_view()
    };
    view! {
        <p class="verdict" data-testid="verdict">{text}</p>
        <Show when=move || p_dog().is_some()>
            <div class="verdict-bar">
                <span>"cat"</span>
                <meter data-testid="verdict-bar" min="0" max="1"
                    aria-label="probability of dog" value=move || p_dog().unwrap_or(0.5)></meter>
                <span>"dog"</span>
                <span data-testid="p-dog">{move || format!("P(dog) = {:.3}", p_dog().unwrap_or(0.5))}</span>
            </div>
        </Show>
        <ul class="verdicts" data-testid="verdicts" aria-label="Each classifier's verdict"
            hidden=move || verdicts().len() < 2>{rows}</ul>
    }
}
