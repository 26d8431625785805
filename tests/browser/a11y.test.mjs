// Accessibility: axe-core (npm) on the page in every state the tests reach, in the light and
// the dark theme, on a desktop and a phone viewport (no serious or critical violations); every
// control reachable by the Tab key with a visible focus ring; the mouse-only views (a channel
// of the grid, the probabilities under the pointer) usable from the keyboard.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { readyPage, upload, settled, fixtures, output } from './harness.mjs';

const AXE = fs.readFileSync(path.resolve('node_modules/axe-core/axe.min.js'), 'utf8');
const PHOTO = 'oxford/images/american_bulldog_10.jpg';

/** Serious and critical axe violations on the page as it is, in both themes. */
async function violations(page, state) {
  const found = [];
  for (const colorScheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme });
    if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ content: AXE });
    const result = await page.evaluate(() => axe.run());
    for (const v of result.violations.filter((v) => ['serious', 'critical'].includes(v.impact))) {
      found.push(`${state}/${colorScheme}: ${v.id} (${v.help}) at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
  return found;
}

const setups = [
  ['desktop', { width: 1100, height: 1000 }, 'cpu'],
  ['phone', { width: 390, height: 844 }, 'cpu'],
  ['desktop', { width: 1100, height: 1000 }, 'webgpu'],
];
for (const [device, viewport, backend] of setups) {
  describe(`accessibility on a ${device}, ${backend} backend`, () => {
    let page, errors, close;
    const found = [];
    before(async () => {
      const extraArgs = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'];
      ({ page, errors, close } = await readyPage({ backend, viewport, extraArgs }));
    });
    after(() => close?.());

    test('every state the page reaches has no serious or critical violation', async () => {
      found.push(...await violations(page, 'ready'));
      await upload(page, path.join(fixtures, PHOTO));
      for (const id of ['toggle-heatmap', 'toggle-uncertainty']) await page.check(`[data-testid=${id}]`);
      found.push(...await violations(page, 'result'));
      await page.fill('[data-testid=channel-index]', '3');
      await page.waitForFunction(() => document.querySelector('[data-testid=channel-view]').dataset.channel === '3');
      found.push(...await violations(page, 'channel'));
      await page.click('[data-testid=model-card] summary');
      await page.waitForSelector('[data-testid=card-classifier]');
      found.push(...await violations(page, 'model card'));
      await settled(page, () => page.setInputFiles('[data-testid=photo-input]', {
        name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a photo'),
      }));
      assert.ok(await page.isVisible('[data-testid=error]'));
      found.push(...await violations(page, 'error'));
      await page.click('[data-testid=camera]');
      await page.waitForFunction(() => document.querySelector('[data-testid=camera-preview]').videoWidth > 0);
      found.push(...await violations(page, 'camera'));
      await page.click('[data-testid=camera-cancel]');
      for (const scheme of ['light', 'dark']) {
        await page.emulateMedia({ colorScheme: scheme });
        await page.screenshot({ path: path.join(output, `${device}-${backend}-${scheme}.png`), fullPage: true });
      }
      await page.emulateMedia({ colorScheme: 'light' });
      assert.deepEqual(found, []);
    });

    test('no console errors', () => {
      assert.deepEqual(errors, []);
    });
  });
}

describe('the keyboard', () => {
  let page, errors, close;
  before(async () => {
    ({ page, errors, close } = await readyPage({ backend: 'cpu' }));
    await upload(page, path.join(fixtures, PHOTO));
  });
  after(() => close?.());

  test('Tab reaches every control, each with a visible focus ring', async () => {
    await page.click('h1');
    const reached = new Map();
    for (let i = 0; i < 80; i++) {
      await page.keyboard.press('Tab');
      const focused = await page.evaluate(() => {
        const e = document.activeElement;
        const style = getComputedStyle(e);
        const ring = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
        return { id: e.dataset.testid ?? e.tagName.toLowerCase(), ring };
      });
      if (!reached.has(focused.id)) reached.set(focused.id, focused.ring);
    }
    const wanted = ['photo-input', 'camera', 'backend-switch', 'sample', 'toggle-mask', 'mask-model', 'toggle-uncertainty',
      'toggle-heatmap', 'heatmap-class', 'gradcam-model', 'gradcam-depth', 'opacity', 'canvas', 'compare', 'download-cutout',
      'download-mask', 'download-composite', 'layer-picker', 'channel-index', 'filter-layer', 'filter-index',
      'filter-generate', 'filter-grid', 'filter-count'];
    for (const id of wanted) {
      assert.ok(reached.has(id), `${id} is reachable: ${[...reached.keys()]}`);
      assert.ok(reached.get(id), `${id} shows where the focus is`);
    }
  });

  test('arrow keys on the focused photo show the probabilities under a probe', async () => {
    await page.focus('[data-testid=canvas]');
    await page.keyboard.press('ArrowLeft');
    const text = await page.textContent('[data-testid=pixel-probabilities]');
    assert.match(text, /^pet \d+% · background \d+% · border \d+% \(at 48%, 50%\)$/);
  });

  test('a channel is shown from its number', async () => {
    await page.focus('[data-testid=channel-index]');
    await page.keyboard.type('7');
    await page.waitForFunction(() => document.querySelector('[data-testid=channel-view]').dataset.channel === '7');
  });

  test('the compare slider moves with the arrow keys', async () => {
    await page.focus('[data-testid=compare]');
    await page.keyboard.press('ArrowLeft');
    assert.ok(Number(await page.inputValue('[data-testid=compare]')) < 1);
  });

  test('no console errors', () => {
    assert.deepEqual(errors, []);
  });
});
