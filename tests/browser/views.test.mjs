// The result views on both backends: the verdict's probability bar, the photo, mask and
// Grad-CAM side by side, the uncertainty overlay, the compare slider and the segmenter's
// probabilities under the pointer.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { readyPage, waitStatus, upload, result, canvasDigest, scaledPhoto, fixtures, output, cpuOnlyInDefaultTier } from './harness.mjs';
import { dragDuringAnalysis } from '../../bench/drag.mjs';

const PHOTO = 'oxford/images/american_bulldog_10.jpg';

/** Pixels of a canvas as a digest, by test id. */
function digestOf(page, id) {
  return page.evaluate((testid) => {
    const c = document.querySelector(`[data-testid=${testid}]`);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let h = 0;
    for (let i = 0; i < d.length; i += 7) h = (h * 31 + d[i]) >>> 0;
    return `${c.width}x${c.height}:${h}`;
  }, id);
}

for (const backend of ['cpu', 'webgpu']) {
  describe(`result views on the ${backend} backend`, () => {
    let page, errors, close;
    before(async () => {
      ({ page, errors, close } = await readyPage({ backend }));
      await upload(page, path.join(fixtures, PHOTO));
    });
    after(() => close?.());

    test('the verdict shows its probability as a bar', async () => {
      const r = await result(page);
      const value = Number(await page.getAttribute('[data-testid=verdict-bar]', 'value'));
      assert.ok(Math.abs(value - r.p_dog) < 1e-6, `${value} vs ${r.p_dog}`);
      assert.equal(await page.textContent('[data-testid=p-dog]'), `P(dog) = ${r.p_dog.toFixed(3)}`);
    });

    test('photo, mask and Grad-CAM side by side, each drawn and different', async () => {
      const digests = [];
      for (const id of ['view-photo', 'view-mask', 'view-gradcam']) {
        assert.ok(await page.isVisible(`[data-testid=${id}]`), id);
        digests.push(await digestOf(page, id));
      }
      assert.equal(new Set(digests).size, 3, digests.join(' '));
      await page.screenshot({ path: path.join(output, `${backend}-side-by-side.png`), fullPage: true });
    });

    test('the compare slider wipes from the overlays to the photo', async () => {
      const overlays = await canvasDigest(page);
      await page.fill('[data-testid=compare]', '0');
      assert.equal(await canvasDigest(page), await digestOf(page, 'view-photo'), 'all photo at 0');
      await page.fill('[data-testid=compare]', '0.5');
      const half = await canvasDigest(page);
      assert.notEqual(half, overlays);
      await page.fill('[data-testid=compare]', '1');
      assert.equal(await canvasDigest(page), overlays, 'all overlays at 1');
    });

    test('the uncertainty overlay changes the view', async () => {
      await page.fill('[data-testid=compare]', '1');
      const before = await canvasDigest(page);
      await page.check('[data-testid=toggle-uncertainty]');
      const unsure = await canvasDigest(page);
      assert.notEqual(unsure, before);
      await page.screenshot({ path: path.join(output, `${backend}-uncertainty.png`) });
      await page.uncheck('[data-testid=toggle-uncertainty]');
      assert.equal(await canvasDigest(page), before);
    });

    test('pointing at the photo shows the segmenter probabilities there', async () => {
      const canvas = await page.$('[data-testid=canvas]');
      const box = await canvas.boundingBox();
      const read = async (fx, fy) => {
        await page.mouse.move(box.x + box.width * fx, box.y + box.height * fy);
        const text = await page.textContent('[data-testid=pixel-probabilities]');
        const match = text.match(/^pet (\d+)% · background (\d+)% · border (\d+)%$/);
        assert.ok(match, text);
        const [pet, background, border] = match.slice(1).map(Number);
        assert.ok(Math.abs(pet + background + border - 100) <= 2, text);
        return { pet, background };
      };
      // The bulldog fills the middle of this photo; its corner is background.
      const middle = await read(0.5, 0.5);
      const corner = await read(0.02, 0.02);
      assert.ok(middle.pet > corner.pet, `${JSON.stringify(middle)} vs ${JSON.stringify(corner)}`);
      assert.ok(corner.background > 50, JSON.stringify(corner));
    });

    test('a slider drag during an analysis never waits for the models (they run in workers)',
      { skip: cpuOnlyInDefaultTier(backend, 'the page draws while a worker works, whatever its backend') }, async () => {
      // A 4000x3000 photo keeps the models' thread busy for a while (decode, resize, three models).
      const { analysis, ...moves } = await dragDuringAnalysis(page);
      fs.writeFileSync(path.join(output, `${backend}-drag-during-analysis.json`), JSON.stringify(moves));
      // The proof that no move waited for the models is the order of events, not a time: all ten
      // moves were drawn (each awaited its next frame) while the page still said it was working,
      // and the analysis they overlapped then ended with the photo's result. How long a move
      // takes is `bench/drag.mjs`'s figure (a CI run once measured one at 254.6 ms).
      assert.equal(moves.status, 'working', `the drag happened during the analysis: ${JSON.stringify(moves)}`);
      assert.ok(moves.changed >= 8, `the view followed the slider: ${moves.changed} of 10 redraws`);
      assert.equal(analysis.width, 4000);
    });

    test('Grad-CAM asked for during an analysis never lands on the next photo, and the page works until both are done', async () => {
      await page.check('[data-testid=toggle-heatmap]');
      await page.evaluate(() => {
        const status = document.querySelector('[data-testid=status]');
        window.statuses = [];
        new MutationObserver(() => window.statuses.push([status.textContent, status.dataset.handled]))
          .observe(status, { childList: true, characterData: true, subtree: true, attributes: true });
      });
      const handled = () => page.getAttribute('[data-testid=status]', 'data-handled').then(Number);
      const before = await handled();
      // A large photo keeps the models' thread busy while Grad-CAM of the photo on screen runs.
      const transfer = await scaledPhoto(page, 'oxford/images/Abyssinian_1.jpg', [3000, 2000], 'next.jpg');
      await page.dispatchEvent('main', 'drop', { dataTransfer: transfer });
      await waitStatus(page, 'working');
      await page.selectOption('[data-testid=gradcam-depth]', '0');
      await page.waitForFunction((prev) => {
        const s = document.querySelector('[data-testid=status]');
        return s.textContent === 'ready' && Number(s.dataset.handled) > prev;
      }, before, { timeout: 600_000 });
      const statuses = await page.evaluate(() => window.statuses);
      assert.ok(!statuses.some(([text, n]) => text === 'ready' && Number(n) === before),
        `"ready" before the analysis ended: ${JSON.stringify(statuses)}`);
      assert.equal(await page.$eval('[data-testid=gradcam-depth]', (s) => s.value), 'last', 'the new photo is at the last block');
      const raced = await digestOf(page, 'view-gradcam');
      // The same photo analysed with nothing else going on: the same heatmap.
      const after = await handled();
      await page.dispatchEvent('main', 'drop', { dataTransfer: transfer });
      await page.waitForFunction((prev) => {
        const s = document.querySelector('[data-testid=status]');
        return s.textContent === 'ready' && Number(s.dataset.handled) > prev;
      }, after, { timeout: 600_000 });
      assert.equal(raced, await digestOf(page, 'view-gradcam'), 'the heatmap shown is the new photo\'s own');
    });

    test('no console errors', () => {
      assert.deepEqual(errors, []);
    });
  });
}
