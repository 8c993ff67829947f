// Shared pieces of the browser tests: a static server for dist/ that logs
// every request it serves, Debian's headless Chromium, the page's hooks, and
// the native CLI that gives the expected numbers.

import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import { extname, join, normalize, resolve } from "node:path";
import { chromium } from "playwright-core";

export const ROOT = resolve(import.meta.dirname, "../..");
export const DIST = join(ROOT, "dist");
export const FIXTURES = join(ROOT, "crates/chexlens-model/tests/fixtures");
export const DEMO_MANIFEST = join(ROOT, "public/models/demo/manifest.json");
const CLI = join(ROOT, "target/release/chexlens");

const TYPES = {
  ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".css": "text/css",
  ".json": "application/json", ".png": "image/png", ".svg": "image/svg+xml", ".webmanifest": "application/manifest+json",
};

/**
 * Serves dist/ (or another built folder) on a free loopback port; `log`
 * records every request (method, path, Service-Worker header, whether it had
 * a body) and `requests` lists their paths. `setRoot` swaps the folder (a new deployment),
 * `setDown(true)` drops every connection (the network is gone), and
 * `setTruncate(fn)` cuts matching files in half after announcing their full
 * length (a download that breaks part-way). `headers` go on every file
 * (the browser benchmark's cross-origin isolation).
 */
export async function serveDist(root = DIST, { headers = {} } = {}) {
  const log = [];
  let down = false;
  let truncate = null;
  const server = createServer(async (req, res) => {
    log.push({
      method: req.method,
      url: req.url,
      serviceWorker: req.headers["service-worker"] ?? null,
      hasBody: Number(req.headers["content-length"] ?? 0) > 0 || "transfer-encoding" in req.headers,
    });
    if (down) {
      req.socket.destroy();
      return;
    }
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
    let file = join(root, path);
    try {
      if ((await stat(file)).isDirectory()) file = join(file, "index.html");
      const body = await readFile(file);
      res.writeHead(200, {
        "content-type": TYPES[extname(file)] ?? "application/octet-stream",
        "content-length": body.length,
        "cache-control": "no-cache",
        ...headers,
      });
      if (truncate?.(path)) {
        res.write(body.subarray(0, body.length >> 1));
        setTimeout(() => req.socket.destroy(), 50);
        return;
      }
      res.end(req.method === "HEAD" ? undefined : body);
    } catch {
      res.writeHead(404).end("not found");
    }
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  const url = `http://127.0.0.1:${server.address().port}/`;
  return {
    url,
    log,
    get requests() { return log.map((r) => r.url); },
    setRoot: (dir) => { root = dir; },
    setDown: (value) => { down = value; },
    setTruncate: (fn) => { truncate = fn; },
    close: () => new Promise((ok) => { server.closeAllConnections(); server.close(ok); }),
  };
}

/**
 * The requests the server saw from index `from` on, as "METHOD path", leaving
 * out the browser's own service-worker update check: a GET of `/sw.js` with
 * `Service-Worker: script` and no body. Chromium makes it on its own
 * schedule (seconds after a burst of activity, even mid-analysis), the page
 * cannot hold it back, and it carries nothing of the user's.
 */
export function requestsBesidesUpdateCheck(server, from) {
  return server.log
    .slice(from)
    .filter((r) => !(r.method === "GET" && r.url === "/sw.js" && r.serviceWorker === "script" && !r.hasBody))
    .map((r) => `${r.method} ${r.url}`);
}

export async function launchChromium() {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--no-sandbox", "--enable-unsafe-webgpu", "--enable-features=Vulkan", "--use-angle=swiftshader",
      "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
      "--no-first-run",
    ],
  });
}

/** `chexlens predict --json` on the demo model for one image (extra flags first). */
export function cliJson(image, flags = []) {
  const out = execFileSync(CLI, ["predict", "--json", ...flags, "--model", DEMO_MANIFEST, image], { encoding: "utf8" });
  return JSON.parse(out.trim().split("\n")[0]);
}

/** The CLI's ensemble probabilities for an image, by label. */
export function cliProbabilities(image, flags = []) {
  return cliJson(image, flags).probabilities;
}

export async function loadDemo(page) {
  await page.getByTestId("load-demo").click();
  await page.waitForSelector('[data-testid="model-status"][data-state="ready"]', { timeout: 600_000 });
}

/** Waits until the service worker controls the page. */
export async function waitForServiceWorker(page) {
  await page.waitForFunction(() => navigator.serviceWorker?.controller != null, null, { timeout: 120_000 });
}

/** Uploads an image and waits for the analysis it starts to finish (or fail). */
export async function analyse(page, file) {
  const status = page.getByTestId("analysis-status");
  const before = Number(await status.getAttribute("data-run"));
  await page.getByTestId("image-input").setInputFiles(file);
  await page.waitForFunction(
    (before) => {
      const el = document.querySelector('[data-testid="analysis-status"]');
      const state = el.getAttribute("data-state");
      return Number(el.getAttribute("data-run")) > before && (state === "done" || state === "error");
    },
    before,
    { timeout: 600_000 },
  );
  return status.getAttribute("data-state");
}

/** The page's probabilities, by label, at full precision. */
export async function pageProbabilities(page) {
  return page.$$eval('[data-testid="probability"]', (rows) =>
    Object.fromEntries(rows.map((r) => [r.dataset.label, Number(r.dataset.value)])),
  );
}
