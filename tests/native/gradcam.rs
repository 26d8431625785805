//! Grad-CAM against its closed form, on the shipped classifier and real photos.

use crate::common;

use burn::prelude::*;
use common::{block_on, fixture_bytes, shipped_pipeline};
use petlens::data::decode_photo;
use petlens::explain::{GradCam, PetClass, normalise};
use petlens::model::ModelKind;

fn features_of(pipeline: &petlens::pipeline::Pipeline, photo: &str) -> Tensor<4> {
    let photo = decode_photo(&fixture_bytes(photo)).unwrap();
    pipeline
        .classifier()
        .features(pipeline.input(ModelKind::Classifier, &photo))
}

/// For a GAP + dense head, d logit / d A_k(i, j) = w_k / (h w), so Grad-CAM's channel weights
/// are the dense weights up to a positive factor and Grad-CAM equals CAM = relu(sum_k w_k A_k)
/// after normalisation (for "cat", the weights change sign).
#[test]
fn gradcam_equals_cam_for_a_gap_dense_head() {
    let pipeline = shipped_pipeline();
    let features = features_of(&pipeline, "oxford/images/Abyssinian_1.jpg"); // [1, 512, h, w]
    let [_, c, h, w] = features.dims();
    let dense = pipeline
        .classifier()
        .dense
        .weight
        .val()
        .reshape([1, c, 1, 1]); // [c, 1] -> [1, c, 1, 1]
    for (class, sign) in [(PetClass::Dog, 1.0), (PetClass::Cat, -1.0)] {
        let cam = (features.clone() * dense.clone().mul_scalar(sign))
            .sum_dim(1)
            .reshape([h * w]);
        let expected = normalise(cam.clamp_min(0.0).into_data().try_to_vec::<f32>().unwrap());
        let heatmap =
            block_on(GradCam::new(pipeline.classifier()).heatmap(features.clone(), class)).unwrap();
        assert_eq!((heatmap.width, heatmap.height), (w, h));
        for (got, want) in heatmap.values.iter().zip(&expected) {
            assert!((got - want).abs() < 1e-4, "{class:?}: {got} vs {want}");
        }
        assert!(heatmap.values.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}

#[test]
fn cat_and_dog_maps_differ_on_a_real_photo() {
    let pipeline = shipped_pipeline();
    for photo in [
        "cats-vs-dogs/validation/dog/dog.1000.jpg",
        "oxford/images/Persian_258.jpg",
    ] {
        let features = features_of(&pipeline, photo);
        let cam = GradCam::new(pipeline.classifier());
        let cat = block_on(cam.heatmap(features.clone(), PetClass::Cat)).unwrap();
        let dog = block_on(cam.heatmap(features, PetClass::Dog)).unwrap();
        let diff: f32 = cat
            .values
            .iter()
            .zip(&dog.values)
            .map(|(a, b)| (a - b).abs())
            .sum();
        assert!(diff > 0.5, "{photo}: maps differ by {diff}");
        assert!(
            cat.values.iter().chain(&dog.values).any(|v| *v == 1.0),
            "normalised to a max of 1"
        );
    }
}

#[test]
fn gradcam_at_an_earlier_block_has_a_finer_grid() {
    let pipeline = shipped_pipeline();
    let photo = decode_photo(&fixture_bytes("oxford/images/keeshond_164.jpg")).unwrap();
    let input = pipeline.input(ModelKind::Classifier, &photo);
    let features = pipeline.classifier().features_at(input, Some(2));
    let cam = GradCam {
        classifier: pipeline.classifier(),
        depth: Some(2),
    };
    let map = block_on(cam.heatmap(features, PetClass::Dog)).unwrap();
    assert_eq!((map.width, map.height), (14, 14));
    assert!(map.values.iter().all(|v| (0.0..=1.0).contains(v)));
}
