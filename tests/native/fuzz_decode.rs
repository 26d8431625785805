//! A bounded mutation fuzzer over the photo path the page runs on every upload (bytes ->
//! decode -> resize -> model input), seeded with the real fixture photos. It runs on the stable
//! toolchain (cargo-fuzz needs nightly, which this machine cannot install) over a fixed number
//! of cases (`PETLENS_FUZZ_CASES`, default 20,000), each from its own seed, so a run covers the
//! same ground on any machine however fast; raise the count for a longer hunt
//! (`scripts/test.sh --full` does). A panic fails the test, naming the seed and writing the input
//! outside the source tree (the system's temporary directory); committed to
//! `tests/fixtures/fuzz/`, it is replayed by [`kept_crashes_stay_fixed`] from then on, with the
//! hostile inputs already kept there.

use crate::common;

use std::path::PathBuf;

use common::{fuzz_cases, mutated};
use petlens::data::photo::images_to_chw;
use petlens::data::{decode_photo, resize_for_model};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The path under test; any `Err` is fine, a panic or a non-finite input is not. Whether the
/// photo decoded.
fn photo_to_input(bytes: &[u8]) -> bool {
    let Ok(photo) = decode_photo(bytes) else {
        return false;
    };
    let input = resize_for_model(&photo, 32);
    assert!(images_to_chw(&[&input]).iter().all(|v| v.is_finite()));
    true
}

fn corpus() -> Vec<Vec<u8>> {
    [
        "photos/cat_cmyk.jpg",
        "photos/cat_exif_rotated.jpg",
        "photos/dog_motion_photo.jpg",
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

/// Inputs kept as regression cases (committed): hostile files and inputs that once crashed.
fn kept_crashes_dir() -> PathBuf {
    common::fixture("fuzz")
}

/// Where a new crash is written: outside the source tree, for a person to look at and commit.
fn new_crashes_dir() -> PathBuf {
    std::env::temp_dir().join("petlens-fuzz-crashes")
}

#[test]
fn decoding_mutated_photos_never_panics() {
    let cases = fuzz_cases(20_000);
    let corpus = corpus();
    let mut decoded = 0u64;
    for seed in 0..cases {
        let mut rng = StdRng::seed_from_u64(seed);
        let original = &corpus[rng.random_range(0..corpus.len())];
        let bytes = mutated(original, 5, &mut rng);
        match std::panic::catch_unwind(|| photo_to_input(&bytes)) {
            Ok(true) => decoded += 1,
            Ok(false) => {}
            Err(_) => {
                let path = new_crashes_dir().join(format!("crash-{seed}.bin"));
                let kept = std::fs::create_dir_all(new_crashes_dir())
                    .and_then(|()| std::fs::write(&path, &bytes));
                panic!(
                    "seed {seed} panicked; input written to {} ({kept:?}): fix the panic, then \
                     copy the file into tests/fixtures/fuzz/ to keep it as a regression case",
                    path.display()
                );
            }
        }
    }
    eprintln!("fuzz: {cases} mutated photos, {decoded} still decodable, no panic");
    // The mutations must leave some photos decodable, or the resize and tensor steps go untested.
    assert!(decoded > cases / 20, "only {decoded} of {cases} decoded");
    assert!(
        decoded < cases,
        "every mutation decoded: the mutations do nothing"
    );
}

#[test]
fn kept_crashes_stay_fixed() {
    let entries = std::fs::read_dir(kept_crashes_dir()).expect("tests/fixtures/fuzz is committed");
    let mut replayed = 0;
    for entry in entries {
        let path = entry.expect("a readable directory entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        replayed += 1;
        let bytes = std::fs::read(&path).expect("a readable kept input");
        assert!(
            std::panic::catch_unwind(|| photo_to_input(&bytes)).is_ok(),
            "{} panics again",
            path.display()
        );
    }
    assert!(replayed > 0, "no kept case was replayed");
}
