//! Interpretability: Grad-CAM heatmaps.

pub mod gradcam;

pub use gradcam::{GradCam, Heatmap, PetClass, normalise};
