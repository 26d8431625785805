//! Weights saved to bytes and loaded back give the same outputs; bad bytes are errors.

use crate::common;

use burn::prelude::*;
use common::{fixture_bytes, shipped, shipped_config};
use petlens::data::{decode_photo, images_to_tensor, resize_for_model};
use petlens::model::{ClassifierConfig, SegmenterConfig};
use petlens::weights::{WeightsError, from_bytes, to_bytes};

fn photo_input(size: usize) -> Tensor<4> {
    let photo = decode_photo(&fixture_bytes("oxford/images/american_bulldog_10.jpg")).unwrap();
    images_to_tensor(&[&resize_for_model(&photo, size as u32)], &Device::flex())
}

fn values(t: Tensor<4>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn f32_round_trip_reproduces_outputs_exactly() {
    let device = Device::flex();
    let config: SegmenterConfig = shipped_config("segmenter");
    let original = from_bytes(config.init(&device), &shipped("segmenter.bpk"))
        .unwrap()
        .valid();
    let bytes = to_bytes(original.clone(), false).unwrap();
    let loaded = from_bytes(config.init(&device), &bytes).unwrap().valid();
    let x = photo_input(config.image_size);
    assert_eq!(
        values(original.forward(x.clone())),
        values(loaded.forward(x))
    );
}

#[test]
fn f16_round_trip_is_stable_and_half_the_size() {
    let device = Device::flex();
    let config: ClassifierConfig = shipped_config("classifier");
    let shipped_bytes = shipped("classifier.bpk");
    let first = from_bytes(config.init(&device), &shipped_bytes)
        .unwrap()
        .valid();
    let x = photo_input(config.image_size);
    let a = first
        .forward(x.clone())
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let full = to_bytes(first.clone(), false).unwrap();
    let again = to_bytes(first, true).unwrap();
    let second = from_bytes(config.init(&device), &again).unwrap().valid();
    let b = second.forward(x).into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(a, b);
    assert!(
        again.len() * 10 < full.len() * 6,
        "f16 {} vs f32 {}",
        again.len(),
        full.len()
    );
}

#[test]
fn truncated_or_foreign_weights_are_errors() {
    let device = Device::flex();
    let bytes = shipped("segmenter.bpk");
    let truncated = from_bytes(
        shipped_config::<SegmenterConfig>("segmenter").init(&device),
        &bytes[..bytes.len() / 2],
    );
    assert!(
        matches!(truncated, Err(WeightsError::Unreadable(_))),
        "{truncated:?}"
    );
    let garbage = from_bytes(
        shipped_config::<SegmenterConfig>("segmenter").init(&device),
        b"not a model",
    );
    assert!(matches!(garbage, Err(WeightsError::Unreadable(_))));
    let foreign = from_bytes(
        shipped_config::<ClassifierConfig>("classifier").init(&device),
        &bytes,
    );
    assert!(
        matches!(foreign, Err(WeightsError::Mismatch(_))),
        "{foreign:?}"
    );
    let wider = from_bytes(SegmenterConfig::new().init(&device), &bytes);
    assert!(
        matches!(wider, Err(WeightsError::Mismatch(_))),
        "an older/wider model: {wider:?}"
    );
}
