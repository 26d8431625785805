//! The models' files in the browser: the manifest fetched fresh on every start, each config and
//! weights file kept in Cache Storage under its content hash, so that a second visit downloads
//! nothing and a retrained model is never paired with weights cached from an older release.

use burn::prelude::*;
use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::card::ModelCard;
use crate::imagenet::ImagenetModel;
use crate::model::{
    FEATURE_CLASSIFIER, FEATURE_SEGMENTER, FeatureClassifierConfig, FeatureSegmenterConfig,
};
use crate::net::{self, Progress, global};
use crate::pipeline::Pipeline;
use crate::protocol::LoadProgress;
use crate::shipped::{IMPORTED, ImagenetFiles, MANIFEST, Manifest, ShippedFiles, head_files};

/// The models' cache. Entries are keyed by content (`models/<file>?sha256=<hash>`), so the name
/// never needs bumping; older releases' versioned caches are removed.
const CACHE_NAME: &str = "petlens-models";
/// Where the last manifest read from the network is kept, for a visit without network.
const MANIFEST_KEY: &str = "models/manifest.json";

/// The models' cache and this visit's manifest, read once per visit for every file.
pub struct Assets {
    cache: Option<web_sys::Cache>,
    manifest: Option<Manifest>,
}

impl Assets {
    /// Opens the cache with this visit's `manifest` where the page's first thread has read it,
    /// else reads it (from the network, or the cache without one).
    pub async fn open(manifest: Option<Manifest>) -> Self {
        let cache = open_cache().await;
        let manifest = match manifest {
            Some(manifest) => Some(manifest),
            None => read_manifest(cache.as_ref()).await,
        };
        Self { cache, manifest }
    }

    /// This visit's manifest (`None` where none could be read).
    pub fn manifest(&self) -> Option<&Manifest> {
        self.manifest.as_ref()
    }

    /// Fetches both models' configs and weights (from the cache where the manifest's hash is
    /// there) and builds the pipeline.
    pub async fn load_pipeline(
        &self,
        device: &Device,
        progress: impl Fn(LoadProgress) + Clone,
    ) -> Result<Pipeline, String> {
        let files = self.fetch_files(ShippedFiles::NAMES, progress).await?;
        Pipeline::from_shipped(&ShippedFiles::from_vec(files), device).map_err(|e| e.to_string())
    }

    /// Fetches the imported network `network`'s files the same way and builds it.
    pub async fn load_imagenet(
        &self,
        device: &Device,
        network: &str,
        progress: impl Fn(LoadProgress) + Clone,
    ) -> Result<ImagenetModel, String> {
        let names = ImagenetFiles::names(network);
        let files = self
            .fetch_files(names.each_ref().map(String::as_str), progress.clone())
            .await?;
        let model = ImagenetModel::from_files(&ImagenetFiles::from_vec(files), device)
            .map_err(|e| e.to_string())?;
        self.add_heads(model, network, device, progress).await
    }

    /// Adds the classifier and the segmenter on `network`'s features where this release ships
    /// them for it.
    async fn add_heads(
        &self,
        mut model: ImagenetModel,
        network: &str,
        device: &Device,
        progress: impl Fn(LoadProgress) + Clone,
    ) -> Result<ImagenetModel, String> {
        if let Some((config, weights)) = self
            .head::<FeatureClassifierConfig>(FEATURE_CLASSIFIER, progress.clone())
            .await?
            && config.backbone == network
        {
            model = model
                .with_verdict(network, &config, &weights, device)
                .map_err(|e| e.to_string())?;
        }
        if let Some((config, weights)) = self
            .head::<FeatureSegmenterConfig>(FEATURE_SEGMENTER, progress)
            .await?
            && config.backbone == network
        {
            model = model
                .with_mask(network, &config, &weights, device)
                .map_err(|e| e.to_string())?;
        }
        Ok(model)
    }

    /// A head on the ImageNet network's features (one of [`crate::shipped::HEADS`]): its config and weights,
    /// `None` when this release does not ship it.
    async fn head<C: serde::de::DeserializeOwned>(
        &self,
        head: &str,
        progress: impl Fn(LoadProgress) + Clone,
    ) -> Result<Option<(C, Vec<u8>)>, String> {
        let [config, weights] = head_files(head);
        if self
            .manifest
            .as_ref()
            .and_then(|m| m.hash(&weights))
            .is_none()
        {
            return Ok(None);
        }
        let [config, weights] = self
            .fetch_files([config.as_str(), weights.as_str()], progress)
            .await?;
        let config =
            serde_json::from_slice(&config).map_err(|e| format!("models/{head}.json: {e}"))?;
        Ok(Some((config, weights)))
    }

    /// This release's model card (`None` when it cannot be read).
    pub async fn card(&self) -> Option<ModelCard> {
        let [card] = self.fetch_files(["card.json"], |_| ()).await.ok()?;
        serde_json::from_slice(&card).ok()
    }

    /// The imported networks whose weights this release's manifest lists (the shipped MobileNet
    /// when the manifest cannot be read).
    pub fn imported_networks(&self) -> Vec<String> {
        let Some(manifest) = &self.manifest else {
            return vec![IMPORTED[0].to_string()];
        };
        IMPORTED
            .iter()
            .filter(|n| manifest.hash(&format!("{n}.bpk")).is_some())
            .map(ToString::to_string)
            .collect()
    }

    /// The shipped files `names`, each reporting its download as its model (`segmenter.bpk`
    /// -> `segmenter`).
    async fn fetch_files<const N: usize>(
        &self,
        names: [&str; N],
        progress: impl Fn(LoadProgress) + Clone,
    ) -> Result<[Vec<u8>; N], String> {
        let mut files: [Vec<u8>; N] = std::array::from_fn(|_| Vec::new());
        for (file, name) in files.iter_mut().zip(names) {
            let model = crate::shipped::model_of(name).to_string();
            let progress = progress.clone();
            let report = move |(received, total): Progress| {
                progress(LoadProgress {
                    model: model.clone(),
                    received,
                    total,
                })
            };
            let hash = self.manifest.as_ref().and_then(|m| m.hash(name));
            *file = fetch_file(self.cache.as_ref(), name, hash, report).await?;
        }
        Ok(files)
    }
}

/// The manifest from the network (and remembered in the cache), or the one remembered when the
/// network fails; `None` when neither is there (every file is then downloaded, not cached).
async fn read_manifest(cache: Option<&web_sys::Cache>) -> Option<Manifest> {
    let url = format!("models/{MANIFEST}");
    match net::download(&url, &|_| ()).await {
        Ok(bytes) => {
            let manifest = serde_json::from_slice(&bytes).ok()?;
            if let Some(cache) = cache {
                store(cache, MANIFEST_KEY, &bytes).await;
            }
            Some(manifest)
        }
        Err(_) => serde_json::from_slice(&cached(cache?, MANIFEST_KEY).await?).ok(),
    }
}

/// One shipped file: from the cache under its hash, or downloaded (the hash in the address, so
/// that no HTTP cache can answer with an older file) and cached under it. Without a hash the
/// file is downloaded and not cached.
async fn fetch_file(
    cache: Option<&web_sys::Cache>,
    name: &str,
    hash: Option<&str>,
    progress: impl Fn(Progress),
) -> Result<Vec<u8>, String> {
    let url = match hash {
        Some(hash) => format!("models/{name}?sha256={hash}"),
        None => format!("models/{name}"),
    };
    if let (Some(cache), Some(_)) = (cache, hash)
        && let Some(bytes) = cached(cache, &url).await
    {
        progress((bytes.len(), Some(bytes.len())));
        return Ok(bytes);
    }
    let bytes = net::download(&url, &progress)
        .await
        .map_err(|e| format!("could not download models/{name}: {e}"))?;
    if let (Some(cache), Some(_)) = (cache, hash) {
        forget_other_versions(cache, name).await;
        store(cache, &url, &bytes).await;
    }
    Ok(bytes)
}

async fn open_cache() -> Option<web_sys::Cache> {
    let caches: web_sys::CacheStorage = global("caches")?.dyn_into().ok()?;
    // Releases before the manifest kept their files in versioned caches (`petlens-models-v2`).
    for old in ["petlens-models-v1", "petlens-models-v2"] {
        let _ = JsFuture::from(caches.delete(old)).await;
    }
    JsFuture::from(caches.open(CACHE_NAME))
        .await
        .ok()?
        .dyn_into()
        .ok()
}

/// A cached entry's bytes.
async fn cached(cache: &web_sys::Cache, key: &str) -> Option<Vec<u8>> {
    let hit = JsFuture::from(cache.match_with_str(key)).await.ok()?;
    let response: web_sys::Response = hit.dyn_into().ok()?;
    net::response_bytes(&response).await.ok()
}

/// Removes the cached versions of `name` (older hashes), best effort.
async fn forget_other_versions(cache: &web_sys::Cache, name: &str) {
    let Ok(keys) = JsFuture::from(cache.keys()).await else {
        return;
    };
    let prefix = format!("/models/{name}?");
    for request in js_sys::Array::from(&keys).iter() {
        if let Ok(request) = request.dyn_into::<web_sys::Request>()
            && request.url().contains(&prefix)
        {
            let _ = JsFuture::from(cache.delete_with_request(&request)).await;
        }
    }
}

/// Best effort: a failed cache write only costs a download next time.
async fn store(cache: &web_sys::Cache, key: &str, bytes: &[u8]) {
    let array = Uint8Array::from(bytes);
    if let Ok(response) = web_sys::Response::new_with_opt_buffer_source(Some(&array)) {
        let _ = JsFuture::from(cache.put_with_str(key, &response)).await;
    }
}
