//! The one preprocessing path shared by training and the browser: photo bytes -> upright RGB8
//! -> model-sized tensor in [0, 1], and model outputs back to the photo's own resolution.

use std::io::Cursor;

use burn::prelude::*;
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

/// Largest photo accepted, in pixels (64 MP: a 48 MP phone photo passes, a 12000x9000 scan
/// does not). Checked from the header before any pixel is decoded, so memory stays bounded.
pub const MAX_PIXELS: u64 = 64_000_000;

/// Why a photo could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PhotoError {
    #[error("the file is empty")]
    Empty,
    #[error("this is not an image petlens can read (JPEG, PNG, WebP, GIF or BMP){0}")]
    UnknownFormat(String),
    #[error("the photo is {width}x{height} pixels, too large to decode here: petlens accepts up to {} megapixels; scale it down and try again", MAX_PIXELS / 1_000_000)]
    TooLarge { width: u32, height: u32 },
    #[error("the image is corrupt or truncated: {0}")]
    Corrupt(String),
}

/// Decodes a photo: any format the `image` crate reads here, rotated upright by its EXIF
/// orientation, converted to 8-bit RGB (grayscale, alpha, 16-bit and CMYK included).
pub fn decode_photo(bytes: &[u8]) -> Result<RgbImage, PhotoError> {
    if bytes.is_empty() {
        return Err(PhotoError::Empty);
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| PhotoError::Corrupt(e.to_string()))?;
    let Some(format) = reader.format() else {
        return Err(PhotoError::UnknownFormat(sniff_unsupported(bytes)));
    };
    if format == ImageFormat::Jpeg && jpeg_image_end(bytes).is_none() {
        // The JPEG decoder fills a cut-off scan with grey instead of failing: catch it here.
        return Err(PhotoError::Corrupt(
            "the JPEG ends before its end-of-image marker".into(),
        ));
    }
    if format == ImageFormat::Png
        && let Some((width, height)) = png_declared_size(bytes)
    {
        check_size(width, height)?;
    }
    // The decoder is created without the crate's default limits, which would refuse a huge
    // photo with a vague "needs too much memory" before its size can be read; the size is
    // checked just below and the limits are set before any pixel is decoded.
    let mut unlimited = reader;
    unlimited.no_limits();
    let mut decoder = unlimited
        .into_decoder()
        .map_err(|e| decode_error(e, format.to_mime_type()))?;
    let (width, height) = decoder.dimensions();
    check_size(width, height)?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 8 + (64 << 20));
    decoder
        .set_limits(limits)
        .map_err(|e| PhotoError::Corrupt(e.to_string()))?;
    let orientation = decoder.orientation().ok();
    let mut image =
        DynamicImage::from_decoder(decoder).map_err(|e| decode_error(e, format.to_mime_type()))?;
    if let Some(orientation) = orientation {
        image.apply_orientation(orientation);
    }
    Ok(image.into_rgb8())
}

/// Refuses photos above [`MAX_PIXELS`] and images without pixels.
fn check_size(width: u32, height: u32) -> Result<(), PhotoError> {
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(PhotoError::TooLarge { width, height });
    }
    if width == 0 || height == 0 {
        return Err(PhotoError::Corrupt("the image has no pixels".into()));
    }
    Ok(())
}

/// The size a PNG declares in its IHDR chunk, read before any decoder exists: on 32-bit
/// targets (the browser's wasm32) the PNG decoder refuses a huge size while it is being built,
/// before it could report it.
fn png_declared_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let ihdr = bytes.get(12..24)?;
    let word = |at: usize| {
        ihdr.get(at..at + 4)?
            .try_into()
            .ok()
            .map(u32::from_be_bytes)
    };
    (&ihdr[..4] == b"IHDR").then_some((word(4)?, word(8)?))
}

/// Where a JPEG's image ends: the offset just past its end-of-image marker (FF D9), found by
/// walking the file's segments (skipping each by its length, so a thumbnail's marker inside the
/// EXIF block does not count) and the entropy-coded scans. `None` when the file stops first:
/// the photo is truncated. Whatever follows the image is not looked at: phones append data
/// there (Samsung's trailer, the video of a Motion Photo).
pub fn jpeg_image_end(bytes: &[u8]) -> Option<usize> {
    if bytes.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut at = 2;
    loop {
        if *bytes.get(at)? != 0xFF {
            return None; // not a marker where one must be
        }
        while *bytes.get(at)? == 0xFF {
            at += 1; // fill bytes before a marker
        }
        let marker = bytes[at];
        at += 1;
        match marker {
            0xD9 => return Some(at),
            0x01 | 0xD0..=0xD7 => {} // markers without a segment
            _ => {
                let length =
                    usize::from(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]));
                if length < 2 {
                    return None;
                }
                at = at.checked_add(length)?;
                if marker == 0xDA {
                    at = scan_end(bytes, at)?;
                }
            }
        }
    }
}

/// The offset of the marker that ends the entropy-coded data starting at `at` (stuffed
/// `FF 00` bytes and restart markers belong to the data).
fn scan_end(bytes: &[u8], mut at: usize) -> Option<usize> {
    loop {
        if *bytes.get(at)? != 0xFF {
            at += 1;
            continue;
        }
        match *bytes.get(at + 1)? {
            0x00 | 0xD0..=0xD7 => at += 2,
            0xFF => at += 1,
            _ => return Some(at),
        }
    }
}

/// Names the formats people try that petlens does not read, for a more useful message.
fn sniff_unsupported(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(32)];
    let is_heic = head.len() >= 12
        && &head[4..8] == b"ftyp"
        && [b"heic", b"heix", b"mif1", b"msf1", b"hevc", b"avif"]
            .iter()
            .any(|brand| &head[8..12] == *brand);
    if is_heic {
        ": HEIC/AVIF photos are not supported, export it as JPEG first".into()
    } else {
        String::new()
    }
}

fn decode_error(error: image::ImageError, mime: &str) -> PhotoError {
    match error {
        image::ImageError::Limits(_) => {
            PhotoError::Corrupt(format!("this {mime} image is too large to decode here"))
        }
        image::ImageError::Unsupported(e) => PhotoError::UnknownFormat(format!(": {e}")),
        other => PhotoError::Corrupt(other.to_string()),
    }
}

/// Resizes a photo to the model's square input, ignoring the aspect ratio exactly as Keras's
/// `image_dataset_from_directory` and `load_img(target_size=…)` do for the chapter's models.
pub fn resize_for_model(photo: &RgbImage, size: u32) -> RgbImage {
    // A box-filtered thumbnail first keeps the Triangle filter cheap on large photos.
    let photo = if photo.width() > 4 * size || photo.height() > 4 * size {
        image::imageops::thumbnail(photo, 2 * size, 2 * size)
    } else {
        photo.clone()
    };
    image::imageops::resize(&photo, size, size, FilterType::Triangle)
}

/// Channel-first floats in [0, 1] of model-sized RGB images: `[n, 3, s, s]` values.
pub fn images_to_chw(images: &[&RgbImage]) -> Vec<f32> {
    let mut out = Vec::with_capacity(images.iter().map(|i| i.len()).sum());
    for image in images {
        let plane = (image.width() * image.height()) as usize;
        let start = out.len();
        out.resize(start + 3 * plane, 0.0);
        for (i, pixel) in image.pixels().enumerate() {
            for c in 0..3 {
                out[start + c * plane + i] = f32::from(pixel[c]) / 255.0;
            }
        }
    }
    out
}

/// The model input tensor `[n, 3, s, s]` in [0, 1] for model-sized images.
pub fn images_to_tensor(images: &[&RgbImage], device: &Device) -> Tensor<4> {
    let (w, h) = images.first().map_or((0, 0), |i| i.dimensions());
    let data = TensorData::new(
        images_to_chw(images),
        [images.len(), 3, h as usize, w as usize],
    );
    Tensor::from_data(data, device)
}

/// For each output index along one axis, the two source indices and the weight of the
/// second: bilinear sampling with pixel centres aligned (the inverse of a resize).
fn sample_axis(out: usize, src: usize) -> Vec<(usize, usize, f32)> {
    (0..out)
        .map(|o| {
            let pos =
                ((o as f32 + 0.5) * src as f32 / out as f32 - 0.5).clamp(0.0, (src - 1) as f32);
            let lo = pos.floor() as usize;
            (lo, (lo + 1).min(src - 1), pos - lo as f32)
        })
        .collect()
}

/// Bilinear value of `plane` (`src_w` wide) at one pair of axis samples.
fn bilinear(
    plane: &[f32],
    src_w: usize,
    (y0, y1, fy): (usize, usize, f32),
    (x0, x1, fx): (usize, usize, f32),
) -> f32 {
    let (r0, r1) = (&plane[y0 * src_w..][..src_w], &plane[y1 * src_w..][..src_w]);
    let top = r0[x0] + (r0[x1] - r0[x0]) * fx;
    let bottom = r1[x0] + (r1[x1] - r1[x0]) * fx;
    top + (bottom - top) * fy
}

/// Photos as a model's input: each resized to `size x size` ([`resize_for_model`]), then
/// `[n, 3, size, size]` on `device` ([`images_to_tensor`]).
pub fn model_input(photos: &[&RgbImage], size: usize, device: &Device) -> Tensor<4> {
    let resized: Vec<RgbImage> = photos
        .iter()
        .map(|photo| resize_for_model(photo, size as u32))
        .collect();
    images_to_tensor(&resized.iter().collect::<Vec<_>>(), device)
}

/// Samples a `src_w x src_h` plane at `out_w x out_h` with bilinear interpolation, aligning
/// pixel centres: the inverse of [`resize_for_model`] for model outputs (probabilities,
/// heatmaps), so that overlays line up with the photo at its own resolution.
pub fn upsample_bilinear(
    plane: &[f32],
    src_w: usize,
    src_h: usize,
    out_w: usize,
    out_h: usize,
) -> Vec<f32> {
    let xs = sample_axis(out_w, src_w);
    let ys = sample_axis(out_h, src_h);
    ys.iter()
        .flat_map(|&y| xs.iter().map(move |&x| bilinear(plane, src_w, y, x)))
        .collect()
}

/// The segmentation mask at `out_w x out_h`: per pixel, the class whose probability plane
/// (`size x size` each), bilinearly sampled there, is highest. Computed pixel by pixel so that
/// a 64 MP photo needs only its one-byte-per-pixel mask, not three float planes.
pub fn class_map_at(
    probabilities: &[Vec<f32>],
    size: usize,
    out_w: usize,
    out_h: usize,
) -> Vec<u8> {
    let xs = sample_axis(out_w, size);
    let ys = sample_axis(out_h, size);
    let mut out = Vec::with_capacity(out_w * out_h);
    for &y in &ys {
        for &x in &xs {
            let mut best = (0u8, f32::MIN);
            for (c, plane) in probabilities.iter().enumerate() {
                let p = bilinear(plane, size, y, x);
                if p > best.1 {
                    best = (c as u8, p);
                }
            }
            out.push(best.0);
        }
    }
    out
}

/// Nearest-neighbour resize of a class mask (never blends classes): trimaps to the model's
/// input size for training, masks to the screen's size for display.
pub fn resize_mask(
    mask: &[u8],
    width: usize,
    height: usize,
    out_w: usize,
    out_h: usize,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(out_w * out_h);
    for y in 0..out_h {
        let sy = (y * height / out_h.max(1)).min(height.saturating_sub(1));
        for x in 0..out_w {
            let sx = (x * width / out_w.max(1)).min(width.saturating_sub(1));
            out.push(mask[sy * width + sx]);
        }
    }
    out
}
