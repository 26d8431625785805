//! Xception's import path against Keras itself. Its ImageNet weights cannot be obtained here, so
//! the tensors have Keras's exact names and shapes (`tests/fixtures/xception/tensors.json`, as
//! `keras.applications.Xception()` lists them) and seeded values both sides generate; Keras's
//! outputs for them were computed once by `scripts/xception_reference.py`.

use crate::common;

use std::path::Path;

use burn::prelude::*;
use common::{fixture, fixture_bytes, run_ok, tempdir, train_bin};
use petlens::data::{decode_photo, model_input};
use petlens::train::import::{KerasTensor, Tensors, xception_config_of, xception_from};
use serde::Deserialize;

#[derive(Deserialize)]
struct TensorList {
    parameters: usize,
    tensors: Vec<TensorEntry>,
}

#[derive(Deserialize)]
struct TensorEntry {
    name: String,
    shape: Vec<usize>,
}

#[derive(Deserialize)]
struct Reference {
    avg_pool: Vec<f32>,
    probabilities: Vec<f32>,
}

/// SplitMix64's output function, as `scripts/xception_reference.py` computes it.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Tensor `k`'s seeded values, scaled by kind (the Python script's formula).
fn seeded(k: usize, entry: &TensorEntry) -> Vec<f32> {
    let n: usize = entry.shape.iter().product();
    let part = entry.name.rsplit('/').next().unwrap_or_default();
    let fan_in: usize = entry.shape[..entry.shape.len() - 1].iter().product();
    (0..n as u64)
        .map(|i| {
            let u = (splitmix64(((k as u64) << 32) | i) >> 40) as f64 / f64::from(1u32 << 24);
            let value = match part {
                "kernel" | "depthwise_kernel" | "pointwise_kernel" => {
                    (2.0 * u - 1.0) * (3.0 / fan_in as f64).sqrt()
                }
                "gamma" | "moving_variance" => 0.5 + u,
                _ => (2.0 * u - 1.0) * 0.1,
            };
            value as f32
        })
        .collect()
}

fn keras_tensors() -> (usize, Vec<KerasTensor>) {
    let list: TensorList =
        serde_json::from_slice(&fixture_bytes("xception/tensors.json")).expect("the list parses");
    let tensors = list
        .tensors
        .iter()
        .enumerate()
        .map(|(k, entry)| KerasTensor {
            name: entry.name.clone(),
            shape: entry.shape.clone(),
            values: seeded(k, entry),
        })
        .collect();
    (list.parameters, tensors)
}

fn reference() -> Reference {
    serde_json::from_slice(&fixture_bytes("xception/keras_reference.json"))
        .expect("the reference parses")
}

/// Largest difference relative to the largest magnitude of `want`.
fn relative_difference(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    got.iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
        / scale
}

/// Log-probabilities minus their mean: the logits up to a constant, which tell the seeded
/// network's near-uniform probabilities apart.
fn centred_logs(p: &[f32]) -> Vec<f32> {
    let logs: Vec<f32> = p.iter().map(|v| v.ln()).collect();
    let mean = logs.iter().sum::<f32>() / logs.len() as f32;
    logs.iter().map(|v| v - mean).collect()
}

#[test]
fn xception_built_from_keras_tensors_gives_kerass_outputs() {
    let (parameters, tensors) = keras_tensors();
    let tensors = Tensors::new(tensors).expect("indexes");
    let config = xception_config_of(&tensors).expect("an Xception");
    let net = xception_from(&config, tensors)
        .expect("every tensor fits")
        .valid();
    assert_eq!(burn::module::Module::num_params(&net), parameters);
    assert_eq!(parameters, 22_910_480, "Keras's count with the top");
    let photo = decode_photo(&fixture_bytes("xception/photo.png")).expect("decodes");
    assert_eq!(photo.dimensions(), (299, 299));
    let input = model_input(&[&photo], 299, &Device::flex());
    let features = net.features_at(input.clone(), None); // [1, 2048, 10, 10]
    assert_eq!(features.dims(), [1, 2048, 10, 10]);
    let pooled = features.mean_dim(2).mean_dim(3).reshape([2048]);
    let pooled = pooled.into_data().try_to_vec::<f32>().expect("f32");
    let p = net
        .probabilities(input)
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32");
    let keras = reference();
    let pool_difference = relative_difference(&pooled, &keras.avg_pool);
    let logit_difference =
        relative_difference(&centred_logs(&p), &centred_logs(&keras.probabilities));
    eprintln!(
        "avg_pool {pool_difference:.2e}, logits {logit_difference:.2e} (relative to Keras's largest)"
    );
    assert!(pool_difference < 1e-4, "avg_pool: {pool_difference}");
    assert!(logit_difference < 1e-3, "logits: {logit_difference}");
}

/// Writes `tensors` as a TensorFlow.js layers model (one shard per tensor), as
/// `scripts/keras_h5_to_tfjs.py` converts a Keras `.h5` file.
fn write_tfjs(dir: &Path, tensors: &[KerasTensor]) {
    let mut groups = Vec::new();
    for (k, tensor) in tensors.iter().enumerate() {
        let shard = format!("group{}-shard1of1", k + 1);
        let bytes: Vec<u8> = tensor.values.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(dir.join(&shard), bytes).expect("writes a shard");
        groups.push(serde_json::json!({
            "paths": [shard],
            "weights": [{"name": tensor.name, "shape": tensor.shape, "dtype": "float32"}],
        }));
    }
    let model = serde_json::json!({ "weightsManifest": groups });
    std::fs::write(dir.join("model.json"), model.to_string()).expect("writes model.json");
}

#[test]
fn train_import_takes_xception_and_train_imagenet_reads_with_it() {
    let (_, tensors) = keras_tensors();
    let source = tempdir("xception-tfjs");
    write_tfjs(&source, &tensors);
    let out = tempdir("xception-out");
    run_ok(
        train_bin()
            .args(["import", "--tfjs"])
            .arg(&source)
            .arg("--classes")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models/imagenet_classes.json"))
            .arg("--out")
            .arg(&out),
    );
    assert!(out.join("xception.bpk").exists() && out.join("xception.json").exists());
    let card: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("card.json")).expect("a card"))
            .expect("parses");
    assert_eq!(card["xception"]["parameters"], 22_910_480);
    let printed = run_ok(
        train_bin()
            .args(["imagenet", "--network", "xception", "--models"])
            .arg(&out)
            .arg("--photo")
            .arg(fixture("xception/photo.png")),
    );
    let line: serde_json::Value = serde_json::from_slice(&printed.stdout).expect("one JSON line");
    assert_eq!(line["model"], "xception_299");
    let keras = reference().probabilities;
    let top = (0..keras.len())
        .max_by(|&a, &b| keras[a].total_cmp(&keras[b]))
        .expect("classes");
    assert_eq!(
        line["top"][0]["class"], top,
        "Keras's top class, f16 weights"
    );
    // One tensor fewer: refused, naming it.
    let broken = tempdir("xception-broken");
    write_tfjs(
        &broken,
        &tensors
            .into_iter()
            .filter(|t| t.name != "block7_sepconv2/pointwise_kernel")
            .collect::<Vec<_>>(),
    );
    let output = train_bin()
        .args(["import", "--tfjs"])
        .arg(&broken)
        .arg("--classes")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models/imagenet_classes.json"))
        .arg("--out")
        .arg(tempdir("xception-broken-out"))
        .output()
        .expect("train runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("block7_sepconv2/pointwise_kernel"));
}
