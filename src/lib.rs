//! petlens: see what a convnet sees in your pet photo.
//!
//! Chapter 9 of *Deep Learning with Python* in burn: a segmenter, an Xception-like cat-vs-dog
//! classifier and Grad-CAM, run by one [`pipeline::Pipeline`] natively and in the browser.

pub mod card;
pub mod data;
pub mod explain;
pub mod heap;
pub mod imagenet;
pub mod latest;
pub mod model;
pub mod ops;
pub mod overlay;
pub mod pipeline;
pub mod protocol;
pub mod readback;
pub mod segmentation;
pub mod shipped;
pub mod stats;
pub mod weights;

#[cfg(not(target_arch = "wasm32"))]
pub mod train;

// The browser: the page (Leptos) and the models' thread (a Web Worker, no Leptos), which share
// only `protocol` (and the plain library above, and `net`'s fetching).
#[cfg(target_arch = "wasm32")]
pub mod app;
#[cfg(target_arch = "wasm32")]
mod net;
#[cfg(target_arch = "wasm32")]
pub mod worker;
