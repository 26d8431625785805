//! Interpretability, the third part of chapter 9: Grad-CAM heatmaps, intermediate activations
//! and filter patterns by gradient ascent. The same code serves the page and `train explain`.

pub mod activations;
pub mod confidence;
pub mod filters;
pub mod gradcam;
pub mod robust;

pub use activations::{ActivationGrid, LayerActivation};
pub use confidence::ClassProbabilities;
pub use filters::{FilterAscent, FilterError, FilterPattern};
pub use gradcam::{GradCam, Heatmap, PetClass, normalise};
pub use robust::RobustAscent;
