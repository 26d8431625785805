#!/usr/bin/env node
// In-browser latency, download size and start-up time of the built page (dist/, as
// scripts/deploy.sh or scripts/test.sh built it), in Debian's headless Chromium on the CPU
// backend and on WebGPU (SwiftShader), and the same architectures in TensorFlow.js (wasm and plain-JS CPU backends) and
// in onnxruntime-web (wasm SIMD, one thread; ONNX graphs written by bench/onnx_models.py), both
// installed from npm into bench/.peers on first use, in the same browser. Prints one JSON line
// per figure, the last one the ratios petlens / best peer. The machine is noisy (the same model
// moves by 20-30% between runs), so the CPU comparison is repeated in `rounds` alternating
// rounds, petlens then TensorFlow.js, each in a fresh browser, and the ratio is given per round
// and as the median over rounds.
//   node bench/browser.mjs [runs=20] [backends=cpu,webgpu] [rounds=3]
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median } from './figures.mjs';
import { serve, launch, open, waitStatus, dist } from '../tests/browser/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const peers = path.join(here, '.peers');

const runs = Number(process.argv[2] ?? 20);
/** The TF.js files petlens's ImageNet network was imported from (TensorFlow.js loads them as its peer). */
const MOBILENET = path.resolve(here, '../../shared/models/mobilenet_v1_0.75_224');
const backends = (process.argv[3] ?? 'cpu,webgpu').split(',');
const rounds = Math.max(1, Number(process.argv[4] ?? 3));

/** Bytes and gzip bytes of everything the page downloads on a first visit (not counted: the
 * training histories, loaded when the model card is opened, and the sample photos, fetched when
 * one is chosen; the strip shows their thumbnails). */
function sizes() {
  const loaded = (f) => /\.(html|js|wasm|css|bpk)$/.test(f) || f.includes(`${path.sep}thumbs${path.sep}`)
    || (f.endsWith('.json') && !f.endsWith('.history.json'));
  const files = fs.readdirSync(dist, { recursive: true })
    .map((f) => path.join(dist, f))
    .filter((f) => fs.statSync(f).isFile() && loaded(f));
  const figure = (filter) => files.filter(filter).reduce((acc, f) => {
    const bytes = fs.readFileSync(f);
    return { raw: acc.raw + bytes.length, gzip: acc.gzip + zlib.gzipSync(bytes, { level: 9 }).length };
  }, { raw: 0, gzip: 0 });
  // The ImageNet network and the heads on its features download after the page is ready.
  const imagenet = (f) => /^(imagenet|feature_)/.test(path.basename(f));
  return {
    wasm: figure((f) => f.endsWith('.wasm')),
    weights: figure((f) => f.endsWith('.bpk')),
    before_ready: figure((f) => !imagenet(f)),
    imagenet_weights: figure((f) => imagenet(f)),
    all: figure(() => true),
  };
}

async function readyMs(page) {
  await waitStatus(page, 'ready');
  return page.evaluate(() => performance.now());
}

/** Installs the peers (npm packages, pinned) and writes the ONNX graphs, where missing. */
function installPeers() {
  const modules = path.join(peers, 'node_modules');
  if (!fs.existsSync(path.join(modules, '@tensorflow/tfjs-backend-wasm')) || !fs.existsSync(path.join(modules, 'onnxruntime-web'))) {
    // One install for all: npm removes packages a later `--no-save` install does not name.
    execFileSync('npm', ['install', '--prefix', peers, '--no-save', '--no-audit', '--no-fund',
      '@tensorflow/tfjs@4.22.0', '@tensorflow/tfjs-backend-wasm@4.22.0', 'onnxruntime-web@1.30.0'], { stdio: 'inherit' });
  }
  const onnx = path.join(peers, 'onnx');
  if (!fs.existsSync(path.join(onnx, 'imagenet.onnx'))) {
    const python = path.join(here, '.venv/bin/python');
    if (!fs.existsSync(python)) execFileSync('python3', ['-m', 'venv', path.join(here, '.venv')], { stdio: 'inherit' });
    execFileSync(python, ['-m', 'pip', 'install', '--quiet', 'onnx==1.23.2'], { stdio: 'inherit' });
    execFileSync(python, [path.join(here, 'onnx_models.py'), onnx], { stdio: 'inherit' });
  }
}

/** The peers' figures for the same models (bench/peers.html) on their `peerBackends`. */
async function peerLatency(peerBackends = 'wasm,cpu,ort') {
  installPeers();
  const server = await serve({
    revalidate: true,
    mounts: {
      '/bench/': here,
      '/tfjs/': path.join(peers, 'node_modules/@tensorflow'),
      '/ort/': path.join(peers, 'node_modules/onnxruntime-web/dist'),
      '/onnx/': path.join(peers, 'onnx'),
      '/mobilenet/': MOBILENET,
    },
  });
  const browser = await launch({ webgpu: false });
  try {
    const { page } = await open(browser.context, `${server.url}/bench/peers.html?runs=${runs}&backends=${peerBackends}`);
    await page.waitForSelector('#report[data-done]', { timeout: 1_800_000 });
    return JSON.parse(await page.textContent('#report'));
  } finally {
    await browser.close();
    await server.close();
  }
}

/** The page's `?bench` report on one backend, in a fresh browser. */
async function petlensLatency(backend) {
  const server = await serve({ revalidate: true });
  const browser = await launch({ webgpu: backend === 'webgpu' });
  try {
    return await benchReport(browser.context, server, backend);
  } finally {
    await browser.close();
    await server.close();
  }
}

async function benchReport(context, server, backend) {
  const { page } = await open(context, `${server.url}/?backend=${backend}&bench=${runs}`);
  await page.waitForSelector('[data-testid=bench]', { timeout: 1_800_000 });
  return JSON.parse(await page.textContent('[data-testid=bench]'));
}

/**
 * petlens CPU / best peer (TensorFlow.js's backends, onnxruntime-web), per model. Like for like: the models alone on a
 * ready input tensor (the report's `models`), as peers.js times TensorFlow.js; the page's
 * stages also resize the photo.
 */
function ratios(ours, peer) {
  const best = (stage) => {
    const figures = ['wasm', 'cpu', 'ort'].filter((b) => peer[b]).map((b) => ({ peer: b, ms: peer[b][stage].median_ms }));
    return figures.reduce((a, b) => (b.ms < a.ms ? b : a));
  };
  const [segment, classify] = [best('segment'), best('classify')];
  const imagenet = ['wasm', 'cpu', 'ort'].filter((b) => peer[b]?.imagenet).map((b) => ({ peer: b, ms: peer[b].imagenet.median_ms }))
    .reduce((a, b) => (a && a.ms < b.ms ? a : b), undefined);
  return {
    segment: ours.models.segmenter.median_ms / segment.ms,
    classify: ours.models.classifier.median_ms / classify.ms,
    imagenet: ours.models.imagenet && imagenet ? ours.models.imagenet.median_ms / imagenet.ms : null,
    best_peer: { segment: segment.peer, classify: classify.peer, imagenet: imagenet?.peer },
  };
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
    ours[backend] = await benchReport(browser.context, server, backend);
    console.log(JSON.stringify({ figure: 'latency_ms', ...ours[backend] }));
  } finally {
    await browser.close();
    await server.close();
  }
}

const peer = await peerLatency();
console.log(JSON.stringify({ figure: 'peer_latency_ms', ...peer }));
if (!peer.error && ours.cpu) {
  const perRound = [ratios(ours.cpu, peer)];
  for (let round = 2; round <= rounds; round++) {
    const again = await petlensLatency('cpu');
    const peerAgain = await peerLatency('wasm,ort');
    if (peerAgain.error) break;
    perRound.push(ratios(again, peerAgain));
    console.log(JSON.stringify({
      figure: 'latency_round_ms', round,
      petlens: again.models,
      tfjs_wasm: { segment: peerAgain.wasm.segment, classify: peerAgain.wasm.classify, imagenet: peerAgain.wasm.imagenet },
      onnxruntime_web: { segment: peerAgain.ort.segment, classify: peerAgain.ort.classify, imagenet: peerAgain.ort.imagenet },
    }));
  }
  const of = (model) => perRound.map((r) => r[model]);
  console.log(JSON.stringify({
    figure: 'ratio_petlens_cpu_over_best_peer',
    rounds: perRound.length,
    segment: median(of('segment')),
    classify: median(of('classify')),
    imagenet: median(of('imagenet')),
    per_round: { segment: of('segment'), classify: of('classify'), imagenet: of('imagenet') },
    best_peer: perRound.map((r) => r.best_peer),
  }));
}
