//! petlens: see what a convnet sees in your pet photo.
//!
//! Chapter 9 of *Deep Learning with Python* in burn: a segmenter, an Xception-like cat-vs-dog
//! classifier and Grad-CAM, run by one [`pipeline::Pipeline`] natively and in the browser.

pub mod card;
pub mod data;
pub mod explain;
pub mod model;
pub mod ops;
pub mod overlay;
pub mod pipeline;
pub mod readback;
pub mod weights;

#[cfg(not(target_arch = "wasm32"))]
pub mod train;

#[cfg(target_arch = "wasm32")]
pub mod app;
