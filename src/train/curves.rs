//! Training curves as a PNG, like the chapter's `visualize(history)`: training and validation
//! loss on the left, accuracy (and the segmenter's validation mean IoU) on the right.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;

use crate::card::{ACCURACY_CURVES, Curve, EpochRecord, LOSS_CURVES};

/// Size of the written image in pixels.
const SIZE: (u32, u32) = (1000, 400);
/// The font family name under which the bundled font is registered with plotters.
const FONT: &str = "sans-serif";

/// Failure to draw or encode the curves.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw curves to {path}: {why}")]
pub struct CurvesError {
    path: String,
    why: String,
}

/// plotters draws text only with a registered font; the bundled one keeps the PNG identical on
/// every machine, with or without system fonts.
fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is a compiled-in, valid TTF: failure here would only drop the labels.
        let _ = plotters::style::register_font(
            FONT,
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        );
    });
}

/// One line of a panel: its label, colour and (epoch, value) points.
struct Series {
    label: &'static str,
    colour: RGBColor,
    points: Vec<(f64, f64)>,
}

/// The chart lines of `curves` that `history` has values for.
fn series(history: &[EpochRecord], curves: &[Curve]) -> Vec<Series> {
    curves
        .iter()
        .map(|curve| {
            let [r, g, b] = curve.colour;
            Series {
                label: curve.label,
                colour: RGBColor(r, g, b),
                points: curve
                    .points(history)
                    .into_iter()
                    .map(|(epoch, v)| (epoch as f64, v))
                    .collect(),
            }
        })
        .filter(|s| !s.points.is_empty())
        .collect()
}

/// Writes `path` (PNG) with the loss and metric panels of `history`.
pub fn write_curves(history: &[EpochRecord], title: &str, path: &Path) -> Result<(), CurvesError> {
    register_font();
    let fail = |why: String| CurvesError {
        path: path.display().to_string(),
        why,
    };
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let (left, right) = root.split_horizontally(SIZE.0 / 2);
    let losses = series(history, &LOSS_CURVES);
    let metrics = series(history, &ACCURACY_CURVES);
    // Losses fall and accuracies rise: those corners stay free for the legend.
    let (free_of_loss, free_of_accuracy) = (
        SeriesLabelPosition::UpperRight,
        SeriesLabelPosition::UpperLeft,
    );
    panel(&left, &format!("{title}: loss"), &losses, free_of_loss).map_err(fail)?;
    panel(
        &right,
        &format!("{title}: accuracy"),
        &metrics,
        free_of_accuracy,
    )
    .map_err(fail)?;
    root.present().map_err(|e| fail(e.to_string()))
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    lines: &[Series],
    legend: SeriesLabelPosition,
) -> Result<(), String> {
    let all = || lines.iter().flat_map(|s| s.points.iter());
    let last_epoch = all().map(|p| p.0).fold(1.0, f64::max);
    let (lo, hi) = all().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.05).max(1e-3);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(1.0..last_epoch.max(2.0), (lo - pad)..(hi + pad))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .label_style((FONT, 14))
        .draw()
        .map_err(|e| e.to_string())?;
    for line in lines {
        let colour = line.colour;
        chart
            .draw_series(LineSeries::new(
                line.points.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(line.label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(legend)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}
