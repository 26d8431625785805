//! Per-layer timings of the chapter's segmenter (160 px, batch 32) on burn's `flex` CPU backend:
//! forward pass, input gradient and filter gradient of every dense and transposed convolution,
//! with burn's own kernels and with the project's (`petlens::ops::conv`), in one run. Prints one
//! JSON line per layer and a total.
//!
//!     cargo run --release --example conv_layers [-- --batch-size 32]

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    native::run();
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::time::Instant;

    use burn::backend::Flex;
    use burn::backend::flex::FlexTensor;
    use burn::backend::ops::{ConvOptions, ConvTransposeOptions, ModuleOps};
    use burn::tensor::TensorData;
    use petlens::ops::DenseConvBackend;
    use petlens::ops::conv::ConvGeometry;
    use serde_json::json;

    /// `(c_in, c_out, input size, stride, transposed)`: the chapter's segmenter at 160 px.
    const LAYERS: [(usize, usize, usize, usize, bool); 13] = [
        (3, 64, 160, 2, false),
        (64, 64, 80, 1, false),
        (64, 128, 80, 2, false),
        (128, 128, 40, 1, false),
        (128, 256, 40, 2, false),
        (256, 256, 20, 1, false),
        (256, 256, 20, 1, true),
        (256, 256, 20, 2, true),
        (256, 128, 40, 1, true),
        (128, 128, 40, 2, true),
        (128, 64, 80, 1, true),
        (64, 64, 80, 2, true),
        (64, 3, 160, 1, false),
    ];

    /// Three passes of one layer, in milliseconds: forward, input gradient, filter gradient.
    type Passes = [f64; 3];

    pub fn run() {
        let batch = std::env::args()
            .skip_while(|a| a != "--batch-size")
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(32);
        let (mut burn_total, mut ours_total) = ([0.0; 3], [0.0; 3]);
        for (c_in, c_out, size, stride, transposed) in LAYERS {
            let (burn, ours) = if transposed {
                transposed_layer(batch, [c_in, c_out], size, stride)
            } else {
                dense_layer(batch, [c_in, c_out], size, stride)
            };
            for i in 0..3 {
                burn_total[i] += burn[i];
                ours_total[i] += ours[i];
            }
            let kind = if transposed { "conv_transpose" } else { "conv" };
            println!(
                "{}",
                json!({"layer": format!("{kind} {c_in}->{c_out} {size}px stride {stride}"),
                       "burn_ms": burn, "petlens_ms": ours})
            );
        }
        println!(
            "{}",
            json!({"total_per_batch_ms": {"burn": burn_total, "petlens": ours_total}, "batch": batch})
        );
    }

    fn dense_layer(
        batch: usize,
        [c_in, c_out]: [usize; 2],
        size: usize,
        stride: usize,
    ) -> (Passes, Passes) {
        let x = values([batch, c_in, size, size]);
        let w = values([c_out, c_in, 3, 3]);
        // burn's "same" padding: one extra row and column after the input at stride 2.
        let padding = if stride == 2 {
            [(0, 1), (0, 1)]
        } else {
            [(1, 1), (1, 1)]
        };
        let options = ConvOptions::new_with_padding([stride, stride], padding, [1, 1], 1);
        let geometry =
            ConvGeometry::of_conv(dims(&x), dims(&w), &options).expect("a plain convolution");
        let dy = Flex::dense_conv2d(x.clone(), w.clone(), geometry);
        let burn = [
            time(|| drop(Flex::conv2d(x.clone(), w.clone(), None, options.clone()))),
            time(|| {
                drop(Flex::conv2d_x_backward(
                    x.clone(),
                    w.clone(),
                    dy.clone(),
                    options.clone(),
                ))
            }),
            time(|| {
                drop(Flex::conv2d_weight_backward(
                    x.clone(),
                    w.clone(),
                    dy.clone(),
                    options.clone(),
                ))
            }),
        ];
        let ours = [
            time(|| drop(Flex::dense_conv2d(x.clone(), w.clone(), geometry))),
            time(|| {
                drop(Flex::dense_conv2d_x_backward(
                    w.clone(),
                    dy.clone(),
                    geometry,
                ))
            }),
            time(|| {
                drop(Flex::dense_conv2d_weight_backward(
                    x.clone(),
                    dy.clone(),
                    geometry,
                ))
            }),
        ];
        (burn, ours)
    }

    fn transposed_layer(
        batch: usize,
        [c_in, c_out]: [usize; 2],
        size: usize,
        stride: usize,
    ) -> (Passes, Passes) {
        let x = values([batch, c_in, size, size]);
        let w = values([c_in, c_out, 3, 3]);
        let options = ConvTransposeOptions::new(
            [stride, stride],
            [1, 1],
            [stride - 1, stride - 1],
            [1, 1],
            1,
        );
        let geometry =
            ConvGeometry::of_transpose(dims(&x), dims(&w), &options).expect("a plain convolution");
        let dy = Flex::dense_conv_transpose2d(x.clone(), w.clone(), geometry);
        let burn = [
            time(|| {
                drop(Flex::conv_transpose2d(
                    x.clone(),
                    w.clone(),
                    None,
                    options.clone(),
                ))
            }),
            time(|| {
                drop(Flex::conv_transpose2d_x_backward(
                    w.clone(),
                    dy.clone(),
                    options.clone(),
                ))
            }),
            time(|| {
                drop(Flex::conv_transpose2d_weight_backward(
                    x.clone(),
                    w.clone(),
                    dy.clone(),
                    options.clone(),
                ))
            }),
        ];
        // The input gradient of a transposed convolution is the convolution it transposes.
        let ours = [
            time(|| drop(Flex::dense_conv_transpose2d(x.clone(), w.clone(), geometry))),
            time(|| drop(Flex::dense_conv2d(dy.clone(), w.clone(), geometry))),
            time(|| {
                drop(Flex::dense_conv2d_weight_backward(
                    dy.clone(),
                    x.clone(),
                    geometry,
                ))
            }),
        ];
        (burn, ours)
    }

    /// Deterministic values in [-0.5, 0.5).
    fn values(shape: [usize; 4]) -> FlexTensor {
        let n = shape.iter().product::<usize>();
        let v: Vec<f32> = (0..n)
            .map(|i| (i * 7919 % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        FlexTensor::from_data(TensorData::new(v, shape))
    }

    fn dims(t: &FlexTensor) -> [usize; 4] {
        use burn::backend::TensorMetadata;
        let s = t.shape();
        [s[0], s[1], s[2], s[3]]
    }

    /// Median of three runs after a warm-up, in milliseconds.
    fn time(mut f: impl FnMut()) -> f64 {
        f();
        let mut runs: Vec<f64> = (0..3)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        runs.sort_by(f64::total_cmp);
        runs[1]
    }
}
