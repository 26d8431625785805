//! Dense convolutions (and transposed convolutions) as a backend extension.
//!
//! burn's `flex` computes the filter gradient of a convolution as another convolution whose
//! "filters" are the whole output gradient, and the layers of the chapter's segmenter with few
//! output channels through kernels that reach a few GFLOP/s; together they held the segmenter's
//! training to a third of TensorFlow's speed (see BENCHMARKS.md). [`DenseConvBackend`] gives
//! `flex` one formulation for all three passes, matrix products over unrolled patches
//! ([`kernels`]), and gives `Autodiff` the backward steps. A transposed convolution is the input
//! gradient of the convolution it transposes, so the same three kernels serve it.
//! [`dense_conv2d`] and [`dense_conv_transpose2d`] route by device: other backends keep burn's
//! convolutions.

mod autodiff;
mod flex;
pub mod kernels;

use burn::backend::ops::{ConvOptions, ConvTransposeOptions};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Dispatch, backend_extension};
use burn::prelude::*;
use burn::tensor::module::{conv_transpose2d, conv2d};

use super::routes_to_own_kernels;

/// The spatial sizes of a convolution with one group and no dilation, seen from the
/// convolution's side (for a transposed convolution: the convolution it transposes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Input height and width.
    pub input: [usize; 2],
    /// Output height and width.
    pub output: [usize; 2],
    /// Window height and width.
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// Zero rows and columns before the input (those after it follow from the output size).
    pub padding: [usize; 2],
}

impl ConvGeometry {
    /// The geometry of `conv2d(x, weight, options)` for `x`: `[n, c, h, w]` and `weight`:
    /// `[c_out, c, k_h, k_w]`; `None` for grouped or dilated convolutions.
    pub fn of_conv(x: [usize; 4], weight: [usize; 4], options: &ConvOptions<2>) -> Option<Self> {
        let plain = options.groups == 1 && options.dilation == [1, 1] && weight[1] == x[1];
        let axis = |i: usize| {
            let (before, after) = options.padding[i];
            let padded = x[2 + i] + before + after;
            let reach = padded.checked_sub(weight[2 + i])?;
            Some(reach / options.stride[i] + 1)
        };
        Some(Self {
            input: [x[2], x[3]],
            output: [axis(0)?, axis(1)?],
            kernel: [weight[2], weight[3]],
            stride: options.stride,
            padding: [options.padding[0].0, options.padding[1].0],
        })
        .filter(|_| plain)
    }

    /// The geometry of the convolution that `conv_transpose2d(x, weight, options)` transposes,
    /// for `x`: `[n, c, h, w]` and `weight`: `[c, c_out, k_h, k_w]`; `None` for grouped or
    /// dilated ones, or an output padding of a whole stride or more.
    pub fn of_transpose(
        x: [usize; 4],
        weight: [usize; 4],
        options: &ConvTransposeOptions<2>,
    ) -> Option<Self> {
        let plain = options.groups == 1 && options.dilation == [1, 1] && weight[0] == x[1];
        let axis = |i: usize| {
            let s = options.stride[i];
            let full = (x[2 + i].checked_sub(1)? * s + weight[2 + i] + options.padding_out[i])
                .checked_sub(2 * options.padding[i])?;
            (options.padding_out[i] < s && full > 0).then_some(full)
        };
        Some(Self {
            input: [axis(0)?, axis(1)?],
            output: [x[2], x[3]],
            kernel: [weight[2], weight[3]],
            stride: options.stride,
            padding: options.padding,
        })
        .filter(|_| plain)
    }
}

/// A dense 2-D convolution, its two gradients, and the transposed convolution they give.
#[backend_extension(Flex, Autodiff)]
pub trait DenseConvBackend: burn::backend::Backend {
    /// `x`: `[n, c_in, h, w]`, `weight`: `[c_out, c_in, k_h, k_w]` -> `[n, c_out, out_h, out_w]`.
    fn dense_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        geometry: ConvGeometry,
    ) -> FloatTensor<Self>;

    /// Gradient of [`Self::dense_conv2d`] with respect to `x`, given the output's gradient.
    fn dense_conv2d_x_backward(
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        geometry: ConvGeometry,
    ) -> FloatTensor<Self>;

    /// Gradient of [`Self::dense_conv2d`] with respect to `weight`, given the output's gradient.
    fn dense_conv2d_weight_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        geometry: ConvGeometry,
    ) -> FloatTensor<Self>;

    /// The transposed convolution of `x` (`[n, c_in, h, w]` with `h, w` = `geometry.output`) by
    /// `weight` (`[c_in, c_out, k_h, k_w]`): `[n, c_out, geometry.input]`.
    fn dense_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        geometry: ConvGeometry,
    ) -> FloatTensor<Self>;
}

/// burn's `conv2d(x, weight, bias, options)`, differentiable, through [`DenseConvBackend`] on
/// the CPU for `f32` convolutions with one group and no dilation.
pub fn dense_conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    let geometry = ConvGeometry::of_conv(x.dims(), weight.dims(), &options);
    match geometry.filter(|_| own_kernels(&x, &weight, bias.as_ref())) {
        Some(geometry) => with_bias(
            Tensor::from_dispatch(Dispatch::dense_conv2d(
                x.into_dispatch(),
                weight.into_dispatch(),
                geometry,
            )),
            bias,
        ),
        None => conv2d(x, weight, bias, options),
    }
}

/// burn's `conv_transpose2d(x, weight, bias, options)`, differentiable, through
/// [`DenseConvBackend`] on the CPU for `f32` convolutions with one group and no dilation.
pub fn dense_conv_transpose2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvTransposeOptions<2>,
) -> Tensor<4> {
    let geometry = ConvGeometry::of_transpose(x.dims(), weight.dims(), &options);
    match geometry.filter(|_| own_kernels(&x, &weight, bias.as_ref())) {
        Some(geometry) => with_bias(
            Tensor::from_dispatch(Dispatch::dense_conv_transpose2d(
                x.into_dispatch(),
                weight.into_dispatch(),
                geometry,
            )),
            bias,
        ),
        None => conv_transpose2d(x, weight, bias, options),
    }
}

fn own_kernels(x: &Tensor<4>, weight: &Tensor<4>, bias: Option<&Tensor<1>>) -> bool {
    let dtypes = [x.dtype(), weight.dtype()];
    routes_to_own_kernels(
        &x.device(),
        dtypes.into_iter().chain(bias.map(Tensor::dtype)),
    )
}

/// `y + bias` per output channel.
fn with_bias(y: Tensor<4>, bias: Option<Tensor<1>>) -> Tensor<4> {
    match bias {
        Some(bias) => {
            let channels = bias.dims()[0];
            y + bias.reshape([1, channels, 1, 1])
        }
        None => y,
    }
}
