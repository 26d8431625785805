// Photos in a row (20 over 5 distinct photos on the CPU backend in the default tier;
// `scripts/test.sh --full` sets PETLENS_SOAK_PHOTOS=100, over every fixture photo, and runs it on
// WebGPU too: SwiftShader's 5 minutes for 20 photos are the slower tier's; PETLENS_SOAK_BACKENDS
// names the backends by hand): the models' thread's wasm memory, the bytes the page's wasm heap
// holds and the page's JS heap stop growing: under 1% in one of the last two cycles through the
// same photos (a leak grows in both).
// The page's wasm memory, the allocator's high-water mark, is reported but not tested: on the
// page, which allocates at each photo's own size, it steps up by 4 MB a few times in a soak
// (bench/soak.mjs), in both last cycles of one CI run. The speed over the soak is a benchmark
// figure, not a test: `node bench/soak.mjs` prints it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { soak, summary, cycleLength } from '../../bench/soak.mjs';
import { output, fullTier } from './harness.mjs';

const photos = Number(process.env.PETLENS_SOAK_PHOTOS ?? 20);
// A short soak cycles over 5 photos, so that its second half repeats the first half's photos
// (a photo larger than any before would grow the memory for a good reason).
const distinct = photos >= 100 ? Infinity : 5;

const backends = (process.env.PETLENS_SOAK_BACKENDS ?? (fullTier ? 'cpu,webgpu' : 'cpu')).split(',');

for (const backend of backends) {
  test(`${photos} photos on the ${backend} backend: memory stops growing`, { timeout: 1_800_000 }, async () => {
    const { samples, errors } = await soak(backend, photos, distinct);
    const figures = summary(backend, samples, cycleLength(distinct));
    fs.writeFileSync(path.join(output, `soak-${backend}.json`), JSON.stringify(figures, null, 2));
    assert.deepEqual(errors, []);
    assert.equal(figures.js_heap_bytes.last_cycles_growth.length, 2, 'at least three cycles');
    for (const key of ['models_wasm_memory_bytes', 'page_heap_in_use_bytes', 'js_heap_bytes']) {
      assert.ok(figures[key].steady_growth < 0.01, `${key}: ${JSON.stringify(figures)}`);
    }
  });
}
