//! What the page draws and downloads: the photo with the segmentation mask and the Grad-CAM
//! heatmap blended over it, the pet cut out, and the mask as an image. Plain Rust on RGBA
//! buffers, so it is tested natively and runs unchanged in the browser.

use image::{Rgb, RgbImage, Rgba, RgbaImage};

/// Colours of the mask classes: pet, background, border (the legend uses the same ones).
pub const CLASS_COLOURS: [[u8; 3]; 3] = [[255, 140, 0], [40, 90, 255], [255, 255, 255]];

/// What to draw over the photo.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layers {
    pub mask: bool,
    pub heatmap: bool,
    /// Opacity of the overlays, 0..1 (the chapter blends the heatmap at 0.4).
    pub opacity: f32,
}

/// The chapter's "jet" colormap: 0 -> dark blue, 0.5 -> green-yellow, 1 -> dark red.
pub fn jet(v: f32) -> [u8; 3] {
    let v = v.clamp(0.0, 1.0);
    let channel =
        |offset: f32| ((1.5 - (4.0 * v - offset).abs()).clamp(0.0, 1.0) * 255.0).round() as u8;
    [channel(3.0), channel(2.0), channel(1.0)]
}

fn blend(base: [u8; 3], over: [u8; 3], alpha: f32) -> [u8; 3] {
    std::array::from_fn(|k| {
        (f32::from(base[k]) * (1.0 - alpha) + f32::from(over[k]) * alpha).round() as u8
    })
}

/// The photo with the chosen layers blended over it. `mask` and `heatmap` have the photo's
/// size (one class index, one value in [0, 1] per pixel).
pub fn compose(photo: &RgbImage, mask: &[u8], heatmap: &[f32], layers: Layers) -> RgbaImage {
    let alpha = layers.opacity.clamp(0.0, 1.0);
    RgbaImage::from_fn(photo.width(), photo.height(), |x, y| {
        let i = (y * photo.width() + x) as usize;
        let mut rgb = photo.get_pixel(x, y).0;
        if layers.mask
            && let Some(&class) = mask.get(i)
        {
            rgb = blend(rgb, CLASS_COLOURS[usize::from(class).min(2)], alpha);
        }
        if layers.heatmap
            && let Some(&v) = heatmap.get(i)
        {
            rgb = blend(rgb, jet(v), alpha);
        }
        Rgba([rgb[0], rgb[1], rgb[2], 255])
    })
}

/// The pet on a transparent background: pet pixels opaque, border pixels half transparent.
pub fn cutout(photo: &RgbImage, mask: &[u8]) -> RgbaImage {
    RgbaImage::from_fn(photo.width(), photo.height(), |x, y| {
        let Rgb([r, g, b]) = *photo.get_pixel(x, y);
        let alpha = match mask.get((y * photo.width() + x) as usize) {
            Some(0) => 255,
            Some(2) => 128,
            _ => 0,
        };
        Rgba([r, g, b, alpha])
    })
}

/// The mask as a colour image, in the legend's colours.
pub fn mask_image(mask: &[u8], width: u32, height: u32) -> RgbaImage {
    RgbaImage::from_fn(width, height, |x, y| {
        let class = mask.get((y * width + x) as usize).copied().unwrap_or(1);
        let [r, g, b] = CLASS_COLOURS[usize::from(class).min(2)];
        Rgba([r, g, b, 255])
    })
}

/// PNG bytes of an RGBA image.
pub fn png_bytes(image: &RgbaImage) -> Result<Vec<u8>, image::ImageError> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

/// Scale that fits a `width x height` photo into `max_side` pixels (never enlarges).
pub fn display_size(width: u32, height: u32, max_side: u32) -> (u32, u32) {
    let scale = (max_side as f32 / width.max(height) as f32).min(1.0);
    (
        ((width as f32 * scale).round() as u32).max(1),
        ((height as f32 * scale).round() as u32).max(1),
    )
}
