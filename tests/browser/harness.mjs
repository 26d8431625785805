// Shared set-up of the browser tests: a static server for dist/ (and the test fixtures) on
// 127.0.0.1 that records every request, and Debian's headless Chromium driven by
// playwright-core, with or without a (software, SwiftShader) WebGPU adapter.
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The built page: dist/, or another build's folder named by PETLENS_DIST (benchmarks compare builds). */
export const dist = path.resolve(root, process.env.PETLENS_DIST ?? 'dist');
export const fixtures = path.join(root, 'tests/fixtures');
export const output = path.join(root, 'test-output');
fs.mkdirSync(output, { recursive: true });

/** `scripts/test.sh --full` sets PETLENS_FULL_TIER=1: the slower tier runs every test on both backends. */
export const fullTier = process.env.PETLENS_FULL_TIER === '1';

/** A `skip` option for a test whose WebGPU run belongs to the slower tier: it tests what the page
 * or the pool does the same on both backends (the CPU run covers it), or SwiftShader takes
 * minutes over it. `false` (run it) on the CPU, and on WebGPU in the full tier. */
export function cpuOnlyInDefaultTier(backend, why) {
  return backend !== 'cpu' && !fullTier && `${why} (scripts/test.sh --full runs it on WebGPU)`;
}

const types = {
  '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css',
  '.json': 'application/json', '.png': 'image/png', '.jpg': 'image/jpeg', '.bpk': 'application/octet-stream',
  '.mjs': 'text/javascript',
};

/** Serves dist/ at / and tests/fixtures/ at /fixtures/. `fail` maps a path to an HTTP status,
 * 'truncate' (the first half only) or another path served in its place, to simulate broken
 * downloads and stale files. `revalidate` makes it answer like a static file host (an ETag,
 * `cache-control: no-cache`, 304 when unchanged), so that a second visit reuses the browser's
 * HTTP cache; off in the tests, whose pages must never see a stale file. */
export async function serve({ fail = {}, mounts = {}, revalidate = false } = {}) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    requests.push(url.pathname);
    const rule = fail[url.pathname];
    if (typeof rule === 'number') { res.writeHead(rule); res.end(); return; }
    const all = { '/fixtures/': fixtures, ...mounts };
    const prefix = Object.keys(all).find((p) => url.pathname.startsWith(p));
    const base = prefix ? all[prefix] : dist;
    const rel = prefix ? url.pathname.slice(prefix.length) : url.pathname;
    const served = typeof rule === 'string' && rule.startsWith('/') ? rule.slice(1) : rel;
    let file = path.join(base, decodeURIComponent(served));
    if (!file.startsWith(base)) { res.writeHead(403); res.end(); return; }
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'index.html');
    if (!fs.existsSync(file)) { res.writeHead(404); res.end(); return; }
    const stat = fs.statSync(file);
    const etag = `"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
    if (revalidate && req.headers['if-none-match'] === etag) { res.writeHead(304, { etag }); res.end(); return; }
    let body = fs.readFileSync(file);
    if (rule === 'truncate') body = body.subarray(0, body.length >> 1);
    res.writeHead(200, {
      'content-type': types[path.extname(file)] ?? 'application/octet-stream',
      'content-length': body.length,
      ...(revalidate ? { etag, 'cache-control': 'no-cache' } : {}),
    });
    res.end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}`, requests, close: () => new Promise((r) => server.close(r)) };
}

/** Launches headless Chromium; `webgpu` adds the flag that gives a SwiftShader adapter,
 * `extraArgs` more flags (a fake camera). */
export async function launch({ webgpu, viewport = { width: 1100, height: 1000 }, extraArgs = [] }) {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'petlens-chromium-'));
  // playwright passes the fresh profile as --user-data-dir itself.
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'];
  if (webgpu) args.push('--enable-unsafe-webgpu');
  args.push(...extraArgs);
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium', args, headless: true, acceptDownloads: true,
    viewport,
  });
  return { context, close: async () => { await context.close(); fs.rmSync(userDataDir, { recursive: true, force: true }); } };
}

/** A server, a fresh browser and the page on `backend`, ready: what most tests start from.
 * `close()` ends all three. */
export async function readyPage({ backend, viewport, extraArgs, fail } = {}) {
  const server = await serve({ fail });
  const browser = await launch({ webgpu: backend === 'webgpu', viewport, extraArgs });
  const { page, errors } = await open(browser.context, `${server.url}/?backend=${backend}`);
  await waitStatus(page, 'ready');
  const close = async () => {
    await browser.close();
    await server.close();
  };
  return { server, browser, page, errors, close };
}

/** Opens the page and collects console errors and uncaught exceptions. */
export async function open(context, url) {
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  return { page, errors };
}

export async function waitStatus(page, wanted, timeout = 600_000) {
  await page.waitForFunction(
    (w) => document.querySelector('[data-testid=status]')?.textContent === w, wanted, { timeout });
}

/** Uploads a file through the photo input and waits until the page is ready again. */
export async function upload(page, file, { name, mimeType = 'image/jpeg' } = {}) {
  const buffer = fs.readFileSync(file);
  await settled(page, () => page.setInputFiles('[data-testid=photo-input]', { name: name ?? path.basename(file), mimeType, buffer }));
}

/** Three fixture photos picked in quick succession (a cat, a cat, then a dog: dog.1003.jpg),
 * waiting until the page is ready with a result: the "latest photo wins" case. */
export async function rapidUploads(page) {
  const photos = ['cats-vs-dogs/validation/cat/cat.1000.jpg', 'oxford/images/Abyssinian_1.jpg',
    'cats-vs-dogs/validation/dog/dog.1003.jpg'].map((p) => ({
    name: path.basename(p), mimeType: 'image/jpeg', buffer: fs.readFileSync(path.join(fixtures, p)),
  }));
  await settled(page, async () => {
    for (const photo of photos) await page.setInputFiles('[data-testid=photo-input]', photo);
  });
}

/** Starts a grid of filter patterns, cancels it once it runs, and waits for "cancelled". */
export async function cancelGrid(page) {
  await page.click('[data-testid=filter-grid]');
  await page.waitForSelector('[data-testid=filter-progress]');
  await page.click('[data-testid=filter-cancel]');
  await page.waitForFunction(() => /cancelled/.test(document.querySelector('[data-testid=filter-outcome]').textContent),
    null, { timeout: 600_000 });
}

/** Runs `action` (which hands the page a photo some way) and waits until the page is ready
 * again with a new result or an error. */
export async function settled(page, action) {
  const handled = () => page.getAttribute('[data-testid=status]', 'data-handled').then(Number);
  const before = await handled();
  await action();
  await page.waitForFunction((prev) => {
    const status = document.querySelector('[data-testid=status]');
    return status?.textContent === 'ready' && Number(status.dataset.handled) > prev;
  }, before, { timeout: 600_000 });
}

export async function result(page) {
  return JSON.parse(await page.getAttribute('[data-testid=result]', 'data-result'));
}

/** Runs in the page (one function, as the page's CSP allows no string evaluation): the canvas's
 * digest, or with `before`, whether the digest is now another. */
function digestInPage(before) {
  const c = document.querySelector('[data-testid=canvas]');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let h = 0;
  for (let i = 0; i < d.length; i += 7) h = (h * 31 + d[i]) >>> 0;
  const digest = `${c.width}x${c.height}:${h}`;
  return before === undefined ? digest : digest !== before;
}

/** A digest of the canvas pixels, to see whether a toggle changed what is drawn. */
export async function canvasDigest(page) {
  return page.evaluate(digestInPage);
}

/** Runs `action` and waits until the canvas shows something else than before it. */
export async function canvasChanges(page, action) {
  const before = await canvasDigest(page);
  await action();
  await page.waitForFunction(digestInPage, before, { timeout: 600_000 });
}

/** Pet share of a fixture trimap (value 1): the committed figures that the native tests
 * measure from the trimaps (`tests/native/pipeline.rs`) and compare their masks with too. */
export function trimapPetFraction(name) {
  return JSON.parse(fs.readFileSync(path.join(fixtures, 'oxford/pet_fractions.json')))[name];
}

/** Width and height from a PNG's IHDR chunk, after checking its signature. */
export function pngSize(bytes) {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (!signature.every((b, i) => bytes[i] === b)) throw new Error('not a PNG');
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

/** A DataTransfer in the page holding a fixture photo scaled to `width x height` by the
 * browser's own JPEG encoder (a real photo at a size no fixture has), as a file `name`. */
export async function scaledPhoto(page, photo, [width, height], name, quality = 0.9) {
  return page.evaluateHandle(async ([src, w, h, n, q]) => {
    const img = new Image();
    img.src = src;
    await img.decode();
    const canvas = new OffscreenCanvas(w, h);
    canvas.getContext('2d').drawImage(img, 0, 0, w, h);
    const blob = await canvas.convertToBlob({ type: 'image/jpeg', quality: q });
    const transfer = new DataTransfer();
    transfer.items.add(new File([blob], n, { type: 'image/jpeg' }));
    return transfer;
  }, [`/fixtures/${photo}`, width, height, name, quality]);
}
