//! Loading photos and data sets, augmentation, and the shared preprocessing path.

#[cfg(not(target_arch = "wasm32"))]
pub mod augment;
#[cfg(not(target_arch = "wasm32"))]
pub mod datasets;
pub mod photo;

pub use photo::{
    MAX_PIXELS, PhotoError, class_map_at, decode_photo, images_to_tensor, model_input,
    resize_for_model, resize_mask, upsample_bilinear,
};
