//! "Take a photo": the device camera (`getUserMedia`) in a preview, one frame captured and
//! analysed like any other photo; a clear message when there is no camera or no permission.

use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::analysis::analyse;
use super::state::AppState;

/// Why the camera did not start, in words a person can act on.
fn camera_error(e: &JsValue) -> String {
    let name = e
        .dyn_ref::<web_sys::DomException>()
        .map(|e| e.name())
        .unwrap_or_default();
    match name.as_str() {
        "NotAllowedError" | "SecurityError" => "The camera permission was refused: allow the camera for this page in the browser's site settings, or choose a photo instead.".into(),
        "NotFoundError" | "OverconstrainedError" => "No camera was found on this device: choose a photo instead.".into(),
        "NotReadableError" | "AbortError" => "The camera could not be started (is another app using it?). Close it and try again, or choose a photo.".into(),
        _ => format!("The camera could not be started ({}): choose a photo instead.", if name.is_empty() { "unknown error".into() } else { name }),
    }
}

/// Asks for the camera's video.
async fn open_camera() -> Result<web_sys::MediaStream, String> {
    let devices = web_sys::window()
        .and_then(|w| w.navigator().media_devices().ok())
        .ok_or("This browser offers no camera to this page (a camera needs an https page).")?;
    let constraints = web_sys::MediaStreamConstraints::new();
    constraints.set_video(&JsValue::TRUE);
    let request = devices
        .get_user_media_with_constraints(&constraints)
        .map_err(|e| camera_error(&e))?;
    let stream = JsFuture::from(request)
        .await
        .map_err(|e| camera_error(&e))?;
    stream
        .dyn_into()
        .map_err(|_| "The camera answered with no video.".to_string())
}

fn stop(stream: &web_sys::MediaStream) {
    for track in stream.get_tracks().iter() {
        if let Ok(track) = track.dyn_into::<web_sys::MediaStreamTrack>() {
            track.stop();
        }
    }
}

/// The frame on screen as PNG bytes.
fn capture(video: &web_sys::HtmlVideoElement) -> Result<Vec<u8>, String> {
    let (w, h) = (video.video_width(), video.video_height());
    if w == 0 || h == 0 {
        return Err(
            "The camera has not shown a picture yet: wait a moment and capture again.".into(),
        );
    }
    let failed = |e: JsValue| format!("The frame could not be captured ({e:?}).");
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let canvas: web_sys::HtmlCanvasElement = document
        .create_element("canvas")
        .map_err(failed)?
        .dyn_into()
        .map_err(|_| "no canvas")?;
    canvas.set_width(w);
    canvas.set_height(h);
    let context: web_sys::CanvasRenderingContext2d = canvas
        .get_context("2d")
        .map_err(failed)?
        .ok_or("no 2d context")?
        .dyn_into()
        .map_err(|_| "no 2d context")?;
    context
        .draw_image_with_html_video_element(video, 0.0, 0.0)
        .map_err(failed)?;
    let data = context
        .get_image_data(0.0, 0.0, f64::from(w), f64::from(h))
        .map_err(failed)?;
    let frame =
        image::RgbaImage::from_raw(w, h, data.data().0).ok_or("a frame of the wrong size")?;
    crate::overlay::png_bytes(&frame).map_err(|e| e.to_string())
}

/// The camera button, and the preview with Capture and Cancel while the camera is on.
#[component]
pub fn Camera() -> impl IntoView {
    let state = AppState::get();
    let stream = StoredValue::new_local(None::<web_sys::MediaStream>);
    let live = RwSignal::new(false);
    let video_ref = NodeRef::<leptos::html::Video>::new();
    let close = move || {
        if let Some(stream) = stream.get_value() {
            stop(&stream);
        }
        stream.set_value(None);
        live.set(false);
    };
    on_cleanup(close);

    let start = move |_| {
        leptos::task::spawn_local(async move {
            match open_camera().await {
                Ok(opened) => {
                    let video = video_ref.get_untracked();
                    if let Some(video) = &video {
                        video.set_src_object(Some(&opened));
                    }
                    // The preview shows as soon as the stream is attached: its first frame can
                    // arrive before `play()` settles, and Capture must not be hidden then.
                    stream.set_value(Some(opened));
                    state.error.set(None);
                    live.set(true);
                    if let Some(playing) = video.and_then(|v| v.play().ok()) {
                        let _ = JsFuture::from(playing).await;
                    }
                }
                Err(message) => state.fail(message),
            }
        });
    };
    let take = move |_| {
        let Some(video) = video_ref.get_untracked() else {
            return;
        };
        match capture(&video) {
            Ok(bytes) => {
                close();
                analyse(state, bytes, "the camera photo".into());
            }
            Err(message) => state.error.set(Some(message)),
        }
    };

    view! {
        <button data-testid="camera" on:click=start
            prop:disabled=move || live.get() || state.loading()>"Take a photo"</button>
        <div class="camera" hidden=move || !live.get()>
            <video node_ref=video_ref data-testid="camera-preview" autoplay=true playsinline=true muted=true
                aria-label="Camera preview"></video>
            <button data-testid="camera-capture" on:click=take>"Capture"</button>
            <button data-testid="camera-cancel" on:click=move |_| close()>"Cancel"</button>
        </div>
    }
}
