//! The instruction set the project's CPU kernels run with, chosen at run time.
//!
//! Natively the kernels are compiled three times (for the x86-64 baseline, for AVX2 with FMA
//! and for AVX-512) and each call runs the widest version the CPU has, so one binary is fast on
//! AVX-512 machines and still runs everywhere. `PETLENS_MAX_ISA` caps the choice
//! (`avx2` or `baseline`), so that both paths can be measured and tested on one AVX-512 machine.
//! The browser build has one path: WebAssembly SIMD (128-bit), fixed at compile time.

use std::sync::OnceLock;

use serde::Serialize;

/// The environment variable that caps the instruction set (`avx512`, `avx2`, `baseline`).
pub const MAX_ISA_VAR: &str = "PETLENS_MAX_ISA";

/// An instruction set the kernels are compiled for, from narrowest to widest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstructionSet {
    /// What the target guarantees: SSE2 on x86-64, SIMD128 in the browser build (compiled
    /// with `+simd128`), NEON on aarch64.
    Baseline,
    /// AVX2 with FMA (x86-64-v3): 256-bit vectors.
    Avx2,
    /// AVX-512 F, BW, DQ and VL (x86-64-v4): 512-bit vectors.
    Avx512,
}

impl InstructionSet {
    /// Every set, narrowest first.
    pub const ALL: [InstructionSet; 3] = [
        InstructionSet::Baseline,
        InstructionSet::Avx2,
        InstructionSet::Avx512,
    ];

    /// The name `PETLENS_MAX_ISA` takes and the benchmarks print.
    pub fn name(self) -> &'static str {
        match self {
            InstructionSet::Baseline if cfg!(target_arch = "wasm32") => "simd128",
            InstructionSet::Baseline => "baseline",
            InstructionSet::Avx2 => "avx2",
            InstructionSet::Avx512 => "avx512",
        }
    }

    /// Parses a `PETLENS_MAX_ISA` value (case-insensitive).
    pub fn parse(value: &str) -> Result<Self, IsaError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "avx512" | "avx-512" | "x86-64-v4" => Ok(InstructionSet::Avx512),
            "avx2" | "x86-64-v3" => Ok(InstructionSet::Avx2),
            "baseline" | "sse2" | "x86-64" => Ok(InstructionSet::Baseline),
            _ => Err(IsaError(value.to_string())),
        }
    }

    /// The widest instruction set this CPU has.
    pub fn detected() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx512f") && has!("avx512bw") && has!("avx512dq") && has!("avx512vl") {
                return InstructionSet::Avx512;
            }
            if has!("avx2") && has!("fma") {
                return InstructionSet::Avx2;
            }
        }
        InstructionSet::Baseline
    }
}

/// A `PETLENS_MAX_ISA` value that names no instruction set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{MAX_ISA_VAR}={0:?} is not an instruction set: use avx512, avx2 or baseline")]
pub struct IsaError(String);

/// The cap set in `PETLENS_MAX_ISA`, if any.
pub fn max_from_env() -> Result<Option<InstructionSet>, IsaError> {
    match std::env::var(MAX_ISA_VAR) {
        Ok(value) if !value.trim().is_empty() => InstructionSet::parse(&value).map(Some),
        _ => Ok(None),
    }
}

/// The instruction set every kernel call runs with: the CPU's widest, capped by
/// `PETLENS_MAX_ISA` (an unreadable value caps nothing; `train` refuses it up front). Decided
/// once per process.
pub fn instruction_set() -> InstructionSet {
    static CHOSEN: OnceLock<InstructionSet> = OnceLock::new();
    *CHOSEN.get_or_init(|| {
        let detected = InstructionSet::detected();
        match max_from_env() {
            Ok(Some(cap)) => detected.min(cap),
            _ => detected,
        }
    })
}

/// The CPU's model name (`/proc/cpuinfo` on Linux), for benchmark figures: a speed ratio holds
/// only for the CPU it was measured on.
#[cfg(not(target_arch = "wasm32"))]
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// Defines a function whose body is compiled once per [`InstructionSet`] and runs the version
/// [`instruction_set`] chose. The body is plain Rust: the compiler vectorises it for each set.
/// Only what the body itself does (and what it inlines) gets the wider instructions, so it is
/// meant for inner loops, not for code that hands closures to other threads.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident $(<$(const $g:ident: $gt:ty),*>)?
        ($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name $(<$(const $g: $gt),*>)? ($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body $(<$(const $g: $gt),*>)? ($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,bmi1,bmi2,lzcnt,popcnt,f16c")]
                fn avx512 $(<$(const $g: $gt),*>)? ($($arg: $ty),*) $(-> $ret)? {
                    body $(::<$($g),*>)? ($($arg),*)
                }
                #[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt,popcnt,f16c")]
                fn avx2 $(<$(const $g: $gt),*>)? ($($arg: $ty),*) $(-> $ret)? {
                    body $(::<$($g),*>)? ($($arg),*)
                }
                match $crate::ops::isa::instruction_set() {
                    // SAFETY: `instruction_set` returns a set only when the CPU has it.
                    $crate::ops::isa::InstructionSet::Avx512 => {
                        return unsafe { avx512 $(::<$($g),*>)? ($($arg),*) };
                    }
                    // SAFETY: as above.
                    $crate::ops::isa::InstructionSet::Avx2 => {
                        return unsafe { avx2 $(::<$($g),*>)? ($($arg),*) };
                    }
                    $crate::ops::isa::InstructionSet::Baseline => {}
                }
            }
            body $(::<$($g),*>)? ($($arg),*)
        }
    };
}
pub(crate) use multiversion;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for set in [
            InstructionSet::Baseline,
            InstructionSet::Avx2,
            InstructionSet::Avx512,
        ] {
            assert_eq!(InstructionSet::parse(set.name()), Ok(set));
        }
        assert_eq!(InstructionSet::parse(" AVX2 "), Ok(InstructionSet::Avx2));
        let err = InstructionSet::parse("avx3").unwrap_err();
        assert!(
            err.to_string().contains("avx512, avx2 or baseline"),
            "{err}"
        );
    }

    #[test]
    fn the_chosen_set_never_exceeds_the_cpu_or_the_cap() {
        let chosen = instruction_set();
        assert!(chosen <= InstructionSet::detected());
        if let Ok(Some(cap)) = max_from_env() {
            assert!(chosen <= cap);
        }
    }
}
