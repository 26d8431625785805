// The real page, built by `trunk build` (scripts/test.sh), in headless Chromium on both backends:
// real cat and dog photos, the mask against the trimap, toggles, downloads, bad input.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { serve, launch, open, waitStatus, upload, settled, result, canvasDigest, trimapPetFraction, pngSize, fixtures, output } from './harness.mjs';

const timings = {};
const CAT_PHOTO = 'cats-vs-dogs/validation/cat/cat.1000.jpg';
const DOG_PHOTO = 'cats-vs-dogs/validation/dog/dog.1003.jpg';

for (const backend of ['cpu', 'webgpu']) {
  describe(`page on the ${backend} backend`, () => {
    let server, browser, page, errors;
    before(async () => {
      server = await serve();
      browser = await launch({ webgpu: backend === 'webgpu' });
      ({ page, errors } = await open(browser.context, `${server.url}/?backend=${backend}`));
      await page.waitForSelector('[data-testid=status]');
      await page.screenshot({ path: path.join(output, `${backend}-loading.png`) });
      await waitStatus(page, 'ready');
      await page.screenshot({ path: path.join(output, `${backend}-ready.png`) });
    });
    after(async () => {
      await browser?.close();
      await server?.close();
    });

    test('runs on the requested backend', async () => {
      const badge = await page.textContent('[data-testid=backend]');
      assert.equal(badge.toLowerCase(), backend);
    });

    // Photos of the book's validation split that the shipped classifier gets right (its
    // validation accuracy is in www/models/card.json: not every photo is).
    test('verdicts on a real cat and a real dog', async () => {
      for (const [photo, label] of [[CAT_PHOTO, 'cat'], [DOG_PHOTO, 'dog']]) {
        await settled(page, async () => {
          await page.setInputFiles('[data-testid=photo-input]', path.join(fixtures, photo));
          if (label === 'cat') {
            await waitStatus(page, 'working');
            await page.screenshot({ path: path.join(output, `${backend}-working.png`) });
          }
        });
        const r = await result(page);
        assert.equal(r.backend, backend);
        assert.equal(r.label, label, photo);
        const verdict = await page.textContent('[data-testid=verdict]');
        assert.match(verdict, new RegExp(`${label} \\(\\d+\\.\\d% sure\\)`));
        for (const stage of ['decode', 'segment', 'classify', 'gradcam']) assert.ok(r.timings_ms[stage] > 0, stage);
        timings[`${backend}/${label}`] = r.timings_ms;
      }
    });

    test('the mask covers the pet about as much as the trimap does', async () => {
      for (const name of ['Abyssinian_1', 'american_bulldog_10']) {
        await upload(page, path.join(fixtures, `oxford/images/${name}.jpg`));
        const r = await result(page);
        const truth = trimapPetFraction(name);
        assert.ok(Math.abs(r.mask_fraction.pet - truth) < 0.15, `${name}: pet ${r.mask_fraction.pet} vs trimap ${truth}`);
        await page.screenshot({ path: path.join(output, `${backend}-${name}-mask.png`) });
      }
    });

    test('the layer toggles change the canvas', async () => {
      const withMask = await canvasDigest(page);
      await page.uncheck('[data-testid=toggle-mask]');
      const plain = await canvasDigest(page);
      assert.notEqual(plain, withMask, 'hiding the mask changes the canvas');
      await page.check('[data-testid=toggle-heatmap]');
      const dogHeat = await canvasDigest(page);
      assert.notEqual(dogHeat, plain, 'the heatmap changes the canvas');
      await page.screenshot({ path: path.join(output, `${backend}-dog-heatmap.png`) });
      await page.selectOption('[data-testid=heatmap-class]', 'cat');
      assert.notEqual(await canvasDigest(page), dogHeat, 'the cat heatmap differs from the dog heatmap');
      await page.fill('[data-testid=opacity]', '0.9');
      await page.dispatchEvent('[data-testid=opacity]', 'input');
      await page.check('[data-testid=toggle-mask]');
    });

    test('downloads are PNGs at the photo size', async () => {
      const r = await result(page);
      for (const id of ['download-cutout', 'download-mask']) {
        const [download] = await Promise.all([page.waitForEvent('download'), page.click(`[data-testid=${id}]`)]);
        const file = path.join(output, `${backend}-${download.suggestedFilename()}`);
        await download.saveAs(file);
        assert.deepEqual(pngSize(fs.readFileSync(file)), { width: r.width, height: r.height }, id);
      }
    });

    test('bad files give a message and the page keeps working', async () => {
      const cases = [
        ['not-a-photo.jpg', Buffer.from('this is a text file, not a photo'), /not an image/],
        ['empty.jpg', Buffer.alloc(0), /empty/],
        ['truncated.jpg', fs.readFileSync(path.join(fixtures, 'cats-vs-dogs/train/dog/dog.0.jpg')).subarray(0, 6000), /truncated|corrupt/],
      ];
      for (const [name, buffer, pattern] of cases) {
        const tmp = path.join(output, name);
        fs.writeFileSync(tmp, buffer);
        await upload(page, tmp, { name });
        const message = await page.textContent('[data-testid=error]');
        assert.match(message, pattern, name);
        assert.equal(await page.textContent('[data-testid=status]'), 'ready');
      }
      await page.screenshot({ path: path.join(output, `${backend}-error.png`) });
      await upload(page, path.join(fixtures, 'cats-vs-dogs/validation/cat/cat.1000.jpg'));
      assert.equal(await page.$('[data-testid=error]'), null, 'the error goes away with a good photo');
      assert.ok((await result(page)).label);
    });

    test('the bench mode reports every stage and both models alone', async () => {
      const bench = await browser.context.newPage();
      try {
        await bench.goto(`${server.url}/?backend=${backend}&bench=2`);
        await bench.waitForSelector('[data-testid=bench]', { timeout: 300_000 });
        const report = JSON.parse(await bench.textContent('[data-testid=bench]'));
        assert.equal(report.backend, backend);
        assert.equal(report.runs, 2);
        const figures = ['decode', 'segment', 'classify', 'gradcam', 'total'].map((stage) => report[stage]);
        figures.push(report.models.segmenter, report.models.classifier);
        for (const figure of figures) {
          assert.ok(figure.median_ms > 0 && figure.p90_ms >= figure.median_ms, JSON.stringify(figure));
        }
        // The models alone do less than the stages that also resize the photo.
        assert.ok(report.models.classifier.median_ms < report.total.median_ms);
      } finally {
        await bench.close();
      }
    });

    test('no console errors and no request outside the page', async () => {
      assert.deepEqual(errors, []);
      assert.ok(server.requests.every((p) => !p.startsWith('http')), 'only local paths');
    });
  });
}

test('timings per stage (ms) on both backends', () => {
  console.log(JSON.stringify(timings));
  fs.writeFileSync(path.join(output, 'timings.json'), JSON.stringify(timings, null, 2));
  assert.ok(Object.keys(timings).length >= 2);
});
