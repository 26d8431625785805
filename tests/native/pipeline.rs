//! The whole inference path on real photos with the shipped weights.

use crate::common;

use std::collections::BTreeMap;

use common::{block_on, fixture, fixture_bytes, shipped_pipeline};
use petlens::explain::PetClass;
use petlens::pipeline::{AnalysisError, MaskFraction};

/// The committed pet share of every fixture trimap (`oxford/pet_fractions.json`), which this
/// file and the browser tests compare the page's masks with.
fn pet_fractions() -> BTreeMap<String, f64> {
    serde_json::from_slice(&fixture_bytes(PET_FRACTIONS)).expect("readable pet fractions")
}

const PET_FRACTIONS: &str = "oxford/pet_fractions.json";

/// Pet fraction of a trimap (value 1) at its own resolution.
fn trimap_pet_fraction(name: &str) -> f64 {
    pet_fractions()[name]
}

/// The committed fractions are the trimaps' own, measured here (so that they cannot drift from
/// the fixtures); `PETLENS_WRITE_FIXTURES=1` writes them after a fixture changes.
#[test]
fn the_committed_pet_fractions_are_the_trimaps() {
    let dir = fixture("oxford/annotations/trimaps");
    let mut measured = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let trimap = image::open(&path).unwrap().into_luma8();
        let classes: Vec<u8> = trimap.pixels().map(|p| p.0[0].saturating_sub(1)).collect();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        measured.insert(name, MaskFraction::of(&classes).pet);
    }
    if std::env::var_os("PETLENS_WRITE_FIXTURES").is_some() {
        let json = serde_json::to_string_pretty(&measured).unwrap();
        std::fs::write(fixture(PET_FRACTIONS), json + "\n").unwrap();
    }
    assert_eq!(pet_fractions(), measured);
}

#[test]
fn analysis_covers_the_photo_and_is_well_formed() {
    let pipeline = shipped_pipeline();
    let analysis =
        block_on(pipeline.analyze(&fixture_bytes("oxford/images/Abyssinian_1.jpg"))).unwrap();
    let (w, h) = analysis.photo.dimensions();
    assert_eq!(analysis.mask.pixels.len(), (w * h) as usize);
    let f = analysis.mask.fraction;
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

/// Photos of the book's validation split that the shipped classifier gets right (its
/// validation accuracy is in www/models/card.json: not every photo is).
const CAT_PHOTO: &str = "cats-vs-dogs/validation/cat/cat.1000.jpg";
const DOG_PHOTO: &str = "cats-vs-dogs/validation/dog/dog.1003.jpg";

#[test]
fn shipped_classifier_tells_this_cat_from_this_dog() {
    let pipeline = shipped_pipeline();
    for (photo, class) in [(CAT_PHOTO, PetClass::Cat), (DOG_PHOTO, PetClass::Dog)] {
        let analysis = block_on(pipeline.analyze(&fixture_bytes(photo))).unwrap();
        assert_eq!(analysis.label(), class, "{photo}: p_dog {}", analysis.p_dog);
    }
}

/// The shipped segmenter's mask covers about as much of the photo as the trimap's pet.
#[test]
fn shipped_segmenter_finds_the_pet() {
    let pipeline = shipped_pipeline();
    for name in [
        "Abyssinian_1",
        "american_bulldog_10",
        "keeshond_164",
        "Persian_258",
    ] {
        let analysis =
            block_on(pipeline.analyze(&fixture_bytes(&format!("oxford/images/{name}.jpg"))))
                .unwrap();
        let truth = trimap_pet_fraction(name);
        let got = analysis.mask.fraction.pet;
        assert!(
            (got - truth).abs() < 0.15,
            "{name}: pet fraction {got:.3} vs trimap {truth:.3}"
        );
    }
}

/// The verdict is the mean of the classifier's probability for the photo and for its mirror
/// image, computed as two separate runs here: exactly, on a real photo, through the page's own
/// `classify` stage.
#[test]
fn flip_averaging_is_the_mean_of_the_photo_and_its_mirror_image() {
    use burn::prelude::*;
    use petlens::data::{decode_photo, images_to_tensor, resize_for_model};
    let pipeline = shipped_pipeline();
    let photo = decode_photo(&fixture_bytes(DOG_PHOTO)).unwrap();
    let size = pipeline.input_size(petlens::model::ModelKind::Classifier);
    let input = resize_for_model(&photo, size as u32);
    let mirrored = image::imageops::flip_horizontal(&input);
    let p = |image| {
        pipeline
            .classifier()
            .p_dog(images_to_tensor(&[image], &Device::flex()))
            .into_scalar::<f32>()
    };
    let (plain, flipped) = (p(&input), p(&mirrored));
    assert_ne!(plain, flipped, "the mirror image is a different input");
    let verdict = block_on(pipeline.classify(pipeline.inputs(&photo).classifier)).unwrap();
    assert_eq!(verdict.p_dog, (plain + flipped) / 2.0);
    // Grad-CAM explains the unflipped photo: its features are the plain photo's.
    let features = pipeline
        .classifier()
        .features(images_to_tensor(&[&input], &Device::flex()));
    assert!(verdict.features.equal(features).all().into_scalar::<bool>());
}
