//! The chapter's blocks and models: parameter counts and shapes.

use burn::nn::conv::Conv2dConfig;
use burn::prelude::*;
use petlens::model::*;

fn device() -> Device {
    Device::flex()
}

fn input(n: usize, c: usize, s: usize) -> Tensor<4> {
    Tensor::random(
        [n, c, s, s],
        burn::tensor::Distribution::Uniform(0.0, 1.0),
        &device(),
    )
}

#[test]
fn separable_conv_needs_far_fewer_weights_than_conv() {
    // The chapter's figure: 3x3 window, 64 -> 64 channels, no bias.
    let conv = Conv2dConfig::new([64, 64], [3, 3])
        .with_bias(false)
        .init(&device());
    let separable = SeparableConv2dConfig::new([64, 64]).init(&device());
    assert_eq!(conv.num_params(), 36_864);
    assert_eq!(separable.num_params(), 3 * 3 * 64 + 64 * 64);
    assert_eq!(separable.num_params(), 4_672);
}

#[test]
fn separable_conv_keeps_spatial_size() {
    let layer = SeparableConv2dConfig::new([8, 16]).init(&device());
    assert_eq!(layer.forward(input(2, 8, 13)).dims(), [2, 16, 13, 13]);
}

#[test]
fn conv_bn_relu_has_no_conv_bias_and_is_non_negative() {
    let unit = ConvBnReluConfig::new([3, 8]).with_stride(2).init(&device());
    assert!(unit.conv.bias.is_none());
    let y = unit.forward(input(2, 3, 16));
    assert_eq!(y.dims(), [2, 8, 8, 8]);
    assert!(y.min().into_scalar::<f32>() >= 0.0);
}

#[test]
fn transposed_unit_doubles_size_exactly() {
    let unit = TransposedConvBnReluConfig::new([8, 4])
        .with_stride(2)
        .init(&device());
    assert_eq!(unit.forward(input(1, 8, 10)).dims(), [1, 4, 20, 20]);
    let same = TransposedConvBnReluConfig::new([8, 4]).init(&device());
    assert_eq!(same.forward(input(1, 8, 10)).dims(), [1, 4, 10, 10]);
}

#[test]
fn residual_block_projects_only_when_the_shape_changes() {
    let same = ResidualBlockConfig::new([16, 16])
        .with_downsample(false)
        .init(&device());
    assert!(same.projection.is_none());
    assert_eq!(same.forward(input(1, 16, 12)).dims(), [1, 16, 12, 12]);

    let wider = ResidualBlockConfig::new([16, 32])
        .with_downsample(false)
        .init(&device());
    assert!(wider.projection.is_some());
    assert_eq!(wider.forward(input(1, 16, 12)).dims(), [1, 32, 12, 12]);

    let strided = ResidualBlockConfig::new([16, 16]).init(&device());
    let projection = strided
        .projection
        .as_ref()
        .expect("stride 2 needs a projection");
    assert_eq!(projection.stride, [2, 2]);
    assert_eq!(strided.forward(input(1, 16, 11)).dims(), [1, 16, 6, 6]);

    let plain = ResidualBlockConfig::new([8, 8])
        .with_separable(false)
        .with_downsample(false)
        .init(&device());
    assert_eq!(plain.forward(input(1, 8, 9)).dims(), [1, 8, 9, 9]);
}

#[test]
fn segmenter_outputs_one_score_per_class_and_pixel() {
    for config in [
        SegmenterConfig::new().with_image_size(64),
        SegmenterConfig::trainer_default(),
        SegmenterConfig::trainer_default().with_skips(true),
    ] {
        let model = config.init(&device());
        let s = config.image_size;
        assert_eq!(model.forward(input(2, 3, s)).dims(), [2, 3, s, s]);
        let p = model.probabilities(input(1, 3, s));
        let sums = p.sum_dim(1).into_data().try_to_vec::<f32>().unwrap();
        assert!(sums.iter().all(|v| (v - 1.0).abs() < 1e-4));
        let names: Vec<String> = model
            .activations(input(1, 3, s))
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let skips = if config.skips { SKIPS.len() } else { 0 };
        assert_eq!(names.len(), 12 + skips);
        assert_eq!(names, model.layer_names(), "one walk names the layers");
    }
    // The chapter's width: 64 -> 128 -> 256 channels, stride-2 encoder, no pooling.
    let chapter = SegmenterConfig::new().init(&device());
    assert!(
        !chapter.skips,
        "the chapter's model has no skip connections"
    );
    assert_eq!(chapter.encoder.len(), 6);
    assert_eq!(chapter.encoder[4].conv.weight.dims(), [256, 128, 3, 3]);
    assert_eq!(
        chapter
            .encoder
            .iter()
            .filter(|u| u.conv.stride == [2, 2])
            .count(),
        3
    );
}

#[test]
fn classifier_is_the_chapters_xception_like_model() {
    let chapter = ClassifierConfig::new().init(&device());
    assert_eq!(chapter.stem.weight.dims(), [32, 3, 5, 5]);
    assert_eq!(chapter.blocks.len(), 5);
    let widths: Vec<usize> = chapter
        .blocks
        .iter()
        .map(|b| b.projection.as_ref().unwrap().weight.dims()[0])
        .collect();
    assert_eq!(widths, vec![32, 64, 128, 256, 512]);
    let x = input(2, 3, 180);
    assert_eq!(chapter.features(x.clone()).dims(), [2, 512, 6, 6]);
    assert_eq!(chapter.forward(x).dims(), [2, 1]);

    let shipped = ClassifierConfig::trainer_default();
    let model = shipped.init(&device());
    let x = input(1, 3, shipped.image_size);
    assert_eq!(model.features(x.clone()).dims(), [1, 512, 4, 4]);
    let p = model.p_dog(x).into_scalar::<f32>();
    assert!((0.0..=1.0).contains(&p));
    assert_eq!(
        model.features_at(input(1, 3, 112), Some(2)).dims(),
        [1, 128, 14, 14]
    );
}

/// `seed_segmenter` (what `train bench` measures as `seed_segmenter_160`) keeps the chapter's
/// layer shapes exactly: Keras's `get_segmentation_model(img_size=(160, 160), num_classes=3)`.
#[test]
fn seed_segmenter_keeps_the_chapters_layer_shapes() {
    let config = SegmenterConfig::new().with_image_size(160);
    let model = config.init(&device());
    let encoder: Vec<([usize; 4], usize)> = model
        .encoder
        .iter()
        .map(|u| (u.conv.weight.dims(), u.conv.stride[0]))
        .collect();
    assert_eq!(
        encoder,
        vec![
            ([64, 3, 3, 3], 2),
            ([64, 64, 3, 3], 1),
            ([128, 64, 3, 3], 2),
            ([128, 128, 3, 3], 1),
            ([256, 128, 3, 3], 2),
            ([256, 256, 3, 3], 1),
        ]
    );
    // burn stores transposed filters as [c_in, c_out, k, k].
    let decoder: Vec<([usize; 4], usize)> = model
        .decoder
        .iter()
        .map(|u| (u.conv.weight.dims(), u.conv.stride[0]))
        .collect();
    assert_eq!(
        decoder,
        vec![
            ([256, 256, 3, 3], 1),
            ([256, 256, 3, 3], 2),
            ([256, 128, 3, 3], 1),
            ([128, 128, 3, 3], 2),
            ([128, 64, 3, 3], 1),
            ([64, 64, 3, 3], 2),
        ]
    );
    assert_eq!(model.classes.weight.dims(), [3, 64, 3, 3]);
    assert!(model.encoder.iter().all(|u| u.conv.bias.is_none()));
    let shapes: Vec<[usize; 4]> = model
        .activations(input(1, 3, 160))
        .into_iter()
        .map(|(_, t)| t.dims())
        .collect();
    assert_eq!(
        shapes,
        vec![
            [1, 64, 80, 80],
            [1, 64, 80, 80],
            [1, 128, 40, 40],
            [1, 128, 40, 40],
            [1, 256, 20, 20],
            [1, 256, 20, 20],
            [1, 256, 20, 20],
            [1, 256, 40, 40],
            [1, 128, 40, 40],
            [1, 128, 80, 80],
            [1, 64, 80, 80],
            [1, 64, 160, 160],
        ]
    );
}

/// The U-Net-like segmenter adds the encoder's output at 1/4 and 1/2 size to the decoder's:
/// the decoder's output then changes with the encoder unit a skip starts from.
#[test]
fn skip_connections_carry_the_encoders_output_to_the_decoder() {
    let config = SegmenterConfig::trainer_default()
        .with_image_size(32)
        .with_skips(true);
    let model = config.init(&device());
    let x = input(1, 3, 32);
    let at = |name: &str| model.layer(x.clone(), name).unwrap();
    for (e, d) in SKIPS {
        let sum = at(&format!("decoder.{d}.add"));
        let expected = at(&format!("decoder.{d}.convtranspose")) + at(&format!("encoder.{e}.conv"));
        let diff = (sum - expected).abs().max().into_scalar::<f32>();
        assert!(
            diff < 1e-5,
            "decoder.{d}.add = decoder + encoder.{e} ({diff})"
        );
    }
    assert!(model.layer(x, "decoder.9.add").is_none());
}
