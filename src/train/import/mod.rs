//! `train import`: pretrained Keras weights into petlens's models. Reads Keras's tensors (from a
//! TensorFlow.js layers model, [`tfjs`]), checks every name, shape and dtype against the network
//! the config describes, and writes the page's files ([`ship`]).

mod layout;
mod mobilenet;
pub mod ship;
pub mod tfjs;
mod xception;

use std::collections::BTreeMap;
use std::path::Path;

pub use mobilenet::{config_of, mobilenet_from};
pub use xception::{xception_config_of, xception_from};

/// One of Keras's weight tensors: its name (`conv_pw_3/kernel`), Keras's shape (kernels HWIO)
/// and its values in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct KerasTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// Why weights were refused; each names the file or the tensor (`train import` exits with 2).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {why}")]
    File { path: String, why: String },
    #[error("shard(s) {shards}: {actual} bytes, but the manifest's tensors take {expected}")]
    ShardLength {
        shards: String,
        expected: usize,
        actual: usize,
    },
    #[error("tensor {tensor}: dtype {dtype}, but the import reads float32 only")]
    Dtype { tensor: String, dtype: String },
    #[error("tensor {tensor}: shape {actual:?}, but the network needs {expected:?}")]
    Shape {
        tensor: String,
        expected: Vec<usize>,
        actual: Vec<usize>,
    },
    #[error("tensor {0} is missing")]
    Missing(String),
    #[error("tensor {0} is not a weight of this network")]
    Unexpected(String),
    #[error("tensor {0} appears twice")]
    Duplicate(String),
    #[error("{path}: SHA-256 {actual}, but the checksum file says {expected}")]
    Checksum {
        path: String,
        expected: String,
        actual: String,
    },
}

impl ImportError {
    /// A file that could not be read or parsed.
    pub fn file(path: &Path, why: impl std::fmt::Display) -> Self {
        ImportError::File {
            path: path.display().to_string(),
            why: why.to_string(),
        }
    }
}

/// Keras's tensors by name, taken one at a time by the network's builder: whatever is left at
/// the end is a tensor the network does not have.
pub struct Tensors(BTreeMap<String, KerasTensor>);

impl Tensors {
    /// Indexes tensors by name; a name given twice is refused.
    pub fn new(tensors: Vec<KerasTensor>) -> Result<Self, ImportError> {
        let mut by_name = BTreeMap::new();
        for tensor in tensors {
            let name = tensor.name.clone();
            if by_name.insert(name.clone(), tensor).is_some() {
                return Err(ImportError::Duplicate(name));
            }
        }
        Ok(Self(by_name))
    }

    /// The shape of tensor `name`, when there is one.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.0.get(name).map(|t| t.shape.as_slice())
    }

    /// Takes tensor `name`, which must have Keras's `shape`.
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ImportError> {
        let tensor = self
            .0
            .remove(name)
            .ok_or_else(|| ImportError::Missing(name.into()))?;
        if tensor.shape != shape {
            return Err(ImportError::Shape {
                tensor: name.into(),
                expected: shape.to_vec(),
                actual: tensor.shape,
            });
        }
        Ok(tensor.values)
    }

    /// The layers whose name is `stem` or `stem_<k>` (Keras's names for unnamed layers:
    /// `conv2d`, `conv2d_1`, ... in Keras 3, `conv2d_1`, ... in Keras 2), in the order Keras
    /// created them.
    pub fn unnamed_layers(&self, stem: &str) -> Vec<String> {
        let mut layers: Vec<(usize, String)> = self
            .0
            .keys()
            .filter_map(|name| name.split_once('/').map(|(layer, _)| layer))
            .filter_map(|layer| {
                let rest = layer.strip_prefix(stem)?;
                let k = match rest.strip_prefix('_') {
                    Some(k) => k.parse().ok()?,
                    None if rest.is_empty() => 0,
                    None => return None,
                };
                Some((k, layer.to_string()))
            })
            .collect();
        layers.sort();
        layers.dedup();
        layers.into_iter().map(|(_, layer)| layer).collect()
    }

    /// Succeeds when every tensor was taken.
    pub fn finish(self) -> Result<(), ImportError> {
        match self.0.into_keys().next() {
            Some(name) => Err(ImportError::Unexpected(name)),
            None => Ok(()),
        }
    }
}

/// Checks files against a `sha256sum`-style list (`<hash>  <name>` per line, names relative to
/// `dir`): every file listed must be there with that hash.
pub fn verify_checksums(dir: &Path, list: &Path) -> Result<(), ImportError> {
    let text = std::fs::read_to_string(list).map_err(|e| ImportError::file(list, e))?;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (expected, name) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| ImportError::file(list, format!("not a checksum line: {line:?}")))?;
        let path = dir.join(name.trim_start().trim_start_matches('*'));
        let bytes = std::fs::read(&path).map_err(|e| ImportError::file(&path, e))?;
        let actual = crate::shipped::content_hash(&bytes);
        if actual != expected.to_ascii_lowercase() {
            return Err(ImportError::Checksum {
                path: path.display().to_string(),
                expected: expected.into(),
                actual,
            });
        }
    }
    Ok(())
}
