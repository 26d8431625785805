//! Random augmentation: a geometric warp (flip, rotation, random resized crop or the chapter's
//! zoom) applied identically to a photo and its segmentation mask, and a colour jitter applied
//! to the photo only.

use image::{Rgb, RgbImage};
use rand::Rng;

pub use crate::card::AugmentConfig;

/// One drawn geometric transform: output pixel -> source pixel, about the image centre, in
/// units of the image's own width and height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Warp {
    flip: bool,
    cos: f32,
    sin: f32,
    /// Source extent per output extent, per axis (< 1 zooms in).
    scale: (f32, f32),
    /// Centre of the sampled region, as a fraction of the size off the image centre.
    shift: (f32, f32),
}

impl Warp {
    /// The identity.
    pub const IDENTITY: Warp = Warp {
        flip: false,
        cos: 1.0,
        sin: 0.0,
        scale: (1.0, 1.0),
        shift: (0.0, 0.0),
    };

    /// Draws a transform within `config`'s ranges.
    pub fn random(config: &AugmentConfig, rng: &mut impl Rng) -> Self {
        let angle = rng.random_range(-1.0..=1.0) * config.rotation_degrees.to_radians();
        let (scale, shift) = if config.crop_min_area > 0.0 {
            random_crop(config.crop_min_area, rng)
        } else {
            let zoom = 1.0 + rng.random_range(-1.0..=1.0) * config.zoom;
            let shift = (
                rng.random_range(-1.0..=1.0) * config.shift,
                rng.random_range(-1.0..=1.0) * config.shift,
            );
            ((1.0 / zoom, 1.0 / zoom), shift)
        };
        Warp {
            flip: config.flip && rng.random_bool(0.5),
            cos: angle.cos(),
            sin: angle.sin(),
            scale,
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
        let rx = (self.cos * dx - self.sin * dy) * self.scale.0;
        let ry = (self.sin * dx + self.cos * dy) * self.scale.1;
        let sx = rx + cx + self.shift.0 * w as f32;
        let sy = ry + cy + self.shift.1 * h as f32;
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

/// A random resized crop (Inception's / torchvision's): an area share in `[min_area, 1]` and an
/// aspect ratio log-uniform in `[3/4, 4/3]`, placed uniformly inside the image. Returns the
/// per-axis scale and the crop centre's offset.
fn random_crop(min_area: f32, rng: &mut impl Rng) -> ((f32, f32), (f32, f32)) {
    let area = rng.random_range(min_area.min(1.0)..=1.0);
    let log_ratio = rng.random_range((3.0f32 / 4.0).ln()..=(4.0f32 / 3.0).ln());
    let ratio = log_ratio.exp();
    let cw = (area * ratio).sqrt().min(1.0);
    let ch = (area / ratio).sqrt().min(1.0);
    let shift = (
        rng.random_range(-1.0..=1.0) * (1.0 - cw) / 2.0,
        rng.random_range(-1.0..=1.0) * (1.0 - ch) / 2.0,
    );
    ((cw, ch), shift)
}

/// One drawn colour change of a photo: brightness, contrast and saturation factors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColorJitter {
    brightness: f32,
    contrast: f32,
    saturation: f32,
}

impl ColorJitter {
    /// No change.
    pub const IDENTITY: ColorJitter = ColorJitter {
        brightness: 1.0,
        contrast: 1.0,
        saturation: 1.0,
    };

    /// Draws each factor from `[1 - strength, 1 + strength]`.
    pub fn random(strength: f32, rng: &mut impl Rng) -> Self {
        if strength <= 0.0 {
            return Self::IDENTITY;
        }
        let mut factor = || 1.0 + rng.random_range(-strength..=strength);
        ColorJitter {
            brightness: factor(),
            contrast: factor(),
            saturation: factor(),
        }
    }

    /// Applies the factors in place: brightness scales every value, contrast stretches around
    /// the photo's mean grey, saturation blends each pixel with its own grey.
    pub fn apply(&self, image: &mut RgbImage) {
        if *self == Self::IDENTITY {
            return;
        }
        let grey = |p: &[u8; 3]| {
            0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])
        };
        let n = (image.width() * image.height()).max(1) as f32;
        let mean = image.pixels().map(|p| grey(&p.0)).sum::<f32>() / n * self.brightness;
        for pixel in image.pixels_mut() {
            let g = grey(&pixel.0) * self.brightness;
            for v in &mut pixel.0 {
                let bright = f32::from(*v) * self.brightness;
                let saturated = g + (bright - g) * self.saturation;
                let contrasted = mean + (saturated - mean) * self.contrast;
                *v = contrasted.round().clamp(0.0, 255.0) as u8;
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn crops_stay_inside_the_image() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for _ in 0..1000 {
            let ((cw, ch), (sx, sy)) = random_crop(0.3, &mut rng);
            assert!(cw * ch >= 0.3 * 0.74 && cw <= 1.0 && ch <= 1.0);
            assert!(sx.abs() <= (1.0 - cw) / 2.0 + 1e-6 && sy.abs() <= (1.0 - ch) / 2.0 + 1e-6);
        }
    }

    #[test]
    fn colour_jitter_identity_leaves_the_photo_alone_and_others_change_it() {
        let photo = RgbImage::from_fn(8, 8, |x, y| Rgb([(x * 30) as u8, (y * 30) as u8, 90]));
        let mut same = photo.clone();
        ColorJitter::random(0.0, &mut rand::rngs::StdRng::seed_from_u64(1)).apply(&mut same);
        assert_eq!(same, photo);
        let mut changed = photo.clone();
        ColorJitter::random(0.4, &mut rand::rngs::StdRng::seed_from_u64(1)).apply(&mut changed);
        assert_ne!(changed, photo);
    }
}
