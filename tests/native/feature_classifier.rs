//! The cat-vs-dog classifier on the ImageNet network's features: the shipped one on real
//! photos, its training (only the head learns; the network under it stays as imported), and
//! `train feature-classifier` / `train eval classifier` end to end.

use crate::common;

use std::path::{Path, PathBuf};

use burn::optim::AdamConfig;
use burn::prelude::*;
use common::{fixture, run_ok, tempdir, train_bin};
use petlens::data::datasets;
use petlens::imagenet::ImagenetModel;
use petlens::model::{FEATURE_CLASSIFIER, FeatureClassifierConfig};
use petlens::shipped::ImagenetFiles;
use petlens::train::eval::{eval_feature_classifier, load_feature_classifier};
use petlens::train::fit::train_step;
use petlens::train::task::{Batch, FrozenBackbone, LossConfig, Trainable};

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models")
}

fn shipped_network() -> ImagenetModel {
    let files = ImagenetFiles::read(&models_dir(), "imagenet").expect("the shipped network");
    ImagenetModel::from_files(&files, &Device::flex()).expect("loads")
}

#[test]
fn the_shipped_feature_classifier_tells_every_validation_fixture_right() {
    let device = Device::flex();
    let (network, head) =
        load_feature_classifier(None, &models_dir(), &device).expect("the shipped head loads");
    let examples = datasets::load_labelled(
        &fixture("cats-vs-dogs/validation"),
        network.input_size() as u32,
    )
    .expect("fixtures");
    let metrics = eval_feature_classifier(&network.net, &head, &examples, &device);
    assert_eq!(metrics.n, 12);
    assert_eq!(metrics.accuracy, 1.0, "{metrics:?}");
    assert_eq!(metrics.accuracy_without_flip, 1.0, "{metrics:?}");
}

#[test]
fn training_moves_the_head_and_leaves_the_network_as_imported() {
    let network = shipped_network();
    let before = network.net.pooled(fixture_input(&network));
    let config = FeatureClassifierConfig::new(network.net.pooled_width());
    let model = FrozenBackbone {
        backbone: network.net.clone(),
        head: config.init(&Device::flex()),
    };
    let examples =
        datasets::load_labelled(&fixture("cats-vs-dogs/train"), network.input_size() as u32)
            .expect("fixtures");
    let device = Device::flex().autodiff();
    device.seed(3);
    let mut model = model.fork(&device).train();
    let batch = Batch::gather(&examples, &(0..examples.len()).collect::<Vec<_>>(), None);
    let mut optim = AdamConfig::new().init();
    let mut losses = Vec::new();
    for _ in 0..8 {
        let step = train_step(&model, &batch, &LossConfig::default(), &[Device::flex()]);
        losses.push(step.loss);
        model = optim.step(1e-2, model, step.grads);
    }
    assert!(
        losses[7] < losses[0] * 0.7,
        "the head learns on real features: {losses:?}"
    );
    let after = model.backbone.pooled(fixture_input(&network));
    let moved = (after - before).abs().max().into_scalar::<f32>();
    assert_eq!(moved, 0.0, "the frozen network's features did not move");
    let shipped = model.shipped();
    assert_eq!(
        shipped.num_params(),
        config.features + 1,
        "only the head ships"
    );
}

/// One real photo as the network's input.
fn fixture_input(network: &ImagenetModel) -> Tensor<4> {
    let photo = image::open(fixture("cats-vs-dogs/validation/cat/cat.1000.jpg"))
        .expect("decodes")
        .to_rgb8();
    petlens::data::model_input(&[&photo], network.input_size(), &Device::flex())
}

#[test]
fn train_feature_classifier_ships_the_head_and_eval_prints_one_line_per_classifier() {
    let out = tempdir("feature-classifier");
    let ship = out.join("ship");
    run_ok(
        train_bin()
            .args(["feature-classifier", "--data"])
            .arg(fixture("cats-vs-dogs"))
            .args(["--epochs", "1", "--batch-size", "4", "--quiet", "--out"])
            .arg(out.join("run"))
            .arg("--ship")
            .arg(&ship),
    );
    let config: FeatureClassifierConfig = serde_json::from_slice(
        &std::fs::read(ship.join(format!("{FEATURE_CLASSIFIER}.json"))).expect("config shipped"),
    )
    .expect("parses");
    assert_eq!(config.backbone, "imagenet");
    let card: petlens::card::ModelCard =
        serde_json::from_slice(&std::fs::read(ship.join("card.json")).expect("card written"))
            .expect("parses");
    let entry = card.feature_classifier.expect("the card has its entry");
    assert_eq!(entry.input_size, 224);
    assert_eq!(entry.parameters, config.features + 1);
    assert!(card.classifier.is_none(), "only its own entry is written");

    let eval = run_ok(
        train_bin()
            .args(["eval", "classifier", "--data"])
            .arg(fixture("cats-vs-dogs/validation"))
            .args(["--models", "feature-classifier", "--weights"])
            .arg(ship.join(format!("{FEATURE_CLASSIFIER}.bpk"))),
    );
    let lines = json_lines(&eval.stdout);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["model"], FEATURE_CLASSIFIER);
    assert_eq!(lines[0]["n"], 12);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn eval_classifier_prints_one_line_per_shipped_classifier() {
    let eval = run_ok(
        train_bin()
            .args(["eval", "classifier", "--data"])
            .arg(fixture("cats-vs-dogs/validation")),
    );
    let lines = json_lines(&eval.stdout);
    let models: Vec<&str> = lines.iter().filter_map(|l| l["model"].as_str()).collect();
    assert_eq!(models, ["classifier", FEATURE_CLASSIFIER]);
    for line in &lines {
        assert_eq!(line["n"], 12, "{line}");
        let accuracy = line["accuracy"].as_f64().expect("accuracy");
        assert!((0.0..=1.0).contains(&accuracy), "{line}");
        assert_eq!(line["confusion"].as_array().map(Vec::len), Some(2));
    }
}

#[test]
fn weights_without_a_model_choice_among_several_are_refused() {
    let out = train_bin()
        .args(["eval", "classifier", "--data"])
        .arg(fixture("cats-vs-dogs/validation"))
        .args([
            "--models",
            "classifier,feature-classifier",
            "--weights",
            "x.bpk",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--weights"));
}

fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// The page's reading shares one pass over the photo and its mirror image between the top 5
/// and the verdict: the same top 5 as the network alone, the same verdict as `train eval`'s.
#[test]
fn the_reading_with_the_verdict_gives_the_top_classes_and_the_evaluated_verdict() {
    let device = Device::flex();
    let (alone, head) = load_feature_classifier(None, &models_dir(), &device).expect("loads");
    let photo = image::open(fixture("cats-vs-dogs/validation/dog/dog.1003.jpg"))
        .expect("decodes")
        .to_rgb8();
    let plain = common::block_on(alone.read(&photo, &device)).expect("reads");
    assert_eq!(plain.p_dog, None, "no verdict without the classifier");
    let (_, expected) = alone.net.verdict(&head, plain.input.clone());
    let expected = expected.into_scalar::<f32>();
    let mut with = alone;
    with.verdict = Some(head);
    let reading = common::block_on(with.read(&photo, &device)).expect("reads");
    let p_dog = reading.p_dog.expect("a verdict");
    assert!(
        (p_dog - expected).abs() < 1e-6,
        "{p_dog} against {expected}"
    );
    assert!(p_dog > 0.5, "a dog: {p_dog}");
    assert_eq!(reading.top.len(), plain.top.len());
    for (a, b) in reading.top.iter().zip(&plain.top) {
        assert_eq!(a.class, b.class);
        assert!((a.p - b.p).abs() < 1e-5, "{a:?} against {b:?}");
    }
}
