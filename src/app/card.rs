//! The shipped models' card: what they are, how they were trained and how well they do, with
//! their training curves drawn from `<model>.history.json` (SVG, not a picture). The card's
//! types, rows and curves are [`crate::card`]'s, which the trainer writes.

use leptos::prelude::*;

use crate::card::{
    ACCURACY_CURVES, CardEntry, Curve, EpochRecord, GroupComparison, GroupFigures, ImportedEntry,
    LOSS_CURVES, ModelCard,
};

/// Size of one chart in SVG user units.
const CHART: (f64, f64) = (320.0, 160.0);
const PAD: f64 = 28.0;

/// One line of a chart: its curve and values per epoch.
struct Line {
    curve: Curve,
    values: Vec<f64>,
}

/// The lines of `curves` that `history` has values for.
fn lines(history: &[EpochRecord], curves: &[Curve]) -> Vec<Line> {
    curves
        .iter()
        .map(|&curve| Line {
            curve,
            values: curve.points(history).into_iter().map(|(_, v)| v).collect(),
        })
        .filter(|line| !line.values.is_empty())
        .collect()
}

/// A chart of `lines` over epochs 1..=n, with the value range on the left.
fn chart(model: &str, title: &'static str, lines: Vec<Line>) -> impl IntoView + use<> {
    let all = || lines.iter().flat_map(|l| l.values.iter().copied());
    let (lo, hi) = all().fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo < hi {
        (lo, hi)
    } else {
        (lo - 0.5, lo + 0.5)
    };
    let epochs = lines.iter().map(|l| l.values.len()).max().unwrap_or(1);
    let x = move |i: usize| PAD + (CHART.0 - 2.0 * PAD) * i as f64 / (epochs.max(2) - 1) as f64;
    let y = move |v: f64| CHART.1 - PAD - (CHART.1 - 2.0 * PAD) * (v - lo) / (hi - lo);
    let polylines = lines
        .iter()
        .map(|line| {
            let points: Vec<String> = line
                .values
                .iter()
                .enumerate()
                .map(|(i, &v)| format!("{:.1},{:.1}", x(i), y(v)))
                .collect();
            view! {
                <polyline points=points.join(" ") fill="none" stroke=line.curve.css() stroke-width="2"
                    data-series=line.curve.label data-points=line.values.len().to_string()>
                    <title>{line.curve.label}</title>
                </polyline>
            }
        })
        .collect_view();
    let legend = lines
        .iter()
        .map(|l| view! { <span class="key" style=format!("border-color: {}", l.curve.css())>{l.curve.label}</span> })
        .collect_view();
    view! {
        <figure class="chart">
            <svg viewBox=format!("0 0 {} {}", CHART.0, CHART.1) role="img" aria-label=format!("{model} {title}")
                data-testid=format!("curves-{model}-{}", title.replace(' ', "-"))>
                <line x1=PAD y1=CHART.1 - PAD x2=CHART.0 - PAD y2=CHART.1 - PAD stroke="#999" />
                <line x1=PAD y1=PAD x2=PAD y2=CHART.1 - PAD stroke="#999" />
                <text x="2" y=PAD + 4.0 font-size="10">{format!("{hi:.2}")}</text>
                <text x="2" y=CHART.1 - PAD font-size="10">{format!("{lo:.2}")}</text>
                <text x=CHART.0 - PAD - 40.0 y=CHART.1 - 8.0 font-size="10">{format!("epoch {epochs}")}</text>
                {polylines}
            </svg>
            <figcaption>{title}" · "{legend}</figcaption>
        </figure>
    }
}

fn model_view(
    name: &'static str,
    entry: &CardEntry,
    history: &[EpochRecord],
) -> impl IntoView + use<> {
    let rows = entry
        .rows()
        .into_iter()
        .map(|(k, v)| view! { <tr><th>{k}</th><td>{v}</td></tr> })
        .collect_view();
    let loss = chart(name, "loss", lines(history, &LOSS_CURVES));
    let accuracy = chart(name, "accuracy", lines(history, &ACCURACY_CURVES));
    view! {
        <article class="model" data-testid=format!("card-{name}")>
            <h3>{name}</h3>
            <div class="charts">{loss}{accuracy}</div>
            <table>{rows}</table>
        </article>
    }
}

/// Both segmenters' validation figures side by side per breed group: the lesson of chapter 8
/// (pretrained features) on chapter 9's task, in numbers.
fn segmenters_view(rows: &[GroupComparison]) -> impl IntoView + use<> {
    let figures = |f: &GroupFigures| {
        format!(
            "{:.3} · {:.3} · {:.3}",
            f.pixel_accuracy, f.mean_iou, f.iou.border
        )
    };
    let rows = rows
        .iter()
        .map(|r| {
            let better = r.on_features.mean_iou > r.from_scratch.mean_iou;
            view! {
                <tr data-group=r.group.clone()>
                    <th>{format!("{} ({} photos)", r.group, r.from_scratch.n)}</th>
                    <td class:better=!better>{figures(&r.from_scratch)}</td>
                    <td class:better=better>{figures(&r.on_features)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <article class="model" data-testid="card-segmenters">
            <h3>"The two segmenters on the same validation pairs"</h3>
            <table>
                <caption>"pixel accuracy · mean IoU · border IoU, at each photo's own resolution"</caption>
                <tr><th>"breed group"</th><th>"from scratch"</th><th>"on ImageNet features"</th></tr>
                {rows}
            </table>
        </article>
    }
}

/// An imported network's entry: where its weights come from, no training curves.
fn imported_view(name: &'static str, entry: &ImportedEntry) -> impl IntoView + use<> {
    let rows = entry
        .rows()
        .into_iter()
        .map(|(k, v)| view! { <tr><th>{k}</th><td>{v}</td></tr> })
        .collect_view();
    view! {
        <article class="model" data-testid=format!("card-{name}")>
            <h3>{format!("{name} (imported, not trained here)")}</h3>
            <table>{rows}</table>
        </article>
    }
}

async fn fetch_json<T: serde::de::DeserializeOwned>(url: &str) -> Result<T, String> {
    let bytes = crate::net::fetch_bytes(url).await?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{url}: {e}"))
}

/// What the card shows: each trained model with its history, and the imported network.
#[derive(Clone)]
struct Loaded {
    trained: Vec<(&'static str, CardEntry, Vec<EpochRecord>)>,
    segmenters: Vec<GroupComparison>,
    imported: Vec<(&'static str, ImportedEntry)>,
}

/// The card and each model's history (an empty history when it cannot be read: the card
/// still shows).
async fn load_card() -> Result<Loaded, String> {
    let card: ModelCard = fetch_json("models/card.json").await?;
    let mut models = Vec::new();
    for (name, entry) in card.trained() {
        let history = fetch_json(&format!("models/{}", entry.history))
            .await
            .unwrap_or_default();
        models.push((name, entry.clone(), history));
    }
    let segmenters = card.segmenters_side_by_side();
    let imported = [("imagenet", card.imagenet), ("xception", card.xception)]
        .into_iter()
        .filter_map(|(name, entry)| Some((name, entry?)))
        .collect();
    Ok(Loaded {
        trained: models,
        segmenters,
        imported,
    })
}

/// The model card section; loads lazily when opened.
#[component]
pub fn ModelCard() -> impl IntoView {
    let opened = RwSignal::new(false);
    let loaded = LocalResource::new(move || async move {
        if !opened.get() {
            return None;
        }
        Some(load_card().await)
    });
    let body = move || {
        Some(match loaded.get().flatten()? {
            Err(e) => {
                view! { <p class="error">{format!("The model card could not be loaded: {e}")}</p> }
                    .into_any()
            }
            Ok(loaded) => {
                let trained = loaded
                    .trained
                    .iter()
                    .map(|(name, entry, history)| model_view(name, entry, history))
                    .collect_view();
                let imported = loaded
                    .imported
                    .iter()
                    .map(|(name, entry)| imported_view(name, entry))
                    .collect_view();
                let segmenters =
                    (!loaded.segmenters.is_empty()).then(|| segmenters_view(&loaded.segmenters));
                view! { {segmenters}{trained}{imported} }.into_any()
            }
        })
    };
    view! {
        <details class="card" data-testid="model-card" on:toggle=move |_| opened.set(true)>
            <summary>"The models: what they are, how they were trained, training curves"</summary>
            {body}
            <p class="attribution">"Training data: the Oxford-IIIT Pet Dataset (Parkhi et al., CVPR 2012, CC BY-SA 4.0) and the book's "
                "cats-vs-dogs split of Kaggle's Dogs vs. Cats (Microsoft Asirra) with 7,279 more photos of that set. "
                "The ImageNet network: Keras Applications' MobileNet v1 with Google's ImageNet weights (Apache-2.0). Full card: "<a href="models/card.json">"card.json"</a>"."</p>
        </details>
    }
}
