// A failed or truncated weights download is a clear message in the page, not a crash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { serve, launch, open, waitStatus, output } from './harness.mjs';

for (const [name, fail, pattern] of [
  ['missing', { '/models/classifier.bpk': 404 }, /could not download models\/classifier\.bpk: HTTP 404/],
  ['truncated', { '/models/segmenter.bpk': 'truncate' }, /truncated or corrupt/],
  // An older or different model under the expected name: the shapes do not match.
  ['wrong shapes', { '/models/classifier.bpk': '/models/segmenter.bpk' }, /the weights do not fit this model \(an older or different model\?\)/],
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
