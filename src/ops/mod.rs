//! Custom tensor operations, registered with burn's backend-extension mechanism where burn's own
//! CPU kernels are the bottleneck (see BENCHMARKS.md): each has plain-slice kernels for `flex`,
//! a backward step for `Autodiff`, and tests against burn's own operation (`tests/ops.rs`).

pub mod batchnorm;
pub mod conv;
pub mod depthwise;
mod gemm;
pub mod maxpool;
pub mod pointwise;

pub use batchnorm::{BatchNormBackend, batch_norm};
pub use conv::{DenseConvBackend, dense_conv_transpose2d, dense_conv2d};
pub use depthwise::{DepthwiseConvBackend, depthwise_conv2d};
pub use maxpool::{MaxPoolBackend, max_pool2d_same};
pub use pointwise::pointwise_conv2d;

/// `(before, after)` zero padding of a "same" window (convolution or pooling) along an axis of
/// `len`, as burn's `PaddingConfig2d::Same` (and TensorFlow) place it: the odd one goes after.
pub fn same_padding(kernel: usize, stride: usize, len: usize) -> (usize, usize) {
    let out = len.div_ceil(stride);
    let total = ((out.max(1) - 1) * stride + kernel).saturating_sub(len);
    (total / 2, total - total / 2)
}

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

/// Whether tensors on `device` (with or without autodiff) live on burn's `flex` CPU backend,
/// where the project's kernels apply.
pub(crate) fn runs_on_flex(device: &burn::tensor::Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        burn::backend::DispatchDevice::Flex(_)
    )
}

/// A `flex` tensor's values as `f32` in row-major order, borrowed when it already is contiguous
/// `f32` and converted or copied otherwise.
pub(crate) fn f32s(t: &burn::backend::flex::FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    if t.dtype() == burn::tensor::DType::F32
        && let Some(slice) = t.as_slice::<f32>()
    {
        return std::borrow::Cow::Borrowed(slice);
    }
    let data = t.clone().into_data().convert::<f32>();
    std::borrow::Cow::Owned(data.try_to_vec::<f32>().unwrap_or_default())
}

/// The sum over `count` items of what `add(index, acc)` adds into a zeroed `len`-long
/// accumulator: items are spread over all cores natively (one accumulator per worker, summed at
/// the end) and run in order on wasm.
pub(crate) fn sum_over(
    count: usize,
    len: usize,
    add: impl Fn(usize, &mut [f32]) + Send + Sync,
) -> Vec<f32> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        (0..count)
            .into_par_iter()
            .fold(
                || vec![0.0; len],
                |mut acc, i| {
                    add(i, &mut acc);
                    acc
                },
            )
            .reduce_with(|mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                a
            })
            .unwrap_or_else(|| vec![0.0; len])
    }
    #[cfg(target_arch = "wasm32")]
    {
        let mut acc = vec![0.0; len];
        (0..count).for_each(|i| add(i, &mut acc));
        acc
    }
}
