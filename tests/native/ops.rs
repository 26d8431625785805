//! The project's operations (burn backend extensions with their own CPU kernels and backward
//! steps, and the matrix-product pointwise convolution) against burn's own: same outputs, same
//! gradients, on every instruction path the kernels have (the widest this CPU has here, then
//! every narrower one in a child process capped with `PETLENS_MAX_ISA`).

use burn::backend::ops::ConvOptions;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::module::conv2d;
use petlens::ops::isa::{InstructionSet, MAX_ISA_VAR, instruction_set, max_from_env};
use petlens::ops::{depthwise_conv2d, max_pool2d_same, pointwise_conv2d};

/// burn's reference: a grouped convolution with one group per channel.
fn burn_depthwise(x: Tensor<4>, weight: Tensor<4>, padding: usize) -> Tensor<4> {
    let channels = x.dims()[1];
    let options = ConvOptions::new([1, 1], [padding, padding], [1, 1], channels);
    conv2d(x, weight, None, options)
}

fn normal(shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

/// Largest absolute difference, relative to the reference's largest magnitude.
fn relative_error(ours: Tensor<4>, reference: Tensor<4>) -> f32 {
    let scale = reference.clone().abs().max().into_scalar::<f32>().max(1e-6);
    let diff = (ours - reference).abs().max().into_scalar::<f32>();
    diff / scale
}

/// Shapes `[n, c, h, w]`, kernel, padding: the chapter's 3x3 "same", a 5x5, no padding,
/// non-square planes, a kernel wider than the unpadded input, and more padding than the kernel
/// reaches.
const CASES: [([usize; 4], usize, usize); 6] = [
    ([2, 3, 4, 5], 3, 3),
    ([2, 8, 12, 12], 3, 1),
    ([3, 5, 9, 14], 5, 2),
    ([2, 4, 10, 7], 3, 0),
    ([1, 16, 23, 17], 3, 1),
    ([2, 3, 2, 3], 5, 2),
];

#[test]
fn forward_matches_burns_grouped_convolution() {
    let device = Device::flex();
    for (shape, k, p) in CASES {
        let x = normal(shape, &device);
        let w = normal([shape[1], 1, k, k], &device);
        let ours = depthwise_conv2d(x.clone(), w.clone(), p);
        let reference = burn_depthwise(x, w, p);
        assert_eq!(ours.dims(), reference.dims(), "{shape:?} k{k} p{p}");
        let err = relative_error(ours, reference);
        assert!(err < 1e-5, "{shape:?} k{k} p{p}: relative error {err}");
    }
}

#[test]
fn gradients_match_burns_grouped_convolution() {
    let device = Device::flex().autodiff();
    for (shape, k, p) in CASES {
        let x = normal(shape, &device);
        let w = normal([shape[1], 1, k, k], &device);
        // A random linear read-out of the output, so that every output position matters.
        let probe = normal(depthwise_conv2d(x.clone(), w.clone(), p).dims(), &device);

        let grads_of = |conv: fn(Tensor<4>, Tensor<4>, usize) -> Tensor<4>| {
            let (x, w) = (x.clone().require_grad(), w.clone().require_grad());
            let loss = (conv(x.clone(), w.clone(), p) * probe.clone()).sum();
            let grads = loss.backward();
            let dx = x.grad(&grads).expect("input gradient");
            let dw = w.grad(&grads).expect("weight gradient");
            (dx, dw)
        };
        let (dx, dw) = grads_of(depthwise_conv2d);
        let (ref_dx, ref_dw) = grads_of(burn_depthwise);
        let err_x = relative_error(dx, ref_dx);
        let err_w = relative_error(dw, ref_dw);
        assert!(
            err_x < 1e-5,
            "{shape:?} k{k} p{p}: input gradient error {err_x}"
        );
        assert!(
            err_w < 1e-5,
            "{shape:?} k{k} p{p}: weight gradient error {err_w}"
        );
    }
}

#[test]
fn gradient_reaches_a_leaf_on_the_plain_device_through_the_model_weights() {
    // Grad-CAM and filter visualisation differentiate with respect to the input only: the
    // weights live on the plain device and are constants for the autodiff graph.
    let device = Device::flex();
    let x = normal([1, 4, 6, 6], &device).autodiff().require_grad();
    let w = normal([4, 1, 3, 3], &device).autodiff();
    let loss = depthwise_conv2d(x.clone(), w.clone(), 1).sum();
    let dx = x.grad(&loss.backward()).expect("input gradient");
    let reference = {
        let x = x.clone().detach().require_grad();
        let loss = burn_depthwise(x.clone(), w, 1).sum();
        x.grad(&loss.backward()).expect("input gradient")
    };
    assert!(relative_error(dx, reference) < 1e-5);
}

/// The max pooling the classifier's blocks use, as burn computes it.
fn burn_max_pool(x: Tensor<4>, kernel: usize, stride: usize) -> Tensor<4> {
    use burn::nn::PaddingConfig2d;
    use burn::nn::pool::MaxPool2dConfig;
    MaxPool2dConfig::new([kernel, kernel])
        .with_strides([stride, stride])
        .with_padding(PaddingConfig2d::Same)
        .init()
        .forward(x)
}

/// Even and odd sizes (the "same" padding is asymmetric for even ones), 3x3/2 as in the
/// classifier, a 2x2/2, a 3x3/1, and a 5x5/3 (windows over three phases of a row).
const POOL_CASES: [([usize; 4], usize, usize); 6] = [
    ([2, 3, 8, 8], 3, 2),
    ([1, 2, 10, 11], 5, 3),
    ([2, 3, 7, 9], 3, 2),
    ([1, 4, 45, 45], 3, 2),
    ([2, 2, 6, 5], 2, 2),
    ([1, 3, 5, 6], 3, 1),
];

#[test]
fn max_pool_matches_burns_same_padded_pooling() {
    let device = Device::flex();
    for (shape, k, s) in POOL_CASES {
        let x = normal(shape, &device);
        let ours = max_pool2d_same(x.clone(), k, s);
        let reference = burn_max_pool(x, k, s);
        assert_eq!(ours.dims(), reference.dims(), "{shape:?} k{k} s{s}");
        assert_eq!(relative_error(ours, reference), 0.0, "{shape:?} k{k} s{s}");
    }
}

#[test]
fn max_pool_gradient_matches_burns() {
    let device = Device::flex().autodiff();
    for (shape, k, s) in POOL_CASES {
        let x = normal(shape, &device);
        let probe = normal(max_pool2d_same(x.clone(), k, s).dims(), &device);
        let grad_of = |pool: fn(Tensor<4>, usize, usize) -> Tensor<4>| {
            let x = x.clone().require_grad();
            let loss = (pool(x.clone(), k, s) * probe.clone()).sum();
            x.grad(&loss.backward()).expect("input gradient")
        };
        let err = relative_error(grad_of(max_pool2d_same), grad_of(burn_max_pool));
        assert!(err < 1e-6, "{shape:?} k{k} s{s}: gradient error {err}");
    }
}

#[test]
fn pointwise_convolution_and_its_gradients_match_burns_1x1_convolution() {
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    let device = Device::flex().autodiff();
    // Stride 1 (separable convolutions) and stride 2 on odd and even sizes (projections).
    for (shape, stride) in [([2, 6, 9, 9], 1), ([2, 6, 9, 9], 2), ([3, 4, 8, 10], 2)] {
        let conv = Conv2dConfig::new([shape[1], 5], [1, 1])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Same)
            .init(&device);
        let x = normal(shape, &device).require_grad();
        let weight = conv.weight.val();
        let bias = conv.bias.as_ref().map(|b| b.val());
        let ours = pointwise_conv2d(x.clone(), weight.clone(), bias, stride);
        let reference = conv.forward(x.clone());
        assert_eq!(ours.dims(), reference.dims(), "{shape:?} s{stride}");
        let probe = normal(ours.dims(), &device);
        let ours_grads = (ours.clone() * probe.clone()).sum().backward();
        let reference_grads = (reference.clone() * probe).sum().backward();
        let grad = |t: &Tensor<4>, g| t.grad(g).expect("gradient");
        assert!(
            relative_error(ours, reference) < 1e-5,
            "{shape:?} s{stride}"
        );
        let err_x = relative_error(grad(&x, &ours_grads), grad(&x, &reference_grads));
        let err_w = relative_error(grad(&weight, &ours_grads), grad(&weight, &reference_grads));
        assert!(
            err_x < 1e-5,
            "{shape:?} s{stride}: input gradient error {err_x}"
        );
        assert!(
            err_w < 1e-5,
            "{shape:?} s{stride}: weight gradient error {err_w}"
        );
    }
}

#[test]
fn batch_norm_matches_burns_in_training_and_inference() {
    use burn::nn::BatchNormConfig;
    use petlens::ops::batch_norm;
    let device = Device::flex().autodiff();
    for shape in [[4, 3, 5, 6], [2, 8, 9, 9], [3, 2, 1, 1]] {
        let channels = shape[1];
        // Non-trivial scale and shift, and inputs far from zero mean.
        let mut ours_norm = BatchNormConfig::new(channels).init(&device);
        ours_norm.gamma = ours_norm.gamma.map(|g| {
            let noise = normal([channels, 1, 1, 1], &g.device()).reshape([channels]);
            (g + noise).detach().require_grad()
        });
        ours_norm.beta = ours_norm.beta.map(|b| {
            let noise = normal([channels, 1, 1, 1], &b.device()).reshape([channels]);
            (b + noise).detach().require_grad()
        });
        let burn_norm = ours_norm.clone();
        let x = normal(shape, &device) * 3.0 + 5.0;
        let probe = normal(shape, &device);

        let run = |norm: &burn::nn::BatchNorm, ours: bool| {
            let x = x.clone().require_grad();
            let y = if ours {
                batch_norm(norm, x.clone())
            } else {
                norm.forward(x.clone())
            };
            let grads = (y.clone() * probe.clone()).sum().backward();
            let dx = x.grad(&grads).expect("input gradient");
            let dgamma = norm.gamma.val().grad(&grads).expect("gamma gradient");
            let dbeta = norm.beta.val().grad(&grads).expect("beta gradient");
            (
                y,
                dx,
                dgamma.reshape([1, channels, 1, 1]),
                dbeta.reshape([1, channels, 1, 1]),
            )
        };
        let (y, dx, dgamma, dbeta) = run(&ours_norm, true);
        let (ref_y, ref_dx, ref_dgamma, ref_dbeta) = run(&burn_norm, false);
        assert!(relative_error(y, ref_y) < 1e-5, "{shape:?} output");
        assert!(
            relative_error(dx, ref_dx) < 1e-4,
            "{shape:?} input gradient"
        );
        assert!(
            relative_error(dgamma, ref_dgamma) < 1e-4,
            "{shape:?} gamma gradient"
        );
        assert!(
            relative_error(dbeta, ref_dbeta) < 1e-5,
            "{shape:?} beta gradient"
        );
        // Both updated their running statistics the same way.
        let running = |n: &burn::nn::BatchNorm| {
            Tensor::cat(vec![n.running_mean.value(), n.running_var.value()], 0)
                .reshape([1, 2, channels, 1])
        };
        assert!(
            relative_error(running(&ours_norm), running(&burn_norm)) < 1e-5,
            "{shape:?} running"
        );

        // Inference (no autodiff) from those running statistics.
        let (ours_eval, burn_eval) = (ours_norm.valid(), burn_norm.valid());
        let x_eval = x.clone().inner();
        let err = relative_error(
            batch_norm(&ours_eval, x_eval.clone()),
            burn_eval.forward(x_eval),
        );
        assert!(err < 1e-5, "{shape:?} inference: {err}");
    }
}

/// Asserts that `ours` matches `reference` and that a random linear read-out of each gives the
/// same gradients for the input and the weight; returns both sets of gradients.
fn assert_same_with_gradients(
    label: &str,
    ours: Tensor<4>,
    reference: Tensor<4>,
    [x, weight]: [&Tensor<4>; 2],
) -> (burn::tensor::Gradients, burn::tensor::Gradients) {
    assert_eq!(ours.dims(), reference.dims(), "{label}");
    let probe = normal(ours.dims(), &ours.device());
    let ours_grads = (ours.clone() * probe.clone()).sum().backward();
    let reference_grads = (reference.clone() * probe).sum().backward();
    assert!(relative_error(ours, reference) < 1e-5, "{label}");
    for (name, t) in [("input", x), ("weight", weight)] {
        let (a, b) = (t.grad(&ours_grads), t.grad(&reference_grads));
        let err = relative_error(a.expect("gradient"), b.expect("gradient"));
        assert!(err < 1e-5, "{label}: {name} gradient error {err}");
    }
    (ours_grads, reference_grads)
}

type DenseCase = ([usize; 4], usize, usize, usize, [(usize, usize); 2]);

/// `[n, c_in, h, w]`, `c_out`, kernel, stride, padding `(before, after)` per axis: the
/// segmenter's "same" 3x3 (symmetric at stride 1, one extra row and column after at stride 2
/// on even sizes) and its class scores (32 channels to 3: the forward pass scatters through the
/// flipped convolution), fewer output channels below that ratio (16 -> 3, 16 -> 8: only the
/// filter gradient goes through the flipped convolution), the classifier's 5x5 "valid" stem,
/// non-square planes, odd sizes, more padding than the window reaches, and a plane so wide that
/// the kernels unroll one output row at a time (more than 4 MB of patches per row), so that a
/// band lies entirely in the padding above the input.
const DENSE_CASES: [DenseCase; 10] = [
    ([1, 64, 2, 1900], 40, 3, 1, [(1, 1), (1, 1)]),
    ([2, 32, 7, 9], 3, 3, 1, [(1, 1), (1, 1)]),
    ([2, 16, 7, 9], 3, 3, 1, [(1, 1), (1, 1)]),
    ([2, 16, 6, 7], 8, 3, 1, [(1, 1), (1, 1)]),
    ([2, 3, 8, 8], 4, 3, 1, [(1, 1), (1, 1)]),
    ([2, 5, 10, 10], 6, 3, 2, [(0, 1), (0, 1)]),
    ([3, 3, 12, 9], 4, 5, 1, [(0, 0), (0, 0)]),
    ([2, 4, 9, 7], 3, 3, 2, [(1, 1), (1, 1)]),
    ([1, 2, 5, 6], 3, 3, 1, [(3, 2), (2, 3)]),
    ([4, 7, 6, 5], 5, 1, 2, [(0, 0), (0, 0)]),
];

#[test]
fn dense_convolution_and_its_gradients_match_burns() {
    use burn::backend::ops::ConvOptions;
    use petlens::ops::dense_conv2d;
    let device = Device::flex().autodiff();
    for (shape, c_out, k, stride, padding) in DENSE_CASES {
        let label = format!("{shape:?} -> {c_out}, k{k} s{stride} p{padding:?}");
        let options = ConvOptions::new_with_padding([stride, stride], padding, [1, 1], 1);
        let x = normal(shape, &device).require_grad();
        let weight = normal([c_out, shape[1], k, k], &device).require_grad();
        let bias =
            Tensor::<1>::random([c_out], Distribution::Normal(0.0, 1.0), &device).require_grad();
        let run = |conv: fn(_, _, _, ConvOptions<2>) -> Tensor<4>| {
            conv(
                x.clone(),
                weight.clone(),
                Some(bias.clone()),
                options.clone(),
            )
        };
        let (ours, reference) = (run(dense_conv2d), run(conv2d));
        let (ours_grads, reference_grads) =
            assert_same_with_gradients(&label, ours, reference, [&x, &weight]);
        let bias_err = (bias.grad(&ours_grads).unwrap() - bias.grad(&reference_grads).unwrap())
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(bias_err < 1e-3, "{label}: bias gradient error {bias_err}");
    }
}

#[test]
fn transposed_convolution_and_its_gradients_match_burns() {
    use burn::backend::ops::ConvTransposeOptions;
    use burn::tensor::module::conv_transpose2d;
    use petlens::ops::dense_conv_transpose2d;
    let device = Device::flex().autodiff();
    // The segmenter's decoder units (3x3, padding 1, stride 1, and stride 2 with one output
    // padding row and column, which doubles the size), odd and non-square inputs, a 4x4 window,
    // and output channels that end in a partial block of the filters' rearrangement (16 each).
    let cases = [
        ([2, 4, 5, 5], 3, 3, 1, 1, 0),
        ([1, 18, 4, 5], 37, 3, 1, 1, 0),
        ([1, 20, 5, 6], 35, 3, 2, 1, 1),
        ([2, 4, 5, 6], 3, 3, 2, 1, 1),
        ([3, 2, 7, 4], 5, 3, 2, 1, 1),
        ([1, 3, 4, 4], 2, 4, 2, 1, 0),
        ([2, 3, 3, 5], 4, 3, 1, 0, 0),
    ];
    for (shape, c_out, k, stride, padding, padding_out) in cases {
        let label = format!("{shape:?} -> {c_out}, k{k} s{stride} p{padding} o{padding_out}");
        let options = ConvTransposeOptions::new(
            [stride, stride],
            [padding, padding],
            [padding_out, padding_out],
            [1, 1],
            1,
        );
        let x = normal(shape, &device).require_grad();
        let weight = normal([shape[1], c_out, k, k], &device).require_grad();
        let run = |conv: fn(_, _, _, ConvTransposeOptions<2>) -> Tensor<4>| {
            conv(x.clone(), weight.clone(), None, options.clone())
        };
        let (ours, reference) = (run(dense_conv_transpose2d), run(conv_transpose2d));
        assert_same_with_gradients(&label, ours, reference, [&x, &weight]);
    }
}

/// The routing policy: other dtypes than `f32` go to burn's own operations (here `f64` on the
/// CPU, which the project's kernels never see), with burn's results.
#[test]
fn other_dtypes_than_f32_run_burns_operations() {
    use burn::tensor::DType;
    let device = Device::flex();
    let x = normal([2, 4, 9, 9], &device).cast(DType::F64);
    let weight = normal([4, 1, 3, 3], &device).cast(DType::F64);
    let ours = depthwise_conv2d(x.clone(), weight.clone(), 1);
    assert_eq!(ours.dtype(), DType::F64);
    let reference = burn_depthwise(x.clone(), weight, 1);
    assert!(ours.equal(reference).all().into_scalar::<bool>());
    let pooled = max_pool2d_same(x.clone(), 3, 2);
    assert_eq!(pooled.dtype(), DType::F64);
    assert_eq!(pooled.dims(), [2, 4, 5, 5]);
    let pointwise = pointwise_conv2d(x, normal([3, 4, 1, 1], &device).cast(DType::F64), None, 1);
    assert_eq!(pointwise.dtype(), DType::F64);
}

/// A gradient kernel called on an autodiff tensor (a second derivative) stops with a message
/// instead of silently returning a constant.
#[test]
#[should_panic(expected = "second-order gradients of max pooling are not implemented")]
fn a_second_order_gradient_panics_with_a_message() {
    use burn::backend::Dispatch;
    use petlens::ops::MaxPoolBackend;
    let device = Device::flex().autodiff();
    let x = normal([1, 2, 6, 6], &device);
    let grad = normal([1, 2, 3, 3], &device);
    let _ = Tensor::<4>::from_dispatch(Dispatch::max_pool2d_same_backward(
        x.into_dispatch(),
        grad.into_dispatch(),
        3,
        2,
    ));
}

/// The layer wrappers read each layer's own settings: what the project's operations cover runs
/// through them, the rest through the layer's `forward`, with burn's results either way.
#[test]
fn layer_wrappers_match_the_layers_own_forward() {
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    use burn::nn::pool::MaxPool2dConfig;
    use petlens::ops::layers::{
        conv2d, depthwise_conv2d_layer, max_pool2d, pointwise_conv2d_layer,
    };
    let device = Device::flex();
    let x = normal([2, 4, 11, 10], &device);
    let close = |ours: Tensor<4>, reference: Tensor<4>, what: &str| {
        assert_eq!(ours.dims(), reference.dims(), "{what}");
        let error = relative_error(ours, reference);
        assert!(error < 1e-5, "{what}: {error}");
    };
    for padding in [PaddingConfig2d::Same, PaddingConfig2d::Valid] {
        let pool = MaxPool2dConfig::new([3, 3])
            .with_strides([2, 2])
            .with_padding(padding.clone())
            .init();
        close(
            max_pool2d(&pool, x.clone()),
            pool.forward(x.clone()),
            "max pool",
        );
        let depthwise = Conv2dConfig::new([4, 4], [3, 3])
            .with_groups(4)
            .with_padding(padding.clone())
            .with_bias(false)
            .init(&device);
        close(
            depthwise_conv2d_layer(&depthwise, x.clone()),
            depthwise.forward(x.clone()),
            "depthwise",
        );
        let dense = Conv2dConfig::new([4, 6], [3, 3])
            .with_stride([2, 1])
            .with_padding(padding)
            .init(&device);
        close(conv2d(&dense, x.clone()), dense.forward(x.clone()), "dense");
    }
    for stride in [[1, 1], [2, 2], [2, 1]] {
        let pointwise = Conv2dConfig::new([4, 5], [1, 1])
            .with_stride(stride)
            .init(&device);
        close(
            pointwise_conv2d_layer(&pointwise, x.clone()),
            pointwise.forward(x.clone()),
            "pointwise",
        );
    }
}

/// At inference the models' batch norm and ReLU (or ReLU6) are one pass, in place on a fresh
/// activation: the same values as burn's batch norm then ReLU, and an activation something else
/// still holds (a residual branch) is left as it was.
#[test]
fn batch_norm_relu_at_inference_matches_burns_and_spares_a_shared_input() {
    use burn::nn::BatchNormConfig;
    use burn::tensor::activation::relu;
    use petlens::ops::{batch_norm_relu, batch_norm_relu6};
    let device = Device::flex();
    for shape in [[1, 3, 5, 6], [2, 8, 9, 9], [3, 2, 1, 1]] {
        let channels = shape[1];
        let mut norm = BatchNormConfig::new(channels).init(&device);
        let noise = || normal([channels, 1, 1, 1], &device).reshape([channels]);
        norm.gamma = norm.gamma.map(|g| g + noise());
        norm.beta = norm.beta.map(|b| b + noise());
        norm.running_mean = burn::module::RunningState::new(noise());
        norm.running_var = burn::module::RunningState::new(noise().abs() + 0.5);
        let norm = norm.valid();
        let x = normal(shape, &device) * 2.0;
        let reference = relu(norm.forward(x.clone()));
        let kept = x.clone().into_data();
        // `x` is shared (the clone above and this one): the result must come from a copy.
        let shared = batch_norm_relu(&norm, x.clone());
        assert!(
            relative_error(shared, reference.clone()) < 1e-6,
            "{shape:?}"
        );
        assert_eq!(
            x.clone().into_data(),
            kept,
            "{shape:?}: a shared input was changed"
        );
        // A fresh activation (nothing else holds it) is normalised in place.
        let fresh = batch_norm_relu(&norm, x.clone() * 1.0);
        assert!(relative_error(fresh, reference.clone()) < 1e-6, "{shape:?}");
        // ReLU6 (MobileNet's) in the same pass: capped at 6.
        let capped = batch_norm_relu6(&norm, x * 1.0);
        assert!(
            relative_error(capped, reference.clamp_max(6.0)) < 1e-6,
            "{shape:?}"
        );
    }
}

/// Set by [`a_cap_selects_exactly_that_instruction_set`] in its children: the instruction set
/// they must run, spelled out by the parent rather than derived from the cap.
const EXPECTED_ISA_VAR: &str = "PETLENS_TEST_EXPECTED_ISA";

/// Uncapped, the kernels run the widest set the CPU has; in a child of
/// [`a_cap_selects_exactly_that_instruction_set`], the set that child was told.
#[test]
fn the_kernels_run_the_capped_instruction_set() {
    match std::env::var(EXPECTED_ISA_VAR) {
        Ok(expected) => assert_eq!(instruction_set().name(), expected),
        Err(_) if max_from_env().expect("a readable cap").is_none() => {
            assert_eq!(instruction_set(), InstructionSet::detected())
        }
        // Capped by the narrower-paths test below: the parent checks those children.
        Err(_) => {}
    }
}

/// This module's tests as the test binary names them (`ops::…`; the binary holds every native
/// test), for the child processes below.
fn this_module() -> &'static str {
    module_path!()
        .split_once("::")
        .map_or(module_path!(), |(_, module)| module)
}

/// `PETLENS_MAX_ISA=<set>` makes the kernels run exactly `<set>`, for every set this CPU has
/// (each in a child process, since the choice is made once per process).
#[test]
fn a_cap_selects_exactly_that_instruction_set() {
    let sets = [
        (InstructionSet::Baseline, "baseline"),
        (InstructionSet::Avx2, "avx2"),
        (InstructionSet::Avx512, "avx512"),
    ];
    for (set, name) in sets
        .into_iter()
        .filter(|(set, _)| *set <= InstructionSet::detected())
    {
        let child = std::process::Command::new(std::env::current_exe().expect("the test binary"))
            .args([
                "--exact",
                &format!(
                    "{}::the_kernels_run_the_capped_instruction_set",
                    this_module()
                ),
            ])
            .env(MAX_ISA_VAR, name)
            .env(EXPECTED_ISA_VAR, name)
            .output()
            .expect("the test binary runs again");
        let out = String::from_utf8_lossy(&child.stdout);
        assert!(child.status.success(), "capped to {name}:\n{out}");
        assert!(
            out.contains("test result: ok. 1 passed"),
            "capped to {name} ({set:?}):\n{out}"
        );
    }
}

/// Every other test of this file again, in a child process per instruction set narrower than
/// the one this process runs (AVX2 and the x86-64 baseline on an AVX-512 machine): the same
/// comparisons with burn must hold on each path.
#[test]
fn every_kernel_matches_burn_on_the_narrower_instruction_paths() {
    let this_path = instruction_set();
    let narrower = [InstructionSet::Baseline, InstructionSet::Avx2]
        .into_iter()
        .filter(|&set| set < this_path);
    let mut ran = Vec::new();
    for set in narrower {
        let exe = std::env::current_exe().expect("the test binary's path");
        let child = std::process::Command::new(exe)
            .args([
                &format!("{}::", this_module()),
                "--skip",
                "every_kernel_matches_burn_on_the_narrower",
                "--skip",
                "a_cap_selects_exactly",
            ])
            .env(MAX_ISA_VAR, set.name())
            .output()
            .expect("the test binary runs again");
        let out = String::from_utf8_lossy(&child.stdout);
        assert!(child.status.success(), "capped to {}:\n{out}", set.name());
        let passed = out
            .lines()
            .find_map(|l| {
                l.strip_prefix("test result: ok. ")?
                    .split(' ')
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or(0usize);
        assert!(
            passed >= 12,
            "capped to {}: only {passed} tests ran:\n{out}",
            set.name()
        );
        ran.push(format!("{} ({passed} tests)", set.name()));
    }
    if ran.is_empty() {
        eprintln!(
            "SKIPPED: no instruction set narrower than {} on this CPU",
            this_path.name()
        );
    } else {
        eprintln!(
            "instruction paths: {} here, then {}",
            this_path.name(),
            ran.join(", ")
        );
    }
}
