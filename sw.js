// Keeps the page usable offline once loaded: every same-origin GET goes to the network first
// (so a redeployed model or page is picked up at once) and falls back to the last copy cached.
// The build writes pkg/precache.js with every file of the page's wasm module (wasm-bindgen's
// snippets included), so what is cached on install is complete by construction.
importScripts("pkg/precache.js");

const CACHE = "dga-detector-v1";
const CORE = ["./", "index.html", "style.css", "favicon.svg", "main.js", "model/dga.dgaw", "model/card.json", "model/allow.txt", ...self.PKG_FILES];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(CORE)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(event.request, copy));
        }
        return response;
      })
      .catch(() => caches.match(event.request, { ignoreSearch: true }).then((hit) => hit || Response.error())),
  );
});
