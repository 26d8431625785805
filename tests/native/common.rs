//! Helpers shared by the native integration tests: fixture paths and the shipped models.

use std::path::PathBuf;
use std::process::{Command, Output};

use burn::prelude::*;
use petlens::pipeline::Pipeline;
use petlens::shipped::ShippedFiles;
use rand::Rng;

/// A file under `tests/fixtures/`.
pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// Bytes of a fixture.
pub fn fixture_bytes(path: &str) -> Vec<u8> {
    std::fs::read(fixture(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A file under `www/models/` (the shipped weights).
pub fn shipped(path: &str) -> Vec<u8> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("www/models")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The config shipped beside a model's weights (`www/models/<model>.json`).
pub fn shipped_config<C: serde::de::DeserializeOwned>(model: &str) -> C {
    serde_json::from_slice(&shipped(&format!("{model}.json")))
        .unwrap_or_else(|e| panic!("{model}.json: {e}"))
}

/// The shipped pipeline on the CPU, each model built from its shipped config.
pub fn shipped_pipeline() -> Pipeline {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("www/models");
    let files = ShippedFiles::read(&dir).expect("the shipped files are readable");
    Pipeline::from_shipped(&files, &Device::flex()).expect("shipped weights load")
}

/// Runs a future to completion on this thread (the pipeline's reads are async for the browser).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    pollster::block_on(future)
}

/// A fresh, empty directory under the system's temporary directory for one test (`name` keeps
/// tests apart, the process id keeps concurrent runs apart).
pub fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("petlens-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

/// The `train` binary built for these tests.
pub fn train_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_train"))
}

/// Runs `command` and returns its output, failing the test with its stderr unless it succeeded.
pub fn run_ok(command: &mut Command) -> Output {
    let output = command.output().expect("the command starts");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// One random edit of the kinds that break parsers: flipped bits, overwritten header bytes,
/// cut-offs, duplicated or deleted runs, and extreme 16/32-bit fields.
pub fn mutate(bytes: &mut Vec<u8>, rng: &mut rand::rngs::StdRng) {
    let len = bytes.len().max(1);
    // Headers hold the sizes and lengths parsers trust: aim there half of the time.
    let at = |rng: &mut rand::rngs::StdRng| {
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

/// How many seeded cases a fuzzer runs: `PETLENS_FUZZ_CASES`, or its `default` times
/// `PETLENS_FUZZ_SCALE` (`scripts/test.sh --full` sets 10).
pub fn fuzz_cases(default: u64) -> u64 {
    let read = |name: &str| std::env::var(name).ok().and_then(|s| s.parse().ok());
    read("PETLENS_FUZZ_CASES").unwrap_or_else(|| default * read("PETLENS_FUZZ_SCALE").unwrap_or(1))
}

/// `original` after 1 to `max_edits - 1` random [`mutate`] edits drawn from `rng`.
pub fn mutated(original: &[u8], max_edits: usize, rng: &mut rand::rngs::StdRng) -> Vec<u8> {
    let mut bytes = original.to_vec();
    for _ in 0..rng.random_range(1..max_edits) {
        mutate(&mut bytes, rng);
    }
    bytes
}
