//! Offline after one visit: the service worker (`www/sw.js`) caches the app shell; the page tells
//! it what it loaded before the service worker controlled it.

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// Tells the service worker what the page loaded before the worker controlled it (sample
/// photos, styles), so that a visit without network looks like this one. Best effort: without
/// a service worker the page works as before, online.
pub async fn remember_for_offline() {
    let Some(window) = web_sys::window() else {
        return;
    };
    let urls = js_sys::Array::new();
    if let Some(performance) = window.performance() {
        for entry in performance.get_entries_by_type("resource").iter() {
            if let Ok(entry) = entry.dyn_into::<web_sys::PerformanceEntry>() {
                urls.push(&entry.name().into());
            }
        }
    }
    if let Some(document) = window.document() {
        let images = document.images();
        for i in 0..images.length() {
            if let Some(image) = images
                .item(i)
                .and_then(|e| e.dyn_into::<web_sys::HtmlImageElement>().ok())
            {
                urls.push(&image.src().into());
            }
        }
    }
    let Ok(ready) = window.navigator().service_worker().ready() else {
        return;
    };
    if let Ok(registration) = JsFuture::from(ready).await
        && let Ok(registration) = registration.dyn_into::<web_sys::ServiceWorkerRegistration>()
        && let Some(worker) = registration.active()
    {
        let _ = worker.post_message(&urls);
    }
}
