#!/usr/bin/env node
// In-browser latency, download size and start-up time of the built page (`trunk build
// --release` output in dist/), in Debian's headless Chromium on the CPU backend and on WebGPU
// (SwiftShader), and the same architectures in TensorFlow.js (wasm and plain-JS CPU backends,
// installed from npm into bench/.peers on first use) in the same browser. Prints one JSON line
// per figure, the last one the ratios petlens / best peer.
//   node bench/browser.mjs [runs=20] [backends=cpu,webgpu]
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { serve, launch, open, waitStatus, dist } from '../tests/browser/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const peers = path.join(here, '.peers');

const runs = Number(process.argv[2] ?? 20);
const backends = (process.argv[3] ?? 'cpu,webgpu').split(',');

/** Bytes and gzip bytes of everything the page downloads on a first visit. */
function sizes() {
  const loaded = (f) => /\.(html|js|wasm|css|bpk)$/.test(f) || f.includes(`${path.sep}samples${path.sep}`);
  const files = fs.readdirSync(dist, { recursive: true })
    .map((f) => path.join(dist, f))
    .filter((f) => fs.statSync(f).isFile() && loaded(f));
  const figure = (filter) => files.filter(filter).reduce((acc, f) => {
    const bytes = fs.readFileSync(f);
    return { raw: acc.raw + bytes.length, gzip: acc.gzip + zlib.gzipSync(bytes, { level: 9 }).length };
  }, { raw: 0, gzip: 0 });
  return {
    wasm: figure((f) => f.endsWith('.wasm')),
    weights: figure((f) => f.endsWith('.bpk')),
    all: figure(() => true),
  };
}

async function readyMs(page) {
  await waitStatus(page, 'ready');
  return page.evaluate(() => performance.now());
}

/** TensorFlow.js's figures for the same models (bench/peers.html). */
async function peerLatency() {
  if (!fs.existsSync(path.join(peers, 'node_modules/@tensorflow/tfjs-backend-wasm'))) {
    execFileSync('npm', ['install', '--prefix', peers, '--no-save', '--no-audit', '--no-fund',
      '@tensorflow/tfjs@4.22.0', '@tensorflow/tfjs-backend-wasm@4.22.0'], { stdio: 'inherit' });
  }
  const server = await serve({ revalidate: true, mounts: { '/bench/': here, '/tfjs/': path.join(peers, 'node_modules/@tensorflow') } });
  const browser = await launch({ webgpu: false });
  try {
    const { page } = await open(browser.context, `${server.url}/bench/peers.html?runs=${runs}`);
    await page.waitForSelector('#report[data-done]', { timeout: 1_800_000 });
    return JSON.parse(await page.textContent('#report'));
  } finally {
    await browser.close();
    await server.close();
  }
}

const ours = {};
console.log(JSON.stringify({ figure: 'download_bytes', ...sizes() }));
for (const backend of backends) {
  // Served like a static file host (ETag, revalidated), so that later visits use the HTTP cache.
  const server = await serve({ revalidate: true });
  const browser = await launch({ webgpu: backend === 'webgpu' });
  try {
    const { page } = await open(browser.context, `${server.url}/?backend=${backend}`);
    const cold = await readyMs(page);
    await page.reload();
    const warm = await readyMs(page);
    await page.reload();
    const warmAgain = await readyMs(page);
    console.log(JSON.stringify({ figure: 'startup_ms', backend, cold, warm, warm_again: warmAgain }));
    await page.goto(`${server.url}/?backend=${backend}&bench=${runs}`);
    await page.waitForSelector('[data-testid=bench]', { timeout: 1_800_000 });
    const report = JSON.parse(await page.textContent('[data-testid=bench]'));
    console.log(JSON.stringify({ figure: 'latency_ms', ...report }));
    ours[backend] = report;
  } finally {
    await browser.close();
    await server.close();
  }
}

const peer = await peerLatency();
console.log(JSON.stringify({ figure: 'peer_latency_ms', ...peer }));
if (!peer.error) {
  const best = (stage) => Math.min(...['wasm', 'cpu'].map((b) => peer[b][stage].median_ms));
  // Like for like: the models alone on a ready input tensor (the `models` part of the report),
  // as peers.js times TensorFlow.js; the pipeline's stages also resize the photo.
  console.log(JSON.stringify({
    figure: 'ratio_petlens_cpu_over_best_peer',
    segment: ours.cpu.models.segmenter.median_ms / best('segment'),
    classify: ours.cpu.models.classifier.median_ms / best('classify'),
  }));
}
