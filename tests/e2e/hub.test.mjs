// "Load from Hugging Face" against the mock Hub (tests/mock-hub/mock_hub.py
// --fixtures): a private repository loads through the form with a token and
// gives the CLI's numbers for the same repository; the token is sent to the
// Hub's origin alone and is found nowhere afterwards; the Hub hears nothing
// until the user asks; refusals are plain messages.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdtempSync, mkdirSync, readdirSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  pageSession, serveDist, analyse, pageProbabilities, waitForServiceWorker, FIXTURES, ROOT, DIST,
} from "./harness.mjs";

const TOKEN = "hf_reader_5ecret"; // the mock's reader token for calender/Ensemble_C
const REPO = "calender/Ensemble_C";
const IMAGE = join(FIXTURES, "xray_grey.jpg");

const CLI = join(ROOT, "target/release/chexlens");

const session = pageSession();

/** `chexlens ARGS` against the mock Hub, with a fresh cache; its stdout. */
function cli(args) {
  return execFileSync(CLI, args, {
    encoding: "utf8",
    env: { ...process.env, HF_ENDPOINT: hub, HF_TOKEN: TOKEN, HF_HOME: mkdtempSync(join(tmpdir(), "chexlens-hf-")) },
    stdio: ["ignore", "pipe", "ignore"],
  });
}
let mock = null;
let hub = "";

before(async () => {
  mock = spawn("python3", [join(ROOT, "tests/mock-hub/mock_hub.py"), "--fixtures"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const [line] = await createInterface({ input: mock.stdout })[Symbol.asyncIterator]().next().then((r) => [r.value]);
  hub = line.split(" ")[1];
});

after(() => {
  mock?.stdin.end();
  mock?.kill();
});

async function hubLog() {
  const text = await (await fetch(`${hub}/_mock/log`)).text();
  return text.split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

async function clearHubLog() {
  await fetch(`${hub}/_mock/log/clear`, { method: "POST" });
}

/**
 * Runs `start` (a click that loads a model) and waits for that load's end:
 * the status changing after it, to ready or error. Returns the state.
 */
async function loadWith(page, start) {
  await page.getByTestId("model-status").evaluate((el) => {
    window.__statusChanged = false;
    window.__statusObserver?.disconnect();
    window.__statusObserver = new MutationObserver(() => {
      window.__statusChanged = true;
    });
    window.__statusObserver.observe(el, { attributes: true, childList: true, subtree: true, characterData: true });
  });
  await start();
  await page.waitForFunction(
    () => {
      const state = document.querySelector('[data-testid="model-status"]').getAttribute("data-state");
      return window.__statusChanged && (state === "ready" || state === "error");
    },
    null,
    { timeout: 600_000 },
  );
  return page.getByTestId("model-status").getAttribute("data-state");
}

/** Fills and submits the Hub form. */
async function loadFromHub(page, { repo = REPO, token = "" } = {}) {
  if (!(await page.locator("details.hub").evaluate((d) => d.open))) await page.locator("details.hub summary").click();
  await page.getByTestId("hub-endpoint").fill(hub);
  await page.getByTestId("hub-repo").fill(repo);
  await page.getByTestId("hub-token").fill(token);
  return loadWith(page, () => page.getByTestId("hub-load").click());
}

/** Everything the page's origin keeps: storage, caches (keys, headers, small bodies), files, databases. */
async function everythingKept(page) {
  return page.evaluate(async () => {
    const parts = [JSON.stringify({ ...localStorage }), JSON.stringify({ ...sessionStorage }), location.href];
    for (const name of await caches.keys()) {
      const cache = await caches.open(name);
      for (const request of await cache.keys()) {
        parts.push(request.url);
        const response = await cache.match(request);
        parts.push(JSON.stringify([...response.headers]));
        if (Number(response.headers.get("content-length") ?? 0) < 1 << 20 && !request.url.includes("/sha256/")) {
          parts.push(await response.text());
        }
      }
    }
    // The origin private file system, where model files are kept: every name, and every file's text.
    const walk = async (folder, path) => {
      for await (const [name, handle] of folder.entries()) {
        parts.push(`${path}/${name}`);
        if (handle.kind === "directory") await walk(handle, `${path}/${name}`);
        else parts.push(await (await handle.getFile()).text());
      }
    };
    await walk(await navigator.storage.getDirectory(), "");
    parts.push(JSON.stringify((await indexedDB.databases?.()) ?? []));
    parts.push(document.documentElement.outerHTML);
    return parts.join("\n");
  });
}

test("a private repository loads through the form and gives the CLI's numbers", async () => {
  const context = await session.browser.newContext();
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  await clearHubLog();
  await page.goto(`${session.server.url}?backend=cpu`);
  // Controlled by the service worker, so that the page's own files come from it offline.
  await waitForServiceWorker(page);
  await page.waitForSelector('[data-testid="model-status"][data-state="none"]');
  assert.deepEqual(await hubLog(), [], "the page reached the Hub before it was asked to");

  assert.equal(await loadFromHub(page, { token: TOKEN }), "ready", await page.getByTestId("model-status").innerText());
  assert.equal(await page.getByTestId("hub-token").inputValue(), "", "the token field is cleared once used");
  assert.match(await page.getByTestId("model-status").innerText(), /calender\/Ensemble_C@[0-9a-f]{12}/);

  const log = await hubLog();
  const downloads = log.filter((r) => r.origin === "cdn" && r.method === "GET");
  assert.equal(downloads.length, 3, JSON.stringify(log));
  for (const r of log) {
    if (r.method === "OPTIONS") continue;
    assert.equal(r.authorization, r.origin === "hub", `the token went only to the Hub: ${JSON.stringify(r)}`);
  }

  assert.equal(await analyse(page, IMAGE), "done");
  const expected = JSON.parse(cli(["predict", "--json", "--hub", REPO, IMAGE])).probabilities;
  const shown = await pageProbabilities(page);
  for (const [label, p] of Object.entries(expected)) {
    assert.ok(Math.abs(shown[label] - p) < 1e-4, `${label}: page ${shown[label]} CLI ${p}`);
  }

  // Kept for offline use, like any model; the token nowhere.
  await page.waitForSelector('[data-testid="cached-model"]');
  assert.match(await page.getByTestId("cached-model").first().innerText(), /calender\/Ensemble_C/);
  const kept = await everythingKept(page);
  assert.match(kept, /\/chexlens-models\/[0-9a-f]+-[0-9a-f]+\n/, "the members' kept files were read");
  assert.ok(!kept.includes(TOKEN), "the token was kept by the page");
  assert.ok(!page.url().includes(TOKEN));

  // A second load: the members come from the offline copy; only the listing is asked for.
  await clearHubLog();
  assert.equal(await loadFromHub(page, { token: TOKEN }), "ready");
  const again = await hubLog();
  assert.deepEqual(
    again.filter((r) => r.method !== "OPTIONS").map((r) => r.path),
    [`/api/models/${REPO}/revision/main?blobs=true`],
  );

  // Offline: the same form loads the kept copy, and so does its entry in the offline list.
  await context.setOffline(true);
  await fetch(`${hub}/_mock/down?on=1`, { method: "POST" });
  await clearHubLog();
  assert.equal(await loadFromHub(page, { token: TOKEN }), "ready", await page.getByTestId("model-status").innerText());
  const hubEntry = page.locator('[data-testid="cached-model"]', { hasText: REPO });
  assert.equal(await loadWith(page, () => hubEntry.getByRole("button", { name: "Load" }).click()), "ready");
  assert.match(await page.getByTestId("model-status").innerText(), /calender\/Ensemble_C@/);
  assert.equal(await analyse(page, IMAGE), "done", await page.getByTestId("analysis-status").innerText());
  assert.deepEqual(await pageProbabilities(page), shown, "the same numbers from the offline copy");
  const attempts = await hubLog();
  assert.ok(attempts.every((r) => r.path.startsWith("/api/models/")), `only the listing was tried: ${JSON.stringify(attempts)}`);
  await fetch(`${hub}/_mock/down?on=0`, { method: "POST" });
  await context.setOffline(false);
  assert.deepEqual(pageErrors, []);
  await context.close();
});

test("a cross-origin isolated page (the threaded worker) loads from the Hub with the CLI's numbers", async () => {
  const context = await session.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${session.server.url}?backend=cpu&workers=1`);
  await waitForServiceWorker(page);
  // The service worker's COOP/COEP (require-corp) isolate the page; the Hub's downloads are CORS requests.
  // ?workers=1: the threaded worker holds the members itself, on a pool of every core.
  await page.reload();
  assert.equal(await page.evaluate(() => self.crossOriginIsolated), true);
  assert.equal(await loadFromHub(page, { token: TOKEN }), "ready", await page.getByTestId("model-status").innerText());
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  if (cores > 1) assert.equal(Number(await page.getByTestId("threads").innerText()), cores, "the threaded worker loaded it");
  assert.equal(await analyse(page, IMAGE), "done");
  const expected = JSON.parse(cli(["predict", "--json", "--hub", REPO, IMAGE])).probabilities;
  const shown = await pageProbabilities(page);
  for (const [label, p] of Object.entries(expected)) {
    assert.ok(Math.abs(shown[label] - p) < 1e-4, `${label}: page ${shown[label]} CLI ${p}`);
  }
  await context.close();
});

test("a missing token, a wrong one and a missing repository are plain messages", async () => {
  await fetch(`${hub}/_mock/down?on=0`, { method: "POST" });
  const context = await session.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${session.server.url}?backend=cpu`);
  const status = page.getByTestId("model-status");

  assert.equal(await loadFromHub(page), "error");
  assert.match(await status.innerText(), /calender\/Ensemble_C was not found, or it is private: enter a token/);
  assert.equal(await loadFromHub(page, { token: "hf_wrong" }), "error");
  assert.match(await status.innerText(), /the Hub refused the token/);
  assert.equal(await loadFromHub(page, { repo: "open/empty" }), "error");
  assert.match(await status.innerText(), /open\/empty has no weight files/);
  await page.getByTestId("hub-repo").fill("not a repo");
  await page.getByTestId("hub-load").click();
  assert.match(await page.getByTestId("error").innerText(), /'not a repo' is not a Hub repository/);
  assert.ok(!(await everythingKept(page)).includes("hf_wrong"));
  await context.close();
});

test("chexlens deploy's output is the page's deployed model, with the CLI's numbers", async (t) => {
  // The site: the built page with the deployed model beside it.
  const site = mkdtempSync(join(tmpdir(), "chexlens-site-"));
  for (const entry of readdirSync(DIST)) {
    if (entry !== "models") symlinkSync(join(DIST, entry), join(site, entry));
  }
  mkdirSync(join(site, "models"));
  symlinkSync(join(DIST, "models/demo"), join(site, "models/demo"));
  assert.match(cli(["deploy", "--hub", REPO, "--out", site]), /the page downloads \d+\.\d MB/);

  const server = await serveDist(site);
  // Closed even when an assertion fails: its sockets would keep node --test waiting.
  t.after(() => server.close());
  const context = await session.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.url}?backend=cpu`);
  await page.getByTestId("load-deployed").click();
  await page.waitForSelector('[data-testid="model-status"][data-state="ready"]', { timeout: 600_000 });
  assert.equal(await analyse(page, IMAGE), "done");
  const expected = JSON.parse(
    execFileSync(CLI, ["predict", "--json", "--model", join(site, "models/manifest.json"), IMAGE], { encoding: "utf8" }),
  ).probabilities;
  const shown = await pageProbabilities(page);
  for (const [label, p] of Object.entries(expected)) {
    assert.ok(Math.abs(shown[label] - p) < 1e-4, `${label}: page ${shown[label]} CLI ${p}`);
  }
  await context.close();
});
