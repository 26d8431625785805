// The models' thread's peak memory for one large photo: a fresh page on the CPU backend
// analyses a real fixture photo scaled to 64 megapixels (8000x8000, the largest the page
// accepts) by the browser's own JPEG encoder, and the thread's wasm memory after it is printed
// (wasm memory never shrinks, so this is its peak). One JSON line.
//   node bench/memory.mjs [width=8000] [height=8000]
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { readyPage, settled, scaledPhoto, result } from '../tests/browser/harness.mjs';

export async function peakMemory([width, height]) {
  const { page, close } = await readyPage({ backend: 'cpu' });
  try {
    const transfer = await scaledPhoto(page, 'oxford/images/american_bulldog_10.jpg', [width, height], 'large.jpg', 0.8);
    await settled(page, () => page.dispatchEvent('main', 'drop', { dataTransfer: transfer }));
    const r = await result(page);
    const error = await page.$('[data-testid=error]');
    if (error) throw new Error(await error.textContent());
    const peak = Number(await page.getAttribute('[data-testid=status]', 'data-models-memory'));
    return {
      photo: `${r.width}x${r.height}`,
      megapixels: (r.width * r.height) / 1e6,
      models_thread_wasm_peak_bytes: peak,
      cpu: os.cpus()[0]?.model,
    };
  } finally {
    await close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const size = [Number(process.argv[2] ?? 8000), Number(process.argv[3] ?? 8000)];
  console.log(JSON.stringify(await peakMemory(size)));
}
