//! The analysis controller: the one place that sends a photo to the models' thread and puts the
//! answer on screen, and that recomputes Grad-CAM at another block. Whatever brought the photo
//! in (picker, drop, paste, sample, camera) calls [`analyse`]. A newer photo wins over an older
//! one, and an answer about an analysis that is no longer on screen is dropped.

use leptos::prelude::*;

use super::models::Heatmaps;
use super::state::{AppState, Shown};
use crate::model::ModelKind;

/// Analyses one photo; a newer photo stops an older run at its next stage.
pub fn analyse(state: AppState, bytes: Vec<u8>, name: String) {
    let Some(models) = state.engine().models.borrow().clone() else {
        state.error.set(Some(
            "The models are still loading; try again in a moment.".into(),
        ));
        return;
    };
    let ticket = state.engine().photos.next();
    *state.engine().last_photo.borrow_mut() = Some((bytes.clone(), name.clone()));
    state.error.set(None);
    state.message.set(format!("Looking at {name}…"));
    let in_flight = state.begin();
    leptos::task::spawn_local(async move {
        let analysed = models.analyze(bytes).await;
        if !ticket.is_current() {
            return;
        }
        match analysed {
            Ok(Some(analysed)) => {
                // Grad-CAM asked for while this photo was analysed belongs to the older one.
                state.engine().heatmaps.cancel();
                *state.engine().shown.borrow_mut() = Some(Shown {
                    analysis: analysed.id,
                    displayed: analysed.displayed,
                });
                state.models_memory.set(analysed.memory_bytes);
                state.view.gradcam_depth.set(None);
                // The analysis's maps are the chapter's model's.
                state
                    .view
                    .gradcam_model
                    .set(ModelKind::Classifier.name().into());
                state.revision.update(|r| *r += 1);
                state.message.set(format!("{name}: done."));
                state.handled.update(|n| *n += 1);
            }
            Ok(None) => {}
            Err(e) => {
                state.message.set("Try another photo.".into());
                state.fail(format!("{name}: {e}"));
            }
        }
        drop(in_flight);
    });
}

/// Analyses the last photo again (another ImageNet network was loaded), if there was one.
pub fn analyse_again(state: AppState) {
    let last = state.engine().last_photo.borrow().clone();
    if let Some((bytes, name)) = last {
        analyse(state, bytes, name);
    }
}

/// Grad-CAM of classifier `model` after another block of the photo on screen (a finer, less
/// abstract map), or of the other classifier. A newer choice or a new photo wins.
pub fn recompute_heatmaps(state: AppState, model: String, depth: Option<usize>) {
    state.view.gradcam_depth.set(depth);
    state.view.gradcam_model.set(model.clone());
    let Some((models, analysis)) = state.engine().current() else {
        return;
    };
    let ticket = state.engine().heatmaps.next();
    let in_flight = state.begin();
    leptos::task::spawn_local(async move {
        let heatmaps = models.gradcam_at(analysis, model, depth).await;
        if ticket.is_current() {
            match heatmaps {
                Ok(heatmaps) => show_heatmaps(state, heatmaps),
                Err(e) => state.error.set(Some(format!("Grad-CAM failed: {e}"))),
            }
        }
        drop(in_flight);
    });
}

/// Shows segmenter `model`'s mask of the photo on screen: every segmenter ran on it, so the
/// switch asks nothing of the models' thread.
pub fn show_mask(state: AppState, model: &str) {
    let switched = state
        .engine()
        .shown
        .borrow_mut()
        .as_mut()
        .is_some_and(|s| s.displayed.show_mask(model));
    if switched {
        state.mask_revision.update(|r| *r += 1);
    }
}

/// Puts Grad-CAM maps on screen when they belong to the analysis shown there.
fn show_heatmaps(state: AppState, heatmaps: Heatmaps) {
    let applied = {
        let engine = state.engine();
        let mut shown = engine.shown.borrow_mut();
        match shown.as_mut().filter(|s| s.analysis == heatmaps.analysis) {
            Some(shown) => {
                shown.displayed.set_heatmaps(heatmaps.maps);
                true
            }
            None => false,
        }
    };
    if applied {
        state.view.gradcam_depth.set(heatmaps.depth);
        state.view.gradcam_model.set(heatmaps.model);
        state.heat_revision.update(|r| *r += 1);
    }
}
