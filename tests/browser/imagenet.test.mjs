// The ImageNet network in the page, on both backends: every photo gets its top 5 of 1000
// classes (the same as Keras's, tests/fixtures/imagenet/keras_reference.json), Grad-CAM of any
// of them at any block, and the page works on without it when its weights cannot be had.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { serve, launch, open, waitStatus, upload, settled, result, fixtures, output } from './harness.mjs';

const reference = JSON.parse(fs.readFileSync(path.join(fixtures, 'imagenet/keras_reference.json')));

/** Keras's top 5 for a reference photo: [class, p]. */
function kerasTop(photo) {
  const p = reference.photos.find((r) => r.photo === photo).probabilities;
  return p.map((v, i) => [i, v]).sort((a, b) => b[1] - a[1]).slice(0, 5);
}

for (const backend of ['cpu', 'webgpu']) {
  describe(`the ImageNet network on the ${backend} backend`, () => {
    let server, browser, page, errors;
    before(async () => {
      server = await serve();
      browser = await launch({ webgpu: backend === 'webgpu' });
      ({ page, errors } = await open(browser.context, `${server.url}/?backend=${backend}`));
      await waitStatus(page, 'ready');
    });
    after(async () => {
      await browser?.close();
      await server?.close();
    });

    test('every photo gets the top 5 of 1000 classes, as Keras reads it', async () => {
      for (const photo of ['Abyssinian_1.png', 'keeshond_164.png', 'cat.1001.png']) {
        await upload(page, path.join(fixtures, 'imagenet', photo), { mimeType: 'image/png' });
        const top = (await result(page)).imagenet_top;
        const keras = kerasTop(photo);
        assert.equal(top.length, 5, photo);
        assert.equal(top[0].class, keras[0][0], `${photo}: the same top class as Keras`);
        for (const [i, [, p]] of keras.entries()) {
          assert.ok(Math.abs(top[i].p - p) <= 0.01, `${photo} #${i}: ${top[i].p} against Keras's ${p}`);
        }
        const rows = await page.$$eval('[data-testid=imagenet-top] li', (li) => li.map((l) => l.textContent));
        assert.equal(rows.length, 5);
        assert.ok(rows[0].includes(top[0].name.replaceAll('_', ' ')), `${rows[0]} names ${top[0].name} readably`);
      }
      await page.locator('.imagenet').screenshot({ path: path.join(output, `${backend}-imagenet-top.png`) });
    });

    test('any photo works, not only a 224x224 one: a large JPEG is read too', async () => {
      await upload(page, path.join(fixtures, 'oxford/images/Bengal_10.jpg'));
      const r = await result(page);
      assert.equal(r.imagenet_top.length, 5);
      assert.ok(r.imagenet_top.every((t, i) => i === 0 || t.p <= r.imagenet_top[i - 1].p), 'most probable first');
      assert.ok(r.timings_ms.imagenet > 0, 'the reading is timed');
    });

    test('Grad-CAM for any of the 5 classes, at the last or an earlier block', async () => {
      await upload(page, path.join(fixtures, 'imagenet/Abyssinian_1.png'), { mimeType: 'image/png' });
      const canvas = '[data-testid=imagenet-gradcam]';
      const drawn = (attr, value) => page.waitForFunction(([sel, a, v]) =>
        document.querySelector(sel)?.getAttribute(a) === v, [canvas, attr, value], { timeout: 600_000 });
      const classes = await page.$$eval('[data-testid=imagenet-top] li', (li) => li.map((l) => l.dataset.class));
      await page.click('[data-testid=imagenet-top] li:nth-child(2) [data-testid=imagenet-class]');
      await drawn('data-class', classes[1]);
      const second = await page.$eval(canvas, (c) => c.toDataURL());
      await page.click('[data-testid=imagenet-top] li:nth-child(1) [data-testid=imagenet-class]');
      await drawn('data-class', classes[0]);
      assert.equal(await page.getAttribute(canvas, 'data-depth'), 'last');
      const first = await page.$eval(canvas, (c) => c.toDataURL());
      assert.notEqual(first, second, 'two classes, two maps');
      await page.selectOption('[data-testid=imagenet-gradcam-depth]', '10');
      await drawn('data-depth', '10');
      assert.notEqual(await page.$eval(canvas, (c) => c.toDataURL()), first, 'another block, another map');
      await page.locator('.imagenet').screenshot({ path: path.join(output, `${backend}-imagenet-gradcam.png`) });
      // A new photo clears the map of the old one.
      await upload(page, path.join(fixtures, 'imagenet/keeshond_164.png'), { mimeType: 'image/png' });
      assert.equal(await page.getAttribute(canvas, 'data-class'), null);
      assert.deepEqual(errors, []);
    });

    test('its layers are in the viewer, and its filters have patterns', async () => {
      const options = await page.$$eval('[data-testid=layer-picker] option', (o) => o.map((x) => x.value));
      assert.ok(options.includes('imagenet.conv1_relu') && options.includes('imagenet.conv_pw_13_relu'), 'its layers');
      await page.selectOption('[data-testid=layer-picker]', 'imagenet.conv_pw_6_relu');
      // Width 0.75: 512 * 0.75 = 384 channels at 1/16 of 224 px.
      await page.waitForFunction(() => /conv_pw_6_relu: 384 channels of 14x14/.test(
        document.querySelector('[data-testid=layer-info]').textContent), null, { timeout: 600_000 });
      await page.selectOption('[data-testid=filter-layer]', 'imagenet.conv_pw_2_bn');
      await page.fill('[data-testid=filter-index]', '5');
      await page.click('[data-testid=filter-generate]');
      await page.waitForFunction(() => document.querySelector('[data-testid=filter-outcome]').dataset.activations,
        null, { timeout: 600_000 });
      const [[start, end]] = JSON.parse(await page.getAttribute('[data-testid=filter-outcome]', 'data-activations'));
      assert.ok(end > start, `${start} -> ${end}`);
      // The network's 224 px input with the outer eighth cropped, as the chapter does.
      assert.deepEqual(await page.$eval('[data-testid=filter-pattern]', (c) => [c.width, c.height]), [168, 168]);
      await page.screenshot({ path: path.join(output, `${backend}-imagenet-filter.png`), fullPage: true });
      assert.deepEqual(errors, []);
    });

    test('a filter beside its robust pattern (jitter, scale, rotation; decorrelated colour and frequencies)', { skip: backend !== 'cpu' && 'SwiftShader runs 126 steps of MobileNet too slowly for the default tier' }, async () => {
      await page.selectOption('[data-testid=filter-layer]', 'imagenet.conv_pw_6_bn');
      await page.fill('[data-testid=filter-index]', '2');
      await page.check('[data-testid=filter-robust]');
      const before = await page.getAttribute('[data-testid=filter-outcome]', 'data-activations');
      await page.click('[data-testid=filter-generate]');
      await page.waitForFunction((b) => {
        const a = document.querySelector('[data-testid=filter-outcome]').dataset.activations;
        return a && a !== b;
      }, before, { timeout: 600_000 });
      const rises = JSON.parse(await page.getAttribute('[data-testid=filter-outcome]', 'data-activations'));
      assert.equal(rises.length, 2, 'the plain and the robust pattern');
      for (const [start, end] of rises) assert.ok(end > start, `${start} -> ${end}`);
      assert.match(await page.textContent('[data-testid=filter-outcome]'), /robust/);
      // Side by side at the same size, 4 pixels apart.
      assert.deepEqual(await page.$eval('[data-testid=filter-pattern]', (c) => [c.width, c.height]), [2 * 168 + 4, 168]);
      await page.locator('.filters').screenshot({ path: path.join(output, `${backend}-imagenet-robust.png`) });
      await page.uncheck('[data-testid=filter-robust]');
      assert.deepEqual(errors, []);
    });
  });
}

test('without the ImageNet weights the page says so and works on', async () => {
  const server = await serve({ fail: { '/models/imagenet.bpk': 404 } });
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await open(browser.context, `${server.url}/?backend=cpu`);
    await waitStatus(page, 'ready');
    await page.waitForSelector('[data-testid=imagenet-error]');
    assert.match(await page.textContent('[data-testid=imagenet-error]'), /could not download models\/imagenet\.bpk: HTTP 404/);
    await settled(page, () => page.setInputFiles('[data-testid=photo-input]', path.join(fixtures, 'oxford/images/Abyssinian_1.jpg')));
    const r = await result(page);
    assert.ok(['cat', 'dog'].includes(r.label));
    assert.deepEqual(r.imagenet_top, []);
    assert.deepEqual(errors.filter((e) => !e.includes('404')), [], 'no panic in the console');
  } finally {
    await browser.close();
    await server.close();
  }
});
