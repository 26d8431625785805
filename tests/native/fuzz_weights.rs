//! A bounded mutation fuzzer over the weights loader the page runs on every start (`.bpk`
//! bytes -> a model), seeded with the shipped weights: mutated, cut or grown files must come
//! back as an error or a model, never a panic. A fixed number of cases (`PETLENS_FUZZ_CASES`,
//! default 3,000), each from its own seed, so a run covers the same ground on any machine.

use crate::common;

use burn::prelude::*;
use common::{fuzz_cases, mutated, shipped, shipped_config};
use petlens::model::ClassifierConfig;
use petlens::weights::from_bytes;
use rand::SeedableRng;
use rand::rngs::StdRng;

#[test]
fn loading_mutated_weights_never_panics() {
    let cases = fuzz_cases(3_000);
    let config: ClassifierConfig = shipped_config("classifier");
    let original = shipped("classifier.bpk");
    let device = Device::flex();
    let mut refused = 0u64;
    for seed in 0..cases {
        let mut rng = StdRng::seed_from_u64(seed);
        let bytes = mutated(&original, 4, &mut rng);
        let model = config.init(&device);
        let load = std::panic::AssertUnwindSafe(|| from_bytes(model, &bytes).is_err());
        match std::panic::catch_unwind(load) {
            Ok(true) => refused += 1,
            Ok(false) => {}
            Err(_) => panic!("seed {seed}: loading mutated weights panicked"),
        }
    }
    eprintln!("weights fuzz: {cases} mutated files, {refused} refused, no panic");
    // Most edits land in the header and must be caught; some only change values and load.
    assert!(refused > cases / 4, "only {refused} of {cases} refused");
    assert!(
        refused < cases,
        "every edit refused: the mutations never reach the values"
    );
}
