//! The photo on screen: the main view (the overlays as toggled, a compare slider that wipes
//! between them and the plain photo, the segmenter's probabilities under the pointer) and the
//! photo, mask and Grad-CAM views side by side.

use leptos::prelude::*;

use super::canvas;
use super::state::AppState;
use crate::model::SEGMENT_CLASSES;
use crate::overlay::{self, Layers};

/// Draws `image` into `canvas`, or says why it could not.
fn draw(state: AppState, canvas: Option<web_sys::HtmlCanvasElement>, image: &image::RgbaImage) {
    if let Some(canvas) = canvas
        && let Err(e) = canvas::draw(&canvas, image)
    {
        state.error.set(Some(format!("drawing failed: {e:?}")));
    }
}

/// The class probabilities at a share `(u, v)` of the photo, as text.
fn probabilities_text(state: AppState, u: f32, v: f32) -> Option<String> {
    let engine = state.engine();
    let shown = engine.shown.borrow();
    let p = shown
        .as_ref()?
        .displayed
        .analysis
        .mask
        .probabilities
        .at(u, v);
    let parts: Vec<String> = SEGMENT_CLASSES
        .iter()
        .zip(p)
        .map(|(name, p)| format!("{name} {:.0}%", p * 100.0))
        .collect();
    Some(parts.join(" · "))
}

/// The overlays as toggled, with the compare slider and the probabilities under the pointer.
#[component]
pub fn CompareView() -> impl IntoView {
    let state = AppState::get();
    let view = state.view;
    let canvas_ref = NodeRef::<leptos::html::Canvas>::new();
    let under_pointer = RwSignal::new(None::<String>);
    // Where the probe is, as a share of the photo's width and height (`data-at`, for tests).
    let probe_at = RwSignal::new(None::<(f32, f32)>);

    // Redraw whenever the result, a layer setting or the slider changes.
    Effect::new(move |_| {
        state.revision.track();
        state.heat_revision.track();
        state.mask_revision.track();
        let (layers, class, split) = (view.layers(), view.heatmap_class.get(), view.compare.get());
        let engine = state.engine();
        let shown = engine.shown.borrow();
        if let Some(shown) = shown.as_ref().map(|s| &s.displayed) {
            let composed = overlay::compose(&shown.photo, shown.maps(class), layers);
            let image = if split < 1.0 {
                overlay::wipe(&composed, &shown.photo, split)
            } else {
                composed
            };
            draw(state, canvas_ref.get(), &image);
        }
    });

    // Mouse, pen or touch over the photo: the segmenter's probabilities there.
    let on_pointer = move |ev: leptos::ev::PointerEvent| {
        let Some(canvas) = canvas_ref.get() else {
            return;
        };
        // The canvas is drawn at display size and scaled to the column by CSS: the pointer's
        // offset over the element's size on screen is the share of the photo at any scale.
        let (w, h) = (canvas.client_width().max(1), canvas.client_height().max(1));
        let u = (ev.offset_x() as f32 / w as f32).clamp(0.0, 1.0);
        let v = (ev.offset_y() as f32 / h as f32).clamp(0.0, 1.0);
        probe_at.set(Some((u, v)));
        under_pointer.set(probabilities_text(state, u, v));
    };

    // The keyboard's way to the same: arrow keys move a probe over the focused photo.
    let probe = RwSignal::new((0.5f32, 0.5f32));
    let show_probe = move || {
        let (u, v) = probe.get_untracked();
        probe_at.set(Some((u, v)));
        under_pointer.set(
            probabilities_text(state, u, v)
                .map(|t| format!("{t} (at {:.0}%, {:.0}%)", u * 100.0, v * 100.0)),
        );
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let step = 0.02;
        let (du, dv) = match ev.key().as_str() {
            "ArrowLeft" => (-step, 0.0),
            "ArrowRight" => (step, 0.0),
            "ArrowUp" => (0.0, -step),
            "ArrowDown" => (0.0, step),
            _ => return,
        };
        ev.prevent_default();
        probe.update(|(u, v)| {
            *u = (*u + du).clamp(0.0, 1.0);
            *v = (*v + dv).clamp(0.0, 1.0);
        });
        show_probe();
    };

    // The photo's aspect ratio, which the stylesheet sizes the view by (`--aspect`): as wide as
    // the column, or as high as most of the window for a tall photo, never stretched.
    let aspect = move || {
        let (w, h) = state.read_shown(|d| d.photo.dimensions()).unwrap_or((4, 3));
        format!("--aspect: {:.4}", w as f32 / h.max(1) as f32)
    };

    view! {
        <div class="compare">
            <canvas node_ref=canvas_ref data-testid="canvas" style=aspect on:pointermove=on_pointer on:pointerdown=on_pointer
                tabindex="0" role="img" on:keydown=on_key on:focus=move |_| show_probe()
                aria-label="The photo with the overlays; point at it, or focus it and use the arrow keys, to see the segmenter's probabilities"
                on:pointerleave=move |_| under_pointer.set(None)></canvas>
            <label class="compare-slider">"overlays ◀ ▶ photo "
                <input type="range" min="0" max="1" step="0.01" data-testid="compare"
                    aria-label="Compare: how much of the width shows the overlays"
                    prop:value=move || view.compare.get().to_string()
                    on:input=move |ev| view.compare.set(event_target_value(&ev).parse().unwrap_or(1.0)) />
            </label>
            <p class="under-pointer" data-testid="pixel-probabilities" aria-live="off"
                data-at=move || probe_at.get().map(|(u, v)| format!("{u:.3},{v:.3}")).unwrap_or_default()>
                {move || under_pointer.get().unwrap_or_else(|| "Point at the photo to see the segmenter's probabilities there.".into())}
            </p>
        </div>
    }
}

/// The photo, the mask view and the Grad-CAM view next to each other (stacked on a phone).
#[component]
pub fn SideBySide() -> impl IntoView {
    let state = AppState::get();
    let view = state.view;
    let refs: [NodeRef<leptos::html::Canvas>; 3] = std::array::from_fn(|_| NodeRef::new());
    let panels = [
        (
            Layers {
                mask: false,
                ..Layers::MASK
            },
            "photo",
            "the photo",
        ),
        (Layers::MASK, "mask", "the mask"),
        (Layers::HEATMAP, "gradcam", "Grad-CAM"),
    ];

    // The side views keep the chapter's opacity: dragging the slider redraws only the main view.
    Effect::new(move |_| {
        state.revision.track();
        state.heat_revision.track();
        state.mask_revision.track();
        let class = view.heatmap_class.get();
        let engine = state.engine();
        let shown = engine.shown.borrow();
        let Some(shown) = shown.as_ref().map(|s| &s.displayed) else {
            return;
        };
        for ((layers, _, _), canvas) in panels.iter().zip(refs) {
            let image = overlay::compose(&shown.photo, shown.maps(class), *layers);
            draw(state, canvas.get(), &image);
        }
    });

    let figures = panels
        .iter()
        .zip(refs)
        .map(|(&(_, id, caption), canvas)| {
            view! {
                <figure>
                    <canvas node_ref=canvas data-testid=format!("view-{id}") aria-label=caption></canvas>
                    <figcaption>{caption}</figcaption>
                </figure>
            }
        })
        .collect_view();
    view! {
        <div class="side-by-side" data-testid="side-by-side" hidden=move || state.revision.get() == 0>{figures}</div>
    }
}
