//! `cargo run --release --bin train -- --help`: see `petlens::train::cli`.

/// mimalloc, told never to give freed memory back to the kernel: a training step allocates and
/// frees the same few hundred MB of activations every time, and with glibc (which unmaps large
/// blocks, stopping every core to flush its TLB) or with mimalloc's default purging (which
/// makes the kernel zero the pages again on next use) that churn cost a fifth of each step.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 3's `mimalloc.h` (the crate has no constant for it):
/// milliseconds before freed memory is returned, -1 for never.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// mimalloc 3's default for that option (`options.c`), to make sure the index names it.
const DEFAULT_PURGE_DELAY_MS: std::ffi::c_long = 1000;

fn keep_freed_memory() {
    // SAFETY: option getters and setters take plain integers and have no preconditions.
    unsafe {
        if libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) == DEFAULT_PURGE_DELAY_MS {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        }
    }
}

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    petlens::train::cli::main()
}
