// The ImageNet network in the page, on both backends: every photo gets its top 5 of 1000
// classes (the same as Keras's, tests/fixtures/imagenet/keras_reference.json), Grad-CAM of any
// of them at any block, and the page works on without it when its weights cannot be had.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { serve, launch, open, waitStatus, upload, settled, result, fixtures, output, cpuOnlyInDefaultTier } from './harness.mjs';

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

    test('two verdicts: the chapter\'s model and the classifier on ImageNet features, the better on validation first', async () => {
      const card = JSON.parse(fs.readFileSync(path.resolve('www/models/card.json')));
      const accuracy = (entry) => entry.validation_metrics.accuracy;
      const better = accuracy(card.feature_classifier) > accuracy(card.classifier) ? 'feature_classifier' : 'classifier';
      for (const [photo, truth] of [['cats-vs-dogs/validation/cat/cat.1001.jpg', 'cat'], ['cats-vs-dogs/validation/dog/dog.1003.jpg', 'dog']]) {
        await upload(page, path.join(fixtures, photo));
        const r = await result(page);
        assert.deepEqual(r.verdicts.map((v) => v.model).sort(), ['classifier', 'feature_classifier'], photo);
        assert.equal(r.verdicts[0].model, better, 'the default verdict is the better one on validation');
        assert.equal(r.p_dog, r.verdicts[0].p_dog);
        assert.equal(r.label, r.verdicts[0].label);
        const features = r.verdicts.find((v) => v.model === 'feature_classifier');
        assert.equal(features.label, truth, `${photo}: ${features.p_dog}`);
        const rows = await page.$$eval('[data-testid=verdict-row]', (li) => li.map((l) => [l.dataset.model, l.textContent]));
        assert.deepEqual(rows.map(([m]) => m), r.verdicts.map((v) => v.model), 'a row per verdict, in order');
        assert.ok(rows.every(([, text], i) => text.includes(`P(dog) = ${r.verdicts[i].p_dog.toFixed(3)}`)), JSON.stringify(rows));
      }
      await page.locator('.result').screenshot({ path: path.join(output, `${backend}-verdicts.png`) });
      assert.deepEqual(errors, []);
    });

    test('two masks: from scratch and on ImageNet features, the better on validation shown first; switching shows the other on the same photo', async () => {
      const card = JSON.parse(fs.readFileSync(path.resolve('www/models/card.json')));
      const iou = (entry) => entry.validation_metrics.mean_iou;
      const better = iou(card.feature_segmenter) > iou(card.segmenter) ? 'feature_segmenter' : 'segmenter';
      const other = better === 'segmenter' ? 'feature_segmenter' : 'segmenter';
      const truth = JSON.parse(fs.readFileSync(path.join(fixtures, 'oxford/pet_fractions.json')));
      await upload(page, path.join(fixtures, 'oxford/images/keeshond_164.jpg'));
      const first = await result(page);
      assert.deepEqual([...first.masks].sort(), ['feature_segmenter', 'segmenter']);
      assert.equal(first.mask_model, better, 'the default mask is the better one on validation');
      const select = '[data-testid=mask-model]';
      assert.equal(await page.$eval(select, (s) => s.value), better);
      assert.ok(await page.isVisible(select));
      const canvas = () => page.evaluate(() => document.querySelector('[data-testid=canvas]').toDataURL());
      const shown = await canvas();
      await page.selectOption(select, other);
      await page.waitForFunction((m) => JSON.parse(document.querySelector('[data-testid=result]').dataset.result).mask_model === m, other);
      const switched = await result(page);
      assert.notDeepEqual(switched.mask_fraction, first.mask_fraction, 'another mask of the same photo');
      assert.equal(switched.p_dog, first.p_dog, 'the verdict stays');
      assert.deepEqual(switched.imagenet_top, first.imagenet_top, 'nothing analysed again');
      assert.notEqual(await canvas(), shown, 'the overlay shows the other mask');
      // The mask on ImageNet features finds the pet: within 0.1 of the trimap's share of it.
      const features = first.mask_model === 'feature_segmenter' ? first : switched;
      const pet = truth.keeshond_164;
      assert.ok(Math.abs(features.mask_fraction.pet - pet) < 0.1, `${features.mask_fraction.pet} against ${pet}`);
      await page.locator('.result').screenshot({ path: path.join(output, `${backend}-mask-${other}.png`) });
      await page.selectOption(select, better);
      await page.waitForFunction((m) => JSON.parse(document.querySelector('[data-testid=result]').dataset.result).mask_model === m, better);
      assert.deepEqual((await result(page)).mask_fraction, first.mask_fraction, 'switching back shows the first mask again');
      assert.equal(await canvas(), shown);
      assert.deepEqual(errors, []);
    });

    test('Grad-CAM explains either verdict, at any of its network\'s blocks', async () => {
      const digest = () => page.evaluate(() => {
        const c = document.querySelector('[data-testid=canvas]');
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let h = 0;
        for (let i = 0; i < data.length; i += 7) h = (h * 31 + data[i]) >>> 0;
        return h;
      });
      const changed = (before) => page.waitForFunction((d) => {
        const c = document.querySelector('[data-testid=canvas]');
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let h = 0;
        for (let i = 0; i < data.length; i += 7) h = (h * 31 + data[i]) >>> 0;
        return h !== d;
      }, before, { timeout: 600_000 });
      await page.check('[data-testid=toggle-heatmap]');
      assert.equal(await page.$eval('[data-testid=gradcam-model]', (s) => s.value), 'classifier', "the analysis's maps are the chapter model's");
      const chapter = await digest();
      await page.selectOption('[data-testid=gradcam-model]', 'feature_classifier');
      await changed(chapter);
      await waitStatus(page, 'ready');
      // MobileNet's 13 blocks: the last, and 12 earlier ones.
      const depths = await page.$$eval('[data-testid=gradcam-depth] option', (o) => o.map((x) => x.value));
      assert.equal(depths.length, 13, JSON.stringify(depths));
      const last = await digest();
      await page.selectOption('[data-testid=gradcam-depth]', '9');
      await changed(last);
      await waitStatus(page, 'ready');
      assert.equal(await page.$eval('[data-testid=gradcam-model]', (s) => s.value), 'feature_classifier');
      await page.locator('.result').screenshot({ path: path.join(output, `${backend}-gradcam-features.png`) });
      await page.uncheck('[data-testid=toggle-heatmap]');
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

    test('a filter beside its robust pattern (jitter, scale, rotation; decorrelated colour and frequencies)', { skip: cpuOnlyInDefaultTier(backend, 'SwiftShader runs 126 steps of MobileNet for minutes') }, async () => {
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
    assert.deepEqual(r.verdicts.map((v) => v.model), ['classifier'], 'the chapter\'s verdict alone');
    assert.deepEqual(r.masks, ['segmenter'], 'the chapter\'s mask alone');
    assert.ok(await page.isHidden('[data-testid=mask-model]'), 'no choice of one mask');
    assert.deepEqual(errors.filter((e) => !e.includes('404')), [], 'no panic in the console');
  } finally {
    await browser.close();
    await server.close();
  }
});

/** A release with an imported Xception beside the shipped models: Keras's Xception tensors
 * (names and shapes of tests/fixtures/xception/tensors.json, small seeded values: the page's
 * switch is tested here, Keras-exactness by tests/native/xception.rs) written as a TF.js model and
 * imported with the native `train` (built here: a no-op when the native tests built it). */
function releaseWithXception() {
  execFileSync('cargo', ['build', '--release', '--bin', 'train'], { stdio: 'inherit' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'petlens-xception-'));
  const tfjs = path.join(dir, 'tfjs');
  const models = path.join(dir, 'models');
  fs.mkdirSync(tfjs);
  fs.cpSync(path.resolve('www/models'), models, { recursive: true });
  const { tensors } = JSON.parse(fs.readFileSync(path.join(fixtures, 'xception/tensors.json')));
  let state = 0x9e3779b9;
  const manifest = tensors.map((t, k) => {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const fanIn = t.shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const part = t.name.split('/').pop();
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      const u = state / 2 ** 32;
      values[i] = part.endsWith('kernel') ? (2 * u - 1) * Math.sqrt(3 / fanIn)
        : ['gamma', 'moving_variance'].includes(part) ? 0.5 + u : (2 * u - 1) * 0.1;
    }
    const shard = `group${k + 1}-shard1of1`;
    fs.writeFileSync(path.join(tfjs, shard), Buffer.from(values.buffer));
    return { paths: [shard], weights: [{ name: t.name, shape: t.shape, dtype: 'float32' }] };
  });
  fs.writeFileSync(path.join(tfjs, 'model.json'), JSON.stringify({ weightsManifest: manifest }));
  execFileSync(path.resolve('target/release/train'), ['import', '--tfjs', tfjs,
    '--classes', path.join(models, 'imagenet_classes.json'), '--out', models], { stdio: 'pipe' });
  return { dir, models };
}

test('where the release has an Xception, the page offers it and reads the photo again with it', async () => {
  const { dir, models } = releaseWithXception();
  const server = await serve({ mounts: { '/models/': models } });
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await open(browser.context, `${server.url}/?backend=cpu`);
    await waitStatus(page, 'ready');
    await upload(page, path.join(fixtures, 'imagenet/Abyssinian_1.png'), { mimeType: 'image/png' });
    assert.equal(await page.getAttribute('[data-testid=imagenet-top]', 'data-network'), 'imagenet');
    const mobilenet = (await result(page)).imagenet_top;
    const choices = await page.$$eval('[data-testid=imagenet-network] option', (o) => o.map((x) => x.value));
    assert.deepEqual(choices, ['imagenet', 'xception']);
    await page.selectOption('[data-testid=imagenet-network]', 'xception');
    await page.waitForFunction(() => document.querySelector('[data-testid=imagenet-top]')?.dataset.network === 'xception'
      && document.querySelectorAll('[data-testid=imagenet-top] li').length === 5, null, { timeout: 600_000 });
    await waitStatus(page, 'ready');
    const xception = (await result(page)).imagenet_top;
    assert.equal(xception.length, 5);
    assert.deepEqual((await result(page)).verdicts.map((v) => v.model), ['classifier'],
      'the classifier on MobileNet\'s features does not read Xception\'s');
    assert.deepEqual((await result(page)).masks, ['segmenter'], 'nor does the segmenter on them');
    assert.notDeepEqual(xception, mobilenet, 'the photo read again by the other network');
    const layers = await page.$$eval('[data-testid=layer-picker] option', (o) => o.map((x) => x.value));
    assert.ok(layers.includes('imagenet.block2_sepconv1'), "Xception's layers in the viewer");
    assert.ok(!layers.includes('imagenet.conv_pw_1_relu'), "MobileNet's gone from it");
    await page.locator('.imagenet').screenshot({ path: path.join(output, 'cpu-imagenet-xception.png') });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
