//! `?bench=N`: the page asks the models' thread for its latency benchmark once the models are
//! loaded ([`crate::worker`] runs it) and shows the JSON report in `data-testid="bench"`.

use leptos::prelude::*;

use super::state::AppState;

/// N from `?bench=N`, when present.
pub fn requested_runs() -> Option<usize> {
    let search = web_sys::window()?.location().search().ok()?;
    let params = web_sys::UrlSearchParams::new_with_str(&search).ok()?;
    params.get("bench")?.parse().ok().filter(|&n| n > 0)
}

/// The report, when `?bench` asked for one.
#[component]
pub fn BenchReport() -> impl IntoView {
    let report = AppState::get().bench_report;
    move || {
        report
            .get()
            .map(|report| view! { <pre class="bench" data-testid="bench">{report}</pre> })
    }
}
