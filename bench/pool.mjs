#!/usr/bin/env node
// The pool of models' threads (src/app/pool.rs) with 1 and 2 threads (`?threads=N`), in Debian's
// headless Chromium on the built page (dist/, or PETLENS_DIST): start-up (cold and warm, until
// the page is ready and until every thread has joined), the whole analysis of a photo as the
// page waits for it (`timings_ms.wall`), a grid of 64 filter patterns, and the models' threads'
// wasm memory. Both pages stay open in one browser and take turns, so that the machine's noise
// falls on both alike; the last line gives the ratios 1 thread / N threads. Prints the CPU too:
// a ratio holds only for the CPU it was measured on.
//   node bench/pool.mjs [runs=10] [backends=cpu] [threads=1,2] [grids=2] (grids: 64-filter grids per page)
import path from 'node:path';
import { cpu, median, p90 } from './figures.mjs';
import { serve, launch, open, waitStatus, settled, result, fixtures } from '../tests/browser/harness.mjs';

const runs = Number(process.argv[2] ?? 10);
const backends = (process.argv[3] ?? 'cpu').split(',');
const counts = (process.argv[4] ?? '1,2').split(',').map(Number);
const grids = Number(process.argv[5] ?? 2);
const PHOTO = path.join(fixtures, 'oxford/images/keeshond_164.jpg');

const threadsOf = (page) => page.getAttribute('[data-testid=status]', 'data-threads').then(Number);

/** Milliseconds since navigation until the page is ready, and until all `n` threads have joined. */
async function startup(page, n) {
  await waitStatus(page, 'ready');
  const ready = await page.evaluate(() => performance.now());
  await page.waitForFunction((k) => document.querySelector('[data-testid=status]').dataset.threads === String(k),
    n, { timeout: 600_000, polling: 20 });
  const pool = await page.evaluate(() => performance.now());
  return { ready, pool };
}

async function analysisMs(page) {
  await settled(page, () => page.setInputFiles('[data-testid=photo-input]', PHOTO));
  const r = await result(page);
  return { wall: r.timings_ms.wall, memory: Number(await page.getAttribute('[data-testid=status]', 'data-models-memory')) };
}

async function gridMs(page) {
  // The classifier's second block: 64 filters.
  await page.selectOption('[data-testid=filter-layer]', 'classifier.block.1.sepconv1');
  await page.selectOption('[data-testid=filter-count]', '64');
  const start = Date.now();
  // The click says "gradient ascent…" at once; the run is done when the grid is named.
  await page.click('[data-testid=filter-grid]');
  await page.waitForFunction(() => !/gradient ascent/.test(document.querySelector('[data-testid=filter-outcome]')?.textContent),
    null, { timeout: 600_000, polling: 20 });
  const outcome = await page.textContent('[data-testid=filter-outcome]');
  if (!outcome.includes('the first 64 filters')) throw new Error(outcome);
  return Date.now() - start;
}

console.log(JSON.stringify({ figure: 'cpu', ...cpu(), hardware_concurrency_cap: 4 }));
for (const backend of backends) {
  const server = await serve({ revalidate: true });
  try {
    for (const n of counts) {
      const browser = await launch({ webgpu: backend === 'webgpu' });
      try {
        const { page } = await open(browser.context, `${server.url}/?backend=${backend}&threads=${n}`);
        const cold = await startup(page, n);
        await page.reload();
        const warm = await startup(page, n);
        console.log(JSON.stringify({ figure: 'startup_ms', backend, threads: n, cold, warm }));
      } finally {
        await browser.close();
      }
    }
    const browser = await launch({ webgpu: backend === 'webgpu' });
    try {
      const pages = [];
      for (const n of counts) {
        const { page } = await open(browser.context, `${server.url}/?backend=${backend}&threads=${n}`);
        await startup(page, n);
        pages.push({ n, page, wall: [], memory: 0, grid: [] });
        if (await threadsOf(page) !== n) throw new Error(`${n} threads asked for`);
      }
      for (const p of pages) await analysisMs(p.page); // warm-up
      for (let run = 0; run < runs; run++) {
        for (const p of pages) {
          const { wall, memory } = await analysisMs(p.page);
          p.wall.push(wall);
          p.memory = memory;
        }
      }
      for (const p of pages) {
        console.log(JSON.stringify({
          figure: 'analysis', backend, threads: p.n,
          analysis_ms: { median: median(p.wall), p90: p90(p.wall), runs: p.wall.length },
          models_memory_mb: +(p.memory / 2 ** 20).toFixed(1),
        }));
      }
      for (let g = 0; g < grids; g++) {
        for (const p of pages) {
          p.grid.push(await gridMs(p.page));
          console.log(JSON.stringify({ figure: 'grid64_ms', backend, threads: p.n, ms: p.grid.at(-1) }));
        }
      }
      const figures = pages.map((p) => ({
        backend, threads: p.n, analysis_ms: { median: median(p.wall), p90: p90(p.wall), runs: p.wall.length },
        grid64_ms: { median: median(p.grid), runs: p.grid },
        models_memory_mb: +(p.memory / 2 ** 20).toFixed(1),
      }));
      for (const f of figures) console.log(JSON.stringify({ figure: 'pool', ...f }));
      const [base, ...rest] = figures;
      for (const f of rest) {
        console.log(JSON.stringify({
          figure: 'ratio', backend, threads: f.threads,
          analysis_speedup: +(base.analysis_ms.median / f.analysis_ms.median).toFixed(2),
          grid64_speedup: +(base.grid64_ms.median / f.grid64_ms.median).toFixed(2),
          memory_per_added_thread_mb: +((f.models_memory_mb - base.models_memory_mb) / (f.threads - base.threads)).toFixed(1),
        }));
      }
    } finally {
      await browser.close();
    }
  } finally {
    await server.close();
  }
}
