//! The segmenter on the ImageNet network's features: the shipped one on real trimaps (against
//! the chapter's model, the lesson the page shows), its training (only the decoder learns; the
//! network under it stays as imported), the page's shared pass, and `train feature-segmenter` /
//! `train eval segmenter` end to end.

use crate::common;

use std::path::{Path, PathBuf};

use burn::optim::AdamConfig;
use burn::prelude::*;
use common::{block_on, fixture, run_ok, tempdir, train_bin};
use petlens::data::datasets;
use petlens::imagenet::{FeatureMask, ImagenetConfig, ImagenetModel};
use petlens::model::{
    FEATURE_CLASSIFIER, FEATURE_SEGMENTER, FeatureSegmenterConfig, ModelKind, SkipMerge,
};
use petlens::overlay::{Displayed, ShownReading};
use petlens::pipeline::DefaultModels;
use petlens::shipped::ImagenetFiles;
use petlens::train::eval::{eval_segmenter, load_feature_classifier, load_feature_segmenter};
use petlens::train::fit::train_step;
use petlens::train::task::{Batch, FrozenBackbone, LossConfig, Trainable};

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models")
}

fn shipped_network() -> ImagenetModel {
    let files = ImagenetFiles::read(&models_dir(), "imagenet").expect("the shipped network");
    ImagenetModel::from_files(&files, &Device::flex()).expect("loads")
}

fn pyramid_channels(network: &ImagenetModel) -> Vec<usize> {
    match &network.config {
        ImagenetConfig::MobileNet(c) => c.pyramid_channels(),
        ImagenetConfig::Xception(_) => panic!("the shipped network is MobileNet"),
    }
}

fn oxford_pairs() -> Vec<datasets::TrimapPair> {
    datasets::oxford_pairs(&fixture("oxford")).expect("the fixture pairs")
}

#[test]
fn the_pyramid_has_the_channels_and_sizes_its_config_says() {
    let network = shipped_network();
    let encoder = network.net.mobilenet().expect("MobileNet");
    let pyramid = encoder.pyramid(Tensor::zeros([1, 3, 224, 224], &Device::flex()));
    let channels: Vec<usize> = pyramid.iter().map(|l| l.dims()[1]).collect();
    let sides: Vec<usize> = pyramid.iter().map(|l| l.dims()[2]).collect();
    assert_eq!(channels, pyramid_channels(&network));
    assert_eq!(channels, [48, 96, 192, 384, 768], "MobileNet v1 0.75");
    assert_eq!(sides, [112, 56, 28, 14, 7]);
}

/// The chapter's lesson on real trimaps: the decoder on ImageNet features draws better masks
/// than the model trained from scratch on the same 425 pairs (both at the photos' own
/// resolution, as the page shows them).
#[test]
fn the_shipped_feature_segmenter_beats_the_chapter_model_on_the_fixture_trimaps() {
    let device = Device::flex();
    let (network, head) =
        load_feature_segmenter(None, &models_dir(), &device).expect("the shipped decoder loads");
    let pairs = oxford_pairs();
    let encoder = network.net.mobilenet().expect("MobileNet");
    let features = FeatureMask {
        encoder,
        decoder: &head.decoder,
    };
    let on_features =
        eval_segmenter(&features, head.image_size, &pairs, &device).expect("evaluates");
    let pipeline = common::shipped_pipeline();
    let size = pipeline.input_size(ModelKind::Segmenter);
    let scratch = eval_segmenter(pipeline.segmenter(), size, &pairs, &device).expect("evaluates");
    assert_eq!(on_features.all.n, pairs.len());
    assert!(
        on_features.all.mean_iou > scratch.all.mean_iou,
        "on features {:?} against from scratch {:?}",
        on_features.all,
        scratch.all
    );
    assert!(
        on_features.all.pixel_accuracy > 0.85,
        "{:?}",
        on_features.all
    );
}

#[test]
fn training_moves_the_decoder_and_leaves_the_network_as_imported() {
    let network = shipped_network();
    let encoder = network.net.mobilenet().expect("MobileNet").clone();
    let size = 64;
    let config = FeatureSegmenterConfig::new(pyramid_channels(&network))
        .with_width(8)
        .with_image_size(size);
    let examples = datasets::load_segmentation(&oxford_pairs(), size as u32);
    let probe = || {
        let batch = Batch::gather(&examples, &[0], None);
        batch.to_tensors(&Device::flex()).0
    };
    let before = encoder.pyramid(probe()).pop().expect("levels");
    let device = Device::flex().autodiff();
    device.seed(5);
    let model = FrozenBackbone {
        backbone: network.net.clone(),
        head: config.init(&Device::flex()),
    };
    let mut model = model.fork(&device).train();
    let batch = Batch::gather(&examples, &(0..examples.len()).collect::<Vec<_>>(), None);
    let loss = LossConfig {
        dice_weight: 1.0,
        class_weights: vec![1.0, 1.0, 1.0],
        ..LossConfig::default()
    };
    let mut optim = AdamConfig::new().init();
    let mut losses = Vec::new();
    for _ in 0..10 {
        let step = train_step(&model, &batch, &loss, &[Device::flex()]);
        losses.push(step.loss);
        model = optim.step(1e-2, model, step.grads);
    }
    assert!(
        losses[9] < losses[0] * 0.8,
        "the decoder learns on real features: {losses:?}"
    );
    let after = model
        .backbone
        .mobilenet()
        .expect("MobileNet")
        .pyramid(probe())
        .pop()
        .expect("levels");
    let moved = (after - before).abs().max().into_scalar::<f32>();
    assert_eq!(moved, 0.0, "the frozen network's features did not move");
    let shipped = model.shipped();
    assert_eq!(
        shipped.num_params(),
        config.init(&Device::flex()).num_params(),
        "only the decoder ships"
    );
}

#[test]
fn both_ways_of_joining_the_skips_build_and_decode_to_the_input_size() {
    let network = shipped_network();
    let encoder = network.net.mobilenet().expect("MobileNet");
    let pyramid = encoder.pyramid(Tensor::zeros([2, 3, 96, 96], &Device::flex()));
    let mut sizes = Vec::new();
    for merge in [SkipMerge::Concat, SkipMerge::Add] {
        let decoder = FeatureSegmenterConfig::new(pyramid_channels(&network))
            .with_width(8)
            .with_merge(merge)
            .init(&Device::flex());
        let p = decoder.probabilities(&pyramid);
        assert_eq!(p.dims(), [2, 3, 96, 96], "{merge:?}");
        let total = p.sum_dim(1).mean().into_scalar::<f32>();
        assert!((total - 1.0).abs() < 1e-5, "{merge:?}: {total}");
        sizes.push(decoder.num_params());
    }
    assert!(
        sizes[0] != sizes[1],
        "concatenation and addition are different decoders: {sizes:?}"
    );
}

/// The reading merges into the chapter's analysis as the card's defaults say, whichever
/// thread ran it: the mask on features shown (at photo and display size) and its verdict first
/// where they are the defaults, after the chapter's otherwise; every mask kept once.
#[test]
fn a_reading_joins_the_analysis_as_the_defaults_say() {
    let device = Device::flex();
    let (mut model, head) = load_feature_segmenter(None, &models_dir(), &device).expect("loads");
    model.mask = Some(head);
    let (_, verdict) = load_feature_classifier(None, &models_dir(), &device).expect("loads");
    model.verdict = Some(verdict);
    let bytes = common::fixture_bytes("oxford/images/keeshond_164.jpg");
    let analysis = block_on(common::shipped_pipeline().analyze(&bytes)).expect("analyses");
    let reading = || block_on(model.read(&analysis.photo, &device)).expect("reads");
    let size = analysis.photo.dimensions();
    for feature_first in [false, true] {
        let defaults = DefaultModels {
            feature_verdict: feature_first,
            feature_mask: feature_first,
        };
        let mut displayed = Displayed::new(analysis.clone());
        let shown = ShownReading::new(reading(), size, defaults);
        let p_dog = shown.p_dog.expect("a verdict on features");
        displayed.add_reading(shown);
        let merged = &displayed.analysis;
        let (first, second) = if feature_first {
            (FEATURE_SEGMENTER, ModelKind::Segmenter.name())
        } else {
            (ModelKind::Segmenter.name(), FEATURE_SEGMENTER)
        };
        assert_eq!(merged.mask_models(), [first, second]);
        assert_eq!(displayed.other_masks.len(), 1);
        let (dw, dh) = displayed.photo.dimensions();
        assert_eq!(displayed.mask.pixels.len(), (dw * dh) as usize);
        let verdicts: Vec<&str> = merged.verdicts.iter().map(|v| v.model.as_str()).collect();
        let expected_p_dog = if feature_first { p_dog } else { analysis.p_dog };
        assert_eq!(merged.p_dog, expected_p_dog);
        assert_eq!(verdicts[usize::from(!feature_first)], FEATURE_CLASSIFIER);
        assert_eq!(merged.imagenet_top.len(), 5);
        assert!(merged.timings.imagenet > 0.0);
        // Switching back and forth keeps the display masks paired with the analysis's.
        assert!(displayed.show_mask(second));
        assert_eq!(displayed.analysis.mask.model, second);
    }
}

/// The page's reading runs the network once over the photo and its mirror image for the top 5
/// and the mask: the same mask as `train eval`'s path, and the same top 5 as without it.
#[test]
fn the_reading_shares_its_pass_with_the_mask_that_eval_scores() {
    let device = Device::flex();
    let (alone, head) = load_feature_segmenter(None, &models_dir(), &device).expect("loads");
    assert_eq!(
        head.image_size,
        alone.input_size(),
        "the shipped mask shares the pass"
    );
    let photo = image::open(fixture("oxford/images/keeshond_164.jpg"))
        .expect("decodes")
        .to_rgb8();
    let plain = block_on(alone.read(&photo, &device)).expect("reads");
    assert!(
        plain.segmentation.is_none(),
        "no mask without the segmenter"
    );
    let encoder = alone.net.mobilenet().expect("MobileNet");
    let features = FeatureMask {
        encoder,
        decoder: &head.decoder,
    };
    let expected = block_on(petlens::segmentation::segment_photos(
        &features,
        head.image_size,
        &[&photo],
        &device,
    ))
    .expect("segments")
    .remove(0);
    let mut with = alone;
    with.mask = Some(head);
    let reading = block_on(with.read(&photo, &device)).expect("reads");
    let mask = reading.segmentation.expect("a mask");
    let differences = mask
        .probabilities
        .values
        .iter()
        .zip(&expected.probabilities.values)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        differences < 1e-5,
        "the probabilities differ by {differences}"
    );
    assert_eq!(mask.mask.len(), (photo.width() * photo.height()) as usize);
    let top: Vec<usize> = reading.top.iter().map(|t| t.class).collect();
    let plain_top: Vec<usize> = plain.top.iter().map(|t| t.class).collect();
    assert_eq!(top, plain_top);
}

#[test]
fn train_feature_segmenter_ships_the_decoder_and_eval_prints_one_line_per_segmenter() {
    let out = tempdir("feature-segmenter");
    let ship = out.join("ship");
    run_ok(
        train_bin()
            .args(["feature-segmenter", "--data"])
            .arg(fixture("oxford"))
            .args(["--epochs", "1", "--batch-size", "4", "--image-size", "64"])
            .args(["--width", "8", "--merge", "add", "--valid-fraction", "0.3"])
            .args(["--quiet", "--out"])
            .arg(out.join("run"))
            .arg("--ship")
            .arg(&ship),
    );
    let config: FeatureSegmenterConfig = serde_json::from_slice(
        &std::fs::read(ship.join(format!("{FEATURE_SEGMENTER}.json"))).expect("config shipped"),
    )
    .expect("parses");
    assert_eq!(config.backbone, "imagenet");
    assert_eq!(config.merge, SkipMerge::Add);
    assert_eq!(config.image_size, 64);
    let card: petlens::card::ModelCard =
        serde_json::from_slice(&std::fs::read(ship.join("card.json")).expect("card written"))
            .expect("parses");
    let entry = card.feature_segmenter.expect("the card has its entry");
    assert_eq!(entry.input_size, 64);
    assert!(card.segmenter.is_none(), "only its own entry is written");

    let eval = run_ok(
        train_bin()
            .args(["eval", "segmenter", "--data"])
            .arg(fixture("oxford"))
            .args(["--models", "feature-segmenter", "--weights"])
            .arg(ship.join(format!("{FEATURE_SEGMENTER}.bpk"))),
    );
    let lines = json_lines(&eval.stdout);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["model"], FEATURE_SEGMENTER);
    assert_eq!(lines[0]["n"], 6);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn eval_segmenter_prints_one_line_per_shipped_segmenter_with_its_breed_groups() {
    let eval = run_ok(
        train_bin()
            .args(["eval", "segmenter", "--data"])
            .arg(fixture("oxford")),
    );
    let lines = json_lines(&eval.stdout);
    let models: Vec<&str> = lines.iter().filter_map(|l| l["model"].as_str()).collect();
    assert_eq!(models, ["segmenter", FEATURE_SEGMENTER]);
    for line in &lines {
        assert_eq!(line["n"], 6, "{line}");
        let groups = [line, &line["main_breeds"], &line["other_breeds"]];
        for group in groups {
            let iou = group["mean_iou"].as_f64().expect("mean IoU");
            assert!((0.0..=1.0).contains(&iou), "{line}");
            assert!(group["iou"]["border"].is_number(), "{line}");
        }
    }
}

#[test]
fn a_size_the_network_cannot_halve_five_times_is_refused() {
    let out = train_bin()
        .args(["feature-segmenter", "--data"])
        .arg(fixture("oxford"))
        .args(["--image-size", "100", "--epochs", "1"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("multiple of 32"));
}

#[test]
fn a_decoder_for_another_network_is_refused() {
    let network = shipped_network();
    let config = FeatureSegmenterConfig::new(vec![1, 2, 3, 4, 5]);
    let weights = petlens::weights::to_bytes(config.init(&Device::flex()), false).expect("encodes");
    let refused = network.with_mask("imagenet", &config, &weights, &Device::flex());
    assert!(refused.is_err(), "another network's widths");
}

fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}
