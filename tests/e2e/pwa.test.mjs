// The offline PWA and the privacy promise, in Debian's headless Chromium:
// the page works with the network gone, a new deployment replaces the old
// one whole, a whole session makes only same-origin requests (none once the
// model is ready), and a broken download is never kept as a model.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  serveDist, launchChromium, loadDemo, analyse, pageProbabilities, waitForServiceWorker, requestsBesidesUpdateCheck, DIST, FIXTURES, openPage,
} from "./harness.mjs";

let browser;
const scratch = mkdtempSync(join(tmpdir(), "chexlens-pwa-"));

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

/** Collects CSP violations from the start of every page in the context. */
async function watchCsp(context) {
  await context.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) =>
      window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`),
    );
  });
}

async function cspViolations(page) {
  return page.evaluate(() => window.__cspViolations ?? []);
}

async function modelCacheKeys(page) {
  return page.evaluate(async () => {
    const cache = await caches.open("chexlens-models");
    return (await cache.keys()).map((r) => r.url);
  });
}

/** The files kept in the origin private file system's model folder, with their sizes. */
async function keptFiles(page) {
  return page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const folder = await root.getDirectoryHandle("chexlens-models").catch(() => null);
    const files = {};
    // A file that goes while the folder is listed (the page's own tidying) is not kept.
    if (folder) {
      for await (const [name, handle] of folder.entries()) {
        const file = await handle.getFile().catch((e) => (e.name === "NotFoundError" ? null : Promise.reject(e)));
        if (file) files[name] = file.size;
      }
    }
    return files;
  });
}

/** Each member entry's kept file and body size, by its key. */
async function memberEntries(page) {
  return page.evaluate(async () => {
    const cache = await caches.open("chexlens-models");
    const entries = {};
    for (const request of await cache.keys()) {
      if (request.url.includes("/manifest/")) continue;
      const response = await cache.match(request);
      entries[request.url] = { file: response.headers.get("x-chexlens-file"), body: (await response.arrayBuffer()).byteLength };
    }
    return entries;
  });
}

/** A file in the model folder that no entry names, as a load cut off with its tab leaves. */
async function leaveStrayFile(page) {
  await page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const folder = await root.getDirectoryHandle("chexlens-models", { create: true });
    const writable = await (await folder.getFileHandle("stray", { create: true })).createWritable();
    await writable.write(new Uint8Array(1000));
    await writable.close();
  });
}

async function buildOf(page) {
  return page.locator('meta[name="chexlens-build"]').getAttribute("content");
}

test("after one visit the page works offline: reload, load the kept model, same numbers", async (t) => {
  const server = await serveDist();
  t.after(() => server.close());
  const context = await browser.newContext();
  await watchCsp(context);
  const { page, pageErrors } = await openPage(context, `${server.url}?backend=cpu`);
  await waitForServiceWorker(page);
  await loadDemo(page);
  const image = join(FIXTURES, "xray_grey8.png");
  assert.equal(await analyse(page, image), "done");
  const online = await pageProbabilities(page);

  // The demo is listed as kept, with its size.
  await page.waitForSelector('[data-testid="cached-model"]');
  assert.match(await page.getByTestId("cached-size").first().textContent(), /^\d+\.\d MB$/);
  // Each member's bytes are a kept file, whole; its entry holds only headers.
  const manifest = JSON.parse(readFileSync(join(DIST, "models/demo/manifest.json"), "utf8"));
  const entries = await memberEntries(page);
  const files = await keptFiles(page);
  // The reference statistics (a few kB to MB) are kept in their entry itself.
  const reference = manifest.reference_statistics;
  assert.ok(reference, "the demo names its reference statistics");
  assert.equal(Object.keys(entries).length, manifest.members.length + 1);
  for (const member of manifest.members) {
    const [key, entry] = Object.entries(entries).find(([k]) => k.endsWith(`/sha256/${member.sha256}`));
    assert.equal(entry.body, 0, key);
    assert.equal(files[entry.file], readFileSync(join(DIST, "models/demo", member.weights)).length, key);
  }
  const [referenceKey, referenceEntry] = Object.entries(entries).find(([k]) => k.endsWith(`/sha256/${reference.sha256}`));
  assert.equal(referenceEntry.file, null, referenceKey);
  assert.equal(referenceEntry.body, readFileSync(join(DIST, "models/demo", reference.file)).length, referenceKey);
  assert.equal(Object.keys(files).length, manifest.members.length, "no other file is kept");
  await leaveStrayFile(page);

  // The model worker's script carries a CSP naming only this origin and the chosen model origin.
  const workerCsp = await page.evaluate(async () => {
    const loader = document.querySelector('meta[name="chexlens-worker"]').content;
    const origin = encodeURIComponent("https://models.example.org");
    const response = await fetch(`${loader}?model-origin=${origin}`);
    return response.headers.get("content-security-policy");
  });
  assert.equal(
    workerCsp,
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self' https://models.example.org",
  );
  // Loading from Hugging Face opens the Hub and its download hosts, and
  // another Hub address its host (any port) and subdomains; a value that
  // is not a plain origin opens nothing.
  const hubCsp = await page.evaluate(async () => {
    const loader = document.querySelector('meta[name="chexlens-worker"]').content;
    const csp = async (hub) =>
      (await fetch(`${loader}?hub=${encodeURIComponent(hub)}`)).headers.get("content-security-policy").split("connect-src ")[1];
    return [await csp("https://huggingface.co"), await csp("https://hf-mirror.com/"), await csp("http://127.0.0.1:9"), await csp("javascript:alert(1)")];
  });
  assert.deepEqual(hubCsp, [
    "'self' https://huggingface.co https://*.huggingface.co https://*.hf.co",
    "'self' https://hf-mirror.com https://hf-mirror.com:* https://*.hf-mirror.com:*",
    "'self' http://127.0.0.1:9 http://127.0.0.1:*",
    "'self'",
  ]);

  // The network goes: the server drops every connection and the browser is offline.
  server.setDown(true);
  await context.setOffline(true);
  const served = server.requests.length;
  await page.reload();
  await page.waitForSelector('[data-testid="connection"][data-state="offline"]');
  assert.equal(await page.evaluate(() => self.crossOriginIsolated), true, "served offline with COOP/COEP");
  // The reloaded page removes the stray file, and keeps the model's.
  await page.waitForFunction(async () => {
    const folder = await (await navigator.storage.getDirectory()).getDirectoryHandle("chexlens-models");
    return !(await folder.getFileHandle("stray").then(() => true, () => false));
  });
  assert.deepEqual(await keptFiles(page), files);
  await loadDemo(page);
  assert.equal(await analyse(page, image), "done");
  const offline = await pageProbabilities(page);
  // The reload is the first load the service worker serves, so it is
  // cross-origin isolated and runs the threaded worker: its sums are split
  // over threads, so they may differ from the plain worker's in the last
  // float bits (3e-8 seen), nowhere near the page's 1e-4 to the CLI.
  assert.deepEqual(Object.keys(offline).sort(), Object.keys(online).sort());
  for (const [label, p] of Object.entries(online)) {
    assert.ok(Math.abs(offline[label] - p) < 1e-6, `the same probabilities offline: ${label} ${offline[label]} vs ${p}`);
  }
  // Each worker's script load (the model worker's and every member worker's)
  // lets Chromium check sw.js for an update on its own schedule, as the
  // Service Worker spec allows: that check aside, nothing.
  assert.deepEqual(requestsBesidesUpdateCheck(server, served), [], "nothing reached the server while offline");

  // Removing the kept model empties the cache.
  await page.getByTestId("remove-cached").click();
  await page.waitForSelector('[data-testid="no-cached-models"]');
  assert.deepEqual(await modelCacheKeys(page), []);
  assert.deepEqual(await keptFiles(page), {}, "and its files are gone");
  assert.deepEqual(await cspViolations(page), []);
  assert.deepEqual(pageErrors, []);
  await context.close();
});

test("a new deployment replaces the old build whole on the next visit", async (t) => {
  // Two deployments: the built dist (v1), and the same files with a new build
  // version in the page and the service worker (v2).
  const v1 = join(scratch, "v1");
  const v2 = join(scratch, "v2");
  cpSync(DIST, v1, { recursive: true });
  cpSync(DIST, v2, { recursive: true });
  const oldVersion = /name="chexlens-build" content="([0-9a-f]+)"/.exec(readFileSync(join(v1, "index.html"), "utf8"))[1];
  const newVersion = `${oldVersion.slice(0, 12)}beef`;
  for (const file of ["index.html", "sw.js"]) {
    const path = join(v2, file);
    writeFileSync(path, readFileSync(path, "utf8").replaceAll(oldVersion, newVersion));
  }

  const server = await serveDist(v1);
  t.after(() => server.close());
  const context = await browser.newContext();
  await watchCsp(context);
  let page = await context.newPage();
  await page.goto(`${server.url}?backend=cpu`);
  await waitForServiceWorker(page);
  assert.equal(await buildOf(page), oldVersion);
  await page.close();

  // Deploy v2. The next visit opens v1 whole (from its cache), learns of v2
  // and offers it.
  server.setRoot(v2);
  page = await context.newPage();
  await page.goto(`${server.url}?backend=cpu`);
  assert.equal(await buildOf(page), oldVersion, "the open page is the old build, whole");
  await page.waitForSelector('[data-testid="update-ready"]', { timeout: 60_000 });
  await loadDemo(page);
  assert.equal(await analyse(page, join(FIXTURES, "xray_grey8.png")), "done", "the old build still works");

  await Promise.all([page.waitForEvent("load"), page.getByTestId("update-now").click()]);
  await page.waitForFunction((v) => document.querySelector('meta[name="chexlens-build"]')?.content === v, newVersion);
  const swVersion = await page.evaluate(
    () =>
      new Promise((ok) => {
        navigator.serviceWorker.addEventListener("message", (e) => ok(e.data.version), { once: true });
        navigator.serviceWorker.controller.postMessage("version");
      }),
  );
  assert.equal(swVersion, newVersion);
  const shellCaches = await page.evaluate(async () => (await caches.keys()).filter((k) => k.startsWith("chexlens-shell-")));
  assert.deepEqual(shellCaches, [`chexlens-shell-${newVersion}`], "the old build's files are gone");
  // Every script, style and the worker the new page names are in the new cache.
  const missing = await page.evaluate(async (v) => {
    const cache = await caches.open(`chexlens-shell-${v}`);
    const named = [
      ...[...document.querySelectorAll("link[href], script[src]")].map((e) => e.href || e.src),
      new URL(document.querySelector('meta[name="chexlens-worker"]').content, location.href).href,
    ].filter((u) => u.startsWith(location.origin));
    const out = [];
    for (const url of named) if (!(await cache.match(url))) out.push(url);
    return out;
  }, newVersion);
  assert.deepEqual(missing, []);
  await loadDemo(page);
  assert.equal(await analyse(page, join(FIXTURES, "xray_grey8.png")), "done", "the new build works");
  assert.deepEqual(await cspViolations(page), []);
  await context.close();
});

test("a whole session requests only its own origin, and nothing once the model is ready", async (t) => {
  const server = await serveDist();
  t.after(() => server.close());
  const context = await browser.newContext();
  await watchCsp(context);
  const all = [];
  let ready = false;
  const afterReady = [];
  context.on("request", (r) => {
    all.push(r.url());
    if (ready) afterReady.push(r.url());
  });
  const page = await context.newPage();
  await page.goto(`${server.url}?backend=cpu`);
  await waitForServiceWorker(page);
  await loadDemo(page);
  ready = true;
  const served = server.log.length;
  for (const image of ["xray_grey8.png", "xray_grey.jpg", "xray_rgb.png"]) {
    assert.equal(await analyse(page, join(FIXTURES, image)), "done");
  }
  // Heat maps: every finding's, then one more label's on request.
  await page.waitForSelector('[data-testid="heatmap"]');
  await page.locator('[data-testid="map-button"]').last().click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="heatmap"]').length >= 2);
  // Threshold changes re-filter without re-running.
  for (const value of ["0.3", "0.7", "0.5"]) await page.getByTestId("threshold").fill(value);

  const own = new URL(server.url).origin;
  const foreign = all.filter((u) => !u.startsWith(own) && !u.startsWith("data:") && !u.startsWith("blob:"));
  assert.deepEqual(foreign, [], "no request to any other origin");
  assert.deepEqual(afterReady, [], "no request once the model is ready");
  assert.deepEqual(requestsBesidesUpdateCheck(server, served), [], "the server saw none either");
  const csp = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute("content");
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /connect-src 'self'(;|$)/);
  assert.doesNotMatch(csp, /'unsafe-inline'|'unsafe-eval'/);
  assert.deepEqual(await cspViolations(page), []);
  console.log(`# session: ${all.length} requests before the model was ready, all to ${own}`);
  await context.close();
});

test("a download that breaks part-way is never kept or served as a model", async (t) => {
  const server = await serveDist();
  t.after(() => server.close());
  server.setTruncate((path) => path.endsWith("demo_member1.safetensors"));
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.url}?backend=cpu`);
  await waitForServiceWorker(page);
  await page.getByTestId("load-demo").click();
  await page.waitForSelector('[data-testid="model-status"][data-state="error"]', { timeout: 120_000 });
  assert.match(await page.getByTestId("error").textContent(), /demo_member1\.safetensors: download failed/);
  const keys = await modelCacheKeys(page);
  const manifest = JSON.parse(readFileSync(join(DIST, "models/demo/manifest.json"), "utf8"));
  const sha1 = manifest.members[1].sha256;
  assert.ok(!keys.some((k) => k.includes(sha1)), "the broken member is not kept");
  assert.ok(!keys.some((k) => k.includes("/manifest/")), "the model is not listed as kept");
  // The member read whole is kept; nothing is left of the broken one's file.
  const named = Object.values(await memberEntries(page)).map((e) => e.file);
  assert.equal(named.length, 1);
  assert.deepEqual(Object.keys(await keptFiles(page)), named);

  // Offline now: the model must not load from a partial copy.
  server.setDown(true);
  await page.getByTestId("load-demo").click();
  await page.waitForSelector('[data-testid="model-status"][data-state="error"]', { timeout: 120_000 });
  assert.match(await page.getByTestId("error").textContent(), /no offline copy of this model is kept|download failed/);

  // Back online with whole files: member 1 is downloaded again, and kept.
  server.setDown(false);
  server.setTruncate(null);
  const before = server.requests.length;
  await loadDemo(page);
  assert.ok(
    server.requests.slice(before).some((u) => u.endsWith("demo_member1.safetensors")),
    "the member came from the network, not from a cache",
  );
  assert.ok((await modelCacheKeys(page)).some((k) => k.includes(sha1)), "now kept");
  await context.close();
});
