//! The whole inference path on real photos with the shipped weights.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{block_on, fixture, fixture_bytes, shipped_pipeline};
use petlens::explain::PetClass;
use petlens::pipeline::{AnalysisError, MaskFraction};

/// Pet fraction of a trimap (value 1) at its own resolution.
fn trimap_pet_fraction(name: &str) -> f64 {
    let trimap = image::open(fixture(&format!("oxford/annotations/trimaps/{name}.png")))
        .unwrap()
        .into_luma8();
    MaskFraction::of(&trimap.pixels().map(|p| p.0[0] - 1).collect::<Vec<_>>()).pet
}

#[test]
fn analysis_covers_the_photo_and_is_well_formed() {
    let pipeline = shipped_pipeline();
    let analysis =
        block_on(pipeline.analyze(&fixture_bytes("oxford/images/Abyssinian_1.jpg"))).unwrap();
    let (w, h) = analysis.photo.dimensions();
    assert_eq!(analysis.mask.len(), (w * h) as usize);
    let f = analysis.mask_fraction;
    assert!((f.pet + f.background + f.border - 1.0).abs() < 1e-9);
    assert!((0.0..=1.0).contains(&analysis.p_dog));
    for class in PetClass::ALL {
        let map = analysis.heatmap(class);
        assert_eq!(map.values.len(), map.width * map.height);
        assert_eq!(map.upsample(w as usize, h as usize).len(), (w * h) as usize);
    }
    let t = analysis.timings;
    assert!(t.decode > 0.0 && t.segment > 0.0 && t.classify > 0.0 && t.gradcam > 0.0);
}

#[test]
fn bad_photos_are_errors_not_panics() {
    let pipeline = shipped_pipeline();
    for bytes in [
        Vec::new(),
        b"just some text".to_vec(),
        fixture_bytes("photos/cat_cmyk.jpg")[..500].to_vec(),
    ] {
        assert!(matches!(
            block_on(pipeline.analyze(&bytes)),
            Err(AnalysisError::Photo(_))
        ));
    }
}

/// The trained models on real photos: the right verdicts, and a mask whose pet share is near
/// the trimap's.
#[test]
fn shipped_models_see_the_pet() {
    let pipeline = shipped_pipeline();
    for (name, class) in [
        ("Abyssinian_1", PetClass::Cat),
        ("american_bulldog_10", PetClass::Dog),
        ("keeshond_164", PetClass::Dog),
    ] {
        let analysis =
            block_on(pipeline.analyze(&fixture_bytes(&format!("oxford/images/{name}.jpg"))))
                .unwrap();
        assert_eq!(analysis.label(), class, "{name}: p_dog {}", analysis.p_dog);
        let truth = trimap_pet_fraction(name);
        let got = analysis.mask_fraction.pet;
        assert!(
            (got - truth).abs() < 0.15,
            "{name}: pet fraction {got:.3} vs trimap {truth:.3}"
        );
    }
}
