// "Take a photo": Chromium's fake camera (a generated test pattern) gives a frame that is
// analysed like any photo; without a camera, or with the permission refused, the page says so
// and stays usable.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readyPage, settled, upload, result, fixtures, output } from './harness.mjs';

for (const backend of ['cpu', 'webgpu']) describe(`the camera, with a fake camera, on the ${backend} backend`, () => {
  let page, errors, close;
  before(async () => {
    const extraArgs = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'];
    ({ page, errors, close } = await readyPage({ backend, extraArgs }));
  });
  after(() => close?.());

  test('a captured frame is analysed at the camera resolution', async () => {
    await page.click('[data-testid=camera]');
    await page.waitForFunction(() => document.querySelector('[data-testid=camera-preview]').videoWidth > 0);
    // The preview is shown (a timeout here fails the test).
    await page.waitForSelector('[data-testid=camera-preview]', { state: 'visible', timeout: 5000 });
    const [w, h] = await page.evaluate(() => {
      const v = document.querySelector('[data-testid=camera-preview]');
      return [v.videoWidth, v.videoHeight];
    });
    await page.screenshot({ path: path.join(output, `${backend}-camera-preview.png`) });
    await settled(page, () => page.click('[data-testid=camera-capture]'));
    const r = await result(page);
    assert.deepEqual([r.width, r.height], [w, h]);
    assert.ok(['cat', 'dog'].includes(r.label));
    assert.equal(r.backend, backend);
    assert.match(await page.textContent('.status'), /the camera photo: done/);
    assert.equal(await page.isVisible('[data-testid=camera-preview]'), false, 'the preview closes');
    const tracks = await page.evaluate(() => document.querySelector('[data-testid=camera-preview]').srcObject?.getTracks().map((t) => t.readyState) ?? []);
    assert.ok(tracks.every((s) => s === 'ended'), `the camera is released: ${tracks}`);
  });

  test('cancel closes the preview and releases the camera', async () => {
    await page.click('[data-testid=camera]');
    await page.waitForFunction(() => document.querySelector('[data-testid=camera-preview]').videoWidth > 0);
    await page.click('[data-testid=camera-cancel]');
    assert.equal(await page.isVisible('[data-testid=camera-preview]'), false);
    assert.equal(await page.isEnabled('[data-testid=camera]'), true);
  });

  test('no console errors', () => {
    assert.deepEqual(errors, []);
  });
});

describe('the camera, with no camera and no permission', () => {
  let page, errors, close;
  before(async () => {
    // No fake device and prompts denied: what a person who refuses the prompt gets.
    ({ page, errors, close } = await readyPage({ backend: 'cpu', extraArgs: ['--deny-permission-prompts'] }));
  });
  after(() => close?.());

  test('says why there is no camera, and a photo still works after', async () => {
    await settled(page, () => page.click('[data-testid=camera]'));
    const message = await page.textContent('[data-testid=error]');
    assert.match(message, /camera permission was refused|No camera was found/);
    assert.equal(await page.isVisible('[data-testid=camera-preview]'), false);
    await upload(page, path.join(fixtures, 'cats-vs-dogs/validation/cat/cat.1000.jpg'));
    assert.equal((await result(page)).label, 'cat');
    assert.equal(await page.$('[data-testid=error]'), null);
  });

  test('no console errors', () => {
    assert.deepEqual(errors, []);
  });
});
