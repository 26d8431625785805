// "Look inside the network" on both backends: activation grids of a chosen layer, a channel
// over the photo, a filter pattern by gradient ascent (autodiff in the browser), Grad-CAM at an
// earlier block, and the model card's training curves drawn from history.json.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { serve, launch, open, waitStatus, upload, canvasDigest, cancelGrid, fixtures, output } from './harness.mjs';

const DOG_PHOTO = 'cats-vs-dogs/validation/dog/dog.1000.jpg';

async function canvasSize(page, id) {
  return page.$eval(`[data-testid=${id}]`, (c) => [c.width, c.height]);
}

for (const backend of ['cpu', 'webgpu']) {
  describe(`looking inside, on the ${backend} backend`, () => {
    let server, browser, page, errors;
    before(async () => {
      server = await serve();
      browser = await launch({ webgpu: backend === 'webgpu' });
      ({ page, errors } = await open(browser.context, `${server.url}/?backend=${backend}`));
      await waitStatus(page, 'ready');
      await upload(page, path.join(fixtures, DOG_PHOTO));
    });
    after(async () => {
      await browser?.close();
      await server?.close();
    });

    test('a chosen layer shows all its channels, 16 per row', async () => {
      const options = await page.$$eval('[data-testid=layer-picker] option', (o) => o.map((x) => x.value));
      // The classifier's 21 layers, the segmenter's 12 units and one addition per skip
      // connection when the shipped segmenter has them (its config, www/models/segmenter.json),
      // then the ImageNet network's 40 (conv1, and per block the depthwise ReLU6, the pointwise
      // batch norm and its ReLU6) once it has loaded.
      const skips = JSON.parse(fs.readFileSync('www/models/segmenter.json')).skips ? 2 : 0;
      const ours = options.filter((o) => !o.startsWith('imagenet.'));
      assert.equal(ours.length, 21 + 12 + skips);
      assert.ok([0, 1 + 13 * 3].includes(options.length - ours.length), `${options.length - ours.length} ImageNet layers`);
      assert.ok(options.includes('segmenter.decoder.5.convtranspose'));
      await page.selectOption('[data-testid=layer-picker]', 'classifier.block.1.sepconv2');
      await page.waitForFunction(() => /block\.1\.sepconv2: 64 channels/.test(
        document.querySelector('[data-testid=layer-info]').textContent), null, { timeout: 600_000 });
      const info = await page.textContent('[data-testid=layer-info]');
      const [, w, h] = info.match(/of (\d+)x(\d+)/).map(Number);
      assert.deepEqual(await canvasSize(page, 'activation-grid'), [16 * (w + 1) - 1, 4 * (h + 1) - 1]);
      assert.match(info, /\d+% all zero/);
      await page.screenshot({ path: path.join(output, `${backend}-activations.png`), fullPage: true });
    });

    test('an error in the layer viewer clears when a later layer works', async () => {
      // A layer name the models do not have (as an outdated link or a stale option would send).
      await page.$eval('[data-testid=layer-picker]', (select) => select.add(new Option('classifier.nope', 'classifier.nope')));
      await page.selectOption('[data-testid=layer-picker]', 'classifier.nope');
      const error = '[data-testid=inside] [role=alert]';
      await page.waitForSelector(error);
      assert.match(await page.textContent(error), /classifier\.nope/);
      await page.selectOption('[data-testid=layer-picker]', 'classifier.block.1.sepconv2');
      await page.waitForFunction(() => /block\.1\.sepconv2: 64 channels/.test(
        document.querySelector('[data-testid=layer-info]').textContent), null, { timeout: 600_000 });
      assert.equal(await page.$(error), null, 'the earlier error is gone');
    });

    test('clicking a channel shows it over the photo', async () => {
      const grid = await page.$('[data-testid=activation-grid]');
      const box = await grid.boundingBox();
      // The third tile of the second row.
      const [cw] = await canvasSize(page, 'activation-grid');
      const scale = box.width / cw;
      const info = await page.textContent('[data-testid=layer-info]');
      const [, w, h] = info.match(/of (\d+)x(\d+)/).map(Number);
      await grid.click({ position: { x: (2 * (w + 1) + w / 2) * scale, y: (1 * (h + 1) + h / 2) * scale } });
      await page.waitForFunction(() => document.querySelector('[data-testid=channel-view]').dataset.channel === '18');
      const [pw, ph] = await canvasSize(page, 'channel-view');
      assert.deepEqual([pw, ph], await canvasSize(page, 'canvas'), 'at the photo display size');
    });

    test('a filter pattern by gradient ascent raises the filter', async () => {
      await page.selectOption('[data-testid=filter-layer]', 'classifier.block.0.sepconv1');
      await page.fill('[data-testid=filter-index]', '3');
      await page.click('[data-testid=filter-generate]');
      await page.waitForFunction(() => document.querySelector('[data-testid=filter-outcome]').dataset.activations,
        null, { timeout: 600_000 });
      const [[start, end]] = JSON.parse(await page.getAttribute('[data-testid=filter-outcome]', 'data-activations'));
      assert.ok(end > start, `${start} -> ${end}`);
      assert.match(await page.textContent('[data-testid=filter-outcome]'), /filter 3: mean activation/);
      assert.deepEqual(await canvasSize(page, 'filter-pattern'), [84, 84]);
      await page.screenshot({ path: path.join(output, `${backend}-filter.png`), fullPage: true });
    });

    test('a grid of filters can be cancelled', async () => {
      await cancelGrid(page);
      assert.equal(await page.$('[data-testid=filter-progress]'), null);
    });

    test('Grad-CAM at an earlier block changes the heatmap', async () => {
      await page.check('[data-testid=toggle-heatmap]');
      const last = await canvasDigest(page);
      await page.selectOption('[data-testid=gradcam-depth]', '2');
      await page.waitForFunction((d) => {
        const c = document.querySelector('[data-testid=canvas]');
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let h = 0;
        for (let i = 0; i < data.length; i += 7) h = (h * 31 + data[i]) >>> 0;
        return `${c.width}x${c.height}:${h}` !== d;
      }, last, { timeout: 600_000 });
      await waitStatus(page, 'ready');
      await page.screenshot({ path: path.join(output, `${backend}-gradcam-block2.png`) });
    });

    test('the model card draws the training curves from history.json', async () => {
      await page.click('[data-testid=model-card] summary');
      for (const model of ['segmenter', 'classifier', 'feature_classifier', 'feature_segmenter']) {
        const history = JSON.parse(fs.readFileSync(path.resolve(`www/models/${model}.history.json`)));
        const sel = `[data-testid=curves-${model}-loss] polyline`;
        await page.waitForSelector(sel);
        const points = await page.$$eval(sel, (p) => p.map((x) => [x.dataset.series, Number(x.dataset.points)]));
        assert.deepEqual(points, [['training loss', history.length], ['validation loss', history.length]]);
        const accuracy = await page.$$eval(`[data-testid=curves-${model}-accuracy] polyline`, (p) => p.map((x) => x.dataset.series));
        assert.ok(accuracy.includes('validation accuracy'));
        if (model.endsWith('segmenter')) assert.ok(accuracy.includes('validation mean IoU'));
        const card = await page.textContent(`[data-testid=card-${model}]`);
        assert.match(card, /parameters/);
      }
      // Both segmenters side by side per breed group, from the card's figures.
      const card = JSON.parse(fs.readFileSync(path.resolve('www/models/card.json')));
      const rows = await page.$$eval('[data-testid=card-segmenters] tr[data-group]', (r) => r.map((x) => [x.dataset.group, x.textContent]));
      assert.deepEqual(rows.map(([g]) => g), ['all', 'main breeds', 'other breeds']);
      const [, all] = rows[0];
      for (const entry of [card.segmenter, card.feature_segmenter]) {
        assert.ok(all.includes(entry.validation_metrics.mean_iou.toFixed(3)), `${all} shows ${entry.validation_metrics.mean_iou}`);
      }
      await page.locator('[data-testid=model-card]').screenshot({ path: path.join(output, `${backend}-model-card.png`) });
    });

    test('no console errors', () => {
      assert.deepEqual(errors, []);
    });
  });
}
