//! Fetching static assets in the browser, from whichever global scope runs the code (the page's
//! `window` or the models' thread's `self`): plain downloads with progress. Shared by both sides
//! of [`crate::protocol`]; no Leptos here.

use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// Bytes received so far and the expected total, when the server says it.
pub type Progress = (usize, Option<usize>);

/// A property of the global scope (the page's `window` or the worker's `self`).
pub fn global(name: &str) -> Option<wasm_bindgen::JsValue> {
    js_sys::Reflect::get(&js_sys::global(), &name.into())
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// A JavaScript exception as text for the page.
pub fn js_error(e: wasm_bindgen::JsValue) -> String {
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| "network error".into())
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

/// A response's whole body.
pub async fn response_bytes(response: &web_sys::Response) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(response.array_buffer().map_err(js_error)?)
        .await
        .map_err(js_error)?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// Fetches `url` chunk by chunk from the network, reporting progress.
pub async fn download(url: &str, progress: &impl Fn(Progress)) -> Result<Vec<u8>, String> {
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
        return response_bytes(&response).await;
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

/// Fetches a small static asset (a sample photo, the model card) without caching.
pub async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    download(url, &|_| ())
        .await
        .map_err(|e| format!("could not download {url}: {e}"))
}
