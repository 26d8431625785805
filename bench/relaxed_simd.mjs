#!/usr/bin/env node
// Times the two GEMM modules bench/relaxed_simd.sh builds (simd128 multiply-then-add, and relaxed
// SIMD's fused multiply-add) in Debian's headless Chromium, one thread, on square products and
// the shapes of the models' convolutions (out channels x pixels x patch size). Prints the
// browser, the CPU and per shape the best GFLOP/s of 5 alternating rounds and their ratio.
//   node bench/relaxed_simd.mjs <scratch-dir>
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { cpu } from './figures.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { chromium } = createRequire(path.join(root, 'package.json'))('playwright-core');
const dir = process.argv[2];
const module = (variant) => [...fs.readFileSync(path.join(dir, `target-${variant}/wasm32-unknown-unknown/release/relaxed_gemm.wasm`))];
// m x n x k: squares, then convolutions as matrix products (a 3x3 layer of the segmenter at
// 160 px, of the classifier's blocks, MobileNet's pointwise layers).
const shapes = [[256, 256, 256], [512, 512, 512], [64, 6400, 576], [128, 1600, 1152], [256, 400, 2304],
  [96, 3136, 48], [384, 196, 384], [768, 49, 768]];

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--headless'] });
try {
  const page = await browser.newPage();
  const result = await page.evaluate(async ({ modules, shapes }) => {
    const exports = {};
    for (const [variant, bytes] of Object.entries(modules)) {
      exports[variant] = (await WebAssembly.instantiate(new Uint8Array(bytes))).instance.exports;
    }
    const rows = [];
    for (const [m, n, k] of shapes) {
      const flops = 2 * m * n * k;
      const reps = Math.max(1, Math.round(2e9 / flops));
      const best = {};
      for (let round = 0; round < 5; round++) {
        for (const variant of ['plain', 'relaxed']) {
          const start = performance.now();
          exports[variant].product(m, n, k, reps);
          const gflops = flops * reps / ((performance.now() - start) / 1000) / 1e9;
          best[variant] = Math.max(best[variant] ?? 0, gflops);
        }
      }
      rows.push({ m, n, k, simd128_gflops: +best.plain.toFixed(2), relaxed_gflops: +best.relaxed.toFixed(2),
        ratio: +(best.relaxed / best.plain).toFixed(2) });
    }
    return { built_relaxed: [exports.plain.relaxed(), exports.relaxed.relaxed()], rows };
  }, { modules: { plain: module('plain'), relaxed: module('relaxed') }, shapes });
  console.log(JSON.stringify({ browser: browser.version(), cpu: cpu(), built_relaxed: result.built_relaxed }));
  for (const row of result.rows) console.log(JSON.stringify(row));
} finally {
  await browser.close();
}
