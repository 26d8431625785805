//! Training on real fixture photos: loss goes down, checkpoints resume, eval prints JSON (the
//! classifiers' lines: tests/native/feature_classifier.rs), and a wrong `--data` is a clear error with
//! exit code 2.

use crate::common;

use burn::optim::AdamConfig;
use burn::prelude::*;
use common::{fixture, run_ok, tempdir, train_bin};
use petlens::data::datasets::{self, Examples};
use petlens::model::{ClassifierConfig, SegmenterConfig};
use petlens::train::fit::train_step;
use petlens::train::task::{Batch, LossConfig, Trainable};

/// Loss on one fixed batch before and after a few Adam steps on it, each step computed
/// data-parallel over `devices` by the training loop's own step. Fails unless the loss falls
/// for real: every loss from the third step on is below the first, and the last is at least
/// 10% below it (checked by the callers).
fn losses_before_and_after<M: Trainable>(
    model: M,
    examples: &Examples,
    steps: usize,
    devices: &[Device],
) -> (f64, f64) {
    let device = devices[0].clone().autodiff();
    device.seed(7);
    let mut model = model.fork(&device).train();
    let indices: Vec<usize> = (0..examples.len()).collect();
    let batch = Batch::gather(examples, &indices, None);
    let mut optim = AdamConfig::new().init();
    let mut losses = Vec::new();
    for _ in 0..=steps {
        let step = train_step(&model, &batch, &LossConfig::default(), devices);
        assert_eq!(step.predicted.len(), batch.targets.len());
        losses.push(step.loss);
        model = optim.step(1e-3, model, step.grads);
    }
    let first = losses[0];
    assert!(
        losses[2..].iter().all(|&loss| loss < first),
        "the loss stays below where it started: {losses:?}"
    );
    (first, *losses.last().unwrap())
}

fn segmenter_fixtures(size: usize) -> Examples {
    let pairs = datasets::oxford_pairs(&fixture("oxford")).unwrap();
    datasets::load_segmentation(&pairs[..4], size as u32)
}

#[test]
fn a_few_steps_lower_the_segmenter_loss() {
    let config = SegmenterConfig::trainer_default().with_image_size(64);
    let (before, after) = losses_before_and_after(
        config.init(&Device::flex()),
        &segmenter_fixtures(64),
        6,
        &[Device::flex()],
    );
    assert!(after < before * 0.9, "loss {before} -> {after}");
}

#[test]
fn a_few_steps_lower_the_classifier_loss() {
    let config = ClassifierConfig::trainer_default().with_image_size(64);
    let examples = datasets::load_labelled(&fixture("cats-vs-dogs/train"), 64).unwrap();
    let (before, after) = losses_before_and_after(
        config.init(&Device::flex()),
        &examples,
        6,
        &[Device::flex()],
    );
    assert!(after < before * 0.9, "loss {before} -> {after}");
}

/// The data-parallel path of `--devices N`: two replicas (here both on the one CPU device, the
/// only hardware this machine has) each take half the batch, their gradients are summed, and
/// training still converges.
#[test]
fn data_parallel_steps_over_two_devices_lower_the_loss() {
    let config = SegmenterConfig::trainer_default().with_image_size(64);
    let devices = [Device::flex(), Device::flex()];
    let (before, after) = losses_before_and_after(
        config.init(&devices[0]),
        &segmenter_fixtures(64),
        6,
        &devices,
    );
    assert!(after < before * 0.9, "loss {before} -> {after}");
}

#[test]
fn shards_cover_the_batch_in_order() {
    let examples = segmenter_fixtures(32);
    let batch = Batch::gather(&examples, &[0, 1, 2], None);
    let shards = batch.shards(2);
    assert_eq!(shards.len(), 2);
    assert_eq!(shards[0].images.len(), 2);
    assert_eq!(shards[1].images.len(), 1);
    let targets: Vec<u8> = shards.iter().flat_map(|s| s.targets.clone()).collect();
    assert_eq!(targets, batch.targets);
    assert_eq!(batch.shards(8).len(), 3, "no empty shards");
}

/// `--backend wgpu` for real, on whatever Vulkan adapter the machine has: lavapipe (Debian's
/// `mesa-vulkan-drivers`, installed by scripts/setup.sh) here, a GPU elsewhere. The `wgpu` feature
/// is opt-in; `scripts/test.sh --full` builds it and runs this.
#[cfg(feature = "wgpu")]
#[test]
fn a_few_steps_on_the_wgpu_backend_lower_the_loss() {
    let device = Device::wgpu(burn::tensor::DeviceKind::DefaultDevice);
    let config = SegmenterConfig::trainer_default().with_image_size(64);
    let (before, after) = losses_before_and_after(
        config.init(&device),
        &segmenter_fixtures(64),
        6,
        std::slice::from_ref(&device),
    );
    assert!(after < before * 0.9, "loss {before} -> {after}");
}

#[test]
fn checkpoint_resumes_and_eval_prints_json() {
    let out = tempdir("resume");
    let ship = out.join("ship");
    let run = |extra: &[&str]| {
        run_ok(
            train_bin()
                .args(["segmenter", "--data"])
                .arg(fixture("oxford"))
                .args([
                    "--image-size",
                    "64",
                    "--batch-size",
                    "3",
                    "--epochs",
                    "2",
                    "--quiet",
                    "--out",
                ])
                .arg(&out)
                .arg("--ship")
                .arg(&ship)
                .args(extra),
        );
    };
    run(&["--max-steps", "2"]);
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["epochs_done"], 1);
    run(&["--resume"]);
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["epochs_done"], 2, "resumed for the second epoch");
    assert_eq!(state["history"].as_array().unwrap().len(), 2);
    assert!(state["steps_done"].as_u64().unwrap() > 2);

    let card: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ship.join("card.json")).unwrap()).unwrap();
    for key in [
        "parameters",
        "epochs",
        "wall_seconds",
        "command",
        "validation_metrics",
        "split",
    ] {
        assert!(!card["segmenter"][key].is_null(), "card has {key}");
    }
    // The manifest names what was shipped (the segmenter only here) by content.
    let manifest: petlens::shipped::Manifest =
        serde_json::from_slice(&std::fs::read(ship.join("manifest.json")).unwrap()).unwrap();
    let weights = std::fs::read(ship.join("segmenter.bpk")).unwrap();
    assert_eq!(
        manifest.hash("segmenter.bpk"),
        Some(petlens::shipped::content_hash(&weights).as_str())
    );
    assert!(manifest.hash("classifier.bpk").is_none());
    // Curves of both epochs: in the run directory and shipped next to the weights.
    for png in [out.join("curves.png"), ship.join("segmenter.curves.png")] {
        let curves = image::open(&png).unwrap();
        assert_eq!((curves.width(), curves.height()), (1000, 400), "{png:?}");
        assert!(!is_blank(&curves.to_rgb8()), "{png:?} has lines and labels");
    }

    let eval = run_ok(
        train_bin()
            .args(["eval", "segmenter", "--data"])
            .arg(fixture("oxford"))
            .arg("--weights")
            .arg(ship.join("segmenter.bpk")),
    );
    let stdout = String::from_utf8(eval.stdout).unwrap();
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["n"], 6);
    for key in ["pixel_accuracy", "mean_iou"] {
        assert!((0.0..=1.0).contains(&last[key].as_f64().unwrap()), "{key}");
    }
    for class in ["pet", "background", "border"] {
        assert!(last["iou"][class].is_number());
    }
    // The three main breeds and the rest, apart: the fixtures hold both kinds.
    let (main, other) = (&last["main_breeds"], &last["other_breeds"]);
    assert_eq!(
        main["n"].as_u64().unwrap() + other["n"].as_u64().unwrap(),
        6
    );
    assert!(main["n"].as_u64().unwrap() > 0 && other["n"].as_u64().unwrap() > 0);
    for group in [main, other] {
        assert!((0.0..=1.0).contains(&group["mean_iou"].as_f64().unwrap()));
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// True when every pixel is the background white.
fn is_blank(image: &image::RgbImage) -> bool {
    image.pixels().all(|p| p.0 == [255, 255, 255])
}

#[test]
fn curves_of_the_shipped_history_are_drawn() {
    let out = tempdir("curves").join("classifier.png");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    run_ok(
        train_bin()
            .args([
                "curves",
                "--history",
                "www/models/classifier.history.json",
                "--out",
            ])
            .arg(&out),
    );
    let curves = image::open(&out).unwrap().to_rgb8();
    // Both line colours of the chapter's plots (blue training, orange validation) are present.
    let has = |rgb: [u8; 3]| curves.pixels().any(|p| p.0 == rgb);
    assert!(has([31, 119, 180]) && has([255, 127, 14]));
    let _ = std::fs::remove_dir_all(out.parent().unwrap());
}

#[test]
fn several_devices_on_the_cpu_backend_is_a_clear_error() {
    let output = train_bin()
        .args(["classifier", "--devices", "2", "--data"])
        .arg(fixture("cats-vs-dogs"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--devices > 1 needs a GPU backend"));
}

#[test]
fn wrong_data_directory_exits_2_with_a_clear_message() {
    for (args, needle) in [
        (
            vec!["segmenter", "--data", "/no/such/dir"],
            "no such directory",
        ),
        (
            vec!["eval", "classifier", "--data", "/no/such/dir"],
            "no such directory",
        ),
    ] {
        let output = train_bin().args(&args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(needle), "{stderr}");
    }
    let empty = tempdir("empty");
    std::fs::create_dir_all(empty.join("images")).unwrap();
    let output = train_bin()
        .args(["segmenter", "--data"])
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no image/trimap pairs"));
}

#[test]
fn bench_prints_one_json_line_per_model() {
    let output = run_ok(train_bin().args([
        "bench",
        "--models",
        "classifier,seed_segmenter_160",
        "--batch-size",
        "2",
        "--steps",
        "1",
    ]));
    let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // One line per model, then the GEMM's peak.
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["model"], "classifier");
    // The classifier that ships: its config is the file beside its weights.
    let shipped: serde_json::Value =
        serde_json::from_slice(&std::fs::read("www/models/classifier.json").unwrap()).unwrap();
    assert_eq!(lines[0]["image_size"], shipped["image_size"]);
    assert!(
        lines[0]["architecture"]
            .as_str()
            .unwrap()
            .contains("Xception-like")
    );
    assert_eq!(lines[1]["model"], "seed_segmenter_160");
    assert_eq!(lines[1]["image_size"], 160);
    let set = lines[2]["instruction_set"].clone();
    for line in &lines[..2] {
        assert_eq!(line["backend"], "flex");
        assert!(!line["cpu"].as_str().unwrap().is_empty());
        assert_eq!(line["instruction_set"], set);
        assert_eq!(line["gemm_kernels"], lines[2]["gemm_kernels"]);
        assert!(line["train_images_per_s"].as_f64().unwrap() > 0.0);
        assert!(line["infer_ms"].as_f64().unwrap() > 0.0);
    }
    assert!(lines[2]["matmul_peak_gflops"].as_f64().unwrap() > 0.0);

    // Capped to AVX2, inference only: the kernels report the cap (or less, on a CPU without it).
    let capped = run_ok(
        train_bin()
            .args([
                "bench",
                "--models",
                "classifier",
                "--steps",
                "0",
                "--infer-runs",
                "1",
            ])
            .env("PETLENS_MAX_ISA", "avx2"),
    );
    let first: serde_json::Value = serde_json::from_str(
        String::from_utf8(capped.stdout)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert!(["avx2", "baseline"].contains(&first["instruction_set"].as_str().unwrap()));
    assert!(first["train_images_per_s"].is_null());
    let misspelt = train_bin()
        .args(["bench", "--models", "classifier"])
        .env("PETLENS_MAX_ISA", "avx3")
        .output()
        .unwrap();
    assert!(!misspelt.status.success());
    assert!(String::from_utf8_lossy(&misspelt.stderr).contains("is not an instruction set"));
    let unknown = train_bin()
        .args(["bench", "--models", "resnet"])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("invalid value 'resnet'"));
}

/// Runs `train classifier` on the fixture photos into `out` with `extra` options.
fn train_classifier(out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    train_bin()
        .args(["classifier", "--data"])
        .arg(fixture("cats-vs-dogs"))
        .args([
            "--image-size",
            "48",
            "--batch-size",
            "4",
            "--quiet",
            "--out",
        ])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn history(out: &std::path::Path) -> Vec<serde_json::Value> {
    let bytes = std::fs::read(out.join("history.json")).unwrap();
    serde_json::from_slice::<Vec<serde_json::Value>>(&bytes).unwrap()
}

/// A run interrupted after its first epoch and resumed follows the same learning-rate schedule
/// (warm-up, then cosine over the planned epochs) as one that ran through: each epoch's last
/// rate is the same, to the bit.
#[test]
fn a_resumed_run_continues_the_learning_rate_schedule() {
    let (through, split) = (tempdir("lr-through"), tempdir("lr-split"));
    let plan = ["--epochs", "3", "--warmup-epochs", "1"];
    assert!(train_classifier(&through, &plan).status.success());
    let first = train_classifier(&split, &[&plan[..], &["--max-minutes", "0"]].concat());
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(history(&split).len(), 1, "stopped after one epoch");
    // Out of time already: a resume trains nothing (this is how a stopped run's best epoch is
    // shipped), and leaves the schedule where it was.
    let idle = train_classifier(
        &split,
        &[&plan[..], &["--resume", "--max-minutes", "0"]].concat(),
    );
    assert!(
        idle.status.success(),
        "{}",
        String::from_utf8_lossy(&idle.stderr)
    );
    assert!(String::from_utf8_lossy(&idle.stderr).contains("not training further"));
    assert_eq!(history(&split).len(), 1);
    let resumed = train_classifier(&split, &[&plan[..], &["--resume"]].concat());
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let lrs = |out| {
        history(out)
            .iter()
            .map(|r| r["lr"].as_f64().unwrap())
            .collect::<Vec<_>>()
    };
    let (a, b) = (lrs(&through), lrs(&split));
    assert_eq!(a.len(), 3);
    assert_eq!(a, b, "the resumed run's rates are the uninterrupted run's");
    assert!(
        a[0] > a[1] && a[1] > a[2],
        "cosine decay after the warm-up: {a:?}"
    );
    for out in [through, split] {
        let _ = std::fs::remove_dir_all(out);
    }
}

/// `--max-steps` in the middle of an epoch leaves that epoch unfinished (not recorded as done),
/// and `--resume` trains the rest of it: the interrupted run ends with the uninterrupted run's
/// steps and epochs.
#[test]
fn a_run_stopped_mid_epoch_resumes_the_rest_of_that_epoch() {
    let (through, split) = (tempdir("mid-through"), tempdir("mid-split"));
    let plan = ["--epochs", "2"];
    assert!(train_classifier(&through, &plan).status.success());
    let state = |out: &std::path::Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(out.join("state.json")).unwrap()).unwrap()
    };
    let steps_per_epoch = state(&through)["steps_done"].as_u64().unwrap() / 2;
    assert!(steps_per_epoch > 1, "an epoch of several steps");
    let stopped = train_classifier(&split, &[&plan[..], &["--max-steps", "1"]].concat());
    assert!(
        stopped.status.success(),
        "{}",
        String::from_utf8_lossy(&stopped.stderr)
    );
    let partial = state(&split);
    assert_eq!(partial["epochs_done"], 0, "the first epoch is not done");
    assert_eq!(partial["partial_epoch"]["epoch"], 1);
    assert_eq!(partial["partial_epoch"]["steps"], 1);
    assert!(history(&split).is_empty());
    let resumed = train_classifier(&split, &[&plan[..], &["--resume"]].concat());
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let done = state(&split);
    assert_eq!(done["epochs_done"], 2);
    assert_eq!(done["steps_done"], state(&through)["steps_done"]);
    assert!(done["partial_epoch"].is_null());
    let lrs = |out| {
        history(out)
            .iter()
            .map(|r| r["lr"].as_f64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        lrs(&split),
        lrs(&through),
        "the same schedule, step for step"
    );
    for out in [through, split] {
        let _ = std::fs::remove_dir_all(out);
    }
}

/// `--resume` with other options than the run was started with is refused (exit code 2) and
/// names what differs; nothing in the run directory changes.
#[test]
fn a_resume_with_other_options_fails_with_exit_code_2() {
    let out = tempdir("mismatch");
    assert!(train_classifier(&out, &["--epochs", "1"]).status.success());
    let state = std::fs::read(out.join("state.json")).unwrap();
    let refused = train_classifier(&out, &["--epochs", "1", "--lr", "0.01", "--resume"]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("other options") && stderr.contains("base_lr"),
        "{stderr}"
    );
    let refused = train_classifier(
        &out,
        &["--epochs", "1", "--label-smoothing", "0", "--resume"],
    );
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("label_smoothing"));
    assert_eq!(std::fs::read(out.join("state.json")).unwrap(), state);
    let _ = std::fs::remove_dir_all(out);
}

/// With `--ema-decay` the run keeps an average of the weights next to the raw ones: they
/// differ, and the average is what is scored, kept as the best epoch and shipped.
#[test]
fn the_weight_average_differs_from_the_raw_weights_and_is_what_ships() {
    let out = tempdir("ema");
    let ship = out.join("ship");
    let output = train_classifier(
        &out,
        &[
            "--epochs",
            "1",
            "--ema-decay",
            "0.9",
            "--ship",
            ship.to_str().unwrap(),
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read = |name: &str| std::fs::read(out.join(name)).unwrap();
    let (raw, average, best) = (read("checkpoint.bpk"), read("ema.bpk"), read("best.bpk"));
    assert_ne!(raw, average, "the average is not the last step's weights");
    assert_eq!(best, average, "the best (only) epoch keeps the average");
    // The shipped f16 weights are the average's: they load and match it to f16 precision.
    let config = ClassifierConfig::trainer_default().with_image_size(48);
    let device = Device::flex();
    let load = |bytes: &[u8]| petlens::weights::from_bytes(config.init(&device), bytes).unwrap();
    let x = Tensor::<4>::random(
        [1, 3, 48, 48],
        burn::tensor::Distribution::Uniform(0.0, 1.0),
        &device,
    );
    let p = |bytes: &[u8]| load(bytes).valid().p_dog(x.clone()).into_scalar::<f32>();
    let shipped = std::fs::read(ship.join("classifier.bpk")).unwrap();
    assert!((p(&shipped) - p(&average)).abs() < 1e-2);
    let card: petlens::card::ModelCard =
        serde_json::from_slice(&std::fs::read(ship.join("card.json")).unwrap()).unwrap();
    let entry = card.classifier.expect("the classifier's entry");
    assert_eq!(
        entry.recipe.weights,
        "exponential moving average (decay 0.9)"
    );
    let petlens::card::ValidationMetrics::Classification(metrics) = entry.validation_metrics else {
        panic!("a classifier's metrics");
    };
    assert!((0.0..=1.0).contains(&metrics.accuracy_without_flip));
    assert!(
        card.segmenter.is_none(),
        "shipping one model leaves the other's entry alone"
    );
    let _ = std::fs::remove_dir_all(out);
}

/// AdamW's no-decay group (batch-norm scales and shifts, biases) still holds after `--resume`:
/// loading a checkpoint restores the saved parameter ids, and the optimizer's groups must be
/// built from them. With a weight decay this strong, a decayed batch-norm scale would shrink
/// by about 13 % in the resumed epoch; left out of the decay it moves only by Adam's steps.
#[test]
fn a_resumed_run_keeps_batch_norm_out_of_weight_decay() {
    let out = tempdir("no-decay");
    let plan = [
        "--epochs",
        "2",
        "--warmup-epochs",
        "0",
        "--weight-decay",
        "200",
        "--ema-decay",
        "0",
    ];
    let first = train_classifier(&out, &[&plan[..], &["--max-minutes", "0"]].concat());
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let resumed = train_classifier(&out, &[&plan[..], &["--resume"]].concat());
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(history(&out).len(), 2);
    let config = ClassifierConfig::trainer_default().with_image_size(48);
    let bytes = std::fs::read(out.join("checkpoint.bpk")).unwrap();
    let model = petlens::weights::from_bytes(config.init(&Device::flex()), &bytes).unwrap();
    let gammas: Vec<f32> = model
        .blocks
        .iter()
        .flat_map(|b| [&b.first.norm.gamma, &b.second.norm.gamma])
        .flat_map(|g| g.val().into_data().try_to_vec::<f32>().unwrap())
        .collect();
    let drift = gammas.iter().map(|g| (g - 1.0).abs()).sum::<f32>() / gammas.len() as f32;
    assert!(
        drift < 0.02,
        "batch-norm scales moved by {drift} on average"
    );
    let _ = std::fs::remove_dir_all(out);
}
