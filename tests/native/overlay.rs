//! What the page draws and downloads, on a real photo and the shipped segmenter's mask.

use crate::common;

use common::{block_on, fixture_bytes, shipped_pipeline};
use petlens::data::resize_mask;
use petlens::overlay::{
    CLASS_COLOURS, Layers, Maps, compose, cutout, display_size, jet, mask_image, png_bytes, wipe,
};

#[test]
fn jet_runs_from_blue_to_red() {
    let [r0, _, b0] = jet(0.0);
    let [r1, _, b1] = jet(1.0);
    assert!(b0 > 100 && r0 == 0, "cold is blue");
    assert!(r1 > 100 && b1 == 0, "hot is red");
    assert_eq!(jet(-1.0), jet(0.0));
}

#[test]
fn layers_change_the_picture_and_downloads_keep_the_photo_size() {
    let pipeline = shipped_pipeline();
    let analysis =
        block_on(pipeline.analyze(&fixture_bytes("oxford/images/american_bulldog_10.jpg")))
            .unwrap();
    let photo = &analysis.photo;
    let (w, h) = photo.dimensions();
    let heat = analysis.heatmaps[1].upsample(w as usize, h as usize);
    let uncertainty = analysis
        .mask
        .probabilities
        .entropy()
        .upsample(w as usize, h as usize);
    let maps = Maps {
        mask: &analysis.mask.pixels,
        heatmap: &heat,
        uncertainty: &uncertainty,
    };
    let none = Layers {
        uncertainty: false,
        ..Layers::UNCERTAINTY
    };
    let plain = compose(photo, maps, none);
    assert_eq!(
        plain.get_pixel(3, 3).0[..3],
        photo.get_pixel(3, 3).0,
        "no layer: the photo itself"
    );
    let masked = compose(photo, maps, Layers::MASK);
    let heated = compose(photo, maps, Layers::HEATMAP);
    let unsure = compose(photo, maps, Layers::UNCERTAINTY);
    assert_ne!(plain, masked);
    assert_ne!(plain, heated);
    assert_ne!(masked, heated);
    assert_ne!(plain, unsure);
    // The uncertainty overlay marks the pet's outline more than the pet's middle or the
    // background: the border class is where the segmenter hesitates.
    let mean_over = |class: u8| {
        let values: Vec<f32> = uncertainty
            .iter()
            .zip(&analysis.mask.pixels)
            .filter(|(_, c)| **c == class)
            .map(|(u, _)| *u)
            .collect();
        values.iter().sum::<f32>() / values.len().max(1) as f32
    };
    assert!(mean_over(2) > mean_over(0) && mean_over(2) > mean_over(1));

    // The compare slider: the view on the left, the photo on the right.
    let half = wipe(&heated, photo, 0.5);
    assert_eq!(half.get_pixel(0, 0), heated.get_pixel(0, 0));
    assert_eq!(half.get_pixel(w - 1, 0).0[..3], photo.get_pixel(w - 1, 0).0);
    assert_eq!(wipe(&heated, photo, 1.0), heated);

    let cut = cutout(photo, &analysis.mask.pixels);
    assert_eq!(cut.dimensions(), (w, h));
    let opaque = cut.pixels().filter(|p| p.0[3] == 255).count() as f64 / (w * h) as f64;
    assert!(
        (opaque - analysis.mask.fraction.pet).abs() < 1e-9,
        "opaque pixels are the pet"
    );

    let mask = mask_image(&analysis.mask.pixels, w, h);
    assert!(
        mask.pixels()
            .all(|p| CLASS_COLOURS.iter().any(|c| c[..] == p.0[..3]))
    );
    let png = png_bytes(&mask).unwrap();
    let decoded = image::load_from_memory(&png).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (w, h));
}

#[test]
fn display_size_brings_the_longer_side_to_the_view_up_or_down() {
    assert_eq!(display_size(4000, 3000, 1024), (1024, 768));
    assert_eq!(display_size(149, 258, 1024), (591, 1024));
    assert_eq!(display_size(300, 200, 1024), (1024, 683));
    assert_eq!(
        resize_mask(&[0, 1, 2, 0], 2, 2, 4, 2),
        vec![0, 0, 1, 1, 2, 2, 0, 0]
    );
}
