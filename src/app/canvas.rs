//! Drawing RGBA pixels on the result canvas and handing files to the user.

use image::RgbaImage;
use wasm_bindgen::{Clamped, JsCast, JsValue};

/// Puts an RGBA image on the canvas, resizing the canvas to it.
pub fn draw(canvas: &web_sys::HtmlCanvasElement, image: &RgbaImage) -> Result<(), JsValue> {
    canvas.set_width(image.width());
    canvas.set_height(image.height());
    let context: web_sys::CanvasRenderingContext2d = canvas
        .get_context("2d")?
        .ok_or_else(|| JsValue::from_str("no 2d context"))?
        .dyn_into()?;
    let data = web_sys::ImageData::new_with_u8_clamped_array_and_sh(
        Clamped(image.as_raw()),
        image.width(),
        image.height(),
    )?;
    context.put_image_data(&data, 0.0, 0.0)
}

/// Offers bytes as a file download named `name`.
pub fn download(bytes: &[u8], name: &str, mime: &str) -> Result<(), JsValue> {
    let array = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&array, &options)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| JsValue::from_str("no document"))?;
    let anchor: web_sys::HtmlAnchorElement = document.create_element("a")?.dyn_into()?;
    anchor.set_href(&url);
    anchor.set_download(name);
    anchor.click();
    web_sys::Url::revoke_object_url(&url)
}

/// Reads a picked or dropped file's bytes.
pub async fn file_bytes(file: &web_sys::File) -> Result<Vec<u8>, JsValue> {
    let buffer = wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}
