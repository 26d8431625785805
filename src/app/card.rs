//! The shipped models' card: what they are, how they were trained and how well they do, with
//! their training curves drawn from `history.json` (SVG, not a picture).

use leptos::prelude::*;
use serde_json::Value;

use super::engine;

/// Size of one chart in SVG user units.
const CHART: (f64, f64) = (320.0, 160.0);
const PAD: f64 = 28.0;

/// One line of a chart: its name, colour and values per epoch.
struct Line {
    name: &'static str,
    colour: &'static str,
    values: Vec<f64>,
}

fn series(history: &[Value], key: &str) -> Vec<f64> {
    history
        .iter()
        .filter_map(|r| r.get(key).and_then(Value::as_f64))
        .collect()
}

/// A chart of `lines` over epochs 1..=n, with the value range on the left.
fn chart(model: &str, title: &'static str, lines: Vec<Line>) -> impl IntoView + use<> {
    let lines: Vec<Line> = lines.into_iter().filter(|l| !l.values.is_empty()).collect();
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
                <polyline points=points.join(" ") fill="none" stroke=line.colour stroke-width="2"
                    data-series=line.name data-points=line.values.len().to_string()>
                    <title>{line.name}</title>
                </polyline>
            }
        })
        .collect_view();
    let legend = lines
        .iter()
        .map(|l| view! { <span class="key" style=format!("border-color: {}", l.colour)>{l.name}</span> })
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

/// A split as counts: the card lists every photo's name, the page only how many.
fn split_summary(split: &Value) -> String {
    let count = |k: &str| {
        split
            .get(k)
            .and_then(Value::as_array)
            .map(Vec::len)
            .or_else(|| {
                split
                    .get(format!("n_{k}"))
                    .and_then(Value::as_u64)
                    .map(|n| n as usize)
            })
    };
    match (count("train"), count("validation")) {
        (Some(train), Some(valid)) => {
            let how = split
                .get("stratified_by")
                .and_then(Value::as_str)
                .map(|s| format!(", seeded, stratified by {s}"))
                .unwrap_or_else(|| sources_summary(split));
            format!("{train} training / {valid} validation{how}")
        }
        _ => split.to_string(),
    }
}

/// Where a labelled split's photos came from: each source's part and count (older cards: the
/// book's folders).
fn sources_summary(split: &Value) -> String {
    let Some(sources) = split.get("sources").and_then(Value::as_array) else {
        return ", the book's folders".into();
    };
    let parts: Vec<String> = sources
        .iter()
        .filter_map(|s| {
            let dir = s.get("dir")?.as_str()?;
            let name = dir.rsplit('/').find(|p| !p.is_empty()).unwrap_or(dir);
            let part = s.get("part")?.as_str()?;
            Some(format!("{} {name}/{part}", s.get("photos")?))
        })
        .collect();
    format!(": {}", parts.join(", "))
}

/// The training data: the directories it came from (a plain string in older cards).
fn data_summary(data: &Value) -> String {
    match data.get("dirs").and_then(Value::as_array) {
        Some(dirs) => {
            let dirs: Vec<&str> = dirs.iter().filter_map(Value::as_str).collect();
            let licence = data.get("licence").and_then(Value::as_str);
            let mut text = dirs.join(" + ");
            if let Some(licence) = licence {
                text.push_str(&format!(" ({licence})"));
            }
            text
        }
        None => data
            .as_str()
            .map_or_else(|| data.to_string(), str::to_string),
    }
}

/// The recipe's switches, as short text: how the weights were averaged and augmented.
fn recipe_summary(recipe: &Value) -> String {
    if recipe.is_null() {
        return "–".into();
    }
    let weights = recipe.get("weights").and_then(Value::as_str).unwrap_or("–");
    let augment = &recipe["augment"];
    let number = |v: &Value, k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let smoothing = number(&recipe["loss"], "label_smoothing");
    let dice = number(&recipe["loss"], "dice_weight");
    let mut parts = vec![format!("weights: {weights}")];
    parts.push(format!(
        "augmentation: flips, rotations up to {:.0}°, {}, colour jitter {:.2}",
        number(augment, "rotation_degrees"),
        match number(augment, "crop_min_area") {
            a if a > 0.0 => format!(
                "random resized crops (at least {:.0}% of the photo)",
                a * 100.0
            ),
            _ => format!("zoom ±{:.0}%", number(augment, "zoom") * 100.0),
        },
        number(augment, "color_jitter")
    ));
    if smoothing > 0.0 {
        parts.push(format!("label smoothing {smoothing}"));
    }
    if dice > 0.0 {
        parts.push(format!("cross-entropy + {dice} × Dice loss"));
    }
    parts.join("; ")
}

/// Validation metrics as short text, with the breed groups apart where the card has them.
fn metrics_summary(metrics: &Value) -> String {
    let mut text = metrics_figures(metrics);
    for (key, name) in [
        ("main_breeds", "main 3 breeds"),
        ("other_breeds", "other breeds"),
    ] {
        if let Some(group) = metrics.get(key).filter(|g| g.is_object()) {
            text.push_str(&format!("; {name}: {}", metrics_figures(group)));
        }
    }
    text
}

/// One group's figures as short text.
fn metrics_figures(metrics: &Value) -> String {
    let number = |k: &str| metrics.get(k).and_then(Value::as_f64);
    let mut parts = Vec::new();
    if let Some(a) = number("accuracy") {
        parts.push(format!("accuracy {a:.3}"));
    }
    if let Some(a) = number("pixel_accuracy") {
        parts.push(format!("pixel accuracy {a:.3}"));
    }
    if let Some(m) = number("mean_iou") {
        parts.push(format!("mean IoU {m:.3}"));
    }
    if let Some(n) = metrics.get("n") {
        parts.push(format!("n = {n}"));
    }
    if metrics.get("test_time_augmentation").is_some() {
        parts.push("flip-averaged".into());
    }
    if parts.is_empty() {
        metrics.to_string()
    } else {
        parts.join(", ")
    }
}

fn model_view(name: &'static str, card: &Value, history: &[Value]) -> impl IntoView + use<> {
    let get = |k: &str| card.get(k).cloned().unwrap_or(Value::Null);
    let text = |v: Value| match v {
        Value::String(s) => s,
        Value::Null => "–".into(),
        other => other.to_string(),
    };
    let estimate = get("estimated_minutes")
        .as_f64()
        .map(|m| format!(" (estimated {m:.0} min)"))
        .unwrap_or_default();
    let minutes = get("wall_seconds")
        .as_f64()
        .map(|s| format!("{:.0} min{estimate}", s / 60.0));
    // Every invocation after the first resumed the run (`--resume`, same options).
    let resumed: Vec<String> = get("commands")
        .as_array()
        .map(|all| {
            all.iter()
                .skip(1)
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let rows = [
        ("architecture", text(get("architecture"))),
        ("parameters", text(get("parameters"))),
        ("input", format!("{} px", text(get("input_size")))),
        ("data", data_summary(&get("data"))),
        ("split", split_summary(&get("split"))),
        (
            "epochs (best)",
            format!("{} ({})", text(get("epochs")), text(get("best_epoch"))),
        ),
        ("training time", minutes.unwrap_or_else(|| "–".into())),
        ("optimizer", text(get("optimizer"))),
        ("recipe", recipe_summary(&get("recipe"))),
        ("validation", metrics_summary(&get("validation_metrics"))),
        ("command", text(get("command"))),
    ]
    .into_iter()
    .chain((!resumed.is_empty()).then(|| ("resumed with", resumed.join("\n"))))
    .chain(get("note").as_str().map(|note| ("note", note.to_string())))
    .map(|(k, v)| view! { <tr><th>{k}</th><td>{v}</td></tr> })
    .collect_view();
    let loss = vec![
        Line {
            name: "training loss",
            colour: "#1f77b4",
            values: series(history, "loss"),
        },
        Line {
            name: "validation loss",
            colour: "#ff7f0e",
            values: series(history, "val_loss"),
        },
    ];
    let accuracy = vec![
        Line {
            name: "training accuracy",
            colour: "#1f77b4",
            values: series(history, "accuracy"),
        },
        Line {
            name: "validation accuracy",
            colour: "#ff7f0e",
            values: series(history, "val_accuracy"),
        },
        Line {
            name: "validation mean IoU",
            colour: "#2ca02c",
            values: series(history, "val_mean_iou"),
        },
    ];
    view! {
        <article class="model" data-testid=format!("card-{name}")>
            <h3>{name}</h3>
            <div class="charts">{chart(name, "loss", loss)}{chart(name, "accuracy", accuracy)}</div>
            <table>{rows}</table>
        </article>
    }
}

async fn fetch_json(url: &str) -> Result<Value, String> {
    let bytes = engine::fetch_bytes(url).await?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{url}: {e}"))
}

/// The model card section; loads lazily when opened.
#[component]
pub fn ModelCard() -> impl IntoView {
    let opened = RwSignal::new(false);
    let loaded = LocalResource::new(move || async move {
        if !opened.get() {
            return None;
        }
        let card = fetch_json("models/card.json").await;
        let mut models = Vec::new();
        for name in ["segmenter", "classifier"] {
            let history = fetch_json(&format!("models/{name}.history.json")).await;
            models.push((name, history));
        }
        Some((card, models))
    });
    let body = move || {
        let (card, models) = loaded.get().flatten()?;
        Some(match card {
            Err(e) => {
                view! { <p class="error">{format!("The model card could not be loaded: {e}")}</p> }
                    .into_any()
            }
            Ok(card) => models
                .into_iter()
                .map(|(name, history)| {
                    let history = history
                        .ok()
                        .and_then(|h| h.as_array().cloned())
                        .unwrap_or_default();
                    model_view(name, &card[name], &history)
                })
                .collect_view()
                .into_any(),
        })
    };
    view! {
        <details class="card" data-testid="model-card" on:toggle=move |_| opened.set(true)>
            <summary>"The models: what they are, how they were trained, training curves"</summary>
            {body}
            <p class="attribution">"Training data: the Oxford-IIIT Pet Dataset (Parkhi et al., CVPR 2012, CC BY-SA 4.0) and the book's "
                "cats-vs-dogs split of Kaggle's Dogs vs. Cats (Microsoft Asirra) with 7,279 more photos of that set. Full card: "<a href="models/card.json">"card.json"</a>"."</p>
        </details>
    }
}
