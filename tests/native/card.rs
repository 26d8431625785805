//! The shipped model card and training histories read as the page reads them (typed), and
//! agree with the files shipped beside them.

use crate::common;

use common::shipped;
use petlens::card::{EpochRecord, ModelCard, ValidationMetrics};
use petlens::model::{FEATURE_CLASSIFIER, FEATURE_SEGMENTER};
use petlens::shipped::{MANIFEST, Manifest, ShippedFiles, content_hash};

#[test]
fn the_shipped_card_describes_the_shipped_files() {
    let card: ModelCard = serde_json::from_slice(&shipped("card.json")).expect("card.json parses");
    let trained = card.trained();
    let names: Vec<&str> = trained.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        [
            "segmenter",
            "classifier",
            FEATURE_CLASSIFIER,
            FEATURE_SEGMENTER
        ]
    );
    for (name, entry) in trained {
        let config: serde_json::Value =
            serde_json::from_slice(&shipped(&format!("{name}.json"))).unwrap();
        assert_eq!(
            entry.config, config,
            "{name}: the card's config is the shipped one"
        );
        assert_eq!(entry.weights_bytes, shipped(&entry.weights).len(), "{name}");
        let history: Vec<EpochRecord> = serde_json::from_slice(&shipped(&entry.history)).unwrap();
        assert_eq!(history.len(), entry.epochs, "{name}: one record per epoch");
        assert!((1..=entry.epochs).contains(&entry.best_epoch), "{name}");
        let (train, validation) = entry.split.counts();
        assert!(train > validation && validation > 0, "{name}");
        // The page's rows show the measured figures.
        let rows = entry.rows();
        let validation_row = &rows.iter().find(|(k, _)| *k == "validation").unwrap().1;
        let figure = match &entry.validation_metrics {
            ValidationMetrics::Classification(m) => m.accuracy,
            ValidationMetrics::Segmentation(m) => m.all.mean_iou,
        };
        assert!(
            validation_row.contains(&format!("{figure:.3}")),
            "{validation_row}"
        );
    }
    // The typed metrics write back exactly what the card holds (what the page and scripts read).
    let raw: serde_json::Value = serde_json::from_slice(&shipped("card.json")).unwrap();
    for (name, entry) in card.trained() {
        let written = serde_json::to_value(&entry.validation_metrics).unwrap();
        assert_eq!(written, raw[name]["validation_metrics"], "{name}");
    }
    assert!(matches!(
        card.segmenter.unwrap().validation_metrics,
        ValidationMetrics::Segmentation(_)
    ));
}

/// The manifest the page keys its cache by names every shipped file with its real hash: a
/// retrained file shipped without a new manifest would otherwise be served from old caches.
#[test]
fn the_shipped_manifest_hashes_the_shipped_files() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models");
    let manifest: Manifest =
        serde_json::from_slice(&shipped(MANIFEST)).expect("manifest.json parses");
    assert_eq!(manifest, Manifest::of_dir(&dir).unwrap());
    for name in ShippedFiles::NAMES {
        assert_eq!(
            manifest.hash(name),
            Some(content_hash(&shipped(name)).as_str()),
            "{name}"
        );
    }
}

#[test]
fn the_default_verdict_is_the_classifier_better_on_validation() {
    let card: ModelCard = serde_json::from_slice(&shipped("card.json")).expect("card.json parses");
    let with = |features: f64, chapter: f64| {
        let mut card = card.clone();
        for (entry, accuracy) in [
            (&mut card.feature_classifier, features),
            (&mut card.classifier, chapter),
        ] {
            if let Some(ValidationMetrics::Classification(m)) =
                entry.as_mut().map(|e| &mut e.validation_metrics)
            {
                m.accuracy = accuracy;
            }
        }
        card
    };
    assert!(with(0.98, 0.95).feature_verdict_is_better());
    assert!(!with(0.94, 0.95).feature_verdict_is_better());
    assert!(
        !with(0.95, 0.95).feature_verdict_is_better(),
        "a tie keeps the chapter's"
    );
    let mut without = card.clone();
    without.feature_classifier = None;
    assert!(!without.feature_verdict_is_better());
}

#[test]
fn the_default_mask_is_the_segmenter_better_on_validation_and_the_card_sets_them_side_by_side() {
    let card: ModelCard = serde_json::from_slice(&shipped("card.json")).expect("card.json parses");
    let with = |features: f64, chapter: f64| {
        let mut card = card.clone();
        for (entry, iou) in [
            (&mut card.feature_segmenter, features),
            (&mut card.segmenter, chapter),
        ] {
            if let Some(ValidationMetrics::Segmentation(m)) =
                entry.as_mut().map(|e| &mut e.validation_metrics)
            {
                m.all.mean_iou = iou;
            }
        }
        card
    };
    assert!(with(0.78, 0.66).feature_mask_is_better());
    assert!(!with(0.60, 0.66).feature_mask_is_better());
    assert!(
        !with(0.66, 0.66).feature_mask_is_better(),
        "a tie keeps the chapter's"
    );
    let rows = card.segmenters_side_by_side();
    let groups: Vec<&str> = rows.iter().map(|r| r.group.as_str()).collect();
    assert_eq!(groups, ["all", "main breeds", "other breeds"]);
    for row in &rows {
        assert_eq!(
            row.from_scratch.n, row.on_features.n,
            "{}: the same validation pairs",
            row.group
        );
    }
    let mut without = card.clone();
    without.feature_segmenter = None;
    assert!(!without.feature_mask_is_better());
    assert!(without.segmenters_side_by_side().is_empty());
}
