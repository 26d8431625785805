// The pool of models' threads, on both backends: with two threads (the chapter's models on one,
// the ImageNet network's reading on the other, filter grids split between them) every result is
// the one a single thread gives, later requests about a photo reach the thread that holds it,
// the latest photo wins and Cancel stops every thread's share.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { serve, launch, open, waitStatus, upload, result, canvasChanges, rapidUploads, cancelGrid, fixtures, cpuOnlyInDefaultTier } from './harness.mjs';

const PHOTOS = ['oxford/images/keeshond_164.jpg', 'cats-vs-dogs/validation/cat/cat.1001.jpg'];

/** A result without what may differ between runs (timings, memory). */
function comparable(r) {
  const { timings_ms: _timings, ...rest } = r;
  return rest;
}

async function threads(page) {
  return Number(await page.getAttribute('[data-testid=status]', 'data-threads'));
}

for (const backend of ['cpu', 'webgpu']) {
  describe(`the models' threads on the ${backend} backend`, () => {
    let server, browser, one, two;
    const pageWith = async (n) => {
      const opened = await open(browser.context, `${server.url}/?backend=${backend}&threads=${n}`);
      await waitStatus(opened.page, 'ready');
      return opened;
    };
    before(async () => {
      server = await serve();
      browser = await launch({ webgpu: backend === 'webgpu' });
      one = await pageWith(1);
      two = await pageWith(2);
      // The second thread starts after the page is ready and joins once it has loaded.
      await two.page.waitForFunction(() =>
        document.querySelector('[data-testid=status]').dataset.threads === '2', null, { timeout: 600_000 });
    });
    after(async () => {
      await browser?.close();
      await server?.close();
    });

    test('?threads=N sizes the pool; the page is ready with the first thread', async () => {
      assert.equal(await threads(one.page), 1);
      assert.equal(await threads(two.page), 2);
    });

    test('two threads give the same verdicts, masks and ImageNet classes as one', async () => {
      // One photo on SwiftShader (each analysis there takes seconds), both on the CPU.
      for (const photo of backend === 'cpu' ? PHOTOS : PHOTOS.slice(0, 1)) {
        await upload(one.page, path.join(fixtures, photo));
        await upload(two.page, path.join(fixtures, photo));
        const [a, b] = [await result(one.page), await result(two.page)];
        assert.equal(b.imagenet_top.length, 5, `${photo}: the reading joined the analysis`);
        assert.deepEqual(b.masks.sort(), ['feature_segmenter', 'segmenter']);
        assert.deepEqual(comparable(b), comparable(a), photo);
        assert.ok(b.timings_ms.imagenet > 0 && b.timings_ms.segment > 0, 'both parts are timed');
      }
    });

    // Every suite runs with the pool where the machine has two cores (CI's does), so the WebGPU
    // suites also send their Grad-CAMs and layers to the thread that read the photo.
    test('requests about the photo reach the thread that holds it',
      { skip: cpuOnlyInDefaultTier(backend, 'the routing is the page\'s') }, async () => {
      const { page, errors } = two;
      await upload(page, path.join(fixtures, 'imagenet/Abyssinian_1.png'), { mimeType: 'image/png' });
      // The ImageNet class's Grad-CAM (the reading's thread).
      const canvas = '[data-testid=imagenet-gradcam]';
      const classes = await page.$$eval('[data-testid=imagenet-top] li', (li) => li.map((l) => l.dataset.class));
      await page.click('[data-testid=imagenet-top] li:nth-child(2) [data-testid=imagenet-class]');
      await page.waitForFunction(([sel, c]) => document.querySelector(sel)?.getAttribute('data-class') === c,
        [canvas, classes[1]], { timeout: 600_000 });
      // Both classifiers' Grad-CAM at an earlier block (one on each thread): the heatmap changes.
      const changed = async (action) => {
        await canvasChanges(page, action);
        await waitStatus(page, 'ready');
      };
      await page.check('[data-testid=toggle-heatmap]');
      await changed(() => page.selectOption('[data-testid=gradcam-depth]', '1'));
      await changed(() => page.selectOption('[data-testid=gradcam-model]', 'feature_classifier'));
      await changed(() => page.selectOption('[data-testid=gradcam-depth]', '9'));
      await page.uncheck('[data-testid=toggle-heatmap]');
      // A layer of each network (one on each thread).
      for (const [layer, text] of [['imagenet.conv_pw_6_relu', /conv_pw_6_relu: 384 channels of 14x14/],
        ['classifier.block.1.sepconv2', /block\.1\.sepconv2: 64 channels/]]) {
        await page.selectOption('[data-testid=layer-picker]', layer);
        await page.waitForFunction((t) => new RegExp(t).test(document.querySelector('[data-testid=layer-info]').textContent),
          text.source, { timeout: 600_000 });
      }
      assert.equal(await page.$('[data-testid=error]'), null);
      assert.deepEqual(errors, []);
    });

    test('with two threads the latest photo wins', async () => {
      const { page } = two;
      await rapidUploads(page);
      await page.waitForTimeout(1500);
      const shown = await result(page);
      assert.match(await page.textContent('.status'), /dog\.1003\.jpg: done/);
      assert.equal(shown.label, 'dog');
      assert.equal(shown.imagenet_top.length, 5, 'with its reading');
      if (backend === 'cpu') {
        await upload(one.page, path.join(fixtures, 'cats-vs-dogs/validation/dog/dog.1003.jpg'));
        assert.deepEqual(comparable(shown), comparable(await result(one.page)), 'the last photo\'s result, whole');
      }
    });

    test('a grid of filters is split across the threads: every filter rises, in one grid of 8 by 2',
      { skip: cpuOnlyInDefaultTier(backend, 'SwiftShader takes 9 minutes over a grid of 16; the split is the page\'s') }, async () => {
      const grid = async (page) => {
        await page.selectOption('[data-testid=filter-layer]', 'classifier.block.0.sepconv1');
        await page.click('[data-testid=filter-grid]');
        await page.waitForFunction(() => document.querySelector('[data-testid=filter-outcome]')?.textContent.includes('the first 16 filters'),
          null, { timeout: 600_000 });
        const rises = JSON.parse(await page.getAttribute('[data-testid=filter-outcome]', 'data-activations'));
        const size = await page.$eval('[data-testid=filter-pattern]', (c) => [c.width, c.height]);
        return { rises, size };
      };
      const b = await grid(two.page);
      assert.equal(b.rises.length, 16);
      assert.ok(b.rises.every(([start, end]) => end > start), JSON.stringify(b.rises));
      // 8 columns and 2 rows of square patterns, 4 px apart.
      const [w, h] = b.size;
      assert.equal((w + 4) / 8, (h + 4) / 2, `${w}x${h}`);
      assert.deepEqual(b.size, (await grid(one.page)).size, 'the grid one thread draws');
    });

    // The inside suite cancels a grid on WebGPU too.
    test('Cancel stops every thread\'s share, and the page works on',
      { skip: cpuOnlyInDefaultTier(backend, 'Cancel goes to every thread from the page') }, async () => {
      const { page, errors } = two;
      await cancelGrid(page);
      assert.equal(await page.$('[data-testid=filter-progress]'), null);
      await page.fill('[data-testid=filter-index]', '2');
      await page.click('[data-testid=filter-generate]');
      await page.waitForFunction(() => /filter 2: mean activation/.test(document.querySelector('[data-testid=filter-outcome]').textContent),
        null, { timeout: 600_000 });
      assert.deepEqual(errors, []);
      assert.deepEqual(one.errors, []);
    });
  });
}
