//! How sure the segmenter is, pixel by pixel: its class probabilities (shown under the pointer)
//! and their entropy (the uncertainty overlay), kept at the model's resolution and sampled at
//! the photo's like the Grad-CAM heatmaps.

use super::Heatmap;
use crate::model::SEGMENT_CLASSES;

/// The segmenter's softmax for one photo: `[classes, size, size]`, channel-major.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassProbabilities {
    pub size: usize,
    pub values: Vec<f32>,
}

impl ClassProbabilities {
    /// The probability of each class (pet, background, border) at `(u, v)` in `[0, 1]` across
    /// the photo's width and height, sampled bilinearly as the mask is.
    pub fn at(&self, u: f32, v: f32) -> [f32; 3] {
        let s = self.size;
        let pos = |t: f32| (t.clamp(0.0, 1.0) * s as f32 - 0.5).clamp(0.0, (s - 1) as f32);
        let (x, y) = (pos(u), pos(v));
        let (x0, y0) = (x as usize, y as usize);
        let (x1, y1) = ((x0 + 1).min(s - 1), (y0 + 1).min(s - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        std::array::from_fn(|c| {
            let plane = &self.values[c * s * s..(c + 1) * s * s];
            let row = |y: usize| plane[y * s + x0] * (1.0 - fx) + plane[y * s + x1] * fx;
            row(y0) * (1.0 - fy) + row(y1) * fy
        })
    }

    /// The entropy of the class distribution at every pixel, divided by its largest possible
    /// value (`ln 3`): 0 where the segmenter is certain, 1 where all classes are equally likely.
    pub fn entropy(&self) -> Heatmap {
        let plane = self.size * self.size;
        let classes = SEGMENT_CLASSES.len();
        let max = (classes as f32).ln();
        let values = (0..plane)
            .map(|i| {
                let h: f32 = (0..classes)
                    .map(|c| self.values[c * plane + i])
                    .filter(|&p| p > 0.0)
                    .map(|p| -p * p.ln())
                    .sum();
                (h / max).clamp(0.0, 1.0)
            })
            .collect();
        Heatmap {
            width: self.size,
            height: self.size,
            values,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2x2 map: certain pet, certain background, a toss-up, and pet vs border.
    fn probabilities() -> ClassProbabilities {
        let third = 1.0 / 3.0;
        ClassProbabilities {
            size: 2,
            values: vec![
                1.0, 0.0, third, 0.5, // pet
                0.0, 1.0, third, 0.0, // background
                0.0, 0.0, third, 0.5, // border
            ],
        }
    }

    #[test]
    fn entropy_is_zero_when_certain_and_one_when_all_classes_tie() {
        let entropy = probabilities().entropy();
        assert_eq!(entropy.values[0], 0.0);
        assert_eq!(entropy.values[1], 0.0);
        assert!((entropy.values[2] - 1.0).abs() < 1e-6);
        let two_way = 2.0f32.ln() / 3.0f32.ln();
        assert!((entropy.values[3] - two_way).abs() < 1e-6);
    }

    #[test]
    fn probabilities_at_a_pixel_sum_to_one_and_match_the_corners() {
        let p = probabilities();
        assert_eq!(p.at(0.0, 0.0), [1.0, 0.0, 0.0]);
        assert_eq!(p.at(1.0, 0.0), [0.0, 1.0, 0.0]);
        let middle = p.at(0.5, 0.5);
        assert!((middle.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
}
