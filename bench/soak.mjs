#!/usr/bin/env node
// Soak: many photos in a row through the built page (dist/) on one backend, in a fresh headless
// Chromium, with the wasm memory of the models' thread and of the page, the bytes the page's wasm
// heap holds (`heap_in_use_bytes`, src/heap.rs), the page's JS heap (after a forced garbage
// collection) and each analysis's time recorded after every photo. Prints one JSON line per
// backend: the memory at the middle and the end and its growth over the last half, its growth
// over each of the last two cycles through the photos, and the median analysis time of the first
// and last 10 photos and their ratio (a ratio within one run: this machine is noisy).
// `tests/browser/soak.test.mjs` runs it and checks that the memory stops growing.
//   node bench/soak.mjs [photos=100] [backends=cpu,webgpu]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './figures.mjs';
import { serve, launch, open, waitStatus, upload, result, fixtures } from '../tests/browser/harness.mjs';

/** Real photos of the fixtures, used in turn. */
function photos() {
  const dirs = ['cats-vs-dogs/validation/cat', 'cats-vs-dogs/validation/dog', 'oxford/images'];
  return dirs.flatMap((d) => fs.readdirSync(path.join(fixtures, d)).sort().map((f) => path.join(fixtures, d, f)));
}

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
    const files = photos().slice(0, cycleLength(distinct));
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
          page_heap: window.wasmBindings.heap_in_use_bytes(),
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

/** How many photos a soak over `distinct` photos cycles through. */
export function cycleLength(distinct = Infinity) {
  return Math.min(distinct, photos().length);
}

/** The growth of `key` over a stretch of the soak: from sample `from` to sample `to`. */
const growthOf = (samples, key, from, to) => (samples[to][key] - samples[from][key]) / samples[from][key];

/** A memory's figures: at the middle and the end, its growth over the last half, and its growth
 * over each of the last two cycles through the same photos. A leak grows the memory in every
 * cycle; a wasm memory (the allocator's high-water mark) also grows in steps of a few MB when
 * a large block finds no free gap (the page's: at photos 13, 23 and 78 of a 200-photo soak, flat
 * for the 120 after), which can fall in both of the last cycles, so the page's leak test reads
 * the bytes its heap holds, which only a leak grows. `steady_growth` is the smaller of the two
 * cycles' growth. */
function memory(samples, key, cycle) {
  const half = Math.floor(samples.length / 2) - 1;
  const end = samples.length - 1;
  const lastCycles = [3, 2].map((k) => Math.floor(samples.length / cycle) - k)
    .filter((k) => k >= 0)
    .map((k) => growthOf(samples, key, cycle * (k + 1) - 1, cycle * (k + 2) - 1));
  return {
    at_half: samples[half][key],
    at_end: samples[end][key],
    growth: growthOf(samples, key, half, end),
    last_cycles_growth: lastCycles,
    steady_growth: Math.min(...lastCycles),
  };
}

/** The figures of a soak that cycled through `cycle` photos. */
export function summary(backend, samples, cycle) {
  const first = median(samples.slice(0, 10).map((s) => s.ms));
  const last = median(samples.slice(-10).map((s) => s.ms));
  return {
    backend,
    photos: samples.length,
    photos_per_cycle: cycle,
    models_wasm_memory_bytes: memory(samples, 'wasm', cycle),
    page_wasm_memory_bytes: memory(samples, 'page_wasm', cycle),
    page_heap_in_use_bytes: memory(samples, 'page_heap', cycle),
    js_heap_bytes: memory(samples, 'heap', cycle),
    analysis_ms: { first_10_median: first, last_10_median: last, ratio: last / first },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const count = Number(process.argv[2] ?? 100);
  for (const backend of (process.argv[3] ?? 'cpu,webgpu').split(',')) {
    const { samples } = await soak(backend, count);
    console.log(JSON.stringify(summary(backend, samples, cycleLength())));
  }
}
