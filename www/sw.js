// petlens's service worker: after one visit the page works offline. On install it caches the
// app shell (the page, its script, its wasm module and its stylesheet, read from the page
// itself, whose file names change with every build); while online every request goes to the
// network first and refreshes the cache (weights excepted), so a new deployment replaces the old files; offline,
// the cache answers. The models' files stay in the page's own Cache Storage (`petlens-models`, each
// under its content hash from `models/manifest.json`).
const CACHE = 'petlens-app-v1';

/** The page and the files it names (`/petlens-<hash>.js`, `…_bg.wasm`, `/style-<hash>.css`). */
async function shell() {
  const html = await (await fetch('./', { cache: 'no-cache' })).text();
  const named = [...html.matchAll(/["'](\/[^"'?#]+\.(?:js|wasm|css))["']/g)].map((m) => m[1]);
  return ['./', ...new Set(named)];
}

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(await shell());
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('petlens-app-') && name !== CACHE) await caches.delete(name);
    }
  })());
});

// The page, once ready, names what it loaded (sample photos, model card…) before this worker
// controlled it: cached too, so that an offline visit looks like an online one.
self.addEventListener('message', (event) => {
  const urls = (Array.isArray(event.data) ? event.data : [])
    .map((u) => new URL(u, self.location.href))
    .filter((u) => u.origin === self.location.origin && !u.pathname.endsWith('.bpk'))
    .map((u) => u.pathname);
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // Only what is not cached yet: putting a cached file again replaces its entry, and while
    // the new body arrives the old one is gone (seen: a sample missing from the cache just after
    // the page had named it twice).
    const missing = await Promise.all([...new Set(urls)].map(async (u) => ((await cache.match(u)) ? null : u)));
    await Promise.all(missing.filter((u) => u).map((u) => cache.add(u).catch(() => {})));
  })());
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET' || new URL(request.url).origin !== self.location.origin) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(request);
      // Weights are kept by the page itself; everything else is refreshed here, in the
      // background, so that the response streams to the page as it arrives.
      const path = new URL(request.url).pathname;
      if (response.ok && !path.endsWith('.bpk') && request.headers.get('range') === null) {
        event.waitUntil(cache.put(request.mode === 'navigate' ? './' : request, response.clone()));
      }
      return response;
    } catch (offline) {
      const cached = request.mode === 'navigate'
        ? await cache.match('./')
        : await cache.match(request, { ignoreSearch: true });
      if (cached) return cached;
      throw offline;
    }
  })());
});
