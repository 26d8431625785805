//! The native tests, in one binary so that the library is linked and the generics the tests
//! share are compiled once (78 s against 114 s for 18 binaries, after a change to the library).
//! Each module is one concern's tests; `cargo test --release --test native <module>::` runs one.
#![cfg(not(target_arch = "wasm32"))]

mod card;
mod common;
mod explain;
mod faults;
mod feature_classifier;
mod feature_segmenter;
mod fuzz_decode;
mod fuzz_weights;
mod gradcam;
mod imagenet;
mod layout;
mod models;
mod ops;
mod overlay;
mod pipeline;
mod preprocess;
mod training;
mod weights;
mod xception;
