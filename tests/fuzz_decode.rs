//! A bounded mutation fuzzer over the photo path the page runs on every upload (bytes ->
//! decode -> resize -> model input), seeded with the real fixture photos. It runs on the stable
//! toolchain (cargo-fuzz needs nightly, which this machine cannot install) for
//! `PETLENS_FUZZ_SECONDS` (default 60) and fails on any panic, naming the seed and the
//! mutation so that a crash can be replayed and kept as a regression test below.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::time::{Duration, Instant};

use petlens::data::photo::images_to_chw;
use petlens::data::{decode_photo, resize_for_model};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The path under test; any `Err` is fine, a panic or a non-finite input is not.
fn photo_to_input(bytes: &[u8]) {
    if let Ok(photo) = decode_photo(bytes) {
        let input = resize_for_model(&photo, 32);
        assert!(images_to_chw(&[&input]).iter().all(|v| v.is_finite()));
    }
}

fn corpus() -> Vec<Vec<u8>> {
    [
        "photos/cat_cmyk.jpg",
        "photos/cat_exif_rotated.jpg",
        "photos/dog_gray.jpg",
        "photos/dog_16bit.png",
        "photos/abyssinian_alpha.png",
        "photos/animated.gif",
        "photos/cat_1x1.png",
        "photos/dog.heic",
        "oxford/annotations/trimaps/Abyssinian_1.png",
    ]
    .iter()
    .map(|p| common::fixture_bytes(p))
    .collect()
}

/// One random edit of the kinds that break parsers: flipped bits, overwritten header bytes,
/// cut-offs, duplicated or deleted runs, and extreme 16/32-bit fields.
fn mutate(bytes: &mut Vec<u8>, rng: &mut StdRng) {
    let len = bytes.len().max(1);
    // Headers hold the sizes and lengths parsers trust: aim there half of the time.
    let at = |rng: &mut StdRng| {
        if rng.random_bool(0.5) {
            rng.random_range(0..len.min(64))
        } else {
            rng.random_range(0..len)
        }
    };
    match rng.random_range(0..6) {
        0 => {
            let i = at(rng).min(bytes.len().saturating_sub(1));
            if let Some(b) = bytes.get_mut(i) {
                *b ^= 1 << rng.random_range(0..8);
            }
        }
        1 => {
            let i = at(rng);
            if i < bytes.len() {
                bytes[i] = rng.random();
            }
        }
        2 => bytes.truncate(rng.random_range(0..len)),
        3 => {
            let (a, n) = (at(rng).min(bytes.len()), rng.random_range(1..64));
            let run: Vec<u8> = bytes.iter().skip(a).take(n).copied().collect();
            bytes.splice(a..a, run);
        }
        4 => {
            let a = at(rng).min(bytes.len());
            let b = (a + rng.random_range(1..64)).min(bytes.len());
            bytes.drain(a..b);
        }
        _ => {
            let i = at(rng);
            let value: [u8; 4] = [0xff, 0xff, 0xff, rng.random()];
            for (k, v) in value.iter().enumerate() {
                if let Some(b) = bytes.get_mut(i + k) {
                    *b = *v;
                }
            }
        }
    }
}

#[test]
fn decoding_mutated_photos_never_panics() {
    let seconds: u64 = std::env::var("PETLENS_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let corpus = corpus();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut runs = 0u64;
    while Instant::now() < deadline {
        let seed = runs;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut bytes = corpus[rng.random_range(0..corpus.len())].clone();
        for _ in 0..rng.random_range(1..5) {
            mutate(&mut bytes, &mut rng);
        }
        let outcome = std::panic::catch_unwind(|| photo_to_input(&bytes));
        if outcome.is_err() {
            let path = std::env::temp_dir().join(format!("petlens-fuzz-crash-{seed}.bin"));
            let _ = std::fs::write(&path, &bytes);
            panic!("seed {seed} panicked; input kept in {}", path.display());
        }
        runs += 1;
    }
    eprintln!("fuzz: {runs} mutated photos in {seconds} s, no panic");
    assert!(runs > 0);
}
