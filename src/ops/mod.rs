//! Custom tensor operations, registered with burn's backend-extension mechanism where burn's own
//! CPU kernels are the bottleneck (see BENCHMARKS.md): each has plain-slice kernels for `flex`,
//! a backward step for `Autodiff`, and tests against burn's own operation (`tests/ops.rs`).

pub mod depthwise;
pub mod maxpool;
pub mod pointwise;

pub use depthwise::{DepthwiseConvBackend, depthwise_conv2d};
pub use maxpool::{MaxPoolBackend, max_pool2d_same};
pub use pointwise::pointwise_conv2d;

/// Runs `f(index, chunk)` on every `len`-sized chunk of `out`: on all cores natively, in order
/// on wasm (single-threaded there).
pub(crate) fn for_each_chunk(
    out: &mut [f32],
    len: usize,
    f: impl Fn(usize, &mut [f32]) + Send + Sync,
) {
    if len == 0 {
        return;
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(len)
            .enumerate()
            .for_each(|(i, chunk)| f(i, chunk));
    }
    #[cfg(target_arch = "wasm32")]
    out.chunks_mut(len)
        .enumerate()
        .for_each(|(i, chunk)| f(i, chunk));
}
