//! TensorFlow.js's layers format: `model.json`, whose `weightsManifest` lists groups of shard
//! files and, per group, the tensors they hold back to back (name, shape, dtype), and the shards
//! themselves (little-endian float32).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ImportError, KerasTensor};

/// The part of `model.json` the import reads (the Keras topology, where present, is not needed:
/// the tensors' names and shapes say everything the config needs).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModelJson {
    weights_manifest: Vec<ManifestGroup>,
}

#[derive(Deserialize)]
struct ManifestGroup {
    paths: Vec<String>,
    weights: Vec<ManifestEntry>,
}

#[derive(Deserialize)]
struct ManifestEntry {
    name: String,
    shape: Vec<usize>,
    dtype: String,
    /// Set for quantised weights (TF.js's `--quantize_*`), which the import does not read.
    #[serde(default)]
    quantization: Option<serde_json::Value>,
}

/// Reads every tensor of the TF.js layers model in `dir` (its `model.json` and shards).
pub fn read(dir: &Path) -> Result<Vec<KerasTensor>, ImportError> {
    let manifest_path = dir.join("model.json");
    let bytes = std::fs::read(&manifest_path).map_err(|e| ImportError::file(&manifest_path, e))?;
    let model: ModelJson =
        serde_json::from_slice(&bytes).map_err(|e| ImportError::file(&manifest_path, e))?;
    let mut tensors = Vec::new();
    for group in model.weights_manifest {
        tensors.extend(read_group(dir, group)?);
    }
    Ok(tensors)
}

/// One group: its shards concatenated, cut into its tensors in order.
fn read_group(dir: &Path, group: ManifestGroup) -> Result<Vec<KerasTensor>, ImportError> {
    for entry in &group.weights {
        if entry.dtype != "float32" || entry.quantization.is_some() {
            let dtype = match &entry.quantization {
                Some(q) => format!("{} quantised as {q}", entry.dtype),
                None => entry.dtype.clone(),
            };
            return Err(ImportError::Dtype {
                tensor: entry.name.clone(),
                dtype,
            });
        }
    }
    let paths: Vec<PathBuf> = group.paths.iter().map(|p| dir.join(p)).collect();
    let mut bytes = Vec::new();
    for path in &paths {
        bytes.extend(std::fs::read(path).map_err(|e| ImportError::file(path, e))?);
    }
    let expected: usize = group
        .weights
        .iter()
        .map(|w| 4 * w.shape.iter().product::<usize>())
        .sum();
    if bytes.len() != expected {
        return Err(ImportError::ShardLength {
            shards: paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            expected,
            actual: bytes.len(),
        });
    }
    let mut floats = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    Ok(group
        .weights
        .into_iter()
        .map(|entry| {
            let len = entry.shape.iter().product();
            KerasTensor {
                name: entry.name,
                shape: entry.shape,
                values: floats.by_ref().take(len).collect(),
            }
        })
        .collect())
}
