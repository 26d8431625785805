//! The imported ImageNet MobileNet against Keras itself (`tests/fixtures/imagenet/
//! keras_reference.json`, computed once by `scripts/keras_reference.py`), `train imagenet`, and
//! the import's refusals of broken TensorFlow.js models.

use crate::common;

use std::path::{Path, PathBuf};

use burn::prelude::*;
use common::{block_on, fixture, fixture_bytes, run_ok, tempdir, train_bin};
use petlens::data::{decode_photo, model_input};
use petlens::imagenet::{ClassNames, ImagenetModel, ImagenetNet};
use petlens::shipped::ImagenetFiles;
use petlens::train::import::{Tensors, config_of, mobilenet_from, tfjs};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    model: String,
    photos: Vec<ReferencePhoto>,
}

#[derive(Deserialize)]
struct ReferencePhoto {
    photo: String,
    probabilities: Vec<f32>,
    probabilities_f16_weights: Vec<f32>,
}

fn reference() -> Reference {
    serde_json::from_slice(&fixture_bytes("imagenet/keras_reference.json"))
        .expect("the Keras reference parses")
}

/// Keras's TF.js weights in `../shared/models/`, when this machine has them.
fn shared_model(name: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/models")
        .join(name);
    dir.join("model.json").exists().then_some(dir)
}

fn shipped_model() -> ImagenetModel {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models");
    let files =
        ImagenetFiles::read(&dir, "imagenet").expect("the shipped ImageNet files are readable");
    ImagenetModel::from_files(&files, &Device::flex()).expect("the shipped ImageNet network loads")
}

/// A reference photo's 1000 probabilities from `net`, through the page's preprocessing.
fn probabilities(net: impl Fn(Tensor<4>) -> Tensor<2>, photo: &str) -> Vec<f32> {
    let image = decode_photo(&fixture_bytes(&format!("imagenet/{photo}"))).expect("decodes");
    assert_eq!(
        image.dimensions(),
        (224, 224),
        "the reference photos are the input size"
    );
    let input = model_input(&[&image], 224, &Device::flex());
    net(input)
        .into_data()
        .try_into_vec::<f32>()
        .expect("f32 probabilities")
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn argmax(values: &[f32]) -> usize {
    (0..values.len())
        .max_by(|&a, &b| values[a].total_cmp(&values[b]))
        .expect("not empty")
}

#[test]
fn imported_f32_weights_give_keras_probabilities_within_1e_4() {
    let reference = reference();
    let Some(dir) = shared_model(&reference.model) else {
        eprintln!(
            "SKIPPED: ../shared/models/{} is not on this machine",
            reference.model
        );
        return;
    };
    let tensors = Tensors::new(tfjs::read(&dir).expect("reads")).expect("indexes");
    let config = config_of(&tensors).expect("a MobileNet");
    assert_eq!(config.alpha, 0.75);
    let net = mobilenet_from(&config, tensors)
        .expect("every tensor fits")
        .valid();
    for photo in &reference.photos {
        let ours = probabilities(|x| net.probabilities(x), &photo.photo);
        let difference = max_difference(&ours, &photo.probabilities);
        eprintln!(
            "{}: max |petlens - Keras| = {difference:.2e} (f32 weights)",
            photo.photo
        );
        assert!(difference <= 1e-4, "{}: {difference}", photo.photo);
    }
}

#[test]
fn the_shipped_f16_weights_are_kerass_network_and_keep_its_reading() {
    let reference = reference();
    let model = shipped_model();
    for photo in &reference.photos {
        let ours = probabilities(|x| model.net.probabilities(x), &photo.photo);
        // The same f16-rounded weights in Keras: the network itself is Keras's.
        let exact = max_difference(&ours, &photo.probabilities_f16_weights);
        eprintln!(
            "{}: max |petlens - Keras| = {exact:.2e} (f16 weights in both)",
            photo.photo
        );
        assert!(exact <= 1e-4, "{}: {exact}", photo.photo);
        // Against Keras with the original f32 weights: the same top-1, every top-5 within 0.01.
        let keras = &photo.probabilities;
        assert_eq!(argmax(&ours), argmax(keras), "{}", photo.photo);
        for top in model.classes.top(keras, 5) {
            let d = (ours[top.class] - top.p).abs();
            assert!(d <= 0.01, "{} {}: {d}", photo.photo, top.name);
        }
    }
}

#[test]
fn train_imagenet_prints_the_top_classes_as_one_json_line() {
    let reference = reference();
    let photo = &reference.photos[0];
    let out = run_ok(
        train_bin().args([
            "imagenet",
            "--photo",
            fixture(&format!("imagenet/{}", photo.photo))
                .to_str()
                .expect("utf-8"),
            "--top",
            "3",
        ]),
    );
    let line = String::from_utf8(out.stdout).expect("utf-8");
    let printed: serde_json::Value = serde_json::from_str(line.trim()).expect("one JSON line");
    assert_eq!(printed["model"], "mobilenet_v1_0.75_224");
    let top = printed["top"].as_array().expect("a top list");
    assert_eq!(top.len(), 3);
    let names = ClassNames::from_keras_index(&common::shipped("imagenet_classes.json"))
        .expect("the shipped class index");
    let keras = names.top(&photo.probabilities, 3);
    assert_eq!(top[0]["class"], keras[0].class);
    assert_eq!(top[0]["name"], keras[0].name.as_str());
    let p = top[0]["p"].as_f64().expect("a probability") as f32;
    assert!(
        (p - keras[0].p).abs() <= 0.01,
        "{p} against Keras's {}",
        keras[0].p
    );
}

/// Keras's MobileNet (width 0.25) as a TF.js layers model in `dir`: the committed manifest of
/// Keras's own file (`tests/fixtures/imagenet/mobilenet_v1_0.25_manifest.json`, real names and
/// shapes) with shards of seeded random values of the right lengths (the importer's refusals
/// are about the file's structure, not its values).
fn tfjs_model(dir: &Path) -> serde_json::Value {
    let manifest: serde_json::Value =
        serde_json::from_slice(&fixture_bytes("imagenet/mobilenet_v1_0.25_manifest.json"))
            .expect("the manifest parses");
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for group in manifest["weightsManifest"].as_array().expect("groups") {
        let floats: usize = group["weights"]
            .as_array()
            .expect("weights")
            .iter()
            .map(|w| {
                w["shape"]
                    .as_array()
                    .expect("a shape")
                    .iter()
                    .map(|d| d.as_u64().expect("a dimension") as usize)
                    .product::<usize>()
            })
            .sum();
        let bytes: Vec<u8> = (0..floats)
            .flat_map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5).to_le_bytes()
            })
            .collect();
        let path = group["paths"][0].as_str().expect("a shard name");
        std::fs::write(dir.join(path), bytes).expect("writes a shard");
    }
    write_manifest(dir, &manifest);
    manifest
}

fn write_manifest(dir: &Path, manifest: &serde_json::Value) {
    std::fs::write(dir.join("model.json"), manifest.to_string()).expect("writes model.json");
}

/// `train import` on `dir` into a scratch output: its exit code and stderr.
fn import(dir: &Path, name: &str) -> (Option<i32>, String) {
    let out = tempdir(&format!("imagenet-out-{name}"));
    let output = train_bin()
        .args(["import", "--tfjs"])
        .arg(dir)
        .arg("--classes")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models/imagenet_classes.json"))
        .arg("--out")
        .arg(&out)
        .output()
        .expect("train runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_well_formed_model_imports_and_its_width_comes_from_the_tensors() {
    let dir = tempdir("imagenet-import-ok");
    tfjs_model(&dir);
    let tensors = Tensors::new(tfjs::read(&dir).expect("reads")).expect("indexes");
    let config = config_of(&tensors).expect("a MobileNet");
    assert_eq!((config.alpha, config.classes), (0.25, 1000));
    let net = mobilenet_from(&config, tensors).expect("every tensor fits");
    assert_eq!(
        burn::module::Module::num_params(&net),
        475_544,
        "Keras's count"
    );
    let (code, stderr) = import(&dir, "ok");
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn broken_models_are_refused_with_exit_code_2_naming_the_file_or_tensor() {
    type Break = fn(&Path, &mut serde_json::Value) -> &'static str;
    let cases: [(&str, Break); 6] = [
        ("missing-shard", |dir, _| {
            std::fs::remove_file(dir.join("group3-shard1of1")).expect("removes");
            "group3-shard1of1"
        }),
        ("short-shard", |dir, _| {
            let path = dir.join("group5-shard1of1");
            let bytes = std::fs::read(&path).expect("reads");
            std::fs::write(&path, &bytes[..bytes.len() - 4]).expect("writes");
            "group5-shard1of1"
        }),
        ("wrong-shape", |dir, m| {
            // conv_pw_1's kernel declared [1, 1, 8, 16] as [1, 1, 16, 8]: same length.
            let w = &mut m["weightsManifest"][4]["weights"][0];
            assert_eq!(w["name"], "conv_pw_1/kernel");
            w["shape"] = serde_json::json!([1, 1, 16, 8]);
            write_manifest(dir, m);
            "conv_pw_1/kernel"
        }),
        ("wrong-dtype", |dir, m| {
            m["weightsManifest"][1]["weights"][0]["dtype"] = "int32".into();
            write_manifest(dir, m);
            "conv1_bn/gamma"
        }),
        ("missing-tensor", |dir, m| {
            // The last group's bias left out of the manifest, its bytes cut from the shard.
            let group = &mut m["weightsManifest"][54];
            let weights = group["weights"].as_array_mut().expect("weights");
            let bias = weights.pop().expect("the bias");
            assert_eq!(bias["name"], "conv_preds/bias");
            let path = dir.join(group["paths"][0].as_str().expect("a shard"));
            let bytes = std::fs::read(&path).expect("reads");
            std::fs::write(&path, &bytes[..bytes.len() - 4000]).expect("writes");
            write_manifest(dir, m);
            "conv_preds/bias"
        }),
        ("unexpected-tensor", |dir, m| {
            // A ninth vector in conv1_bn's group, its bytes after the group's others.
            let group = &mut m["weightsManifest"][1];
            group["weights"].as_array_mut().expect("weights").push(
                serde_json::json!({"name": "conv1_bn/scale", "shape": [8], "dtype": "float32"}),
            );
            let path = dir.join(group["paths"][0].as_str().expect("a shard"));
            let mut bytes = std::fs::read(&path).expect("reads");
            bytes.extend([0u8; 32]);
            std::fs::write(&path, bytes).expect("writes");
            write_manifest(dir, m);
            "conv1_bn/scale"
        }),
    ];
    for (name, break_it) in cases {
        let dir = tempdir(&format!("imagenet-import-{name}"));
        let mut manifest = tfjs_model(&dir);
        let named = break_it(&dir, &mut manifest);
        let (code, stderr) = import(&dir, name);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(stderr.contains(named), "{name}: {stderr:?} names {named}");
    }
}

/// For global average pooling, a dense layer and a softmax, d p_c / d A_k(i, j) =
/// p_c (W[k, c] - sum_j p_j W[k, j]) / (h w): Grad-CAM of the probability (the book's recipe)
/// is relu(sum_k (W[k, c] - sum_j p_j W[k, j]) A_k) up to a positive factor, normalised.
#[test]
fn imagenet_gradcam_has_the_closed_form_of_a_softmax_over_pooled_features() {
    let model = shipped_model();
    let image = decode_photo(&fixture_bytes("imagenet/Abyssinian_1.png")).expect("decodes");
    let input = model_input(&[&image], 224, &Device::flex());
    let features = model.net.features_at(input.clone(), None); // [1, c, 7, 7]
    let [_, c, h, w] = features.dims();
    let p = model.net.probabilities(input.clone()); // [1, 1000]
    let ImagenetNet::MobileNet(mobilenet) = &model.net else {
        panic!("the shipped network is MobileNet");
    };
    let weights = mobilenet.preds.weight.val(); // [c, 1000]
    let expected_weight = weights.clone().matmul(p.clone().transpose()); // [c, 1]
    for class in [285, 281] {
        let channel_weights =
            (weights.clone().narrow(1, class, 1) - expected_weight.clone()).reshape([1, c, 1, 1]);
        let cam = (features.clone() * channel_weights)
            .sum_dim(1)
            .reshape([h * w]);
        let cam = cam
            .clamp_min(0.0)
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        let expected = petlens::explain::normalise(cam);
        let heatmap = block_on(model.gradcam(input.clone(), class, None)).expect("a map");
        assert_eq!((heatmap.width, heatmap.height), (w, h));
        for (got, want) in heatmap.values.iter().zip(&expected) {
            assert!((got - want).abs() < 1e-3, "class {class}: {got} vs {want}");
        }
    }
}

#[test]
fn imagenet_gradcam_after_an_earlier_block_has_that_blocks_grid() {
    let model = shipped_model();
    let image = decode_photo(&fixture_bytes("imagenet/keeshond_164.png")).expect("decodes");
    let input = model_input(&[&image], 224, &Device::flex());
    // Block 11 (0-based 10) runs at 1/16 of the input, before the last stride-2 block.
    let map = block_on(model.gradcam(input, 261, Some(10))).expect("a map");
    assert_eq!((map.width, map.height), (14, 14));
    assert!(map.values.contains(&1.0), "normalised to a maximum of 1");
}

#[test]
fn train_explain_writes_the_books_figures_for_the_imagenet_network() {
    let out = tempdir("explain-imagenet");
    run_ok(
        train_bin()
            .args([
                "explain",
                "--model",
                "imagenet",
                "--filters",
                "2",
                "--photo",
            ])
            .arg(fixture("imagenet/keeshond_164.png"))
            .arg("--out")
            .arg(&out),
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("explain.json")).expect("explain.json"))
            .expect("parses");
    assert_eq!(summary["top"][0]["name"], "keeshond");
    let layers = summary["layers"].as_array().expect("layers");
    // conv1, then per block the depthwise ReLU6, the pointwise batch norm and its ReLU6.
    assert_eq!(layers.len(), 1 + 13 * 3);
    for layer in layers {
        assert_eq!(layer["model"], "imagenet");
        let file = layer["file"].as_str().expect("a file");
        assert!(out.join(file).exists(), "{file}");
    }
    // The early, middle and late layers of the book's figure, 8 columns of 2 patterns.
    for layer in ["conv_pw_2_bn", "conv_pw_6_bn", "conv_pw_13_bn"] {
        let grid = image::open(out.join(format!("filters/{layer}.png"))).expect("a grid");
        assert!(grid.width() > grid.height(), "{layer}: one row of two");
    }
    let photo = image::open(fixture("imagenet/keeshond_164.png")).expect("the photo");
    let gradcam = image::open(out.join("gradcam.top.png")).expect("Grad-CAM");
    assert_eq!(
        (gradcam.width(), gradcam.height()),
        (photo.width(), photo.height())
    );
}

/// The robust pattern (Lucid's recipe) raises its filter, and is reproducible from its seed.
#[test]
fn a_robust_pattern_raises_its_filter_and_is_reproducible() {
    let model = shipped_model();
    let ascent = petlens::explain::RobustAscent {
        steps: 24,
        ..Default::default()
    };
    let run = || {
        block_on(ascent.run(
            model.net.layered(),
            "conv_pw_6_bn",
            2,
            &Device::flex(),
            async |_, _| true,
        ))
        .expect("a pattern")
    };
    let pattern = run();
    let (first, last) = (pattern.activations[0], pattern.activations[ascent.steps]);
    assert!(last > first + 1.0, "{first} -> {last}");
    assert_eq!(pattern.image.dimensions(), (128, 128));
    assert_eq!(
        run().image,
        pattern.image,
        "the same seed, the same pattern"
    );
    let other = petlens::explain::RobustAscent { seed: 2, ..ascent };
    let elsewhere = block_on(other.run(
        model.net.layered(),
        "conv_pw_6_bn",
        2,
        &Device::flex(),
        async |_, _| true,
    ))
    .expect("a pattern");
    assert_ne!(
        elsewhere.image, pattern.image,
        "another seed, other jitters"
    );
}

#[test]
fn a_file_that_does_not_match_its_checksum_is_refused() {
    let dir = tempdir("imagenet-import-checksum");
    tfjs_model(&dir);
    let shard = dir.join("group7-shard1of1");
    let hash = petlens::shipped::content_hash(&std::fs::read(&shard).expect("reads"));
    let list = dir.join("checksums.sha256");
    std::fs::write(&list, format!("{hash}  group7-shard1of1\n")).expect("writes");
    let run = |name: &str| {
        let output = train_bin()
            .args(["import", "--tfjs"])
            .arg(&dir)
            .arg("--checksums")
            .arg(&list)
            .arg("--classes")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models/imagenet_classes.json"))
            .arg("--out")
            .arg(tempdir(name))
            .output()
            .expect("train runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    assert_eq!(run("imagenet-checksum-ok").0, Some(0));
    let mut bytes = std::fs::read(&shard).expect("reads");
    bytes[0] ^= 1;
    std::fs::write(&shard, bytes).expect("writes");
    let (code, stderr) = run("imagenet-checksum-bad");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("group7-shard1of1") && stderr.contains(&hash),
        "{stderr}"
    );
}
