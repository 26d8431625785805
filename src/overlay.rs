//! What the page draws and downloads: the photo with the segmentation mask and the Grad-CAM
//! heatmap blended over it, the pet cut out, and the mask as an image. Plain Rust on RGBA
//! buffers, so it is tested natively and runs unchanged in the browser.

use image::{Rgb, RgbImage, Rgba, RgbaImage};

use crate::data::resize_mask;
use crate::explain::{Heatmap, PetClass};
use crate::imagenet::{Reading, TopClass};
use crate::model::{FEATURE_CLASSIFIER, FEATURE_SEGMENTER};
use crate::pipeline::{Analysis, DefaultModels, ModelMask, ModelVerdict};

/// Colours of the mask classes: pet, background, border (the legend uses the same ones).
pub const CLASS_COLOURS: [[u8; 3]; 3] = [[255, 140, 0], [40, 90, 255], [255, 255, 255]];

/// Colour of the uncertainty overlay, blended in proportion to the segmenter's entropy.
pub const UNCERTAINTY_COLOUR: [u8; 3] = [230, 0, 230];

/// What to draw over the photo.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layers {
    pub mask: bool,
    pub heatmap: bool,
    /// The segmenter's uncertainty (normalised entropy of its softmax).
    pub uncertainty: bool,
    /// Opacity of the overlays, 0..1 (the chapter blends the heatmap at 0.4).
    pub opacity: f32,
}

impl Layers {
    /// Only the mask, at the chapter's opacity.
    pub const MASK: Layers = Layers {
        mask: true,
        heatmap: false,
        uncertainty: false,
        opacity: 0.4,
    };
    /// Only the segmenter's uncertainty.
    pub const UNCERTAINTY: Layers = Layers {
        mask: false,
        heatmap: false,
        uncertainty: true,
        opacity: 0.4,
    };
    /// Only the Grad-CAM heatmap, at the chapter's opacity.
    pub const HEATMAP: Layers = Layers {
        mask: false,
        heatmap: true,
        uncertainty: false,
        opacity: 0.4,
    };
}

/// The per-pixel maps the layers are drawn from, each at the photo's size.
#[derive(Debug, Clone, Copy)]
pub struct Maps<'a> {
    /// One class index per pixel.
    pub mask: &'a [u8],
    /// Grad-CAM, one value in [0, 1] per pixel.
    pub heatmap: &'a [f32],
    /// Normalised entropy, one value in [0, 1] per pixel.
    pub uncertainty: &'a [f32],
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

/// The photo with the chosen layers blended over it.
pub fn compose(photo: &RgbImage, maps: Maps<'_>, layers: Layers) -> RgbaImage {
    let alpha = layers.opacity.clamp(0.0, 1.0);
    RgbaImage::from_fn(photo.width(), photo.height(), |x, y| {
        let i = (y * photo.width() + x) as usize;
        let mut rgb = photo.get_pixel(x, y).0;
        if layers.mask
            && let Some(&class) = maps.mask.get(i)
        {
            rgb = blend(rgb, CLASS_COLOURS[usize::from(class).min(2)], alpha);
        }
        if layers.heatmap
            && let Some(&v) = maps.heatmap.get(i)
        {
            rgb = blend(rgb, jet(v), alpha);
        }
        if layers.uncertainty
            && let Some(&v) = maps.uncertainty.get(i)
        {
            rgb = blend(rgb, UNCERTAINTY_COLOUR, (2.0 * alpha * v).min(1.0));
        }
        Rgba([rgb[0], rgb[1], rgb[2], 255])
    })
}

/// An analysis's view at the photo's own resolution (downloads, `train explain`): the photo
/// with `layers`, Grad-CAM for `class`.
pub fn compose_analysis(analysis: &Analysis, class: PetClass, layers: Layers) -> RgbaImage {
    let (w, h) = analysis.photo.dimensions();
    let (w, h) = (w as usize, h as usize);
    let heatmap = if layers.heatmap {
        analysis.heatmap(class).upsample(w, h)
    } else {
        Vec::new()
    };
    let uncertainty = if layers.uncertainty {
        analysis.mask.probabilities.entropy().upsample(w, h)
    } else {
        Vec::new()
    };
    let maps = Maps {
        mask: &analysis.mask.pixels,
        heatmap: &heatmap,
        uncertainty: &uncertainty,
    };
    compose(&analysis.photo, maps, layers)
}

/// The compare slider: `view` left of `split` (a share of the width, 0..1), the plain photo
/// right of it, with a white line where they meet.
pub fn wipe(view: &RgbaImage, photo: &RgbImage, split: f32) -> RgbaImage {
    let at = (split.clamp(0.0, 1.0) * view.width() as f32).round() as u32;
    RgbaImage::from_fn(view.width(), view.height(), |x, y| {
        if x == at && at > 0 && at < view.width() {
            Rgba([255, 255, 255, 255])
        } else if x < at {
            *view.get_pixel(x, y)
        } else {
            let [r, g, b] = photo.get_pixel(x, y).0;
            Rgba([r, g, b, 255])
        }
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

/// The longer side of the photo as the page draws it (a canvas the page then fits to its column):
/// large enough to stay crisp at the column's width, small enough to redraw at once when a layer
/// is toggled. Downloads keep the photo's own resolution.
pub const DISPLAY_SIDE: u32 = 1024;

/// Scale that brings the longer side of a `width x height` photo to `side` pixels (smaller
/// photos are enlarged, so that they fill the view as crisply as larger ones).
pub fn display_size(width: u32, height: u32, side: u32) -> (u32, u32) {
    let scale = side as f32 / width.max(height).max(1) as f32;
    (
        ((width as f32 * scale).round() as u32).max(1),
        ((height as f32 * scale).round() as u32).max(1),
    )
}

/// An analysis and what the page draws from it at display size ([`DISPLAY_SIDE`]), so that
/// toggling a layer redraws without recomputing. The models' thread computes it (the heavy part
/// is the photo's resize) and the page keeps it.
pub struct Displayed {
    pub analysis: Analysis,
    pub photo: RgbImage,
    /// The shown mask at display size.
    pub mask: ShownMask,
    /// The other masks at display size, in the order of the analysis's `other_masks`.
    pub other_masks: Vec<ShownMask>,
    /// Grad-CAM for "cat" and "dog".
    pub heatmaps: [Vec<f32>; 2],
}

/// A segmenter's mask at display size, with its normalised entropy (the uncertainty layer).
pub struct ShownMask {
    pub pixels: Vec<u8>,
    pub uncertainty: Vec<f32>,
}

impl ShownMask {
    /// `mask` of a photo of `(w, h)` at display size `(dw, dh)`.
    pub fn new(mask: &ModelMask, (w, h): (u32, u32), (dw, dh): (u32, u32)) -> Self {
        let (dw, dh) = (dw as usize, dh as usize);
        Self {
            pixels: resize_mask(&mask.pixels, w as usize, h as usize, dw, dh),
            uncertainty: mask.probabilities.entropy().upsample(dw, dh),
        }
    }
}

/// The ImageNet network's reading of a photo as the page shows it: its top classes, and the
/// verdict and mask of the heads on its features where they are loaded. The models' thread that
/// read the photo builds it, and [`Displayed::add_reading`] merges it into the analysis,
/// whether one thread ran both or two threads ran them side by side.
pub struct ShownReading {
    pub top: Vec<TopClass>,
    /// Milliseconds from the photo to the classes.
    pub ms: f64,
    /// P(dog) of the classifier on the network's features.
    pub p_dog: Option<f32>,
    /// The mask of the segmenter on the network's features, at photo and at display size.
    pub mask: Option<(ModelMask, ShownMask)>,
    /// Whether the verdict and the mask on features are the page's defaults.
    pub defaults: DefaultModels,
}

impl ShownReading {
    /// The reading of a photo of `size` (width, height).
    pub fn new(reading: Reading, size: (u32, u32), defaults: DefaultModels) -> Self {
        let display = display_size(size.0, size.1, DISPLAY_SIDE);
        let mask = reading.segmentation.map(|segmentation| {
            let mask = ModelMask::new(FEATURE_SEGMENTER, segmentation);
            let shown = ShownMask::new(&mask, size, display);
            (mask, shown)
        });
        Self {
            top: reading.top,
            ms: reading.ms,
            p_dog: reading.p_dog,
            mask,
            defaults,
        }
    }
}

impl Displayed {
    pub fn new(analysis: Analysis) -> Self {
        let size = analysis.photo.dimensions();
        let (dw, dh) = display_size(size.0, size.1, DISPLAY_SIDE);
        let photo = image::imageops::resize(
            &analysis.photo,
            dw,
            dh,
            image::imageops::FilterType::Triangle,
        );
        let heatmaps =
            PetClass::ALL.map(|c| analysis.heatmap(c).upsample(dw as usize, dh as usize));
        Self {
            mask: ShownMask::new(&analysis.mask, size, (dw, dh)),
            other_masks: analysis
                .other_masks
                .iter()
                .map(|m| ShownMask::new(m, size, (dw, dh)))
                .collect(),
            analysis,
            photo,
            heatmaps,
        }
    }

    /// Adds the ImageNet network's reading of the same photo: its classes, its verdict (first
    /// where it is the default) and its mask (shown where it is the default).
    pub fn add_reading(&mut self, reading: ShownReading) {
        let analysis = &mut self.analysis;
        analysis.imagenet_top = reading.top;
        analysis.timings.imagenet = reading.ms;
        if let Some(p_dog) = reading.p_dog {
            let verdict = ModelVerdict {
                model: FEATURE_CLASSIFIER.into(),
                p_dog,
            };
            if reading.defaults.feature_verdict {
                analysis.p_dog = p_dog;
                analysis.verdicts.insert(0, verdict);
            } else {
                analysis.verdicts.push(verdict);
            }
        }
        if let Some((mask, shown)) = reading.mask {
            let (mask, shown) = if reading.defaults.feature_mask {
                (
                    std::mem::replace(&mut analysis.mask, mask),
                    std::mem::replace(&mut self.mask, shown),
                )
            } else {
                (mask, shown)
            };
            analysis.other_masks.push(mask);
            self.other_masks.push(shown);
        }
    }

    /// Shows segmenter `model`'s mask, in the analysis and at display size (false when it did
    /// not run on this photo).
    pub fn show_mask(&mut self, model: &str) -> bool {
        let Some(i) = self.analysis.other_mask_index(model) else {
            return false;
        };
        std::mem::swap(&mut self.mask, &mut self.other_masks[i]);
        self.analysis.show_mask(model)
    }

    /// The maps the layers are drawn from at display size, with Grad-CAM for `class`.
    pub fn maps(&self, class: PetClass) -> Maps<'_> {
        Maps {
            mask: &self.mask.pixels,
            heatmap: &self.heatmaps[class as usize],
            uncertainty: &self.mask.uncertainty,
        }
    }

    /// Replaces the heatmaps (Grad-CAM at another block) in the analysis and at display size.
    pub fn set_heatmaps(&mut self, heatmaps: [Heatmap; 2]) {
        let (dw, dh) = self.photo.dimensions();
        self.heatmaps = heatmaps
            .each_ref()
            .map(|h| h.upsample(dw as usize, dh as usize));
        self.analysis.heatmaps = heatmaps;
    }
}
