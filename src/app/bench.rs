//! `?bench=N`: the page's own latency benchmark. After the models load it runs the full
//! analysis (decode -> segment -> classify -> Grad-CAM) on a sample photo once to warm up and
//! then N times, and shows per-stage median and p90 in `data-testid="bench"` as JSON
//! (`bench/browser` reads it), followed by the two models alone, timed the way other runtimes'
//! benchmarks time a model.

use image::RgbImage;
use serde_json::{Value, json};
use web_time::Instant;

use super::engine;
use crate::data::{decode_photo, images_to_tensor, resize_for_model};
use crate::pipeline::{Pipeline, read_floats};

/// The photo every run analyses (shipped with the page).
const BENCH_PHOTO: &str = "samples/beagle_14.jpg";

/// N from `?bench=N`, when present.
pub fn requested_runs() -> Option<usize> {
    let search = web_sys::window()?.location().search().ok()?;
    let params = web_sys::UrlSearchParams::new_with_str(&search).ok()?;
    params.get("bench")?.parse().ok().filter(|&n| n > 0)
}

/// The `q` quantile (0..=1) of `values`, by nearest rank.
fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied().unwrap_or(f64::NAN)
}

/// Runs the benchmark and returns its JSON report.
pub async fn run(pipeline: &Pipeline, runs: usize, backend: &str) -> Result<Value, String> {
    let bytes = engine::fetch_bytes(BENCH_PHOTO).await?;
    let stages = ["decode", "segment", "classify", "gradcam", "total"];
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(runs); stages.len()];
    for run in 0..=runs {
        let analysis = engine::analyze(pipeline, &bytes, || true)
            .await?
            .ok_or("the run was cancelled")?;
        if run == 0 {
            continue;
        }
        let t = analysis.timings;
        let figures = [t.decode, t.segment, t.classify, t.gradcam];
        let total: f64 = figures.iter().sum();
        for (stage, value) in samples.iter_mut().zip(figures.into_iter().chain([total])) {
            stage.push(value);
        }
    }
    let mut report = json!({"runs": runs, "photo": BENCH_PHOTO, "backend": backend});
    for (name, values) in stages.iter().zip(&samples) {
        report[*name] = summary(values);
    }
    let photo = decode_photo(&bytes).map_err(|e| e.to_string())?;
    report["models"] = time_models(pipeline, &photo, runs).await?;
    Ok(report)
}

/// Median and p90 of some milliseconds, as JSON.
fn summary(values: &[f64]) -> Value {
    json!({"median_ms": quantile(values, 0.5), "p90_ms": quantile(values, 0.9)})
}

/// The two models alone, timed as `bench/peers.js` times TensorFlow.js's: the input already a
/// model-sized tensor, then the forward pass and reading its output back, once to warm up and
/// `runs` times, one model after the other. These are the figures compared with other runtimes;
/// the pipeline's `segment` and `classify` stages also resize the photo for the model, and
/// `segment` scales the mask back up to the photo.
async fn time_models(pipeline: &Pipeline, photo: &RgbImage, runs: usize) -> Result<Value, String> {
    let input = |size: usize| {
        let resized = resize_for_model(photo, size as u32);
        images_to_tensor(&[&resized], &pipeline.device) // [1, 3, s, s]
    };
    let (segmenter_input, classifier_input) = (
        input(pipeline.segmenter_size),
        input(pipeline.classifier_size),
    );
    let segmenter = time_runs(runs, async || {
        let probabilities = pipeline.segmenter.probabilities(segmenter_input.clone());
        read_floats(probabilities).await.map(drop)
    })
    .await?;
    let classifier = time_runs(runs, async || {
        let p_dog = pipeline.classifier.p_dog(classifier_input.clone());
        read_floats(p_dog).await.map(drop)
    })
    .await?;
    Ok(json!({"segmenter": summary(&segmenter), "classifier": summary(&classifier)}))
}

/// Milliseconds of `runs` calls of `model` after one warm-up call, yielding to the browser
/// between calls (outside the timed part).
async fn time_runs<E: std::fmt::Display>(
    runs: usize,
    mut model: impl AsyncFnMut() -> Result<(), E>,
) -> Result<Vec<f64>, String> {
    let mut samples = Vec::with_capacity(runs);
    for run in 0..=runs {
        engine::yield_to_browser().await;
        let start = Instant::now();
        model().await.map_err(|e| e.to_string())?;
        if run > 0 {
            samples.push(start.elapsed().as_secs_f64() * 1000.0);
        }
    }
    Ok(samples)
}
