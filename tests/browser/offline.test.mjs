// After one visit the page works with no network: its service worker has cached the app and
// the wasm module, the page its weights. Tested by stopping the server and reloading; and while
// online, a changed file replaces the cached one.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import { readyPage, waitStatus, upload, result, fixtures, output, dist } from './harness.mjs';

for (const backend of ['cpu', 'webgpu']) describe(`offline after one visit, on the ${backend} backend`, () => {
  let server, page, errors, close;
  // Rules the test server follows (a path served from another file: a "new deployment").
  const replaced = {};
  before(async () => {
    ({ server, page, errors, close } = await readyPage({ backend, fail: replaced }));
    // The service worker is installed, and has cached what the page loaded (every sample's
    // thumbnail: it stores them one by one, so waiting for the first would race with the tests
    // below).
    await page.evaluate(() => navigator.serviceWorker.ready);
    const thumbnails = fs.readdirSync(path.join(dist, 'samples', 'thumbs')).length;
    await page.waitForFunction(async (n) => {
      const cache = await caches.open('petlens-app-v1');
      return (await cache.keys()).filter((r) => r.url.includes('/samples/thumbs/')).length >= n;
    }, thumbnails);
  });
  after(() => close?.());

  test('the service worker cached the page, its script, its wasm module and styles', async () => {
    const cached = await page.evaluate(async () => {
      const cache = await caches.open('petlens-app-v1');
      return (await cache.keys()).map((r) => new URL(r.url).pathname);
    });
    for (const pattern of [/^\/$/, /^\/petlens-[0-9a-f]+\.js$/, /^\/petlens-[0-9a-f]+_bg\.wasm$/, /^\/style-[0-9a-f]+\.css$/]) {
      assert.ok(cached.some((p) => pattern.test(p)), `${pattern} in ${cached}`);
    }
  });

  test('online, a new deployment replaces what the worker cached', async () => {
    const sample = '/samples/thumbs/beagle_14.jpg';
    // The service worker stores what the page named in the background (on WebGPU an entry was
    // seen to come and go for a while: not understood yet): the old file is cached whole.
    await page.waitForFunction(async ([p, size]) => {
      const hit = await (await caches.open('petlens-app-v1')).match(p);
      return hit && (await hit.arrayBuffer()).byteLength === size;
    }, [sample, fs.statSync(path.join(dist, sample)).size]);
    replaced[sample] = '/samples/thumbs/samoyed_32.jpg';
    await page.reload();
    await waitStatus(page, 'ready');
    await page.waitForFunction(async ([p, size]) => {
      const hit = await (await caches.open('petlens-app-v1')).match(p);
      return hit && (await hit.arrayBuffer()).byteLength === size;
    }, [sample, fs.statSync(path.join(dist, '/samples/thumbs/samoyed_32.jpg')).size]);
    delete replaced[sample];
  });

  test('with the server stopped, a reload still analyses a photo', async () => {
    // The app shell and the models the page needs offline are all in their caches first.
    await page.waitForFunction(async () => {
      const app = (await (await caches.open('petlens-app-v1')).keys()).map((r) => new URL(r.url).pathname);
      const models = (await (await caches.open('petlens-models')).keys()).map((r) => new URL(r.url).pathname);
      return app.includes('/') && app.some((p) => p.endsWith('_bg.wasm')) && app.some((p) => /petlens-[0-9a-f]+\.js$/.test(p))
        && ['segmenter.bpk', 'classifier.bpk'].every((f) => models.includes(`/models/${f}`));
    });
    await server.close();
    const before = server.requests.length;
    await page.reload();
    await waitStatus(page, 'ready');
    assert.equal(server.requests.length, before, 'nothing reached the (stopped) server');
    await upload(page, path.join(fixtures, 'cats-vs-dogs/validation/dog/dog.1003.jpg'));
    const r = await result(page);
    assert.equal(r.label, 'dog');
    await page.screenshot({ path: path.join(output, `${backend}-offline.png`) });
  });

  test('no console errors, online or offline', () => {
    assert.deepEqual(errors, []);
  });
});
