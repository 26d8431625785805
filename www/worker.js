// The models' thread: the page's own wasm module (compiled once, handed over by the page), so
// that analyses, Grad-CAM and filter patterns never hold the page. Rust takes over in
// `worker_main` (src/worker/mod.rs); the page sends nothing else until it answers "started".
self.onmessage = async (event) => {
  self.onmessage = null;
  const { glue, module } = event.data;
  const bindings = await import(glue);
  await bindings.default({ module_or_path: module });
  bindings.worker_main();
};
