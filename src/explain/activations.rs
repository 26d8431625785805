//! Intermediate activations as the chapter shows them: every channel of a layer as a small
//! image, standardised (`(x - mean) / std * 64 + 128`, clipped to 0..255), in viridis
//! colours, 16 per row.

use burn::prelude::*;
use image::{Rgb, RgbImage};

use crate::readback::{ReadbackError, read_floats};

/// Channels per row of a grid, as in the chapter.
pub const GRID_COLUMNS: usize = 16;
/// Pixels between tiles.
const GAP: u32 = 1;

/// One layer's output for one photo, read back from the device.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerActivation {
    pub name: String,
    /// Channels, height, width.
    pub shape: [usize; 3],
    /// `shape[0] * shape[1] * shape[2]` values, channel-major.
    pub values: Vec<f32>,
}

impl LayerActivation {
    /// Reads `[1, c, h, w]` (the first photo of a batch) back from its device.
    pub async fn read(name: String, tensor: Tensor<4>) -> Result<Self, ReadbackError> {
        let [_, c, h, w] = tensor.dims();
        let first = tensor.narrow(0, 0, 1); // [1, c, h, w]
        let values = read_floats(first, "the layer's activations").await?;
        Ok(Self {
            name,
            shape: [c, h, w],
            values,
        })
    }

    /// The values of channel `k`.
    pub fn channel(&self, k: usize) -> &[f32] {
        let plane = self.shape[1] * self.shape[2];
        &self.values[k * plane..(k + 1) * plane]
    }

    /// Share of channels that are zero everywhere (dead for this photo, typically after ReLU).
    pub fn zero_share(&self) -> f32 {
        let dead = (0..self.shape[0])
            .filter(|&k| self.channel(k).iter().all(|&v| v == 0.0))
            .count();
        dead as f32 / self.shape[0].max(1) as f32
    }

    /// Channel `k` as a viridis image at the layer's resolution.
    pub fn channel_image(&self, k: usize) -> RgbImage {
        let [_, h, w] = self.shape;
        let levels = standardise(self.channel(k));
        RgbImage::from_fn(w as u32, h as u32, |x, y| {
            Rgb(viridis(levels[y as usize * w + x as usize]))
        })
    }

    /// All channels in a grid of [`GRID_COLUMNS`] per row, one pixel apart.
    pub fn grid(&self) -> ActivationGrid {
        let [c, h, w] = self.shape;
        let columns = c.min(GRID_COLUMNS);
        let rows = c.div_ceil(GRID_COLUMNS);
        let (tile_w, tile_h) = (w as u32 + GAP, h as u32 + GAP);
        let mut image = RgbImage::from_pixel(
            columns as u32 * tile_w - GAP,
            rows as u32 * tile_h - GAP,
            Rgb([255, 255, 255]),
        );
        for k in 0..c {
            let (col, row) = ((k % GRID_COLUMNS) as u32, (k / GRID_COLUMNS) as u32);
            image::imageops::replace(
                &mut image,
                &self.channel_image(k),
                i64::from(col * tile_w),
                i64::from(row * tile_h),
            );
        }
        ActivationGrid {
            image,
            tiles: c,
            columns,
            rows,
            tile: [w, h],
        }
    }
}

/// A layer's channels laid out as a grid image.
#[derive(Debug, Clone)]
pub struct ActivationGrid {
    pub image: RgbImage,
    pub tiles: usize,
    pub columns: usize,
    pub rows: usize,
    /// Width and height of one tile.
    pub tile: [usize; 2],
}

impl ActivationGrid {
    /// The channel whose tile holds pixel `(x, y)` of [`ActivationGrid::image`], `None` on a
    /// gap between tiles or past the last channel: what a click on the grid picks.
    pub fn tile_at(&self, x: u32, y: u32) -> Option<usize> {
        let [w, h] = self.tile;
        let (step_x, step_y) = (w as u32 + GAP, h as u32 + GAP);
        let (column, row) = ((x / step_x) as usize, (y / step_y) as usize);
        let on_tile = x % step_x < w as u32 && y % step_y < h as u32;
        let k = row * self.columns + column;
        (on_tile && column < self.columns && k < self.tiles).then_some(k)
    }
}

/// The chapter's display transform: standardise, `x64 + 128`, clip to 0..255. A constant
/// channel (no spread) maps to 0, shown as the darkest colour like a dead channel.
pub fn standardise(values: &[f32]) -> Vec<u8> {
    let n = values.len().max(1) as f32;
    let mean = values.iter().sum::<f32>() / n;
    let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt();
    if std < 1e-12 {
        return vec![0; values.len()];
    }
    values
        .iter()
        .map(|v| ((v - mean) / std * 64.0 + 128.0).clamp(0.0, 255.0) as u8)
        .collect()
}

/// Matplotlib's viridis at 9 stops, linearly interpolated.
pub fn viridis(level: u8) -> [u8; 3] {
    const STOPS: [[f32; 3]; 9] = [
        [68.0, 1.0, 84.0],
        [71.0, 44.0, 122.0],
        [59.0, 81.0, 139.0],
        [44.0, 113.0, 142.0],
        [33.0, 144.0, 141.0],
        [39.0, 173.0, 129.0],
        [92.0, 200.0, 99.0],
        [170.0, 220.0, 50.0],
        [253.0, 231.0, 37.0],
    ];
    let t = f32::from(level) / 255.0 * (STOPS.len() - 1) as f32;
    let i = (t as usize).min(STOPS.len() - 2);
    let f = t - i as f32;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    [0, 1, 2].map(|c| (a[c] + (b[c] - a[c]) * f).round() as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pixel_of_the_grid_names_the_channel_drawn_there() {
        // 20 channels of 3x2: 16 in the first row, 4 in the second.
        let layer = LayerActivation {
            name: "test".into(),
            shape: [20, 2, 3],
            values: (0..20 * 6).map(|v| v as f32).collect(),
        };
        let grid = layer.grid();
        assert_eq!(grid.image.dimensions(), (16 * 4 - 1, 2 * 3 - 1));
        assert_eq!(grid.tile_at(0, 0), Some(0));
        assert_eq!(grid.tile_at(2, 1), Some(0));
        assert_eq!(grid.tile_at(3, 0), None, "the gap after tile 0");
        assert_eq!(grid.tile_at(4, 0), Some(1));
        assert_eq!(grid.tile_at(62, 1), Some(15));
        assert_eq!(grid.tile_at(0, 2), None, "the gap between rows");
        assert_eq!(grid.tile_at(13, 4), Some(19));
        assert_eq!(grid.tile_at(16, 4), None, "past the last channel");
    }
}
