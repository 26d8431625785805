// The page builds each model from the config shipped beside its weights; a failed or truncated
// weights download, or a config that does not fit, is a clear message in the page, not a crash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serve, launch, open, waitStatus, upload, result, fixtures, output } from './harness.mjs';

for (const [name, fail, pattern] of [
  ['missing', { '/models/classifier.bpk': 404 }, /could not download models\/classifier\.bpk: HTTP 404/],
  ['truncated', { '/models/segmenter.bpk': 'truncate' }, /truncated or corrupt/],
  // An older or different model under the expected name: the shapes do not match.
  ['wrong shapes', { '/models/classifier.bpk': '/models/segmenter.bpk' }, /the weights do not fit this model \(an older or different model\?\)/],
  // The classifier's config under the segmenter's name: not a segmenter config.
  ['unreadable config', { '/models/segmenter.json': '/models/classifier.json' }, /the model's config file is not readable/],
]) {
  test(`${name} weights: the page says so`, async () => {
    const server = await serve({ fail });
    const browser = await launch({ webgpu: false });
    try {
      const { page, errors } = await open(browser.context, `${server.url}/?backend=cpu`);
      await waitStatus(page, 'error');
      const message = await page.textContent('[data-testid=error]');
      assert.match(message, pattern);
      assert.deepEqual(errors.filter((e) => !e.includes('404')), [], 'no panic in the console');
      await page.screenshot({ path: path.join(output, `weights-${name.replace(' ', '-')}.png`) });
    } finally {
      await browser.close();
      await server.close();
    }
  });
}

/** The ImageNet network's files (`train import` writes them). */
const IMAGENET_FILES = ['imagenet.json', 'imagenet.bpk', 'imagenet_classes.json'];

/** Ships a small segmenter of another architecture than the usual one (width 8, 64 px, skip
 * connections; one training step on the fixtures) next to the shipped classifier, with the
 * native `train` binary (built here: a no-op when the native tests built it already). */
function shipSmallSegmenter() {
  execFileSync('cargo', ['build', '--release', '--bin', 'train'], { stdio: 'inherit' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'petlens-small-'));
  const bin = path.resolve('target/release/train');
  execFileSync(bin, ['segmenter', '--data', path.join(fixtures, 'oxford'), '--width', '8', '--image-size', '64',
    '--skips', '--epochs', '1', '--max-steps', '1', '--batch-size', '2', '--quiet',
    '--out', path.join(dir, 'run'), '--ship', path.join(dir, 'models')], { stdio: 'pipe' });
  for (const file of ['classifier.json', 'classifier.bpk', ...IMAGENET_FILES]) {
    fs.copyFileSync(path.resolve('www/models', file), path.join(dir, 'models', file));
  }
  return dir;
}

test('the page builds each model from the config shipped beside its weights', async () => {
  const dir = shipSmallSegmenter();
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'models/segmenter.json')));
  assert.deepEqual([config.width, config.image_size, config.skips], [8, 64, true]);
  const server = await serve({ mounts: { '/models/': path.join(dir, 'models') } });
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await open(browser.context, `${server.url}/?backend=cpu`);
    await waitStatus(page, 'ready');
    await upload(page, path.join(fixtures, 'oxford/images/Abyssinian_1.jpg'));
    const r = await result(page);
    assert.ok(['cat', 'dog'].includes(r.label));
    const options = await page.$$eval('[data-testid=layer-picker] option', (o) => o.map((x) => x.value));
    assert.ok(options.includes('segmenter.decoder.4.add'), 'the skip connections of the shipped config');
    await page.selectOption('[data-testid=layer-picker]', 'segmenter.encoder.0.conv');
    await page.waitForFunction(() => /encoder\.0\.conv: 8 channels of 32x32/.test(
      document.querySelector('[data-testid=layer-info]').textContent), null, { timeout: 600_000 });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** The manifest of the files in `dir`, as `train --ship` writes it. */
function writeManifest(dir) {
  const sha256 = {};
  for (const name of ['classifier.bpk', 'classifier.json', 'segmenter.bpk', 'segmenter.json', ...IMAGENET_FILES]) {
    sha256[name] = crypto.createHash('sha256').update(fs.readFileSync(path.join(dir, name))).digest('hex');
  }
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ sha256 }, null, 2));
}

test('a returning visitor gets a new release\'s models, and only the changed files are downloaded', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'petlens-release-'));
  fs.cpSync(path.resolve('www/models'), dir, { recursive: true });
  const server = await serve({ mounts: { '/models/': dir } });
  const browser = await launch({ webgpu: false });
  const photo = path.join(fixtures, 'cats-vs-dogs/validation/dog/dog.1000.jpg');
  const count = (file) => server.requests.filter((r) => r === `/models/${file}`).length;
  try {
    const { page, errors } = await open(browser.context, `${server.url}/?backend=cpu`);
    await waitStatus(page, 'ready');
    await upload(page, photo);
    const first = await result(page);
    // A new release: the classifier runs at another input size (its config changed), so the
    // same photo gets another verdict from the same weights.
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'classifier.json')));
    fs.writeFileSync(path.join(dir, 'classifier.json'), JSON.stringify({ ...config, image_size: config.image_size - 16 }));
    writeManifest(dir);
    await page.reload();
    await waitStatus(page, 'ready');
    await upload(page, photo);
    const second = await result(page);
    assert.notEqual(second.p_dog, first.p_dog, 'the new release answers, not the cached one');
    assert.equal(count('classifier.json'), 2, 'the changed config was downloaded again');
    assert.equal(count('segmenter.bpk'), 1, 'unchanged weights came from the cache');
    assert.equal(count('imagenet.bpk'), 1, 'so did the ImageNet network\'s');
    assert.equal(count('manifest.json'), 2, 'the manifest is read fresh on every visit');
    // A visitor who never came before sees the same.
    const fresh = await launch({ webgpu: false });
    try {
      const other = await open(fresh.context, `${server.url}/?backend=cpu`);
      await waitStatus(other.page, 'ready');
      await upload(other.page, photo);
      assert.equal((await result(other.page)).p_dog, second.p_dog);
    } finally {
      await fresh.close();
    }
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
