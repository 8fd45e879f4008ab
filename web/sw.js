// Offline after the first visit: the page, the module and the trust policy are cached at install;
// same-origin requests go to the network first (a deployer's new policy arrives at once) and
// fall back to the cache when the network is gone.
const CACHE = 'chainproof-web-v1';
const SHELL = [
  './', 'index.html', 'style.css', 'app.js', 'pkg/chainproof_web.js', 'pkg/chainproof_web_bg.wasm',
  'vendor/qrcode.mjs', 'policy/manifest.json',
];

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(SHELL);
    const manifest = await (await cache.match('policy/manifest.json')).json();
    await cache.addAll([manifest.policy, ...manifest.files].map((f) => `policy/${f}`));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  // Devices on the local network are never cached: a chain or signature must be fresh.
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(event.request);
      if (response.ok) await cache.put(event.request, response.clone());
      return response;
    } catch (e) {
      const cached = await cache.match(event.request, { ignoreSearch: true });
      if (cached) return cached;
      throw e;
    }
  })());
});
