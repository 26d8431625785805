//! Where the models run: WebGPU when the browser offers an adapter (and the page did not ask
//! for the CPU), otherwise burn's CPU backend, with the reason for a fallback.

use burn::prelude::*;

use crate::net::global;
use crate::protocol::Backend;

/// The device for `requested` (auto when `None`), the backend it is, and why WebGPU was not
/// used when it was not.
pub async fn pick_device(requested: Option<Backend>) -> (Device, Backend, Option<String>) {
    if requested == Some(Backend::Cpu) {
        return (Device::flex(), Backend::Cpu, None);
    }
    if !browser_has_webgpu() {
        let reason = "this browser does not offer WebGPU; using the CPU".to_string();
        return (Device::flex(), Backend::Cpu, Some(reason));
    }
    register_webgpu_compiler();
    match Device::wgpu_options().init_async().await {
        Ok(device) => (device, Backend::WebGpu, None),
        Err(e) => (
            Device::flex(),
            Backend::Cpu,
            Some(format!("WebGPU is not available here ({e}); using the CPU")),
        ),
    }
}

/// Whether `navigator.gpu` exists (without it burn's WebGPU device cannot start).
fn browser_has_webgpu() -> bool {
    global("navigator")
        .and_then(|navigator| js_sys::Reflect::get(&navigator, &"gpu".into()).ok())
        .is_some_and(|gpu| !gpu.is_undefined())
}

/// Runs the module's static constructors, once, before the first WebGPU device is created.
///
/// burn's WebGPU stack (cubecl's kernel IR, built on `pliron`) registers about 4,900 IR
/// definitions through `inventory`, which on wasm32 become linker constructors. A module that
/// never calls `__wasm_call_ctors` itself gets a call to it from the linker at the start of
/// *every* exported function (each `malloc`, `free` and JS-value slot the JS glue asks for), and
/// the browser compiles those 4,900 functions on the first call: about 0.8 s of every start-up,
/// and a constant tax on every call into the module after (see BENCHMARKS.md). Calling it here
/// tells the linker that the module runs its constructors itself; nothing but the WebGPU kernel
/// compiler reads those registrations, so the CPU backend never pays for them.
fn register_webgpu_compiler() {
    unsafe extern "C" {
        fn __wasm_call_ctors();
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: the linker-generated constructor list, run exactly once (the `Once`) and before
    // any code that reads what the constructors register (the WebGPU device and its kernels).
    ONCE.call_once(|| unsafe { __wasm_call_ctors() });
}
