//! The models in the page: picking WebGPU or the CPU, fetching the weights (cached in Cache
//! Storage so a second visit does not download them again), and running the pipeline stage by
//! stage, yielding to the browser in between so the page stays responsive.

use burn::prelude::*;
use gloo::timers::future::TimeoutFuture;
use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_time::Instant;

use crate::data::decode_photo;
use crate::pipeline::{Analysis, Pipeline};

/// Where the models run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    match Device::wgpu_options().init_async().await {
        Ok(device) => (device, Backend::WebGpu, None),
        Err(e) => (
            Device::flex(),
            Backend::Cpu,
            Some(format!("WebGPU is not available here ({e}); using the CPU")),
        ),
    }
}

const CACHE_NAME: &str = "petlens-models-v1";

/// Fetches a static asset's bytes, from Cache Storage when it is there. `progress` is told
/// the bytes received so far.
pub async fn fetch_cached(url: &str, progress: impl Fn(usize)) -> Result<Vec<u8>, String> {
    let cache = open_cache().await;
    if let Some(cache) = &cache
        && let Ok(hit) = JsFuture::from(cache.match_with_str(url)).await
        && let Ok(response) = hit.dyn_into::<web_sys::Response>()
        && let Ok(bytes) = response_bytes(&response).await
    {
        progress(bytes.len());
        return Ok(bytes);
    }
    let response = gloo::net::http::Request::get(url)
        .send()
        .await
        .map_err(|e| format!("could not download {url}: {e}"))?;
    if !response.ok() {
        return Err(format!(
            "could not download {url}: HTTP {}",
            response.status()
        ));
    }
    let bytes = response
        .binary()
        .await
        .map_err(|e| format!("could not download {url}: {e}"))?;
    progress(bytes.len());
    if let Some(cache) = cache {
        store(&cache, url, &bytes).await;
    }
    Ok(bytes)
}

async fn open_cache() -> Option<web_sys::Cache> {
    let caches = web_sys::window()?.caches().ok()?;
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

/// Fetches both models' weights and builds the pipeline.
pub async fn load_pipeline(
    device: &Device,
    progress: impl Fn(usize) + Clone,
) -> Result<Pipeline, String> {
    let segmenter = fetch_cached("models/segmenter.bpk", progress.clone()).await?;
    let classifier = fetch_cached("models/classifier.bpk", progress).await?;
    Pipeline::from_bytes(&segmenter, &classifier, device).map_err(|e| e.to_string())
}

/// Lets the browser paint and handle input between heavy stages.
async fn yield_to_browser() {
    TimeoutFuture::new(0).await;
}

/// Runs the analysis stage by stage. `is_current` says whether this photo is still the latest;
/// when a newer one has arrived the stale run stops at the next stage boundary (`Ok(None)`).
pub async fn analyze(
    pipeline: &Pipeline,
    bytes: &[u8],
    is_current: impl Fn() -> bool,
) -> Result<Option<Analysis>, String> {
    let start = Instant::now();
    let photo = decode_photo(bytes).map_err(|e| e.to_string())?;
    let decode_ms = start.elapsed().as_secs_f64() * 1000.0;
    yield_to_browser().await;
    if !is_current() {
        return Ok(None);
    }
    pipeline
        .analyze_photo_with(photo, decode_ms, async || {
            yield_to_browser().await;
            is_current()
        })
        .await
        .map_err(|e| e.to_string())
}
