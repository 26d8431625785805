//! Where photos come in: the drop zone (which is also the file picker), drop anywhere on the
//! page, paste and the samples; each hands the photo to [`analyse`].

use leptos::prelude::*;

use super::analysis::analyse;
use super::state::{AppState, ModelsState};
use super::{camera, canvas, requested_backend};
use crate::net;
use crate::protocol::Backend;

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

/// Reads a file the person gave (picker, drop or paste) and analyses it.
pub fn take_file(state: AppState, file: web_sys::File) {
    leptos::task::spawn_local(async move {
        match canvas::file_bytes(&file).await {
            Ok(bytes) => analyse(state, bytes, file.name()),
            Err(e) => state.fail(format!("{}: could not be read ({e:?})", file.name())),
        }
    });
}

/// The first file of a drop, or a message when nothing usable was dropped.
pub fn on_drop(state: AppState, ev: &leptos::ev::DragEvent) {
    match ev
        .data_transfer()
        .and_then(|d| d.files())
        .and_then(|f| f.get(0))
    {
        Some(file) => take_file(state, file),
        None => state.error.set(Some(
            "Nothing to analyse was dropped: drop an image file (a photo from your files).".into(),
        )),
    }
}

/// Paste anywhere on the page (Ctrl+V / Cmd+V after copying an image).
pub fn listen_for_paste(state: AppState) {
    let listener = window_event_listener(leptos::ev::paste, move |ev: web_sys::ClipboardEvent| {
        let Some(files) = ev.clipboard_data().and_then(|d| d.files()) else {
            return;
        };
        if let Some(file) = files.get(0) {
            ev.prevent_default();
            take_file(state, file);
        } else if state.models_state.get_untracked() != ModelsState::Loading {
            state.error.set(Some(
                "The clipboard holds no image: copy a photo (not its address) and paste again."
                    .into(),
            ));
        }
    });
    on_cleanup(move || listener.remove());
}

/// The drop zone (a styled file picker: click, Enter or Space opens it, a drop lands on it),
/// the camera and the backend switch.
#[component]
pub fn PhotoInput() -> impl IntoView {
    let state = AppState::get();
    let loading = move || state.loading();
    let on_file = {
        move |ev: leptos::ev::Event| {
            let input: web_sys::HtmlInputElement = event_target(&ev);
            let file = input.files().and_then(|files| files.get(0));
            input.set_value("");
            if let Some(file) = file {
                take_file(state, file);
            }
        }
    };
    let backend = state.backend;
    view! {
        <section class="controls">
            <label class="dropzone" class:disabled=loading data-testid="dropzone">
                <input type="file" class="visually-hidden" accept="image/*" data-testid="photo-input"
                    on:change=on_file prop:disabled=loading />
                <span class="dropzone-icon" aria-hidden="true">"⇪"</span>
                <span class="dropzone-title">"Drop a photo of your cat or dog here"</span>
                <span class="dropzone-hint">"or click to choose one · paste with Ctrl+V · JPEG, PNG, WebP, GIF, BMP"</span>
            </label>
            <camera::Camera />
            <span class="badge" data-testid="backend">{move || backend.get().map(|b| b.name().to_uppercase()).unwrap_or_else(|| "…".into())}</span>
            <label>"Backend "
                <select data-testid="backend-switch" on:change=move |ev| {
                    let value = event_target_value(&ev);
                    if let Some(window) = web_sys::window() {
                        let _ = window.location().set_search(&format!("backend={value}"));
                    }
                }>
                    <option value="auto" selected=move || requested_backend().is_none()>"auto"</option>
                    <option value="webgpu" selected=move || requested_backend() == Some(Backend::WebGpu)>"WebGPU"</option>
                    <option value="cpu" selected=move || requested_backend() == Some(Backend::Cpu)>"CPU"</option>
                </select>
            </label>
        </section>
        <Samples />
    }
}

/// The sample photos, one click each. The strip shows small square thumbnails
/// (`www/samples/thumbs/`, written by `scripts/thumbnails.py`); a photo is fetched when chosen.
#[component]
fn Samples() -> impl IntoView {
    let state = AppState::get();
    let samples = SAMPLES
        .iter()
        .map(|&(stem, what)| {
            let on_click = move |_| {
                leptos::task::spawn_local(async move {
                    match net::fetch_bytes(&format!("samples/{stem}.jpg")).await {
                        Ok(bytes) => analyse(state, bytes, format!("{stem}.jpg")),
                        Err(e) => state
                            .error
                            .set(Some(format!("The sample {stem} could not be loaded: {e}"))),
                    }
                });
            };
            view! {
                <button class="sample" data-testid="sample" data-sample=stem title=format!("Try {what}")
                    prop:disabled=move || state.loading()
                    on:click=on_click>
                    <img src=format!("samples/thumbs/{stem}.jpg") alt=what width="72" height="72" loading="lazy" />
                </button>
            }
        })
        .collect_view();
    view! {
        <section class="samples" aria-label="Sample photos">
            <span>"or try a sample: "</span>{samples}
            <p class="attribution">"Sample photos: the Oxford-IIIT Pet Dataset (Parkhi, Vedaldi, Zisserman, Jawahar, CVPR 2012), "
                <a href="https://creativecommons.org/licenses/by-sa/4.0/">"CC BY-SA 4.0"</a>"."</p>
        </section>
    }
}
