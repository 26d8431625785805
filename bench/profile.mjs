#!/usr/bin/env node
// Where the page spends its time: Chromium's sampling profiler (CDP) over the analysis
// (`?bench=30`, after one warm-up) or over a start-up with warm caches, printed as self time per
// function. Function names need a build that keeps the wasm name section:
//   CARGO_PROFILE_WEB_STRIP=false CARGO_TARGET_DIR=target-wasm trunk build --cargo-profile web --offline --dist dist-profile
// (the deployment profile without wasm-opt, which drops the names)
//   node bench/profile.mjs [analysis|startup] [dist=dist-profile] [only=<function name part>]
// `only` keeps the samples with that function on the stack (e.g. `classify`). The analysis runs
// in the models' Web Worker: the profiler runs there (attached through CDP's target
// auto-attach); start-up is profiled on the page's thread.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, launch, waitStatus } from '../tests/browser/harness.mjs';

const [what = 'analysis', distDir = 'dist-profile', only = ''] = process.argv.slice(2);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const server = await serve({ revalidate: true, mounts: { '/': path.resolve(root, distDir) } });
const browser = await launch({ webgpu: false });
try {
  const page = await browser.context.newPage();
  // Two visits first: the wasm module and the weights are then in the browser's caches.
  for (let i = 0; i < 2; i++) {
    await page.goto(`${server.url}/?backend=cpu`);
    await waitStatus(page, 'ready');
  }
  const cdp = await page.context().newCDPSession(page);
  if (what === 'startup') {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
    await cdp.send('Profiler.start');
    await page.reload();
    await waitStatus(page, 'ready');
    const { profile } = await cdp.send('Profiler.stop');
    report(profile);
  } else {
    // No worker of the earlier visits may be the one attached to.
    await page.goto('about:blank');
    const worker = await workerProfiler(cdp);
    await page.goto(`${server.url}/?backend=cpu&bench=30`);
    await worker.started;
    await page.waitForSelector('[data-testid=bench]', { timeout: 600_000 });
    console.log(await page.textContent('[data-testid=bench]'));
    report(await worker.stop());
  }
} finally {
  await browser.close();
  await server.close();
}

/**
 * Starts the sampling profiler in the next dedicated worker the page starts (the models'
 * thread) as soon as it is attached, through CDP's (non-flattened) target auto-attach: commands
 * and replies travel as messages to and from the attached target. The worker first loads the
 * models, so the profiler runs before the timed analyses begin.
 */
async function workerProfiler(cdp) {
  let sessionId;
  let nextId = 1;
  const pending = new Map();
  const send = (method, params = {}) => new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method, params }) }).catch(reject);
  });
  cdp.on('Target.receivedMessageFromTarget', (event) => {
    const message = JSON.parse(event.message);
    const waiting = pending.get(message.id);
    if (!waiting) return;
    pending.delete(message.id);
    if (message.error) waiting.reject(new Error(message.error.message));
    else waiting.resolve(message.result);
  });
  const started = new Promise((resolve) => {
    cdp.on('Target.attachedToTarget', async (event) => {
      if (event.targetInfo.type !== 'worker' || sessionId) return;
      sessionId = event.sessionId;
      await send('Profiler.enable');
      await send('Profiler.setSamplingInterval', { interval: 100 });
      await send('Profiler.start');
      resolve();
    });
  });
  await cdp.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: false });
  return { started, stop: async () => (await send('Profiler.stop')).profile };
}

/** Self time per function name, largest first. */
function report(profile) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (n) => n.callFrame.functionName || n.callFrame.url.split('/').pop() || '(anonymous)';
  const kept = (id) => {
    for (let at = id; at !== undefined; at = parent.get(at)) if (name(nodes.get(at)).includes(only)) return true;
    return false;
  };
  const self = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    if (!kept(id)) return;
    const key = name(nodes.get(id)).replace(/::h[0-9a-f]{16}$/, '');
    self.set(key, (self.get(key) ?? 0) + us);
    total += us;
  });
  console.log(`${(total / 1000).toFixed(0)} ms sampled${only ? ` under "${only}"` : ''}`);
  for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
    console.log(`${(us / 1000).toFixed(1).padStart(8)} ms ${(100 * us / total).toFixed(1).padStart(5)}%  ${key.slice(0, 120)}`);
  }
}
