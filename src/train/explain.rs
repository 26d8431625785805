//! `train explain`: the page's interpretability views as PNG files, from the same code:
//! activation grids of every layer of both models, filter-pattern grids, Grad-CAM overlays.

use std::path::Path;

use burn::prelude::*;
use image::RgbImage;
use serde_json::{Value, json};

use crate::data::{decode_photo, images_to_tensor, resize_for_model};
use crate::explain::{FilterAscent, LayerActivation, PetClass, filters::pattern_grid};
use crate::overlay::{self, Layers};
use crate::pipeline::Pipeline;

/// What to explain and where to write it.
pub struct ExplainRequest<'a> {
    pub photo: &'a Path,
    pub out: &'a Path,
    /// Classifier layers whose filter patterns are drawn.
    pub filter_layers: &'a [String],
    /// Filters per layer (the first N).
    pub filters: usize,
}

fn save(image: &RgbImage, path: &Path) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    image
        .save(path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes one grid per layer of `layers` and returns their summaries.
fn write_grids(
    model: &str,
    layers: Vec<(String, Tensor<4>)>,
    out: &Path,
) -> Result<Vec<Value>, String> {
    layers
        .into_iter()
        .map(|(name, tensor)| {
            let layer = pollster::block_on(LayerActivation::read(name, tensor))?;
            let file = format!("activations/{model}.{}.png", layer.name);
            save(&layer.grid().image, &out.join(&file))?;
            Ok(
                json!({"model": model, "name": layer.name, "shape": layer.shape,
                      "zero_share": layer.zero_share(), "file": file}),
            )
        })
        .collect()
}

/// Runs everything and writes `explain.json` with the verdict and the layer list.
pub fn explain(pipeline: &Pipeline, request: &ExplainRequest<'_>) -> Result<Value, String> {
    let bytes =
        std::fs::read(request.photo).map_err(|e| format!("{}: {e}", request.photo.display()))?;
    let photo = decode_photo(&bytes).map_err(|e| format!("{}: {e}", request.photo.display()))?;
    let device = &pipeline.device;
    let input = |size: usize| images_to_tensor(&[&resize_for_model(&photo, size as u32)], device);

    let mut layers = write_grids(
        "classifier",
        pipeline
            .classifier
            .activations(input(pipeline.classifier_size)),
        request.out,
    )?;
    layers.extend(write_grids(
        "segmenter",
        pipeline
            .segmenter
            .activations(input(pipeline.segmenter_size)),
        request.out,
    )?);

    let ascent = FilterAscent::default();
    for layer in request.filter_layers {
        let mut patterns = Vec::new();
        for filter in 0..request.filters {
            let pattern = pollster::block_on(ascent.run(
                &pipeline.classifier,
                layer,
                filter,
                pipeline.classifier_size,
                device,
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
            &pattern_grid(&patterns, 8),
            &request.out.join(format!("filters/{layer}.png")),
        )?;
    }

    let analysis = pollster::block_on(pipeline.analyze_photo(photo.clone(), 0.0))
        .map_err(|e| e.to_string())?;
    let (w, h) = photo.dimensions();
    for class in PetClass::ALL {
        let heatmap = analysis.heatmap(class).upsample(w as usize, h as usize);
        let layers = Layers {
            mask: false,
            heatmap: true,
            opacity: 0.4,
        };
        let view = overlay::compose(&photo, &analysis.mask, &heatmap, layers);
        let path = request.out.join(format!("gradcam.{}.png", class.name()));
        view.save(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let summary = json!({
        "photo": request.photo.display().to_string(),
        "label": analysis.label().name(),
        "p_dog": analysis.p_dog,
        "layers": layers,
        "filter_layers": request.filter_layers,
        "filters": request.filters,
    });
    let json = serde_json::to_vec_pretty(&summary).map_err(|e| e.to_string())?;
    std::fs::write(request.out.join("explain.json"), json).map_err(|e| e.to_string())?;
    Ok(summary)
}
