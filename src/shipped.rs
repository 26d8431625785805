//! The files a release ships for the two models (in `www/models/`): each model's config (JSON:
//! its architecture and input size) and its weights (burnpack), the imported ImageNet network's
//! config, weights and class names, and the manifest that names each file's content hash. The page fetches the manifest fresh on every visit and keeps the other
//! files in Cache Storage under their hash, so a retrained model replaces the cached one and an
//! unchanged one is never downloaded twice.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{FEATURE_CLASSIFIER, FEATURE_SEGMENTER};

/// The name of the manifest beside the files.
pub const MANIFEST: &str = "manifest.json";

/// The four files, as bytes.
#[derive(Debug, Clone, Default)]
pub struct ShippedFiles {
    pub segmenter_config: Vec<u8>,
    pub segmenter: Vec<u8>,
    pub classifier_config: Vec<u8>,
    pub classifier: Vec<u8>,
}

impl ShippedFiles {
    /// The files' names, in the order of the fields.
    pub const NAMES: [&str; 4] = [
        "segmenter.json",
        "segmenter.bpk",
        "classifier.json",
        "classifier.bpk",
    ];

    /// Whether a download reported as `model` (a file's name without its extension, as the
    /// models' thread reports it) is one of these files: the page shows their progress in its
    /// own bar, and every later download (the ImageNet network and its heads) in the ImageNet
    /// panel.
    pub fn includes(model: &str) -> bool {
        Self::NAMES.iter().any(|&name| model_of(name) == model)
    }

    /// The files in the order of [`ShippedFiles::NAMES`].
    pub fn from_vec(files: [Vec<u8>; 4]) -> Self {
        let [segmenter_config, segmenter, classifier_config, classifier] = files;
        Self {
            segmenter_config,
            segmenter,
            classifier_config,
            classifier,
        }
    }

    /// Reads the files from a directory (`www/models`).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read(dir: &std::path::Path) -> std::io::Result<Self> {
        let mut files: [Vec<u8>; 4] = Default::default();
        for (file, name) in files.iter_mut().zip(Self::NAMES) {
            *file = read_file(&dir.join(name))?;
        }
        Ok(Self::from_vec(files))
    }
}

/// The imported ImageNet network's three files, as bytes: the page loads them after it is ready.
#[derive(Debug, Clone, Default)]
pub struct ImagenetFiles {
    /// Its [`crate::model::MobileNetConfig`].
    pub config: Vec<u8>,
    pub weights: Vec<u8>,
    /// Keras's `imagenet_class_index.json`.
    pub classes: Vec<u8>,
}

impl ImagenetFiles {
    /// The files of the imported network called `network` (`imagenet`: the shipped MobileNet;
    /// `xception`: a reader's own Xception): `<network>.json`, `<network>.bpk` and the class
    /// index they share.
    pub fn names(network: &str) -> [String; 3] {
        [
            format!("{network}.json"),
            format!("{network}.bpk"),
            CLASSES.to_string(),
        ]
    }

    /// The files in the order of [`ImagenetFiles::names`].
    pub fn from_vec(files: [Vec<u8>; 3]) -> Self {
        let [config, weights, classes] = files;
        Self {
            config,
            weights,
            classes,
        }
    }

    /// Reads the files of the network called `network` from a directory (`www/models`).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read(dir: &std::path::Path, network: &str) -> std::io::Result<Self> {
        let mut files: [Vec<u8>; 3] = Default::default();
        for (file, name) in files.iter_mut().zip(Self::names(network)) {
            *file = read_file(&dir.join(name))?;
        }
        Ok(Self::from_vec(files))
    }
}

/// The heads trained on the ImageNet network's features, as their files are named: the
/// cat-vs-dog classifier and the segmenter.
pub const HEADS: [&str; 2] = [FEATURE_CLASSIFIER, FEATURE_SEGMENTER];

/// The model a shipped file belongs to, as downloads are reported: its name without the
/// extension (`segmenter.bpk` -> `segmenter`).
pub fn model_of(file: &str) -> &str {
    file.split('.').next().unwrap_or(file)
}

/// The files of a head on the ImageNet network's features (one of [`HEADS`]): its config
/// (which names the network it reads) and its weights.
pub fn head_files(head: &str) -> [String; 2] {
    [format!("{head}.json"), format!("{head}.bpk")]
}

/// Keras's ImageNet class index, shared by the imported networks.
pub const CLASSES: &str = "imagenet_classes.json";

/// The imported networks' names, as their files are named.
pub const IMPORTED: [&str; 2] = ["imagenet", "xception"];

/// Each shipped file's SHA-256 (lower-case hex), by file name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub sha256: BTreeMap<String, String>,
}

impl Manifest {
    /// The hash of the file `name`, when the manifest lists it.
    pub fn hash(&self, name: &str) -> Option<&str> {
        self.sha256.get(name).map(String::as_str)
    }

    /// The manifest of every shipped file present in `dir` (a directory may hold one model only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn of_dir(dir: &std::path::Path) -> std::io::Result<Self> {
        let mut sha256 = BTreeMap::new();
        let imported = IMPORTED.iter().flat_map(|n| ImagenetFiles::names(n));
        let names = ShippedFiles::NAMES
            .map(String::from)
            .into_iter()
            .chain(imported)
            .chain(HEADS.iter().flat_map(|h| head_files(h)));
        for name in names {
            let path = dir.join(&name);
            if path.exists() {
                sha256.insert(name, content_hash(&read_file(&path)?));
            }
        }
        Ok(Self { sha256 })
    }
}

/// SHA-256 of `bytes` in lower-case hex: the key a file is cached under.
pub fn content_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(not(target_arch = "wasm32"))]
fn read_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_is_sha256() {
        assert_eq!(
            content_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// The page's own bar shows the chapter's two models' files only: the ImageNet network's
    /// heads download after the page is ready, and their progress belongs in its panel.
    #[test]
    fn the_page_models_downloads_are_the_shipped_files_only() {
        for file in ShippedFiles::NAMES {
            assert!(ShippedFiles::includes(model_of(file)), "{file}");
        }
        let later = IMPORTED
            .iter()
            .flat_map(|n| ImagenetFiles::names(n))
            .chain(HEADS.iter().flat_map(|h| head_files(h)));
        for file in later {
            assert!(!ShippedFiles::includes(model_of(&file)), "{file}");
        }
    }
}
