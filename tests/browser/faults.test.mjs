// Photos as phones and editors store them, photos the page must refuse, and a user who
// uploads faster than the models answer: each gives a result or a specific message, the
// page stays usable, and no panic reaches the console.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { serve, launch, open, waitStatus, upload, settled, result, rapidUploads, fixtures, output } from './harness.mjs';

/** What the page said for each case of README's "What happens when…" table. */
const observed = {};

/** The page's message (or `analysed`) after `file` is uploaded, recorded under `name`. */
async function outcome(page, name, file, mimeType) {
  await upload(page, file, { name: path.basename(file), mimeType });
  const error = await page.$('[data-testid=error]');
  observed[name] = error ? await error.textContent() : 'analysed';
  assert.equal(await page.textContent('[data-testid=status]'), 'ready', `${name}: the page stays usable`);
  return observed[name];
}

describe('unusual and hostile photos, on the cpu backend', () => {
  let server, browser, page, errors;
  before(async () => {
    server = await serve();
    browser = await launch({ webgpu: false });
    ({ page, errors } = await open(browser.context, `${server.url}/?backend=cpu`));
    await waitStatus(page, 'ready');
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  for (const [name, file, mimeType, width, height] of [
    ['CMYK JPEG', 'photos/cat_cmyk.jpg', 'image/jpeg', 0, 0],
    ['16-bit PNG', 'photos/dog_16bit.png', 'image/png', 0, 0],
    ['1x1 photo', 'photos/cat_1x1.png', 'image/png', 1, 1],
    ['animated GIF', 'photos/animated.gif', 'image/gif', 160, 120],
    ['PNG with transparency', 'photos/abyssinian_alpha.png', 'image/png', 0, 0],
  ]) {
    test(`${name} is analysed`, async () => {
      assert.equal(await outcome(page, name, path.join(fixtures, file), mimeType), 'analysed');
      const r = await result(page);
      assert.ok(['cat', 'dog'].includes(r.label));
      if (width) assert.deepEqual([r.width, r.height], [width, height]);
      const pet = r.mask_fraction.pet + r.mask_fraction.background + r.mask_fraction.border;
      assert.ok(Math.abs(pet - 1) < 1e-3, 'mask fractions add up');
    });
  }

  for (const [name, make, pattern] of [
    ['empty file', () => Buffer.alloc(0), /the file is empty/],
    ['text file renamed .jpg', () => Buffer.from('this is a text file, not a photo'), /not an image petlens can read/],
    ['truncated JPEG', () => fs.readFileSync(path.join(fixtures, 'cats-vs-dogs/train/dog/dog.0.jpg')).subarray(0, 6000), /corrupt or truncated/],
  ]) {
    test(`${name}: a message, and the page stays usable`, async () => {
      const file = path.join(output, `bad-${name.replace(/\W+/g, '-')}.jpg`);
      fs.writeFileSync(file, make());
      assert.match(await outcome(page, name, file, 'image/jpeg'), pattern);
    });
  }

  test('a HEIC photo: not supported, said so', async () => {
    const message = await outcome(page, 'HEIC photo', path.join(fixtures, 'photos/dog.heic'), 'image/heic');
    assert.match(message, /HEIC\/AVIF photos are not supported, export it as JPEG/);
  });

  test('a PNG bomb is refused from its header, before decoding', async () => {
    // The same file the native decoder test and the fuzzer's kept cases read.
    const file = path.join(fixtures, 'fuzz/png-bomb-50000x50000.png');
    assert.ok(fs.statSync(file).size < 10_000);
    assert.match(await outcome(page, 'PNG bomb (50000x50000 declared)', file, 'image/png'), /50000x50000 pixels, too large/);
    const memory = await page.evaluate(() => performance.memory?.usedJSHeapSize ?? 0);
    assert.ok(memory < 1e9, `JS heap ${memory}`);
  });

  test('rapid uploads: the latest photo wins', async () => {
    await rapidUploads(page);
    // Give any stale run time to (wrongly) land, then check the shown result is the last photo's.
    await page.waitForTimeout(1500);
    const r = await result(page);
    assert.equal(r.label, 'dog');
    assert.match(await page.textContent('.status'), /dog\.1003\.jpg: done/);
    const [w, h] = await page.evaluate(async (src) => {
      const img = new Image();
      img.src = src;
      await img.decode();
      return [img.naturalWidth, img.naturalHeight];
    }, '/fixtures/cats-vs-dogs/validation/dog/dog.1003.jpg');
    assert.deepEqual([r.width, r.height], [w, h]);
  });

  test('no panic or error in the console', () => {
    assert.deepEqual(errors, []);
  });

  // README's table quotes the page's messages: each quoted message must be what the page said.
  test('README "What happens when…" matches what the page said', () => {
    const readme = fs.readFileSync(path.resolve('README.md'), 'utf8');
    const section = readme.split('## What happens when')[1]?.split('\n## ')[0] ?? '';
    const rows = section.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| case') && !l.startsWith('|---'));
    let checked = 0;
    for (const row of rows) {
      const [name, behaviour] = row.split('|').slice(1, 3).map((c) => c.trim());
      if (!(name in observed)) continue;
      const quoted = behaviour.match(/`([^`]+)`/)?.[1];
      if (observed[name] === 'analysed') assert.match(behaviour, /^analysed/, name);
      else assert.ok(quoted && observed[name].includes(quoted), `${name}: README says ${quoted}, the page said ${observed[name]}`);
      checked++;
    }
    assert.equal(checked, Object.keys(observed).length, `every observed case has a README row: ${Object.keys(observed)}`);
  });
});

test('the Content-Security-Policy is set and the page runs under it', async () => {
  const html = fs.readFileSync(path.resolve('dist/index.html'), 'utf8');
  const csp = html.match(/http-equiv="Content-Security-Policy"\s+content="([^"]+)"/)?.[1] ?? '';
  for (const directive of ["default-src 'self'", "'wasm-unsafe-eval'", "connect-src 'self'", "object-src 'none'"]) {
    assert.ok(csp.includes(directive), directive);
  }
  const server = await serve();
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await open(browser.context, `${server.url}/?backend=cpu`);
    const violations = [];
    await page.exposeFunction('__violation', (v) => violations.push(v));
    await page.evaluate(() => document.addEventListener('securitypolicyviolation', (e) => window.__violation(e.violatedDirective)));
    await waitStatus(page, 'ready');
    assert.deepEqual(violations, []);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.close();
  }
});

test('no innerHTML anywhere in the sources: user strings never become markup', () => {
  const files = [];
  const walk = (dir) => fs.readdirSync(dir, { withFileTypes: true }).forEach((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p); else if (p.endsWith('.rs')) files.push(p);
  });
  walk(path.resolve('src'));
  assert.ok(files.length > 10);
  for (const file of [...files, path.resolve('index.html')]) {
    const text = fs.readFileSync(file, 'utf8');
    assert.ok(!/inner_html|innerHTML|set_inner_html/.test(text), file);
  }
});
