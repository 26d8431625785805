// Every way a photo gets into the page (drop, paste, samples, keyboard), the weights download
// progress, the composite download, a phone-sized viewport and a photo too large to decode.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { serve, launch, open, waitStatus, settled, upload, result, pngSize, scaledPhoto, fixtures, output } from './harness.mjs';

const DOG_PHOTO = 'cats-vs-dogs/validation/dog/dog.1003.jpg';
const CAT_PHOTO = 'cats-vs-dogs/validation/cat/cat.1000.jpg';

/** A DataTransfer in the page holding the fixture `photo` as a File. */
async function transferOf(page, photo, name) {
  const bytes = [...fs.readFileSync(path.join(fixtures, photo))];
  return page.evaluateHandle(([b, n]) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([new Uint8Array(b)], n, { type: 'image/jpeg' }));
    return transfer;
  }, [bytes, name]);
}

describe('ways in, on the cpu backend', () => {
  let server, browser, page, errors;
  before(async () => {
    server = await serve();
    browser = await launch({ webgpu: false });
    const context = browser.context;
    // Record every state of the download progress bar from the very first frame.
    await context.addInitScript(() => {
      window.__progress = [];
      new MutationObserver(() => {
        const bar = document.querySelector('[data-testid=load-progress]');
        if (bar) window.__progress.push([Number(bar.getAttribute('value')), Number(bar.getAttribute('max')), bar.getAttribute('aria-label')]);
      }).observe(document, { subtree: true, childList: true, attributes: true });
    });
    ({ page, errors } = await open(context, `${server.url}/?backend=cpu`));
    await waitStatus(page, 'ready');
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('the weights download shows its progress up to the full size', async () => {
    const progress = await page.evaluate(() => window.__progress);
    const card = JSON.parse(fs.readFileSync(path.resolve('www/models/card.json')));
    const sizes = [card.segmenter.weights_bytes, card.classifier.weights_bytes];
    for (const size of sizes) {
      assert.ok(progress.some(([value, max]) => max === size && value === size), `reached ${size}: ${JSON.stringify(progress.slice(-4))}`);
    }
    assert.equal(await page.$('[data-testid=load-progress]'), null, 'the bar goes away once loaded');
    // The ImageNet network's heads download after the page is ready: their progress shows in the
    // ImageNet panel, never as the page's bar coming back.
    await page.waitForSelector('[data-testid=imagenet-network]', { state: 'attached', timeout: 600_000 });
    const labels = new Set(progress.concat(await page.evaluate(() => window.__progress)).map(([, , label]) => label.split(':')[0]));
    assert.deepEqual([...labels].sort(), ['Loading the classifier', 'Loading the segmenter']);
    assert.equal(await page.$('[data-testid=load-progress]'), null, 'the bar stays away');
  });

  test('the drop zone is the file picker: a click or the keyboard opens it, a drop on it is analysed', async () => {
    const zone = '[data-testid=dropzone]';
    assert.match(await page.textContent(zone), /Drop a photo/);
    // Each chooser is answered before the next one opens: Chromium opens no second file chooser
    // while one is pending.
    const [byClick] = await Promise.all([page.waitForEvent('filechooser'), page.click(zone)]);
    assert.equal(byClick.isMultiple(), false);
    await settled(page, () => byClick.setFiles(path.join(fixtures, CAT_PHOTO)));
    assert.equal((await result(page)).label, 'cat');
    await page.focus('[data-testid=photo-input]');
    const ring = await page.$eval(zone, (z) => getComputedStyle(z).outlineStyle);
    assert.notEqual(ring, 'none', 'the focused drop zone shows a focus ring');
    const [byKey] = await Promise.all([page.waitForEvent('filechooser'), page.keyboard.press('Space')]);
    await settled(page, () => byKey.setFiles(path.join(fixtures, DOG_PHOTO)));
    assert.equal((await result(page)).label, 'dog');
    const transfer = await transferOf(page, CAT_PHOTO, 'dropped-on-zone.jpg');
    await settled(page, () => page.dispatchEvent(zone, 'drop', { dataTransfer: transfer }));
    assert.equal((await result(page)).label, 'cat');
    await page.locator('.controls').screenshot({ path: path.join(output, 'cpu-dropzone.png') });
  });

  test('a photo dropped on the page is analysed', async () => {
    const transfer = await transferOf(page, DOG_PHOTO, 'dropped-dog.jpg');
    await settled(page, async () => {
      await page.dispatchEvent('main', 'dragover', { dataTransfer: transfer });
      await page.screenshot({ path: path.join(output, 'cpu-dragging.png') });
      await page.dispatchEvent('main', 'drop', { dataTransfer: transfer });
    });
    assert.equal((await result(page)).label, 'dog');
    assert.match(await page.textContent('.status'), /dropped-dog\.jpg/);
  });

  test('a photo pasted from the clipboard is analysed', async () => {
    const transfer = await transferOf(page, CAT_PHOTO, 'pasted-cat.jpg');
    await settled(page, () => page.evaluate((t) => {
      document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: t, bubbles: true }));
    }, transfer));
    assert.equal((await result(page)).label, 'cat');
    assert.match(await page.textContent('.status'), /pasted-cat\.jpg/);
  });

  test('pasting text instead of an image says so', async () => {
    await page.evaluate(() => {
      const transfer = new DataTransfer();
      transfer.setData('text/plain', 'a cat');
      document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true }));
    });
    assert.match(await page.textContent('[data-testid=error]'), /clipboard holds no image/);
  });

  test('the sample strip works by mouse and by keyboard', async () => {
    const samples = await page.$$('[data-testid=sample]');
    assert.ok(samples.length >= 4, 'a strip of samples');
    const stems = await page.$$eval('[data-testid=sample]', (b) => b.map((x) => x.dataset.sample));
    assert.ok(stems.some((s) => /^[A-Z]/.test(s)) && stems.some((s) => /^[a-z]/.test(s)), 'cats and dogs');
    assert.match(await page.textContent('.attribution'), /Oxford-IIIT Pet.*CC BY-SA 4\.0/);
    await settled(page, () => samples[0].click());
    const first = await result(page);
    assert.ok(['cat', 'dog'].includes(first.label));
    assert.equal(await page.$('[data-testid=error]'), null, 'a good photo clears the earlier error');
    // Keyboard only: focus the last sample and press Enter.
    await page.focus('[data-testid=sample]:last-of-type');
    await settled(page, () => page.keyboard.press('Enter'));
    assert.match(await page.textContent('.status'), new RegExp(`${stems.at(-1)}\\.jpg`));
    await page.screenshot({ path: path.join(output, 'cpu-sample.png') });
  });

  test('the composite download is the view at photo size', async () => {
    const r = await result(page);
    await page.check('[data-testid=toggle-heatmap]');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=download-composite]')]);
    const file = path.join(output, `cpu-${download.suggestedFilename()}`);
    await download.saveAs(file);
    assert.equal(download.suggestedFilename(), 'petlens-composite.png');
    assert.deepEqual(pngSize(fs.readFileSync(file)), { width: r.width, height: r.height });
  });

  test('a 12000x9000 photo is refused with a clear message, and the next photo works', async () => {
    // A real fixture photo scaled up to 108 megapixels by the browser's own JPEG encoder.
    const transfer = await scaledPhoto(page, DOG_PHOTO, [12000, 9000], 'huge.jpg', 0.5);
    await settled(page, () => page.dispatchEvent('main', 'drop', { dataTransfer: transfer }));
    assert.match(await page.textContent('[data-testid=error]'), /12000x9000.*too large/);
    assert.equal(await page.textContent('[data-testid=status]'), 'ready');
    await page.screenshot({ path: path.join(output, 'cpu-huge.png') });
    const next = await transferOf(page, CAT_PHOTO, 'after-huge.jpg');
    await settled(page, () => page.dispatchEvent('main', 'drop', { dataTransfer: next }));
    assert.equal((await result(page)).label, 'cat');
  });

  test('a phone photo with a video appended after the image (Motion Photo) is analysed', async () => {
    await upload(page, path.join(fixtures, 'photos/dog_motion_photo.jpg'));
    const motion = await result(page);
    assert.equal(await page.$('[data-testid=error]'), null, 'no error for the trailer');
    await upload(page, path.join(fixtures, 'cats-vs-dogs/validation/dog/dog.1001.jpg'));
    const plain = await result(page);
    assert.equal(motion.p_dog, plain.p_dog, 'the same photo, the same verdict');
    assert.deepEqual([motion.width, motion.height], [plain.width, plain.height]);
  });

  test('no console errors', () => {
    assert.deepEqual(errors, []);
  });
});

test('a phone-sized viewport fits without sideways scrolling', async () => {
  const server = await serve();
  const browser = await launch({ webgpu: false, viewport: { width: 390, height: 844 } });
  try {
    const { page, errors } = await open(browser.context, `${server.url}/?backend=cpu`);
    await waitStatus(page, 'ready');
    await settled(page, () => page.click('[data-testid=sample]'));
    const { scroll, view, canvas } = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      view: window.innerWidth,
      canvas: document.querySelector('[data-testid=canvas]').getBoundingClientRect().right,
    }));
    assert.ok(scroll <= view, `page ${scroll} px wide in a ${view} px viewport`);
    assert.ok(canvas <= view, 'the canvas fits');
    await page.screenshot({ path: path.join(output, 'phone.png'), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.close();
  }
});
