//! `?bench=N`, run in the models' thread: the full analysis (decode -> segment -> classify ->
//! Grad-CAM) of a sample photo once to warm up and then N times, per-stage median and p90 as
//! JSON (the page shows it in `data-testid="bench"`, `bench/browser` reads it), followed by the
//! two models alone, timed the way other runtimes' benchmarks time a model.

use serde::Serialize;
use web_time::Instant;

use crate::data::{decode_photo, model_input};
use crate::imagenet::ImagenetModel;
use crate::model::ModelKind;
use crate::net;
use crate::pipeline::Pipeline;
use crate::readback::read_floats;
use crate::stats::LatencySummary;

/// The photo every run analyses (shipped with the page).
const BENCH_PHOTO: &str = "samples/beagle_14.jpg";

/// What `data-testid="bench"` shows.
#[derive(Serialize)]
struct Report {
    runs: usize,
    photo: &'static str,
    backend: &'static str,
    decode: LatencySummary,
    segment: LatencySummary,
    classify: LatencySummary,
    gradcam: LatencySummary,
    /// The ImageNet network's top 5 (0 when it is not loaded).
    imagenet: LatencySummary,
    total: LatencySummary,
    models: ModelTimes,
}

/// The two models alone.
#[derive(Serialize)]
struct ModelTimes {
    segmenter: LatencySummary,
    classifier: LatencySummary,
    /// The ImageNet network (MobileNet v1 at 224 px), when it is loaded.
    imagenet: Option<LatencySummary>,
}

/// Runs the benchmark; its JSON report, or `{"error": …}`.
pub async fn run(
    pipeline: &Pipeline,
    imagenet: Option<&ImagenetModel>,
    runs: usize,
    backend: &'static str,
) -> String {
    let report = measure(pipeline, imagenet, runs, backend)
        .await
        .and_then(|report| serde_json::to_string(&report).map_err(|e| e.to_string()));
    report.unwrap_or_else(|e| serde_json::json!({ "error": e }).to_string())
}

async fn measure(
    pipeline: &Pipeline,
    imagenet: Option<&ImagenetModel>,
    runs: usize,
    backend: &'static str,
) -> Result<Report, String> {
    let bytes = net::fetch_bytes(BENCH_PHOTO).await?;
    // decode, segment, classify, gradcam, imagenet, total
    let mut stages: [Vec<f64>; 6] = Default::default();
    for run in 0..=runs {
        let (analysis, _) = super::analyze(pipeline, &bytes, || true)
            .await?
            .ok_or("the run was cancelled")?;
        // Which verdict and mask are the defaults changes no stage's time.
        let reading_ms = match imagenet {
            Some(model) => {
                let device = pipeline.device();
                let (reading, _) =
                    super::read(model, &analysis.photo, Default::default(), device).await?;
                reading.ms
            }
            None => 0.0,
        };
        if run == 0 {
            continue;
        }
        let t = analysis.timings;
        let figures = [t.decode, t.segment, t.classify, t.gradcam, reading_ms];
        let total: f64 = figures.iter().sum();
        for (stage, value) in stages.iter_mut().zip(figures.into_iter().chain([total])) {
            stage.push(value);
        }
    }
    let [decode, segment, classify, gradcam, imagenet_reading, total] =
        stages.each_ref().map(|s| LatencySummary::of(s));
    Ok(Report {
        runs,
        photo: BENCH_PHOTO,
        backend,
        decode,
        segment,
        classify,
        gradcam,
        imagenet: imagenet_reading,
        total,
        models: time_models(pipeline, imagenet, &bytes, runs).await?,
    })
}

/// The two models alone, timed as `bench/peers.js` times TensorFlow.js's: the input already a
/// model-sized tensor, then the forward pass and reading its output back, once to warm up and
/// `runs` times, one model after the other. These are the figures compared with other runtimes;
/// the pipeline's `segment` and `classify` stages also resize the photo for the model, and
/// `segment` scales the mask back up to the photo.
async fn time_models(
    pipeline: &Pipeline,
    imagenet: Option<&ImagenetModel>,
    bytes: &[u8],
    runs: usize,
) -> Result<ModelTimes, String> {
    let photo = decode_photo(bytes).map_err(|e| e.to_string())?;
    let segmenter_input = pipeline.input(ModelKind::Segmenter, &photo);
    let classifier_input = pipeline.input(ModelKind::Classifier, &photo);
    let segmenter = time_runs(runs, async || {
        let probabilities = pipeline.segmenter().probabilities(segmenter_input.clone());
        read_floats(probabilities, "the probabilities")
            .await
            .map(drop)
    })
    .await?;
    let classifier = time_runs(runs, async || {
        let p_dog = pipeline.classifier().p_dog(classifier_input.clone());
        read_floats(p_dog, "the verdict").await.map(drop)
    })
    .await?;
    let imagenet = match imagenet {
        Some(model) => {
            let input = model_input(&[&photo], model.input_size(), pipeline.device());
            let samples = time_runs(runs, async || {
                let probabilities = model.net.probabilities(input.clone());
                read_floats(probabilities, "the ImageNet probabilities")
                    .await
                    .map(drop)
            })
            .await?;
            Some(LatencySummary::of(&samples))
        }
        None => None,
    };
    Ok(ModelTimes {
        segmenter: LatencySummary::of(&segmenter),
        classifier: LatencySummary::of(&classifier),
        imagenet,
    })
}

/// Milliseconds of `runs` calls of `model` after one warm-up call, yielding to the browser
/// between calls (outside the timed part).
async fn time_runs<E: std::fmt::Display>(
    runs: usize,
    mut model: impl AsyncFnMut() -> Result<(), E>,
) -> Result<Vec<f64>, String> {
    let mut samples = Vec::with_capacity(runs);
    for run in 0..=runs {
        super::yield_to_browser().await;
        let start = Instant::now();
        model().await.map_err(|e| e.to_string())?;
        if run > 0 {
            samples.push(start.elapsed().as_secs_f64() * 1000.0);
        }
    }
    Ok(samples)
}
