// The main view fits the column whatever the photo's size (a small photo is enlarged, a large one
// reduced, both drawn crisply at display size), and the pointer probe reads the photo where the
// pointer is at every scale, on a desktop and on a phone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readyPage, settled, scaledPhoto, output } from './harness.mjs';

const PHOTO = 'oxford/images/american_bulldog_10.jpg';

/** Drops the fixture photo scaled to `size` and waits for its result. */
async function dropScaled(page, size) {
  const transfer = await scaledPhoto(page, PHOTO, size, `scaled-${size.join('x')}.jpg`);
  await settled(page, () => page.dispatchEvent('main', 'drop', { dataTransfer: transfer }));
}

/** Moves the pointer to a share of the main view's box; the share the page read there (once
 * the page has handled the move: pointer events are delivered with the next frame). */
async function probeAt(page, fx, fy) {
  await page.$eval('[data-testid=canvas]', (c) => c.scrollIntoView({ block: 'center' }));
  const box = await (await page.$('[data-testid=canvas]')).boundingBox();
  const before = await page.getAttribute('[data-testid=pixel-probabilities]', 'data-at');
  await page.mouse.move(box.x + box.width * fx, box.y + box.height * fy);
  await page.waitForFunction((b) => document.querySelector('[data-testid=pixel-probabilities]').dataset.at !== b,
    before, { timeout: 5_000 }).catch(() => {});
  const at = await page.getAttribute('[data-testid=pixel-probabilities]', 'data-at');
  return at.split(',').map(Number);
}

for (const [device, viewport] of [['desktop', { width: 1100, height: 1000 }], ['phone', { width: 390, height: 844 }]]) {
  test(`the main view fits the column and the probe is exact at every scale (${device})`, async () => {
    const { page, errors, close } = await readyPage({ backend: 'cpu', viewport });
    try {
      for (const size of [[149, 258], [1600, 1200]]) {
        await dropScaled(page, size);
        const view = await page.$eval('[data-testid=canvas]', (c) => {
          const box = c.getBoundingClientRect();
          const column = c.parentElement.getBoundingClientRect();
          const panel = document.querySelector('[data-testid=view-photo]').getBoundingClientRect();
          return { width: c.width, height: c.height, shown: [box.width, box.height], column: column.width, panel: panel.width,
            windowHeight: window.innerHeight };
        });
        // Drawn at display size: the longer side at 1024 pixels, enlarged or reduced.
        assert.equal(Math.max(view.width, view.height), 1024, JSON.stringify(view));
        assert.ok(Math.abs(view.width / view.height - size[0] / size[1]) < 0.01, 'the photo keeps its shape');
        // On screen it fills the column, or most of the window's height for a tall photo, and is
        // never smaller than a side-by-side panel.
        const fills = view.shown[0] >= view.column - 2 || view.shown[1] >= 0.8 * view.windowHeight - 2;
        assert.ok(fills, `fits the column: ${JSON.stringify(view)}`);
        assert.ok(view.shown[0] >= view.panel - 1, `not a thumbnail: ${JSON.stringify(view)}`);
        assert.ok(Math.abs(view.shown[0] / view.shown[1] - size[0] / size[1]) < 0.02, 'not stretched');
        for (const [fx, fy] of [[0.25, 0.75], [0.9, 0.1], [0.5, 0.5]]) {
          const [u, v] = await probeAt(page, fx, fy);
          assert.ok(Math.abs(u - fx) < 0.01 && Math.abs(v - fy) < 0.01, `${device} ${size}: (${fx}, ${fy}) read as (${u}, ${v})`);
        }
      }
      await page.screenshot({ path: path.join(output, `fit-${device}.png`), fullPage: true });
      assert.deepEqual(errors, []);
    } finally {
      await close();
    }
  });
}
