//! Native training, evaluation and benchmarks (the `train` binary), over burn's CPU backend.

pub mod cli;
pub mod fit;
pub mod metrics;
pub mod task;
