//! Native training, evaluation and benchmarks (the `train` binary), on burn's CPU backend by default, or on GPUs through wgpu or CUDA.

pub mod cli;
pub mod curves;
pub mod ema;
pub mod eval;
pub mod explain;
pub mod fit;
pub mod import;
pub mod metrics;
pub mod recipe;
pub mod run;
pub mod ship;
pub mod task;
