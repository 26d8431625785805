//! Interpreting the shipped classifier on real photos: activation grids per layer, filter
//! patterns by gradient ascent, and `train explain`.

use crate::common;

use burn::prelude::*;
use common::{
    block_on, fixture, fixture_bytes, run_ok, shipped, shipped_config, tempdir, train_bin,
};
use petlens::data::{decode_photo, images_to_tensor, resize_for_model};
use petlens::explain::{FilterAscent, FilterError, LayerActivation, PetClass};
use petlens::model::{Classifier, ClassifierConfig, LayerId, Network};
use petlens::pipeline::AnalysisError;
use petlens::train::explain::ExplainSummary;

fn shipped_classifier() -> Classifier {
    let config: ClassifierConfig = shipped_config("classifier");
    petlens::weights::from_bytes(config.init(&Device::flex()), &shipped("classifier.bpk"))
        .unwrap()
        .valid()
}

/// The shipped segmenter's units (12) and one addition per skip connection, by its config.
fn shipped_segmenter_layers() -> usize {
    let config: petlens::model::SegmenterConfig = shipped_config("segmenter");
    12 + if config.skips {
        petlens::model::SKIPS.len()
    } else {
        0
    }
}

fn photo_input(path: &str, size: u32) -> Tensor<4> {
    let photo = decode_photo(&fixture_bytes(path)).unwrap();
    images_to_tensor(&[&resize_for_model(&photo, size)], &Device::flex())
}

#[test]
fn every_classifier_layer_has_a_grid_of_all_its_channels() {
    let classifier = shipped_classifier();
    let x = photo_input("cats-vs-dogs/validation/dog/dog.1000.jpg", 112);
    let layers = classifier.activations(x);
    let names: Vec<&str> = layers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), 1 + 5 * 4, "{names:?}");
    assert_eq!(
        classifier.layer_names(),
        names,
        "names without running the model"
    );
    assert_eq!(
        &names[..5],
        &[
            "stem",
            "block.0.sepconv1",
            "block.0.sepconv2",
            "block.0.maxpool",
            "block.0.add"
        ]
    );
    for (name, tensor) in layers {
        let layer = block_on(LayerActivation::read(name.clone(), tensor)).unwrap();
        let [c, h, w] = layer.shape;
        let grid = layer.grid();
        assert_eq!(grid.tiles, c, "{name}");
        assert_eq!(grid.columns, c.min(16), "{name}");
        assert_eq!(grid.rows, c.div_ceil(16), "{name}");
        let expected = (
            (grid.columns * (w + 1) - 1) as u32,
            (grid.rows * (h + 1) - 1) as u32,
        );
        assert_eq!(grid.image.dimensions(), expected, "{name}");
        if name == "stem" {
            // A convolution of a real photo, before any ReLU: no channel is zero everywhere.
            assert_eq!(layer.zero_share(), 0.0);
        }
        // A live channel uses the colour range; tiles are not all one colour.
        let live = (0..c)
            .find(|&k| layer.channel(k).iter().any(|&v| v != 0.0))
            .unwrap();
        let tile = layer.channel_image(live);
        assert!(
            tile.pixels().any(|p| p != tile.get_pixel(0, 0)),
            "{name} channel {live}"
        );
    }
}

#[test]
fn zero_share_counts_the_channels_that_are_zero_everywhere() {
    let values = [
        [0.5, 0.0, 0.0, 0.0],  // live in one pixel
        [0.0; 4],              // dead
        [-1.0, 2.0, 0.0, 3.0], // live
        [0.0; 4],              // dead
    ];
    let layer = LayerActivation {
        name: "test".into(),
        shape: [4, 2, 2],
        values: values.concat(),
    };
    assert_eq!(layer.zero_share(), 0.5);
}

#[test]
fn the_pipeline_reads_any_layer_of_either_model_and_grad_cam_at_any_depth() {
    let pipeline = common::shipped_pipeline();
    let layers = pipeline.layers();
    assert_eq!(layers.len(), 21 + shipped_segmenter_layers());
    assert_eq!(layers[0].to_string(), "classifier.stem");
    let photo = decode_photo(&fixture_bytes("oxford/images/Abyssinian_1.jpg")).unwrap();
    let inputs = pipeline.inputs(&photo);
    let read = |name: &str| {
        let id = LayerId::parse(name).unwrap_or_else(|| panic!("{name} parses"));
        let Network::Model(model) = id.network else {
            panic!("{name} is a layer of petlens's models");
        };
        block_on(pipeline.layer_activation(&inputs, model, &id.layer))
    };
    let decoder = read("segmenter.decoder.5.convtranspose").unwrap();
    assert_eq!(decoder.shape, [32, 128, 128]);
    let pooled = read("classifier.block.2.maxpool").unwrap();
    assert_eq!(pooled.shape, [128, 14, 14]);
    assert_ne!(
        pooled.channel(0),
        read("classifier.block.2.sepconv2").unwrap().channel(0),
        "pooling changes the map"
    );
    assert!(matches!(
        read("classifier.nope"),
        Err(AnalysisError::UnknownLayer(name)) if name == "classifier.nope"
    ));
    assert_eq!(LayerId::parse("resnet.stem"), None);
    let [_, dog] = block_on(pipeline.gradcam_at(&inputs.classifier, Some(2))).unwrap();
    let [_, last] = block_on(pipeline.gradcam_at(&inputs.classifier, None)).unwrap();
    assert!(dog.width > last.width, "an earlier block has a finer grid");
}

#[test]
fn gradient_ascent_raises_the_filter_activation_at_every_step() {
    let classifier = shipped_classifier();
    let device = Device::flex();
    device.seed(3);
    let ascent = FilterAscent::default();
    let run = |filter| {
        block_on(ascent.run(
            &classifier,
            "block.1.sepconv1",
            filter,
            112,
            &device,
            async |_, _| true,
        ))
        .unwrap()
    };
    let first = run(0);
    assert_eq!(first.activations.len(), ascent.steps + 1);
    for pair in first.activations.windows(2) {
        assert!(pair[1] > pair[0], "{:?}", first.activations);
    }
    assert_eq!(first.image.dimensions(), (112 - 2 * 14, 112 - 2 * 14));
    let second = run(5);
    let differing = first
        .image
        .pixels()
        .zip(second.image.pixels())
        .filter(|(a, b)| a != b)
        .count();
    assert!(
        differing > first.image.len() / 3 / 2,
        "patterns of two filters differ"
    );
}

#[test]
fn unknown_layers_and_filters_and_cancel_are_errors() {
    let classifier = shipped_classifier();
    let device = Device::flex();
    let ascent = FilterAscent::default();
    let run = |layer: &str, filter| {
        block_on(
            ascent.run(&classifier, layer, filter, 64, &device, async |step, _| {
                step < 2
            }),
        )
    };
    assert_eq!(
        run("nope", 0).unwrap_err(),
        FilterError::UnknownLayer("nope".into())
    );
    assert!(matches!(
        run("stem", 32),
        Err(FilterError::UnknownFilter { channels: 32, .. })
    ));
    assert_eq!(run("stem", 0).unwrap_err(), FilterError::Cancelled);
}

#[test]
fn train_explain_writes_grids_patterns_and_heatmaps() {
    let out = tempdir("explain");
    run_ok(
        train_bin()
            .args([
                "explain",
                "--filters",
                "2",
                "--filter-layers",
                "block.0.sepconv1",
                "--photo",
            ])
            .arg(fixture("cats-vs-dogs/validation/cat/cat.1000.jpg"))
            .arg("--out")
            .arg(&out),
    );
    let summary: ExplainSummary =
        serde_json::from_slice(&std::fs::read(out.join("explain.json")).unwrap()).unwrap();
    assert_eq!(summary.layers.len(), 21 + shipped_segmenter_layers());
    assert_eq!(summary.label, PetClass::Cat, "a validation cat");
    // Each grid has its layer's tiles (16 per row, 1-pixel gaps), and no two are the same.
    let mut grids = Vec::new();
    for layer in &summary.layers {
        let grid = image::open(out.join(&layer.file))
            .unwrap_or_else(|e| panic!("{}: {e}", layer.file))
            .to_rgb8();
        let [c, h, w] = layer.shape;
        let (columns, rows) = (c.min(16), c.div_ceil(16));
        let expected = ((columns * (w + 1) - 1) as u32, (rows * (h + 1) - 1) as u32);
        assert_eq!(grid.dimensions(), expected, "{}", layer.file);
        assert!(
            !grids.contains(&grid),
            "{} repeats another layer's grid",
            layer.file
        );
        grids.push(grid);
    }
    let patterns = image::open(out.join("filters/block.0.sepconv1.png")).unwrap();
    assert!(patterns.width() > 1 && patterns.height() > 1);
    // Grad-CAM overlays at the photo's size, one per class, and they differ.
    let photo = image::open(fixture("cats-vs-dogs/validation/cat/cat.1000.jpg")).unwrap();
    let [cat, dog] =
        ["gradcam.cat.png", "gradcam.dog.png"].map(|f| image::open(out.join(f)).unwrap());
    assert_eq!((cat.width(), cat.height()), (photo.width(), photo.height()));
    assert_ne!(cat, dog, "the two classes' evidence differs");
    let uncertainty = image::open(out.join("uncertainty.png")).unwrap();
    assert_eq!(
        (uncertainty.width(), uncertainty.height()),
        (photo.width(), photo.height())
    );
    let _ = std::fs::remove_dir_all(&out);
}

/// The page's threads each draw one contiguous share of a filter grid: together the shares are
/// the filters asked for, in order, none empty, their sizes at most one apart.
#[test]
fn filter_shares_cover_the_grid_in_order() {
    for (filters, threads) in [(0..64, 2), (8..24, 3), (0..5, 4), (3..4, 4), (0..16, 1)] {
        let shares = petlens::explain::filters::shares(filters.clone(), threads);
        assert!(shares.len() <= threads && !shares.is_empty());
        let joined: Vec<usize> = shares.iter().flat_map(|s| s.clone()).collect();
        assert_eq!(joined, filters.clone().collect::<Vec<_>>());
        let sizes: Vec<usize> = shares.iter().map(|s| s.len()).collect();
        let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        assert!(
            *min >= 1 && max - min <= 1,
            "{filters:?} on {threads}: {sizes:?}"
        );
    }
}
