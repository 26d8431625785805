//! Custom tensor operations, registered with burn's backend-extension mechanism where burn's own
//! CPU kernels are the bottleneck (see BENCHMARKS.md): each has plain-slice kernels for `flex`,
//! a backward step for `Autodiff`, and tests against burn's own operation (`tests/native/ops.rs`).

pub mod batchnorm;
pub mod conv;
pub mod depthwise;
mod gemm;
pub mod isa;
pub use gemm::kernel_set;
#[cfg(not(target_arch = "wasm32"))]
pub use gemm::{kernel_set_gflops, matmul_peak_gflops};
pub mod layers;
pub mod maxpool;
pub mod pointwise;

pub use batchnorm::{BatchNormBackend, batch_norm, batch_norm_relu, batch_norm_relu6};
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

/// Runs `f` on every task: spread over all cores natively, in order on wasm.
pub(crate) fn for_each_task<T: Send>(tasks: Vec<T>, f: impl Fn(T) + Send + Sync) {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        tasks.into_par_iter().for_each(f);
    }
    #[cfg(target_arch = "wasm32")]
    tasks.into_iter().for_each(f);
}

/// The cores the kernels spread their work over (1 on wasm).
pub(crate) fn threads() -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    return rayon::current_num_threads();
    #[cfg(target_arch = "wasm32")]
    1
}

/// Runs `f` on this thread's scratch buffer of `len` floats (their values are left over from
/// earlier use: `f` must write before it reads). The kernels unroll patches into one on every
/// call; reusing it spares allocating and zeroing megabytes each time.
pub(crate) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut buffer) => {
            if buffer.len() < len {
                buffer.resize(len, 0.0);
            }
            f(&mut buffer[..len])
        }
        // Already in use further up this thread's stack (a task stolen while waiting).
        Err(_) => f(&mut vec![0.0; len]),
    })
}

/// The one routing policy of every extension: the project's kernels run when the call's
/// tensors live on burn's `flex` CPU backend (with or without autodiff) and all hold `f32`;
/// anything else (WebGPU, other dtypes) goes to burn's own operation.
pub(crate) fn routes_to_own_kernels(
    device: &burn::tensor::Device,
    dtypes: impl IntoIterator<Item = burn::tensor::DType>,
) -> bool {
    let on_flex = matches!(
        device.clone().inner().as_dispatch(),
        burn::backend::DispatchDevice::Flex(_)
    );
    on_flex && dtypes.into_iter().all(|d| d == burn::tensor::DType::F32)
}

/// A `flex` tensor's values as `f32` in row-major order: borrowed when it already is contiguous
/// `f32`, copied otherwise. The routing ([`routes_to_own_kernels`]) sends only `f32` here.
pub(crate) fn f32s(t: &burn::backend::flex::FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    if let Some(slice) = t.as_slice::<f32>() {
        return std::borrow::Cow::Borrowed(slice);
    }
    let data = t.clone().into_data();
    assert_eq!(
        data.dtype(),
        burn::tensor::DType::F32,
        "the project's kernels take f32 tensors only; the routing must send others to burn"
    );
    std::borrow::Cow::Owned(data.try_to_vec::<f32>().expect("f32 data reads as f32"))
}

/// The panic of an extension's gradient kernel when it is itself differentiated: nothing in
/// petlens needs second-order gradients, and a silent constant would be a wrong answer.
pub(crate) fn no_second_order(op: &str) -> ! {
    panic!(
        "second-order gradients of {op} are not implemented (the gradient kernel was called on an autodiff tensor)"
    )
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
