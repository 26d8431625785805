//! "Look inside the network": the activations of any layer for the current photo (click a
//! channel to see it over the photo), and filter patterns by gradient ascent, computed in the
//! browser on the same backend as the analysis.

use std::cell::RefCell;
use std::rc::Rc;

use image::RgbaImage;
use leptos::prelude::*;

use super::canvas;
use super::state::AppState;
use crate::explain::{ActivationGrid, FilterAscent, LayerActivation};
use crate::latest::Latest;
use crate::model::LayerId;

/// The layer shown first: early enough to still look like the photo.
const DEFAULT_LAYER: &str = "classifier.block.0.sepconv1";
/// Filters in a pattern grid: the first 16 or 64 of a layer, as in the chapter.
const GRID_SIZES: [usize; 2] = [16, 64];

/// Channel `k` of `layer` over the photo (display size), blended at 60%.
fn channel_over_photo(layer: &LayerActivation, k: usize, photo: &image::RgbImage) -> RgbaImage {
    let tile = layer.channel_image(k);
    let (w, h) = photo.dimensions();
    let tile = image::imageops::resize(&tile, w, h, image::imageops::FilterType::Triangle);
    RgbaImage::from_fn(w, h, |x, y| {
        let (p, c) = (photo.get_pixel(x, y).0, tile.get_pixel(x, y).0);
        let mix = |i: usize| (0.4 * f32::from(p[i]) + 0.6 * f32::from(c[i])) as u8;
        image::Rgba([mix(0), mix(1), mix(2), 255])
    })
}

fn to_rgba(image: &image::RgbImage) -> RgbaImage {
    image::DynamicImage::ImageRgb8(image.clone()).into_rgba8()
}

/// `<option>`s for the layers `keep` accepts, the default layer selected.
fn layer_options(layers: Vec<LayerId>, keep: impl Fn(&LayerId) -> bool) -> impl IntoView {
    layers
        .into_iter()
        .filter(|layer| keep(layer))
        .map(|layer| {
            let name = layer.to_string();
            let selected = name == DEFAULT_LAYER;
            let label = name.clone();
            view! { <option value=name selected=selected>{label}</option> }
        })
        .collect_view()
}

/// The layer a `<select>` names, or a message for the page.
fn chosen_layer(name: &str) -> Result<LayerId, String> {
    LayerId::parse(name).ok_or_else(|| format!("{name} is not a layer of petlens's models"))
}

/// The activations of one layer, as a grid of its channels.
struct ShownLayer {
    activation: LayerActivation,
    grid: ActivationGrid,
}

#[component]
pub fn Inside() -> impl IntoView {
    let state = AppState::get();
    let AppState {
        revision, layers, ..
    } = state;
    let engine = state.engine();
    let layer = RwSignal::new(DEFAULT_LAYER.to_string());
    let info = RwSignal::new(String::new());
    let channel = RwSignal::new(None::<usize>);
    // Channels of the layer on screen.
    let channels = RwSignal::new(0usize);
    let problem = RwSignal::new(None::<String>);
    // The grid on screen belongs to an older photo or layer while a new one is computed.
    let stale = RwSignal::new(false);
    let grid_ref = NodeRef::<leptos::html::Canvas>::new();
    let channel_ref = NodeRef::<leptos::html::Canvas>::new();
    let shown_layer: Rc<RefCell<Option<ShownLayer>>> = Rc::default();
    let latest = Latest::default();

    // Recompute the grid when the photo or the layer changes; a newer request wins.
    {
        let (engine, shown_layer, latest) = (engine.clone(), shown_layer.clone(), latest.clone());
        Effect::new(move |_| {
            revision.track();
            let name = layer.get();
            let Some((models, analysis)) = engine.current() else {
                return;
            };
            let ticket = latest.next();
            let shown_layer = shown_layer.clone();
            info.set(format!("{name}: computing…"));
            stale.set(true);
            let in_flight = state.begin();
            leptos::task::spawn_local(async move {
                let result = match chosen_layer(&name) {
                    Ok(id) => models.layer_activation(analysis, &id).await,
                    Err(e) => Err(e),
                };
                drop(in_flight);
                if !ticket.is_current() {
                    return;
                }
                stale.set(false);
                match result {
                    Ok(activation) => {
                        problem.set(None);
                        let [c, h, w] = activation.shape;
                        info.set(format!(
                            "{name}: {c} channels of {w}x{h}, {:.0}% all zero for this photo",
                            activation.zero_share() * 100.0
                        ));
                        let grid = activation.grid();
                        if let Some(canvas) = grid_ref.get_untracked()
                            && let Err(e) = canvas::draw(&canvas, &to_rgba(&grid.image))
                        {
                            problem.set(Some(format!("drawing failed: {e:?}")));
                        }
                        channels.set(c);
                        *shown_layer.borrow_mut() = Some(ShownLayer { activation, grid });
                        channel.set(None);
                    }
                    Err(e) => problem.set(Some(format!("{name}: {e}"))),
                }
            });
        });
    }

    // Channel `k` of the layer on screen, over the photo.
    let show_channel = {
        let (engine, shown_layer) = (engine.clone(), shown_layer.clone());
        move |k: usize| {
            let shown = shown_layer.borrow();
            let Some(shown) = shown.as_ref().filter(|s| k < s.activation.shape[0]) else {
                return;
            };
            let photo = engine
                .shown
                .borrow()
                .as_ref()
                .map(|s| s.displayed.photo.clone());
            if let (Some(photo), Some(target)) = (photo, channel_ref.get()) {
                let view = channel_over_photo(&shown.activation, k, &photo);
                if let Err(e) = canvas::draw(&target, &view) {
                    problem.set(Some(format!("drawing failed: {e:?}")));
                }
                channel.set(Some(k));
            }
        }
    };

    // A click on the grid picks the channel under the pointer.
    let on_grid_click = {
        let (shown_layer, show_channel) = (shown_layer.clone(), show_channel.clone());
        move |ev: leptos::ev::MouseEvent| {
            let k = {
                let shown = shown_layer.borrow();
                let (Some(canvas), Some(shown)) = (grid_ref.get(), shown.as_ref()) else {
                    return;
                };
                // The canvas may be drawn scaled: map the click back to the grid image's pixels.
                let scale = f64::from(canvas.width()) / f64::from(canvas.client_width().max(1));
                let (x, y) = (
                    f64::from(ev.offset_x()) * scale,
                    f64::from(ev.offset_y()) * scale,
                );
                shown.grid.tile_at(x as u32, y as u32)
            };
            if let Some(k) = k {
                show_channel(k);
            }
        }
    };
    // The keyboard's way to the same: a channel number.
    let on_channel_input = move |ev: leptos::ev::Event| {
        if let Ok(k) = event_target_value(&ev).parse::<usize>() {
            show_channel(k);
        }
    };
    let options = move || layer_options(layers.get(), |_| true);

    view! {
        <section class="inside" data-testid="inside">
            <h2>"Look inside the network"</h2>
            <Show when=move || revision.get() == 0>
                <p class="hint">"Analyse a photo first: its activations appear here."</p>
            </Show>
            <label>"Layer "
                <select data-testid="layer-picker" on:change=move |ev| layer.set(event_target_value(&ev))>{options}</select>
            </label>
            <p data-testid="layer-info">{move || info.get()}</p>
            <canvas class="grid" class:stale=move || stale.get() node_ref=grid_ref data-testid="activation-grid" on:click=on_grid_click
                title="Click a channel to see it over the photo" aria-label="Every channel of the layer; click one to see it over the photo"></canvas>
            <label>"Channel "<input type="number" min="0" max=move || channels.get().saturating_sub(1).to_string() data-testid="channel-index"
                aria-label="Channel to show over the photo" on:input=on_channel_input /></label>
            <Show when=move || channel.get().is_some()>
                <p>{move || format!("channel {} over the photo", channel.get().unwrap_or(0))}</p>
            </Show>
            <canvas class="channel" node_ref=channel_ref data-testid="channel-view" hidden=move || channel.get().is_none()
                data-channel=move || channel.get().map(|k| k.to_string()).unwrap_or_default()></canvas>
            <Show when=move || problem.get().is_some()>
                <p class="error" role="alert">{move || problem.get().unwrap_or_default()}</p>
            </Show>
            <FilterPatterns />
        </section>
    }
}

/// Gradient ascent for one filter, or a grid of the first filters, with progress and cancel.
#[component]
fn FilterPatterns() -> impl IntoView {
    let state = AppState::get();
    let layers = state.layers;
    let engine = state.engine();
    let layer = RwSignal::new(DEFAULT_LAYER.to_string());
    let filter = RwSignal::new(0usize);
    let grid_size = RwSignal::new(GRID_SIZES[0]);
    // One filter beside its robust pattern.
    let robust = RwSignal::new(false);
    let progress = RwSignal::new(None::<(usize, usize)>);
    let outcome = RwSignal::new(String::new());
    let activations = RwSignal::new(String::new());
    let pattern_ref = NodeRef::<leptos::html::Canvas>::new();
    // A newer run replaces an older one (whose answer is then dropped).
    let runs = Latest::default();

    let start = {
        let (runs, engine) = (runs.clone(), engine.clone());
        move |count: usize| {
            let Some(models) = engine.models.borrow().clone() else {
                return;
            };
            let name = layer.get_untracked();
            let id = match chosen_layer(&name) {
                Ok(id) => id,
                Err(e) => {
                    outcome.set(e);
                    return;
                }
            };
            let ticket = runs.next();
            let first = if count == 1 {
                filter.get_untracked()
            } else {
                0
            };
            let robust = count == 1 && robust.get_untracked();
            progress.set(Some((0, count * FilterAscent::default().steps)));
            outcome.set(format!("{name}: gradient ascent…"));
            leptos::task::spawn_local(async move {
                let report = move |done, total| progress.set(Some((done, total)));
                let result = models
                    .filter_patterns(&id, first..first + count, robust, report)
                    .await;
                if !ticket.is_current() {
                    return;
                }
                progress.set(None);
                let patterns = match result {
                    Ok(Some(patterns)) => patterns,
                    Ok(None) => return outcome.set(format!("{name}: cancelled")),
                    Err(e) => return outcome.set(format!("{name}: {e}")),
                };
                if let Some(canvas) = pattern_ref.get_untracked() {
                    let _ = canvas::draw(&canvas, &to_rgba(&patterns.grid));
                }
                let rises = patterns.rises;
                activations.set(serde_json::json!(rises).to_string());
                outcome.set(match (count, rises.as_slice()) {
                    (1, [plain, robust]) => format!(
                        "{name}, filter {first}: mean activation {:.3} -> {:.3} (left, the chapter's recipe); {:.3} -> {:.3} (right, robust: jitter, scale and rotation at each step, decorrelated colour and frequencies)",
                        plain.0, plain.1, robust.0, robust.1
                    ),
                    (1, [plain, ..]) => format!(
                        "{name}, filter {first}: mean activation {:.3} -> {:.3}",
                        plain.0, plain.1
                    ),
                    (n, _) => format!("{name}: the first {n} filters"),
                });
            });
        }
    };
    let start_one = {
        let start = start.clone();
        move |_| start(1)
    };
    let start_grid = move |_| start(grid_size.get_untracked());
    // The run stops at its next step in the models' thread and answers "cancelled".
    let cancel = move |_| {
        if let Some(models) = engine.models.borrow().as_ref() {
            models.cancel_filters();
        }
    };

    // Gradient ascent runs through the classifier and the ImageNet network.
    let options = move || layer_options(layers.get(), |l| l.network.has_filter_patterns());

    view! {
        <div class="filters">
            <h3>"Filter patterns"</h3>
            <p class="hint">"What input a filter responds to most: 30 steps of gradient ascent from grey noise (the chapter's recipe)."</p>
            <div class="layers">
                <label>"Layer "<select data-testid="filter-layer" on:change=move |ev| layer.set(event_target_value(&ev))>{options}</select></label>
                <label>"Filter "<input type="number" min="0" value="0" data-testid="filter-index"
                    on:input=move |ev| filter.set(event_target_value(&ev).parse().unwrap_or(0)) /></label>
                <button data-testid="filter-generate" on:click=start_one prop:disabled=move || progress.get().is_some()>"Generate"</button>
                <label title="Beyond the book, as Lucid and OpenAI Microscope do: random jitter, scale and rotation at every step, and the image parameterised by its decorrelated colour and frequency spectrum"><input type="checkbox" data-testid="filter-robust"
                    on:change=move |ev| robust.set(event_target_checked(&ev)) />" beside its robust pattern"</label>
                <button data-testid="filter-grid" on:click=start_grid prop:disabled=move || progress.get().is_some()>"Grid of the first"</button>
                <select data-testid="filter-count" aria-label="filters in the grid"
                    on:change=move |ev| grid_size.set(event_target_value(&ev).parse().unwrap_or(GRID_SIZES[0]))>
                    {GRID_SIZES.map(|n| view! { <option value=n.to_string()>{n}</option> })}
                </select>
                <button data-testid="filter-cancel" on:click=cancel prop:disabled=move || progress.get().is_none()>"Cancel"</button>
            </div>
            <Show when=move || progress.get().is_some()>
                <progress data-testid="filter-progress" max=move || progress.get().map_or(1, |p| p.1)
                    value=move || progress.get().map_or(0, |p| p.0)></progress>
            </Show>
            <p data-testid="filter-outcome" data-activations=move || activations.get()>{move || outcome.get()}</p>
            <canvas class="pattern" node_ref=pattern_ref data-testid="filter-pattern" hidden=move || activations.get().is_empty()></canvas>
        </div>
    }
}
