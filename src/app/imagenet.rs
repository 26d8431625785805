//! "What an ImageNet network sees": the imported MobileNet's top 5 of 1000 classes for the
//! photo on screen, next to the verdict, and Grad-CAM for any of them (chosen by clicking the
//! class) at any block; or how far its download is, or why it is missing.

use leptos::html::Canvas;
use leptos::prelude::*;

use super::canvas::draw;
use super::models::{ImagenetHeatmap, ImagenetInfo};
use super::state::{AppState, ImagenetState};
use crate::imagenet::TopClass;
use crate::latest::Latest;
use crate::overlay::{self, Layers, Maps};

/// The ImageNet reading of the result on screen (tracked by the result's revision).
fn shown_top(state: AppState) -> Vec<TopClass> {
    state
        .read_shown(|d| d.analysis.imagenet_top.clone())
        .unwrap_or_default()
}

/// The Grad-CAM choice: which class, after which block, and what is on the canvas.
#[derive(Clone, Copy)]
struct CamChoice {
    class: RwSignal<Option<usize>>,
    depth: RwSignal<Option<usize>>,
    /// The (class, depth) drawn on the canvas, for the caption and the tests.
    drawn: RwSignal<Option<(usize, Option<usize>)>>,
    canvas: NodeRef<Canvas>,
    requests: StoredValue<Latest, LocalStorage>,
}

impl CamChoice {
    /// Asks for the chosen class's map at the chosen block; a newer choice or photo wins.
    fn request(self, state: AppState) {
        let (Some(class), Some((models, analysis))) =
            (self.class.get_untracked(), state.engine().current())
        else {
            return;
        };
        let depth = self.depth.get_untracked();
        let ticket = self.requests.with_value(Latest::next);
        let in_flight = state.begin();
        leptos::task::spawn_local(async move {
            let cam = models.imagenet_gradcam(analysis, class, depth).await;
            if ticket.is_current() {
                match cam {
                    Ok(cam) => self.show(state, &cam),
                    Err(e) => state
                        .error
                        .set(Some(format!("ImageNet Grad-CAM failed: {e}"))),
                }
            }
            drop(in_flight);
        });
    }

    /// Draws a map over the photo on screen, when it is that photo's.
    fn show(self, state: AppState, cam: &ImagenetHeatmap) {
        let engine = state.engine();
        let shown = engine.shown.borrow();
        let Some(shown) = shown.as_ref().filter(|s| s.analysis == cam.analysis) else {
            return;
        };
        let photo = &shown.displayed.photo;
        let heatmap = cam
            .map
            .upsample(photo.width() as usize, photo.height() as usize);
        let maps = Maps {
            mask: &[],
            heatmap: &heatmap,
            uncertainty: &[],
        };
        let image = overlay::compose(photo, maps, Layers::HEATMAP);
        if let Some(canvas) = self.canvas.get_untracked()
            && draw(&canvas, &image).is_ok()
        {
            self.drawn.set(Some((cam.class, cam.depth)));
        }
    }
}

/// One class: its readable name, its probability in words and as a bar; a click shows its
/// Grad-CAM.
fn class_row(state: AppState, choice: CamChoice, class: TopClass) -> impl IntoView {
    let percent = format!("{:.1}%", class.p * 100.0);
    let index = class.class;
    let name = class.readable_name();
    view! {
        <li data-class=index.to_string()>
            <button class="imagenet-name" data-testid="imagenet-class"
                aria-pressed=move || (choice.class.get() == Some(index)).to_string()
                title=format!("Grad-CAM: where the network sees {name}")
                on:click=move |_| {
                    choice.class.set(Some(index));
                    choice.request(state);
                }>{name.clone()}</button>
            <meter min="0" max="1" value=class.p aria-label=format!("{name}: {percent}")></meter>
            <span class="imagenet-p">{percent}</span>
        </li>
    }
}

/// Grad-CAM of the chosen class, with the block to explain.
#[component]
fn ImagenetCam(choice: CamChoice, blocks: usize) -> impl IntoView {
    let state = AppState::get();
    let on_depth = move |ev: leptos::ev::Event| {
        choice
            .depth
            .set(event_target_value(&ev).parse::<usize>().ok());
        choice.request(state);
    };
    let options = (0..blocks.saturating_sub(1))
        .map(|d| view! { <option value=d.to_string()>{format!("block {}", d + 1)}</option> })
        .collect_view();
    let caption = move || {
        choice.drawn.get().map_or_else(
            || "Click a class to see where the network sees it.".to_string(),
            |(class, _)| {
                let top = shown_top(state);
                let name = top
                    .iter()
                    .find(|t| t.class == class)
                    .map_or_else(|| format!("class {class}"), TopClass::readable_name);
                format!("Grad-CAM: where the network sees \"{name}\"")
            },
        )
    };
    view! {
        <figure class="imagenet-cam">
            <canvas node_ref=choice.canvas data-testid="imagenet-gradcam" aria-label="ImageNet Grad-CAM"
                data-class=move || choice.drawn.get().map(|(c, _)| c.to_string())
                data-depth=move || choice.drawn.get().map(|(_, d)| d.map_or("last".into(), |d| d.to_string()))
                hidden=move || choice.drawn.get().is_none()></canvas>
            <figcaption>{caption}
                <label>" · Grad-CAM after "<select data-testid="imagenet-gradcam-depth" on:change=on_depth>
                    <option value="last">"the last block"</option>
                    {options}
                </select></label>
            </figcaption>
        </figure>
    }
}

/// The imported network's name as people say it.
fn network_label(network: &str) -> &'static str {
    match network {
        "xception" => "Xception (your weights)",
        _ => "MobileNet v1 (shipped)",
    }
}

/// A choice of network, where the release ships more than one (a user's imported Xception).
fn network_picker(state: AppState, info: &ImagenetInfo) -> impl IntoView + use<> {
    let current = info.network.clone();
    let options = info
        .available
        .iter()
        .map(|n| {
            view! { <option value=n.clone() selected=*n == current>{network_label(n)}</option> }
        })
        .collect_view();
    let on_change = move |ev: leptos::ev::Event| {
        let network = event_target_value(&ev);
        if let Some(pool) = state.engine().models.borrow().clone() {
            super::load_imagenet(state, &pool, &network, true);
        }
    };
    view! {
        <label hidden=info.available.len() < 2>"Network "
            <select data-testid="imagenet-network" on:change=on_change>{options}</select>
        </label>
    }
}

/// The panel: the top classes once a photo is read, the download's progress before.
#[component]
pub fn ImagenetTop() -> impl IntoView {
    let state = AppState::get();
    let choice = CamChoice {
        class: RwSignal::new(None),
        depth: RwSignal::new(None),
        drawn: RwSignal::new(None),
        canvas: NodeRef::new(),
        requests: StoredValue::new_local(Latest::default()),
    };
    // A new photo: its own classes, nothing drawn yet.
    Effect::new(move |_| {
        state.revision.track();
        choice.requests.with_value(Latest::cancel);
        choice.class.set(None);
        choice.drawn.set(None);
    });
    let body = move || {
        match state.imagenet.get() {
        ImagenetState::Loading(progress) => {
            let (value, max) = progress
                .and_then(|p| p.total.map(|t| (p.received, t)))
                .unwrap_or((0, 1));
            view! {
                <label class="load-progress">"Downloading the ImageNet network…"
                    <progress data-testid="imagenet-progress" max=max value=value></progress>
                </label>
            }
            .into_any()
        }
        ImagenetState::Failed(why) => view! {
            <p class="notice" data-testid="imagenet-error">
                {format!("The ImageNet network is not available ({why}); the rest of the page works without it.")}
            </p>
        }
        .into_any(),
        ImagenetState::Ready(info) => view! {
            {network_picker(state, &info)}
            <ol class="imagenet-top" data-testid="imagenet-top" data-network=info.network.clone() title=info.architecture>
                {move || shown_top(state).into_iter().map(|c| class_row(state, choice, c)).collect_view()}
            </ol>
            <div hidden=move || state.revision.get() == 0>
                <ImagenetCam choice blocks=info.blocks />
            </div>
        }
        .into_any(),
    }
    };
    view! {
        <section class="imagenet" aria-label="What an ImageNet network sees">
            <h2>"What an ImageNet network sees"</h2>
            <p class="explain">"A network pretrained on ImageNet's 1000 classes (Keras's weights): it knows breeds, and much besides pets."</p>
            {body}
        </section>
    }
}
