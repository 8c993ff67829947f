// Shared pieces of the browser tests: a static server for dist/ that logs
// every request it serves, Debian's headless Chromium, the page's hooks, and
// the native CLI that gives the expected numbers.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import assert from "node:assert/strict";
import { before, after } from "node:test";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { serveDist as serveFolder } from "../../tools/serve/static.mjs";

export const ROOT = resolve(import.meta.dirname, "../..");
export const DIST = join(ROOT, "dist");
export const FIXTURES = join(ROOT, "crates/chexlens-model/tests/fixtures");
export const DEMO_MANIFEST = join(ROOT, "public/models/demo/manifest.json");
const CLI = join(ROOT, "target/release/chexlens");

/** The static server of tools/serve/static.mjs, on dist/ by default. */
export function serveDist(root = DIST, options = {}) {
  return serveFolder(root, options);
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

/**
 * The static server on dist/ and Chromium, started before a test file's
 * tests and stopped after them: `session.server` and `session.browser`.
 */
export function pageSession() {
  const session = { server: null, browser: null };
  before(async () => {
    session.server = await serveDist();
    session.browser = await launchChromium();
  });
  after(async () => {
    await session.browser?.close();
    await session.server?.close();
  });
  return session;
}

const CHROMIUM = {
  executablePath: "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--enable-unsafe-webgpu", "--enable-features=Vulkan", "--use-angle=swiftshader",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
    "--no-first-run",
  ],
};

export async function launchChromium() {
  return chromium.launch(CHROMIUM);
}

/**
 * Chromium with its profile on disk in `dir`, as a user's: a context from
 * `launchChromium().newContext()` is off the record and holds what the page
 * stores in the browser's memory.
 */
export async function launchChromiumProfile(dir) {
  return chromium.launchPersistentContext(dir, CHROMIUM);
}

/**
 * A context whose pages save exports as downloads: headless Chromium has
 * the File System Access API's save picker, but answers it as if the user
 * cancelled. Pages of `context` see a browser without the picker.
 */
export async function exportsAsDownloads(context) {
  await context.addInitScript(() => { delete window.showSaveFilePicker; });
  return context;
}

/**
 * A context whose save picker answers with a file in the page's origin
 * private file system, named `saved-<suggested name>`: the export writes
 * through the same writable stream a picked file on disk gives.
 */
export async function exportsToPickedFiles(context) {
  await context.addInitScript(() => {
    window.showSaveFilePicker = async ({ suggestedName }) =>
      (await navigator.storage.getDirectory()).getFileHandle(`saved-${suggestedName}`, { create: true });
  });
  return context;
}

/** The bytes of a file an export wrote through `exportsToPickedFiles`. */
export async function pickedFile(page, name) {
  const base64 = await page.evaluate(async (name) => {
    const file = await (await (await navigator.storage.getDirectory()).getFileHandle(`saved-${name}`)).getFile();
    const bytes = new Uint8Array(await file.arrayBuffer());
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(text);
  }, name);
  return Buffer.from(base64, "base64");
}

/** `chexlens predict --json` on the demo model (or `manifest`) for one image (extra flags first). */
export function cliJson(image, flags = [], manifest = DEMO_MANIFEST) {
  // No manifest: the flags name the weights (--weights).
  const model = manifest ? ["--model", manifest] : [];
  const out = execFileSync(CLI, ["predict", "--json", ...flags, ...model, image], { encoding: "utf8" });
  return JSON.parse(out.trim().split("\n")[0]);
}

/** The CLI's ensemble probabilities for an image, by label. */
export function cliProbabilities(image, flags = []) {
  return cliJson(image, flags).probabilities;
}

/** A new page in `context`, opened at `url`, with the uncaught errors it throws collected. */
export async function openPage(context, url) {
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  await page.goto(url);
  return { page, pageErrors };
}

export async function loadDemo(page) {
  await openPanel(page, "model-panel");
  await page.getByTestId("load-demo").click();
  // Attached, not visible: on a phone the model panel folds away once the model is ready.
  await page.waitForSelector('[data-testid="model-status"][data-state="ready"]', { state: "attached", timeout: 600_000 });
}

/**
 * Keeps a canvas's pixels in the page under `name`, for comparisons made
 * there: a viewer's megapixel canvas is slow to copy out of the page.
 */
export async function keepPixels(page, selector, name) {
  await page.$eval(selector, (c, name) => {
    window.__keptPixels ??= {};
    window.__keptPixels[name] = { data: c.getContext("2d").getImageData(0, 0, c.width, c.height).data, width: c.width };
  }, name);
}

/**
 * How many pixels of the canvas at `selector` are not the kept `name`'s seen
 * through the view `{ zoom, x, y }` (nearest neighbour; the default view
 * compares them as they are), or its complement with `inverted`.
 */
export async function misplacedPixels(page, selector, name, view = { zoom: 1, x: 0, y: 0 }, inverted = false) {
  return page.$eval(selector, (c, { name, view, inverted }) => {
    const base = window.__keptPixels[name];
    const shown = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    if (base.width !== c.width || base.data.length !== shown.length) return c.width * c.height;
    let wrong = 0;
    for (let cy = 0; cy < c.height; cy++) {
      for (let cx = 0; cx < c.width; cx++) {
        const ix = Math.floor((cx - view.x) / view.zoom);
        const iy = Math.floor((cy - view.y) / view.zoom);
        const [s, b] = [(cy * c.width + cx) * 4, (iy * c.width + ix) * 4];
        for (let k = 0; k < 4; k++) {
          const expected = inverted && k < 3 ? 255 - base.data[b + k] : base.data[b + k];
          if (shown[s + k] !== expected) {
            wrong++;
            break;
          }
        }
      }
    }
    return wrong;
  }, { name, view, inverted });
}

/** Unfolds a folding panel (by its test id) if it is folded, as a reader clicks its heading. */
export async function openPanel(page, testid) {
  const panel = page.getByTestId(testid);
  if (!(await panel.evaluate((el) => el.open))) await panel.locator(":scope > summary").click();
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

/**
 * Drops files on the element matching `selector`, as a user dragging them
 * from a file manager: `files` is a list of `{ name, bytes }`.
 */
export async function dropFiles(page, selector, files) {
  const transfer = await page.evaluateHandle(
    (files) => {
      const dt = new DataTransfer();
      for (const { name, base64 } of files) {
        dt.items.add(new File([Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))], name));
      }
      return dt;
    },
    files.map(({ name, bytes }) => ({ name, base64: Buffer.from(bytes).toString("base64") })),
  );
  await page.locator(selector).dispatchEvent("drop", { dataTransfer: transfer });
}

/**
 * Drops files or folders from disk onto `selector` as a user's drag from a
 * file manager does (through the DevTools protocol), so that folders arrive
 * as directory entries the page must walk.
 */
export async function dropPaths(page, selector, paths) {
  const target = page.locator(selector);
  await target.scrollIntoViewIfNeeded();
  const box = await target.boundingBox();
  const [x, y] = [box.x + box.width / 2, box.y + box.height / 2];
  const client = await page.context().newCDPSession(page);
  const data = { items: [], files: paths, dragOperationsMask: 1 };
  for (const type of ["dragEnter", "dragOver", "drop"]) {
    await client.send("Input.dispatchDragEvent", { type, x, y, data });
  }
  await client.detach();
}

const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/**
 * axe-core's audit of the page as it is: every violation is printed, and
 * none of impact serious or critical may remain. axe is injected as a
 * script, which the page's CSP forbids: the page's context must bypass it
 * (`newContext({ bypassCSP: true })`), for the audit.
 */
export async function audit(page, state) {
  await page.addScriptTag({ content: AXE });
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 4).map((n) => n.target.join(" ")),
    }));
  });
  for (const v of violations) console.log(`# ${state}: ${v.impact} ${v.id}: ${v.help} (${v.nodes.join("; ")})`);
  const serious = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(serious, [], `${state}: serious or critical violations`);
}
