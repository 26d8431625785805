//! `train explain`: the page's interpretability views as PNG files, from the same code:
//! activation grids of every layer of both models, filter-pattern grids, Grad-CAM overlays.

use std::path::Path;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::explain::{FilterAscent, LayerActivation, PetClass, filters::pattern_grid};
use crate::model::ModelKind;
use crate::overlay::{self, Layers};
use crate::pipeline::Pipeline;

/// `explain.json`: the verdict and every grid written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExplainSummary {
    pub photo: String,
    pub label: PetClass,
    pub p_dog: f32,
    pub layers: Vec<LayerSummary>,
    pub filter_layers: Vec<String>,
    pub filters: usize,
}

/// One layer's activation grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerSummary {
    pub model: ModelKind,
    pub name: String,
    /// Channels, height, width.
    pub shape: [usize; 3],
    /// Share of channels that are zero everywhere for this photo.
    pub zero_share: f32,
    /// The grid's PNG, relative to the output directory.
    pub file: String,
}

/// What to explain and where to write it.
pub struct ExplainRequest<'a> {
    pub photo: &'a Path,
    pub out: &'a Path,
    /// Classifier layers whose filter patterns are drawn.
    pub filter_layers: &'a [String],
    /// Filters per layer (the first N).
    pub filters: usize,
}

fn save(image: impl Into<image::DynamicImage>, path: &Path) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    image
        .into()
        .save(path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes one grid per layer of `layers` and returns their summaries.
fn write_grids(
    model: ModelKind,
    layers: Vec<(String, Tensor<4>)>,
    out: &Path,
) -> Result<Vec<LayerSummary>, String> {
    layers
        .into_iter()
        .map(|(name, tensor)| {
            let layer = pollster::block_on(LayerActivation::read(name, tensor))
                .map_err(|e| e.to_string())?;
            let file = format!("activations/{}.{}.png", model.name(), layer.name);
            save(layer.grid().image, &out.join(&file))?;
            Ok(LayerSummary {
                model,
                zero_share: layer.zero_share(),
                shape: layer.shape,
                name: layer.name,
                file,
            })
        })
        .collect()
}

/// Runs everything and writes `explain.json` with the verdict and the layer list.
pub fn explain(
    pipeline: &Pipeline,
    request: &ExplainRequest<'_>,
) -> Result<ExplainSummary, String> {
    let bytes =
        std::fs::read(request.photo).map_err(|e| format!("{}: {e}", request.photo.display()))?;
    // The analysis decodes the photo once; the grids and patterns look at that same photo.
    let analysis = pollster::block_on(pipeline.analyze(&bytes))
        .map_err(|e| format!("{}: {e}", request.photo.display()))?;
    let input = |model| pipeline.input(model, &analysis.photo);
    let mut layers = write_grids(
        ModelKind::Classifier,
        pipeline
            .classifier()
            .activations(input(ModelKind::Classifier)),
        request.out,
    )?;
    layers.extend(write_grids(
        ModelKind::Segmenter,
        pipeline
            .segmenter()
            .activations(input(ModelKind::Segmenter)),
        request.out,
    )?);

    let ascent = FilterAscent::default();
    for layer in request.filter_layers {
        let mut patterns = Vec::new();
        for filter in 0..request.filters {
            let pattern = pollster::block_on(ascent.run(
                pipeline.classifier(),
                layer,
                filter,
                pipeline.input_size(ModelKind::Classifier),
                pipeline.device(),
                async |_, _| true,
            ))
            .map_err(|e| e.to_string())?;
            eprintln!(
                "filter {layer}/{filter}: activation {:.3} -> {:.3}",
                pattern.activations[0], pattern.activations[ascent.steps]
            );
            patterns.push(pattern.image);
        }
        save(
            pattern_grid(&patterns, 8),
            &request.out.join(format!("filters/{layer}.png")),
        )?;
    }

    for class in PetClass::ALL {
        let view = overlay::compose_analysis(&analysis, class, Layers::HEATMAP);
        save(
            view,
            &request.out.join(format!("gradcam.{}.png", class.name())),
        )?;
    }
    let view = overlay::compose_analysis(&analysis, analysis.label(), Layers::UNCERTAINTY);
    save(view, &request.out.join("uncertainty.png"))?;
    let summary = ExplainSummary {
        photo: request.photo.display().to_string(),
        label: analysis.label(),
        p_dog: analysis.p_dog,
        layers,
        filter_layers: request.filter_layers.to_vec(),
        filters: request.filters,
    };
    let json = serde_json::to_vec_pretty(&summary).map_err(|e| e.to_string())?;
    std::fs::write(request.out.join("explain.json"), json).map_err(|e| e.to_string())?;
    Ok(summary)
}
