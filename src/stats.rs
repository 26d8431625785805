//! Summaries of timings, for the page's `?bench` report and the benchmarks that read it.

use serde::Serialize;

/// The median and 90th percentile of some milliseconds (the page's `?bench` report).
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct LatencySummary {
    pub median_ms: f64,
    pub p90_ms: f64,
}

impl LatencySummary {
    /// Nearest-rank quantiles of `samples`; NaN for none.
    pub fn of(samples: &[f64]) -> Self {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let quantile = |q: f64| {
            let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
            sorted.get(rank - 1).copied().unwrap_or(f64::NAN)
        };
        Self {
            median_ms: quantile(0.5),
            p90_ms: quantile(0.9),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_summary_takes_nearest_rank_quantiles() {
        let samples: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        assert_eq!(
            LatencySummary::of(&samples),
            LatencySummary {
                median_ms: 5.0,
                p90_ms: 9.0
            }
        );
        assert_eq!(LatencySummary::of(&[7.0]).p90_ms, 7.0);
        assert!(LatencySummary::of(&[]).median_ms.is_nan());
    }
}
