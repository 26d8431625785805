#!/usr/bin/env node
// A slider drag during an analysis: the page's opacity slider moved ten times while the models'
// thread analyses a 4000x3000 photo, timed from each input event to the next animation frame, on
// the built page (dist/, or PETLENS_DIST) in Debian's headless Chromium. The target (under 100 ms
// a move) is a figure this prints, not a test's bound: this machine is noisy. Prints the CPU, then
// one JSON line per backend and thread count: each round's latencies and their median, p90 and
// slowest over all rounds, with the analysis's own time, so that a frame compares with it in one run.
// `tests/browser/views.test.mjs` runs `dragDuringAnalysis` once and checks that no frame waited.
//   node bench/drag.mjs [rounds=5] [backends=cpu,webgpu] [threads=1,2]
import { fileURLToPath } from 'node:url';
import { cpu, median, p90 } from './figures.mjs';
import { serve, launch, open, waitStatus, result, scaledPhoto } from '../tests/browser/harness.mjs';

/** The fixture photo the drag happens over, scaled up so that the analysis takes a while. */
const PHOTO = 'oxford/images/american_bulldog_10.jpg';

/** Drops a 4000x3000 photo on a ready `page`, moves the opacity slider ten times while the page
 * says it is working, and waits for the analysis. Returns each move's input-to-next-frame time,
 * how many moves redrew the photo, the status after the last move (`working` unless the drag
 * waited for the models) and the analysis's result. */
export async function dragDuringAnalysis(page) {
  const transfer = await scaledPhoto(page, PHOTO, [4000, 3000], 'big.jpg');
  await page.dispatchEvent('main', 'drop', { dataTransfer: transfer });
  await waitStatus(page, 'working');
  const measured = await page.evaluate(async () => {
    const slider = document.querySelector('[data-testid=opacity]');
    const canvas = document.querySelector('[data-testid=canvas]');
    const pixel = () => [...canvas.getContext('2d', { willReadFrequently: true }).getImageData(10, 10, 1, 1).data].join();
    const latencies = [];
    let changed = 0;
    for (const value of [0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4, 1.0, 0.0]) {
      const before = pixel();
      const start = performance.now();
      slider.value = String(value);
      slider.dispatchEvent(new Event('input', { bubbles: true }));
      await new Promise((resolve) => requestAnimationFrame(() => resolve()));
      latencies.push(performance.now() - start);
      if (pixel() !== before) changed++;
    }
    const status = document.querySelector('[data-testid=status]').textContent;
    return { latencies, changed, status };
  });
  await waitStatus(page, 'ready');
  return { ...measured, analysis: await result(page) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rounds = Number(process.argv[2] ?? 5);
  const backends = (process.argv[3] ?? 'cpu,webgpu').split(',');
  const counts = (process.argv[4] ?? '1,2').split(',').map(Number);
  console.log(JSON.stringify({ figure: 'cpu', ...cpu() }));
  const server = await serve();
  try {
    for (const backend of backends) {
      for (const threads of counts) {
        const browser = await launch({ webgpu: backend === 'webgpu' });
        try {
          const { page } = await open(browser.context, `${server.url}/?backend=${backend}&threads=${threads}`);
          await waitStatus(page, 'ready');
          const all = [];
          const walls = [];
          for (let round = 0; round < rounds; round++) {
            const m = await dragDuringAnalysis(page);
            if (m.status !== 'working') throw new Error(`round ${round}: the analysis ended during the drag`);
            all.push(...m.latencies);
            walls.push(m.analysis.timings_ms.wall);
          }
          const ms = (v) => +v.toFixed(1);
          console.log(JSON.stringify({
            figure: 'drag_during_analysis', backend, threads, moves: all.length,
            input_to_frame_ms: { median: ms(median(all)), p90: ms(p90(all)), slowest: ms(Math.max(...all)) },
            analysis_wall_ms: { median: ms(median(walls)) },
          }));
        } finally {
          await browser.close();
        }
      }
    }
  } finally {
    await server.close();
  }
}
