// chexlens service worker. tools/pwa/finish-build.mjs writes it into each
// build with that build's version and the list of its shell files.
//
// - The shell (html, js, wasm, css, icons, web manifest) is precached whole
//   into one cache per build; a build whose files cannot all be fetched
//   never installs, and the previous one keeps serving.
// - Every file but index.html, this script and the web manifest carries a
//   content hash in its name, so an old page can never load a new build's
//   code and vice versa. A new build waits until the page asks it to take
//   over (the "update" button) or until no page of the old build is open.
// - Model weights are not handled here: the model worker caches them itself
//   (files in the origin private file system, listed in Cache Storage
//   "chexlens-models" under their sha256).
// - The model worker's script gets a Content-Security-Policy header that
//   allows connections only to this origin, the model origin the page chose
//   (`?model-origin=` on the worker's address) and, once the user loads from
//   Hugging Face, the Hub (`?hub=`) with the hosts its files are redirected to.
// - The page and the workers' scripts get Cross-Origin-Opener-Policy
//   same-origin and Cross-Origin-Embedder-Policy require-corp: the page is
//   then cross-origin isolated (shared memory, so the threaded worker can
//   run) from the first load this service worker serves. require-corp, not
//   credentialless: the page embeds nothing from elsewhere, and the model
//   and Hub downloads are CORS requests, which either allows; require-corp
//   is the one every browser with service workers knows.

const VERSION = "__CHEXLENS_VERSION__";
const SHELL = ["__CHEXLENS_SHELL__"];
const SHELL_CACHE = `chexlens-shell-${VERSION}`;
const WORKER_LOADER = /\/chexlens-worker-(?:threads-)?[0-9a-f]+_loader\.js$/;
const THREADS_LOADER = /\/chexlens-worker-threads-[0-9a-f]+_loader\.js$/;
const ISOLATION = { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" };

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL_CACHE);
      // cache: "reload" skips the HTTP cache: the files must be this build's.
      await cache.addAll(SHELL.map((path) => new Request(path, { cache: "reload" })));
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith("chexlens-shell-") && name !== SHELL_CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("message", (event) => {
  if (event.data === "take-over") self.skipWaiting();
  if (event.data === "version") event.source?.postMessage({ version: VERSION });
});

/** A model origin from the worker's address, if it is a plain http(s) origin. */
function modelOrigin(url) {
  const value = url.searchParams.get("model-origin");
  if (!value) return null;
  try {
    const origin = new URL(value).origin;
    return /^https?:\/\/[^\s;,']+$/.test(origin) ? origin : null;
  } catch {
    return null;
  }
}

/** The Hub's origin and its download hosts, if `?hub=` names a plain origin. */
function hubSources(url) {
  const value = url.searchParams.get("hub");
  if (!value) return [];
  let parsed;
  try {
    parsed = new URL(value);
  } catch {
    return [];
  }
  if (!/^https?:\/\/[^\s;,']+$/.test(parsed.origin)) return [];
  // huggingface.co redirects downloads to its CDN (cdn-lfs.hf.co, cas-bridge.xethub.hf.co, ...).
  if (parsed.origin === "https://huggingface.co") {
    return [parsed.origin, "https://*.huggingface.co", "https://*.hf.co"];
  }
  // Another endpoint (a mirror, a local Hub): its host on any port, and its subdomains.
  const host = parsed.hostname;
  const sources = [parsed.origin, `${parsed.protocol}//${host}:*`];
  if (/[a-z]/i.test(host) && !host.includes(":")) sources.push(`${parsed.protocol}//*.${host}:*`);
  return sources;
}

async function fromShell(request, url) {
  const cache = await caches.open(SHELL_CACHE);
  // The page, whatever its query (?backend=, ?model=), is index.html.
  const key = request.mode === "navigate" ? new URL("./index.html", self.registration.scope).href : url.origin + url.pathname;
  const response = await cache.match(key);
  if (!response) return fetch(request);
  const worker = WORKER_LOADER.test(url.pathname);
  if (request.mode !== "navigate" && !worker) return response;
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(ISOLATION)) headers.set(name, value);
  if (worker) {
    const allowed = ["'self'", modelOrigin(url), ...hubSources(url)].filter(Boolean).join(" ");
    // The threaded worker's pool helpers start from blob: copies of their script.
    const workers = THREADS_LOADER.test(url.pathname) ? "; worker-src 'self' blob:" : "";
    headers.set(
      "Content-Security-Policy",
      `default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src ${allowed}${workers}`,
    );
  }
  return new Response(response.body, { status: 200, headers });
}

self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  const scope = new URL(self.registration.scope);
  const path = "./" + url.pathname.slice(scope.pathname.length);
  const page = request.mode === "navigate" && (path === "./" || path === "./index.html");
  const inShell = page || SHELL.includes(path) || WORKER_LOADER.test(url.pathname);
  if (inShell) event.respondWith(fromShell(request, url));
});
