//! `train explain`: the page's interpretability views as PNG files, from the same code:
//! activation grids of every layer of both models (or of the ImageNet network), filter-pattern
//! grids, Grad-CAM overlays.

use std::path::Path;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::{decode_photo, model_input};
use crate::explain::{
    FilterAscent, LayerActivation, PetClass, RobustAscent, filters::pattern_grid,
};
use crate::imagenet::{ImagenetModel, TOP, TopClass};
use crate::model::{Layered, ModelKind, Network};
use crate::overlay::{self, Layers, Maps};
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

/// `explain.json` of `train explain --model imagenet`: the top classes and every grid written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImagenetExplainSummary {
    pub photo: String,
    pub top: Vec<TopClass>,
    pub layers: Vec<LayerSummary>,
    pub filter_layers: Vec<String>,
    pub filters: usize,
    /// The Grad-CAM overlay of the top class, relative to the output directory.
    pub gradcam: String,
}

/// One layer's activation grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerSummary {
    /// The network's name (`classifier`, `segmenter`, `imagenet`).
    pub model: String,
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
    /// Also the robust patterns of the same filters (`filters/<layer>.robust.png`).
    pub robust: bool,
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
    network: Network,
    layers: Vec<(String, Tensor<4>)>,
    out: &Path,
) -> Result<Vec<LayerSummary>, String> {
    layers
        .into_iter()
        .map(|(name, tensor)| {
            let layer = pollster::block_on(LayerActivation::read(name, tensor))
                .map_err(|e| e.to_string())?;
            let file = format!("activations/{}.{}.png", network.name(), layer.name);
            save(layer.grid().image, &out.join(&file))?;
            Ok(LayerSummary {
                model: network.name().into(),
                zero_share: layer.zero_share(),
                shape: layer.shape,
                name: layer.name,
                file,
            })
        })
        .collect()
}

/// The first `request.filters` filter patterns of each of `request.filter_layers` of `net`,
/// one 8-column grid per layer (`filters/<layer>.png`).
fn write_filter_grids(
    net: &dyn Layered,
    size: usize,
    device: &Device,
    request: &ExplainRequest<'_>,
) -> Result<(), String> {
    let ascent = FilterAscent::default();
    let robust = RobustAscent::default();
    for layer in request.filter_layers {
        let (mut plain, mut robust_patterns) = (Vec::new(), Vec::new());
        for filter in 0..request.filters {
            let pattern =
                pollster::block_on(ascent.run(net, layer, filter, size, device, async |_, _| true))
                    .map_err(|e| e.to_string())?;
            report(layer, filter, "", &pattern.activations);
            plain.push(pattern.image);
            if request.robust {
                let pattern =
                    pollster::block_on(robust.run(net, layer, filter, device, async |_, _| true))
                        .map_err(|e| e.to_string())?;
                report(layer, filter, " (robust)", &pattern.activations);
                robust_patterns.push(pattern.image);
            }
        }
        save(
            pattern_grid(&plain, 8),
            &request.out.join(format!("filters/{layer}.png")),
        )?;
        if request.robust {
            save(
                pattern_grid(&robust_patterns, 8),
                &request.out.join(format!("filters/{layer}.robust.png")),
            )?;
        }
    }
    Ok(())
}

/// Prints a filter's mean activation before the first step and after the last.
fn report(layer: &str, filter: usize, kind: &str, activations: &[f32]) {
    let (first, last) = (
        activations.first().copied().unwrap_or(0.0),
        activations.last().copied().unwrap_or(0.0),
    );
    eprintln!("filter {layer}/{filter}{kind}: activation {first:.3} -> {last:.3}");
}

/// The book's figures on the ImageNet network for one photo: its top classes, the activation
/// grid of every layer, filter-pattern grids and the top class's Grad-CAM over the photo.
pub fn explain_imagenet(
    model: &ImagenetModel,
    request: &ExplainRequest<'_>,
) -> Result<ImagenetExplainSummary, String> {
    let bytes =
        std::fs::read(request.photo).map_err(|e| format!("{}: {e}", request.photo.display()))?;
    let photo = decode_photo(&bytes).map_err(|e| format!("{}: {e}", request.photo.display()))?;
    let device = Device::flex();
    let input = model_input(&[&photo], model.input_size(), &device);
    let top = pollster::block_on(model.top(input.clone(), TOP)).map_err(|e| e.to_string())?;
    let layers = write_grids(
        Network::Imagenet,
        model.net.activations(input.clone()),
        request.out,
    )?;
    write_filter_grids(model.net.layered(), model.input_size(), &device, request)?;
    let class = top.first().map_or(0, |t| t.class);
    let map = pollster::block_on(model.gradcam(input, class, None)).map_err(|e| e.to_string())?;
    let (w, h) = photo.dimensions();
    let heatmap = map.upsample(w as usize, h as usize);
    let maps = Maps {
        mask: &[],
        heatmap: &heatmap,
        uncertainty: &[],
    };
    let gradcam = "gradcam.top.png".to_string();
    save(
        overlay::compose(&photo, maps, Layers::HEATMAP),
        &request.out.join(&gradcam),
    )?;
    let summary = ImagenetExplainSummary {
        photo: request.photo.display().to_string(),
        top,
        layers,
        filter_layers: request.filter_layers.to_vec(),
        filters: request.filters,
        gradcam,
    };
    let json = serde_json::to_vec_pretty(&summary).map_err(|e| e.to_string())?;
    std::fs::write(request.out.join("explain.json"), json).map_err(|e| e.to_string())?;
    Ok(summary)
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
        Network::Model(ModelKind::Classifier),
        pipeline
            .classifier()
            .activations(input(ModelKind::Classifier)),
        request.out,
    )?;
    layers.extend(write_grids(
        Network::Model(ModelKind::Segmenter),
        pipeline
            .segmenter()
            .activations(input(ModelKind::Segmenter)),
        request.out,
    )?);

    write_filter_grids(
        pipeline.classifier(),
        pipeline.input_size(ModelKind::Classifier),
        pipeline.device(),
        request,
    )?;

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
