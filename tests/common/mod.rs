//! Helpers shared by the native integration tests: fixture paths and the shipped models.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

use burn::prelude::*;
use petlens::pipeline::{Pipeline, ShippedFiles};

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
