#!/usr/bin/env node
// Soak: many photos in a row through the built page (dist/) on one backend, in a fresh headless
// Chromium, with the wasm memory of the models' thread and of the page, the page's JS heap (after a forced garbage collection) and each
// analysis's time recorded after every photo. Prints one JSON line per backend: the memory at
// photos 50 and `photos` and its growth over the last half, and the median analysis time of
// the first and last 10 photos and their ratio (a ratio within one run: this machine is noisy).
// `tests/browser/soak.test.mjs` runs it and checks that the memory stops growing.
//   node bench/soak.mjs [photos=100] [backends=cpu,webgpu]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, launch, open, waitStatus, upload, result, fixtures } from '../tests/browser/harness.mjs';

/** Real photos of the fixtures, used in turn. */
function photos() {
  const dirs = ['cats-vs-dogs/validation/cat', 'cats-vs-dogs/validation/dog', 'oxford/images'];
  return dirs.flatMap((d) => fs.readdirSync(path.join(fixtures, d)).sort().map((f) => path.join(fixtures, d, f)));
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
};

/** Analyses `count` photos in a row on `backend`, cycling over the first `distinct` fixture
 * photos (all of them by default); the figures after each. */
export async function soak(backend, count, distinct = Infinity) {
  const server = await serve();
  const browser = await launch({
    webgpu: backend === 'webgpu',
    extraArgs: ['--js-flags=--expose-gc', '--enable-precise-memory-info'],
  });
  try {
    // Keep a handle on the wasm module's memory (trunk hands the instance to this event).
    await browser.context.addInitScript(() => {
      addEventListener('TrunkApplicationStarted', (e) => { window.__wasmMemory = e.detail.wasm.memory; });
    });
    const { page, errors } = await open(browser.context, `${server.url}/?backend=${backend}`);
    await waitStatus(page, 'ready');
    const files = photos().slice(0, distinct);
    const samples = [];
    for (let i = 0; i < count; i++) {
      await upload(page, files[i % files.length]);
      const r = await result(page);
      const t = r.timings_ms;
      const memory = await page.evaluate(async () => {
        // Collect twice with a turn of the event loop between: wasm-bindgen frees JS objects
        // through finalizers, which run after a first collection.
        window.gc();
        await new Promise((resolve) => setTimeout(resolve, 50));
        window.gc();
        return {
          wasm: Number(document.querySelector('[data-testid=status]').dataset.modelsMemory),
          page_wasm: window.__wasmMemory.buffer.byteLength,
          heap: performance.memory.usedJSHeapSize,
        };
      });
      samples.push({ ms: t.decode + t.segment + t.classify + t.gradcam, ...memory });
    }
    return { samples, errors };
  } finally {
    await browser.close();
    await server.close();
  }
}

/** The figures of a soak. */
export function summary(backend, samples) {
  const half = Math.floor(samples.length / 2) - 1;
  const [mid, end] = [samples[half], samples[samples.length - 1]];
  const growth = (key) => (end[key] - mid[key]) / mid[key];
  const first = median(samples.slice(0, 10).map((s) => s.ms));
  const last = median(samples.slice(-10).map((s) => s.ms));
  return {
    backend,
    photos: samples.length,
    models_wasm_memory_bytes: { at_half: mid.wasm, at_end: end.wasm, growth: growth('wasm') },
    page_wasm_memory_bytes: { at_half: mid.page_wasm, at_end: end.page_wasm, growth: growth('page_wasm') },
    js_heap_bytes: { at_half: mid.heap, at_end: end.heap, growth: growth('heap') },
    analysis_ms: { first_10_median: first, last_10_median: last, ratio: last / first },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const count = Number(process.argv[2] ?? 100);
  for (const backend of (process.argv[3] ?? 'cpu,webgpu').split(',')) {
    const { samples } = await soak(backend, count);
    console.log(JSON.stringify(summary(backend, samples)));
  }
}
