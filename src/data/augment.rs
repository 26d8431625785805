//! Random geometric augmentation (the chapter's RandomFlip / RandomRotation / RandomZoom),
//! applied identically to a photo and its segmentation mask.

use image::{Rgb, RgbImage};
use rand::Rng;

/// Ranges of the random transform, in Keras's terms.
#[derive(Debug, Clone, Copy)]
pub struct AugmentConfig {
    /// Mirror left-right with probability 1/2.
    pub flip: bool,
    /// Rotation up to `rotation * 2pi` either way (`RandomRotation(0.1)`: +-36 degrees).
    pub rotation: f32,
    /// Zoom in or out by up to this fraction (`RandomZoom(0.2)`).
    pub zoom: f32,
    /// Shift by up to this fraction of the size (a random crop's effect).
    pub shift: f32,
}

impl AugmentConfig {
    /// The chapter's classifier augmentation.
    pub const CLASSIFIER: Self = Self {
        flip: true,
        rotation: 0.1,
        zoom: 0.2,
        shift: 0.0,
    };
    /// Milder for segmentation: borders of the mask must stay where they are in the photo.
    pub const SEGMENTER: Self = Self {
        flip: true,
        rotation: 0.03,
        zoom: 0.1,
        shift: 0.05,
    };
}

/// One drawn transform: output pixel -> source pixel, about the image centre.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Warp {
    flip: bool,
    cos: f32,
    sin: f32,
    scale: f32,
    shift: (f32, f32),
}

impl Warp {
    /// The identity.
    pub const IDENTITY: Warp = Warp {
        flip: false,
        cos: 1.0,
        sin: 0.0,
        scale: 1.0,
        shift: (0.0, 0.0),
    };

    /// Draws a transform within `config`'s ranges.
    pub fn random(config: &AugmentConfig, rng: &mut impl Rng) -> Self {
        let angle = rng.random_range(-1.0..=1.0) * config.rotation * std::f32::consts::TAU;
        let zoom = 1.0 + rng.random_range(-1.0..=1.0) * config.zoom;
        let shift = (
            rng.random_range(-1.0..=1.0) * config.shift,
            rng.random_range(-1.0..=1.0) * config.shift,
        );
        Warp {
            flip: config.flip && rng.random_bool(0.5),
            cos: angle.cos(),
            sin: angle.sin(),
            scale: 1.0 / zoom,
            shift,
        }
    }

    /// Source coordinates of output pixel `(x, y)` in a `w x h` image, reflected back inside.
    fn source(&self, x: usize, y: usize, w: usize, h: usize) -> (f32, f32) {
        let (cx, cy) = ((w as f32 - 1.0) / 2.0, (h as f32 - 1.0) / 2.0);
        let mut dx = x as f32 - cx;
        let dy = y as f32 - cy;
        if self.flip {
            dx = -dx;
        }
        let sx = (self.cos * dx - self.sin * dy) * self.scale + cx + self.shift.0 * w as f32;
        let sy = (self.sin * dx + self.cos * dy) * self.scale + cy + self.shift.1 * h as f32;
        (reflect(sx, w), reflect(sy, h))
    }

    /// Warps a photo with bilinear sampling and reflected borders (Keras's `fill_mode="reflect"`).
    pub fn apply_rgb(&self, image: &RgbImage) -> RgbImage {
        let (w, h) = (image.width() as usize, image.height() as usize);
        RgbImage::from_fn(w as u32, h as u32, |x, y| {
            let (sx, sy) = self.source(x as usize, y as usize, w, h);
            let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
            let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
            let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
            let px = |x: usize, y: usize| image.get_pixel(x as u32, y as u32).0;
            let (a, b, c, d) = (px(x0, y0), px(x1, y0), px(x0, y1), px(x1, y1));
            Rgb(std::array::from_fn(|k| {
                let top = f32::from(a[k]) * (1.0 - fx) + f32::from(b[k]) * fx;
                let bottom = f32::from(c[k]) * (1.0 - fx) + f32::from(d[k]) * fx;
                (top * (1.0 - fy) + bottom * fy).round() as u8
            }))
        })
    }

    /// Warps a class mask (`w * h` class indices) with nearest sampling, so classes stay classes.
    pub fn apply_mask(&self, mask: &[u8], w: usize, h: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                let (sx, sy) = self.source(x, y, w, h);
                let (nx, ny) = (
                    (sx.round() as usize).min(w - 1),
                    (sy.round() as usize).min(h - 1),
                );
                out.push(mask[ny * w + nx]);
            }
        }
        out
    }
}

/// Reflects a coordinate into `[0, n - 1]`.
fn reflect(v: f32, n: usize) -> f32 {
    let max = (n - 1) as f32;
    if max <= 0.0 {
        return 0.0;
    }
    let period = 2.0 * max;
    let m = v.rem_euclid(period);
    if m > max { period - m } else { m }
}
