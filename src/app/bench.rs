//! `?bench=N`: the page's own latency benchmark. After the models load it runs the full
//! analysis (decode -> segment -> classify -> Grad-CAM) on a sample photo once to warm up and
//! then N times, and shows per-stage median and p90 in `data-testid="bench"` as JSON
//! (`bench/browser` reads it).

use serde_json::{Value, json};

use super::engine;
use crate::pipeline::Pipeline;

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
        report[*name] =
            json!({"median_ms": quantile(values, 0.5), "p90_ms": quantile(values, 0.9)});
    }
    Ok(report)
}
