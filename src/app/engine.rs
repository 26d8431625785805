//! The models in the browser: picking WebGPU or the CPU, fetching the weights (cached in Cache
//! Storage so a second visit does not download them again), and running the pipeline stage by
//! stage. This runs in the models' thread (a Web Worker, [`super::worker`]); what it uses of
//! the browser (`fetch`, `caches`, `navigator.gpu`) is read from the global scope, which is the
//! worker's there and the page's elsewhere.

use burn::prelude::*;
use gloo::timers::future::TimeoutFuture;
use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::pipeline::{Analysis, Pipeline, ShippedFiles};

/// Where the models run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    WebGpu,
    Cpu,
}

impl Backend {
    /// The name in the page and in `data-result`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::WebGpu => "webgpu",
            Backend::Cpu => "cpu",
        }
    }
}

/// The user's choice from `?backend=` (auto when absent).
pub fn requested_backend() -> Option<Backend> {
    let search = web_sys::window()?.location().search().ok()?;
    let params = web_sys::UrlSearchParams::new_with_str(&search).ok()?;
    match params.get("backend").as_deref() {
        Some("cpu") => Some(Backend::Cpu),
        Some("webgpu") => Some(Backend::WebGpu),
        _ => None,
    }
}

/// WebGPU when the browser offers an adapter (and the user did not ask for the CPU),
/// otherwise burn's CPU backend. The reason for a fallback is returned for the page to show.
pub async fn pick_device(requested: Option<Backend>) -> (Device, Backend, Option<String>) {
    if requested == Some(Backend::Cpu) {
        return (Device::flex(), Backend::Cpu, None);
    }
    if !browser_has_webgpu() {
        let reason = "this browser does not offer WebGPU; using the CPU".to_string();
        return (Device::flex(), Backend::Cpu, Some(reason));
    }
    register_webgpu_compiler();
    match Device::wgpu_options().init_async().await {
        Ok(device) => (device, Backend::WebGpu, None),
        Err(e) => (
            Device::flex(),
            Backend::Cpu,
            Some(format!("WebGPU is not available here ({e}); using the CPU")),
        ),
    }
}

/// A property of the global scope (the page's `window` or the worker's `self`).
fn global(name: &str) -> Option<wasm_bindgen::JsValue> {
    js_sys::Reflect::get(&js_sys::global(), &name.into())
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// Whether `navigator.gpu` exists (without it burn's WebGPU device cannot start).
fn browser_has_webgpu() -> bool {
    global("navigator")
        .and_then(|navigator| js_sys::Reflect::get(&navigator, &"gpu".into()).ok())
        .is_some_and(|gpu| !gpu.is_undefined())
}

/// `fetch(url)` of the global scope.
fn fetch(url: &str) -> Result<js_sys::Promise, String> {
    let fetch: js_sys::Function = global("fetch")
        .ok_or("this browser cannot fetch")?
        .dyn_into()
        .map_err(|_| "fetch is not a function")?;
    fetch
        .call1(&js_sys::global(), &url.into())
        .map_err(js_error)?
        .dyn_into()
        .map_err(|_| "fetch returned no promise".into())
}

/// Runs the module's static constructors, once, before the first WebGPU device is created.
///
/// burn's WebGPU stack (cubecl's kernel IR, built on `pliron`) registers about 4,900 IR
/// definitions through `inventory`, which on wasm32 become linker constructors. A module that
/// never calls `__wasm_call_ctors` itself gets a call to it from the linker at the start of
/// *every* exported function (each `malloc`, `free` and JS-value slot the JS glue asks for), and
/// the browser compiles those 4,900 functions on the first call: about 0.8 s of every start-up,
/// and a constant tax on every call into the module after (see BENCHMARKS.md). Calling it here
/// tells the linker that the module runs its constructors itself; nothing but the WebGPU kernel
/// compiler reads those registrations, so the CPU backend never pays for them.
fn register_webgpu_compiler() {
    unsafe extern "C" {
        fn __wasm_call_ctors();
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: the linker-generated constructor list, run exactly once (the `Once`) and before
    // any code that reads what the constructors register (the WebGPU device and its kernels).
    ONCE.call_once(|| unsafe { __wasm_call_ctors() });
}

/// Versioned: a release whose models change architecture bumps it, so that no browser pairs a
/// new config with weights it cached from an older release.
const CACHE_NAME: &str = "petlens-models-v2";

/// Bytes received so far and the expected total, when the server says it.
pub type Progress = (usize, Option<usize>);

/// Fetches a static asset's bytes, from Cache Storage when it is there. `progress` is told the
/// bytes received so far as they arrive.
pub async fn fetch_cached(url: &str, progress: impl Fn(Progress)) -> Result<Vec<u8>, String> {
    let cache = open_cache().await;
    if let Some(cache) = &cache
        && let Ok(hit) = JsFuture::from(cache.match_with_str(url)).await
        && let Ok(response) = hit.dyn_into::<web_sys::Response>()
        && let Ok(bytes) = response_bytes(&response).await
    {
        progress((bytes.len(), Some(bytes.len())));
        return Ok(bytes);
    }
    let bytes = download(url, &progress)
        .await
        .map_err(|e| format!("could not download {url}: {e}"))?;
    if let Some(cache) = cache {
        store(&cache, url, &bytes).await;
    }
    Ok(bytes)
}

/// Fetches `url` chunk by chunk from the network, reporting progress.
async fn download(url: &str, progress: &impl Fn(Progress)) -> Result<Vec<u8>, String> {
    let response: web_sys::Response = JsFuture::from(fetch(url)?)
        .await
        .map_err(js_error)?
        .dyn_into()
        .map_err(js_error)?;
    if !response.ok() {
        return Err(format!("HTTP {}", response.status()));
    }
    let total = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok());
    let Some(body) = response.body() else {
        return response_bytes(&response)
            .await
            .map_err(|()| "unreadable response".into());
    };
    let reader: web_sys::ReadableStreamDefaultReader = body
        .get_reader()
        .dyn_into()
        .map_err(|_| "the response cannot be streamed".to_string())?;
    let mut bytes = Vec::with_capacity(total.unwrap_or(0));
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(js_error)?;
        let done = js_sys::Reflect::get(&chunk, &"done".into()).map_err(js_error)?;
        if done.as_bool().unwrap_or(true) {
            break;
        }
        let value = js_sys::Reflect::get(&chunk, &"value".into()).map_err(js_error)?;
        bytes.extend(Uint8Array::new(&value).to_vec());
        progress((bytes.len(), total));
    }
    if total.is_some_and(|t| t != bytes.len()) {
        return Err(format!(
            "the connection ended after {} of {} bytes",
            bytes.len(),
            total.unwrap_or(0)
        ));
    }
    Ok(bytes)
}

/// A JavaScript exception as text for the page.
fn js_error(e: wasm_bindgen::JsValue) -> String {
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| "network error".into())
}

async fn open_cache() -> Option<web_sys::Cache> {
    let caches: web_sys::CacheStorage = global("caches")?.dyn_into().ok()?;
    JsFuture::from(caches.open(CACHE_NAME))
        .await
        .ok()?
        .dyn_into()
        .ok()
}

async fn response_bytes(response: &web_sys::Response) -> Result<Vec<u8>, ()> {
    let buffer = JsFuture::from(response.array_buffer().map_err(|_| ())?)
        .await
        .map_err(|_| ())?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// Best effort: a failed cache write only costs a download next time.
async fn store(cache: &web_sys::Cache, url: &str, bytes: &[u8]) {
    let array = Uint8Array::from(bytes);
    if let Ok(response) = web_sys::Response::new_with_opt_buffer_source(Some(&array)) {
        let _ = JsFuture::from(cache.put_with_str(url, &response)).await;
    }
}

/// Which model is downloading, and how far it got.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadProgress {
    pub model: String,
    pub received: usize,
    pub total: Option<usize>,
}

/// Fetches both models' configs and weights and builds the pipeline.
pub async fn load_pipeline(
    device: &Device,
    progress: impl Fn(LoadProgress) + Clone,
) -> Result<Pipeline, String> {
    let report = |model: &'static str| {
        let progress = progress.clone();
        move |(received, total): Progress| {
            progress(LoadProgress {
                model: model.to_string(),
                received,
                total,
            })
        }
    };
    let mut files: [Vec<u8>; 4] = Default::default();
    for (file, name) in files.iter_mut().zip(ShippedFiles::NAMES) {
        let model = if name.starts_with("segmenter") {
            "segmenter"
        } else {
            "classifier"
        };
        *file = fetch_cached(&format!("models/{name}"), report(model)).await?;
    }
    Pipeline::from_shipped(&ShippedFiles::from_vec(files), device).map_err(|e| e.to_string())
}

/// Fetches a small static asset (a sample photo, the model card) without caching.
pub async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    download(url, &|_| ()).await
}

/// Lets the browser paint and handle input between heavy stages.
pub async fn yield_to_browser() {
    TimeoutFuture::new(0).await;
}

/// Runs the analysis stage by stage, yielding to the browser between stages. `is_current`
/// says whether this photo is still the latest; when a newer one has arrived the stale run
/// stops at the next stage boundary (`Ok(None)`).
pub async fn analyze(
    pipeline: &Pipeline,
    bytes: &[u8],
    is_current: impl Fn() -> bool,
) -> Result<Option<Analysis>, String> {
    pipeline
        .analyze_with(bytes, async || {
            yield_to_browser().await;
            is_current()
        })
        .await
        .map_err(|e| e.to_string())
}

/// Tells the service worker (`www/sw.js`) what the page loaded before the worker controlled
/// it (sample photos, styles), so that a visit without network looks like this one. Best
/// effort: without a service worker the page works as before, online.
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
