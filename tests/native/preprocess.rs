//! The shared preprocessing path on real photos stored in the ways photos come.

use crate::common;

use burn::prelude::*;
use common::{fixture, fixture_bytes};
use petlens::data::photo::class_map_at;
use petlens::data::{
    PhotoError, decode_photo, images_to_tensor, resize_for_model, upsample_bilinear,
};

fn mean_abs_diff(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let total: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    total as f64 / a.as_raw().len() as f64
}

#[test]
fn jpeg_decodes_to_rgb_at_its_own_size() {
    let photo = decode_photo(&fixture_bytes("cats-vs-dogs/train/cat/cat.0.jpg")).unwrap();
    let reference = image::open(fixture("cats-vs-dogs/train/cat/cat.0.jpg"))
        .unwrap()
        .into_rgb8();
    assert_eq!(photo.dimensions(), reference.dimensions());
    assert!(mean_abs_diff(&photo, &reference) < 1.0);
}

#[test]
fn exif_rotated_photo_comes_out_upright() {
    let rotated = decode_photo(&fixture_bytes("photos/cat_exif_rotated.jpg")).unwrap();
    let upright = image::open(fixture("photos/cat_upright.png"))
        .unwrap()
        .into_rgb8();
    assert_eq!(
        rotated.dimensions(),
        upright.dimensions(),
        "EXIF orientation applied"
    );
    assert!(
        mean_abs_diff(&rotated, &upright) < 6.0,
        "same picture up to JPEG loss"
    );
}

#[test]
fn alpha_grayscale_16bit_and_cmyk_become_rgb8() {
    for (file, size) in [
        ("photos/abyssinian_alpha.png", (600, 400)),
        ("photos/dog_gray.jpg", (499, 375)),
        ("photos/dog_16bit.png", (499, 375)),
        ("photos/cat_cmyk.jpg", (500, 374)),
    ] {
        let photo = decode_photo(&fixture_bytes(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(photo.dimensions(), size, "{file}");
        assert_eq!(
            photo.as_raw().len(),
            (size.0 * size.1 * 3) as usize,
            "{file}"
        );
    }
    let gray = decode_photo(&fixture_bytes("photos/dog_gray.jpg")).unwrap();
    assert!(
        gray.pixels().all(|p| p[0] == p[1] && p[1] == p[2]),
        "gray stays gray in RGB"
    );
    let cmyk = decode_photo(&fixture_bytes("photos/cat_cmyk.jpg")).unwrap();
    let reference = image::open(fixture("cats-vs-dogs/train/cat/cat.0.jpg"))
        .unwrap()
        .into_rgb8();
    assert!(
        mean_abs_diff(&cmyk, &reference) < 12.0,
        "CMYK converted to the same colours"
    );
}

#[test]
fn model_input_is_square_chw_in_unit_range() {
    let photo = decode_photo(&fixture_bytes("oxford/images/Abyssinian_1.jpg")).unwrap();
    let small = resize_for_model(&photo, 128);
    assert_eq!(small.dimensions(), (128, 128));
    let x = images_to_tensor(&[&small, &small], &Device::flex());
    assert_eq!(x.dims(), [2, 3, 128, 128]);
    let (min, max) = (
        x.clone().min().into_scalar::<f32>(),
        x.max().into_scalar::<f32>(),
    );
    assert!(min >= 0.0 && max <= 1.0 && max > 0.5);
}

#[test]
fn bad_bytes_give_specific_errors() {
    assert_eq!(decode_photo(&[]), Err(PhotoError::Empty));
    assert!(matches!(
        decode_photo(b"hello, I am a text file"),
        Err(PhotoError::UnknownFormat(_))
    ));
    let jpeg = fixture_bytes("cats-vs-dogs/train/dog/dog.0.jpg");
    assert!(matches!(
        decode_photo(&jpeg[..jpeg.len() / 3]),
        Err(PhotoError::Corrupt(_))
    ));
}

#[test]
fn outputs_map_back_to_the_photo_resolution() {
    // A 2x2 plane upsampled keeps its corners and interpolates between them.
    let up = upsample_bilinear(&[0.0, 1.0, 0.0, 1.0], 2, 2, 4, 3);
    assert_eq!(up.len(), 12);
    assert_eq!(up[0], 0.0);
    assert_eq!(up[3], 1.0);
    assert!(up[1] > 0.0 && up[1] < up[2]);
    // Two class planes: left half class 0, right half class 1, at 8x2 from 2x2.
    let planes = vec![vec![0.9, 0.1, 0.9, 0.1], vec![0.1, 0.9, 0.1, 0.9]];
    let mask = class_map_at(&planes, 2, 8, 2);
    assert_eq!(mask, vec![0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1]);
}

/// A decompression bomb (`tests/fixtures/fuzz/png-bomb-50000x50000.png`): 855 bytes declaring
/// 50000x50000 pixels (2.5 GB decoded), its data stream the first rows only. It is refused with
/// its size, from the header, before any pixel is decoded.
#[test]
fn a_png_bomb_is_refused_by_its_declared_size() {
    let png = fixture_bytes("fuzz/png-bomb-50000x50000.png");
    assert!(png.len() < 10_000);
    assert_eq!(
        decode_photo(&png),
        Err(PhotoError::TooLarge {
            width: 50000,
            height: 50000
        })
    );
}

#[test]
fn one_pixel_gif_frames_and_heic_are_handled() {
    let one = decode_photo(&fixture_bytes("photos/cat_1x1.png")).unwrap();
    assert_eq!(one.dimensions(), (1, 1));
    let input = resize_for_model(&one, 32);
    assert_eq!(input.dimensions(), (32, 32));
    let gif = decode_photo(&fixture_bytes("photos/animated.gif")).unwrap();
    assert_eq!(gif.dimensions(), (160, 120), "the first frame");
    match decode_photo(&fixture_bytes("photos/dog.heic")) {
        Err(PhotoError::UnknownFormat(why)) => assert!(why.contains("HEIC"), "{why}"),
        other => panic!("HEIC: {other:?}"),
    }
}

/// Photos straight from phones carry data after the JPEG's end-of-image marker (a Motion
/// Photo's video, Samsung's trailer): they decode to the photo itself. A JPEG cut off inside its
/// scan is still refused, trailer or not.
#[test]
fn a_jpeg_with_data_after_its_image_decodes_and_a_cut_one_does_not() {
    use petlens::data::photo::jpeg_image_end;
    let original = fixture_bytes("cats-vs-dogs/validation/dog/dog.1001.jpg");
    let motion = fixture_bytes("photos/dog_motion_photo.jpg");
    assert!(
        motion.len() > original.len() + 4096,
        "a trailer longer than a tail scan"
    );
    assert_eq!(jpeg_image_end(&motion), Some(original.len()));
    assert_eq!(
        decode_photo(&motion).unwrap(),
        decode_photo(&original).unwrap()
    );
    // An EXIF block holds a thumbnail with its own end marker: the walk skips it.
    let rotated = fixture_bytes("photos/cat_exif_rotated.jpg");
    assert_eq!(jpeg_image_end(&rotated), Some(rotated.len()));

    let cut = &original[..original.len() * 2 / 3];
    let refused = PhotoError::Corrupt("the JPEG ends before its end-of-image marker".into());
    assert_eq!(decode_photo(cut), Err(refused));
    let cut_with_trailer = [cut, &motion[original.len()..]].concat();
    assert!(decode_photo(&cut_with_trailer).is_err());
}
