// 100 photos in a row on each backend: the wasm memory (the models' thread's and the page's) and
// the page's JS heap stop growing (under 5%
// over the last 50 photos). The speed over the soak is a benchmark figure, not a test:
// `node bench/soak.mjs` prints it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { soak, summary } from '../../bench/soak.mjs';
import { output } from './harness.mjs';

for (const backend of ['cpu', 'webgpu']) {
  test(`100 photos on the ${backend} backend: memory stops growing`, { timeout: 1_800_000 }, async () => {
    const { samples, errors } = await soak(backend, 100);
    const figures = summary(backend, samples);
    fs.writeFileSync(path.join(output, `soak-${backend}.json`), JSON.stringify(figures, null, 2));
    assert.deepEqual(errors, []);
    assert.ok(figures.models_wasm_memory_bytes.growth < 0.05, JSON.stringify(figures));
    assert.ok(figures.page_wasm_memory_bytes.growth < 0.05, JSON.stringify(figures));
    assert.ok(figures.js_heap_bytes.growth < 0.05, JSON.stringify(figures));
  });
}
