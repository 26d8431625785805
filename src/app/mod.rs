//! The page (Leptos, client-side rendered): drop in a photo, see the mask, the verdict and the
//! Grad-CAM heatmap computed in the browser, look inside the network, read the model card. The
//! models run in their own thread ([`crate::worker`]); the page talks to it through
//! [`pool::ModelPool`] only, in [`crate::protocol`]'s messages.
//!
//! Components stay small and share one [`state::AppState`] through context: [`photo_input`]
//! (drop zone, picker, paste, samples) and [`camera`] hand photos to [`analysis`] (the one
//! controller), [`result`] and [`views`] draw it, [`inside`] looks inside the network (activations,
//! filter patterns), [`card`] shows the model card.

mod analysis;
mod bench;
mod camera;
mod canvas;
mod card;
mod imagenet;
mod inside;
mod models;
mod offline;
mod photo_input;
mod pool;
mod result;
mod state;
mod views;

use std::rc::Rc;

use leptos::prelude::*;
use wasm_bindgen::prelude::*;

use crate::model::Network;
use crate::protocol::{Backend, LoadProgress};
use crate::shipped::{IMPORTED, ShippedFiles};
use state::{AppState, ImagenetState, ModelsState};

/// Entry point called by the generated JS glue: mounts the page. The same module also starts
/// in the models' thread (a Web Worker, no `window`), where `worker::worker_main` takes over.
#[wasm_bindgen(start)]
pub fn start() {
    if web_sys::window().is_none() {
        return;
    }
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

/// The user's choice from `?backend=` (auto when absent).
fn requested_backend() -> Option<Backend> {
    let search = web_sys::window()?.location().search().ok()?;
    let params = web_sys::UrlSearchParams::new_with_str(&search).ok()?;
    match params.get("backend").as_deref() {
        Some("cpu") => Some(Backend::Cpu),
        Some("webgpu") => Some(Backend::WebGpu),
        _ => None,
    }
}

/// Starts the models' thread (it picks the backend, fetches the models and builds the
/// pipeline); then runs `?bench` if asked.
fn load_models(state: AppState, progress: RwSignal<Option<LoadProgress>>) {
    leptos::task::spawn_local(async move {
        // The page's models' download shows here, the ImageNet network's and its heads' (after
        // the page is ready) in its own panel.
        let report = move |p: LoadProgress| {
            if ShippedFiles::includes(&p.model) {
                progress.set(Some(p));
            } else {
                state.imagenet.set(ImagenetState::Loading(Some(p)));
            }
        };
        let on_threads = move |n: usize| state.threads.set(n);
        let wanted = pool::wanted_threads();
        let started =
            pool::ModelPool::start(requested_backend(), wanted, Box::new(report), on_threads).await;
        progress.set(None);
        let (pool, loaded) = match started {
            Ok(started) => started,
            Err(e) => {
                state.error.set(Some(format!(
                    "The models could not be loaded: {e}. Reload the page to try again."
                )));
                state.models_state.set(ModelsState::Failed);
                return;
            }
        };
        state.backend.set(Some(loaded.backend));
        state.notice.set(loaded.notice);
        state.layers.set(loaded.layers);
        state.classifier_blocks.set(loaded.blocks);
        *state.engine().models.borrow_mut() = Some(pool.clone());
        load_imagenet(state, &pool, IMPORTED[0], false);
        if let Some(runs) = bench::requested_runs() {
            let report = pool
                .bench(runs)
                .await
                .unwrap_or_else(|e| serde_json::json!({ "error": e }).to_string());
            state.bench_report.set(Some(report));
        }
        state
            .message
            .set("Pick, drop or paste a photo of a cat or a dog.".into());
        state.models_state.set(ModelsState::Loaded);
        offline::remember_for_offline().await;
    });
}

/// Loads the imported network `network` in the background (the shipped MobileNet first, or one
/// the user picked): the page works without it meanwhile (analyses wait for its download to
/// settle, then carry its reading), and without it if it fails. With `read_again` (the user
/// switched networks), the last photo is analysed again with the new one.
pub fn load_imagenet(state: AppState, pool: &Rc<pool::ModelPool>, network: &str, read_again: bool) {
    state.imagenet.set(ImagenetState::Loading(None));
    let loaded = pool.load_imagenet(network);
    leptos::task::spawn_local(async move {
        let ready = loaded.await;
        // Another network's layers replace the previous one's in the viewer.
        state
            .layers
            .update(|l| l.retain(|l| l.network != Network::Imagenet));
        state.imagenet.set(match ready {
            Ok(info) => {
                state
                    .layers
                    .update(|l| l.extend(info.layers.iter().cloned()));
                ImagenetState::Ready(info)
            }
            Err(e) => ImagenetState::Failed(e),
        });
        if read_again {
            analysis::analyse_again(state);
        }
    });
}

#[component]
fn App() -> impl IntoView {
    let state = AppState::new();
    provide_context(state);
    let progress = RwSignal::new(None::<LoadProgress>);
    load_models(state, progress);
    photo_input::listen_for_paste(state);
    let dragging = RwSignal::new(false);
    let on_drop = {
        move |ev: leptos::ev::DragEvent| {
            ev.prevent_default();
            dragging.set(false);
            photo_input::on_drop(state, &ev);
        }
    };
    let AppState {
        message,
        error,
        notice,
        handled,
        models_memory,
        threads,
        ..
    } = state;

    view! {
        <main class:dragging=move || dragging.get()
            on:dragover=move |ev: leptos::ev::DragEvent| { ev.prevent_default(); dragging.set(true); }
            on:dragleave=move |_| dragging.set(false)
            on:drop=on_drop>
            <header>
                <h1>"petlens"</h1>
                <p class="tagline">"See what a convnet sees in your pet photo: segmentation, cat-vs-dog and Grad-CAM, computed in your browser."</p>
            </header>
            <photo_input::PhotoInput />
            <p class="status" aria-live="polite"><span data-testid="status" data-handled=move || handled.get().to_string()
                data-models-memory=move || models_memory.get().to_string()
                data-threads=move || threads.get().to_string()>{move || state.status().text()}</span>" · "<span>{move || message.get()}</span></p>
            <LoadBar progress=progress />
            <Show when=move || notice.get().is_some()>
                <p class="notice">{move || notice.get().unwrap_or_default()}</p>
            </Show>
            <Show when=move || error.get().is_some()>
                <p class="error" role="alert" data-testid="error">{move || error.get().unwrap_or_default()}</p>
            </Show>
            <result::ResultView />
            <bench::BenchReport />
            <inside::Inside />
            <card::ModelCard />
            <footer>
                <p>"Models: the segmenter and the Xception-like classifier of chapter 9 of "<em>"Deep Learning with Python"</em>
                   " (Chollet, 2nd ed.), trained with burn; see the "<a href="models/card.json">"model card"</a>"."</p>
            </footer>
        </main>
    }
}

/// The weights' download progress while the models load.
#[component]
fn LoadBar(progress: RwSignal<Option<LoadProgress>>) -> impl IntoView {
    move || {
        progress.get().map(|p| {
            let label = format!(
                "Loading the {}: {:.2}{} MB",
                p.model,
                p.received as f64 / 1e6,
                p.total
                    .map(|t| format!(" of {:.2}", t as f64 / 1e6))
                    .unwrap_or_default()
            );
            view! {
                <label class="load-progress">{label.clone()}
                    <progress data-testid="load-progress" aria-label=label
                        max=p.total.unwrap_or(1) value=p.total.map(|_| p.received)></progress>
                </label>
            }
        })
    }
}
