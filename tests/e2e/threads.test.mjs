// The page on every core. A page its service worker serves is cross-origin
// isolated (COOP/COEP from tools/pwa/sw.js), so on the CPU backend it runs
// the threaded worker: each member on a pool of every core where there are
// more cores than members, else members side by side. The first visit
// (no service worker yet) is not isolated: the plain worker runs, members in
// workers side by side, and the page says why. Both give the CLI's numbers.

import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { pageSession, cliJson, loadDemo, analyse, pageProbabilities, waitForServiceWorker, FIXTURES } from "./harness.mjs";

const session = pageSession();
const IMAGE = join(FIXTURES, "xray_grey.jpg");

function assertCliNumbers(shown, where) {
  const expected = cliJson(IMAGE).probabilities;
  assert.equal(Object.keys(shown).length, 14, where);
  for (const [label, p] of Object.entries(expected)) {
    assert.ok(Math.abs(shown[label] - p) < 1e-4, `${where}, ${label}: page ${shown[label]} CLI ${p}`);
  }
}

test("not isolated on the first visit, isolated from the service worker's: both paths give the CLI's numbers", async () => {
  const context = await session.browser.newContext();
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  await page.goto(`${session.server.url}?backend=cpu`);
  assert.equal(await page.evaluate(() => self.crossOriginIsolated), false, "the server sends no COOP/COEP");
  await waitForServiceWorker(page);
  await loadDemo(page);
  assert.equal(await page.getByTestId("threads").count(), 0);
  assert.match(await page.getByTestId("threads-note").innerText(), /not cross-origin isolated/);
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  if (cores > 1) assert.equal(await page.getByTestId("workers").innerText(), "3", "members in workers side by side");
  assert.equal(await analyse(page, IMAGE), "done");
  const plain = await pageProbabilities(page);
  assertCliNumbers(plain, "plain worker");

  // The service worker now serves the page, with COOP/COEP. ?workers=1:
  // the threaded worker keeps the members, each on a pool of every core.
  await page.goto(`${session.server.url}?backend=cpu&workers=1`);
  assert.equal(await page.evaluate(() => self.crossOriginIsolated), true, "the service worker's headers isolate the page");
  await loadDemo(page);
  if (cores > 1) assert.equal(Number(await page.getByTestId("threads").innerText()), cores, "a pool of every core");
  assert.equal(await page.getByTestId("workers").count(), 0, "members one after another in one worker");
  assert.equal(await page.getByTestId("threads-note").count(), 0);
  assert.equal(await analyse(page, IMAGE), "done", await page.getByTestId("analysis-status").innerText());
  const threaded = await pageProbabilities(page);
  assertCliNumbers(threaded, "threaded worker");
  for (const [label, p] of Object.entries(plain)) {
    assert.ok(Math.abs(threaded[label] - p) < 1e-5, `${label}: threaded ${threaded[label]} plain ${p}`);
  }

  // Its own choice: with no more cores than members, the threaded build's
  // member workers side by side (one thread each); with more, one pool.
  await page.goto(`${session.server.url}?backend=cpu`);
  await loadDemo(page);
  if (cores > 3) {
    assert.equal(Number(await page.getByTestId("threads").innerText()), cores);
  } else if (cores > 1) {
    assert.equal(await page.getByTestId("workers").innerText(), "3");
    assert.equal(await page.getByTestId("threads").count(), 0);
  }
  assert.equal(await analyse(page, IMAGE), "done");
  assertCliNumbers(await pageProbabilities(page), "the isolated page's schedule");

  // ?threads=0 keeps the plain worker in an isolated page (what the benchmark compares).
  await page.goto(`${session.server.url}?backend=cpu&threads=0`);
  assert.equal(await page.evaluate(() => self.crossOriginIsolated), true);
  await loadDemo(page);
  assert.equal(await page.getByTestId("threads").count(), 0);
  assert.deepEqual(pageErrors, []);
  await context.close();
});

test("an isolated page that asks for WebGPU gets the plain worker and WebGPU", async () => {
  const context = await session.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${session.server.url}?backend=webgpu`);
  await waitForServiceWorker(page);
  await page.reload();
  assert.equal(await page.evaluate(() => self.crossOriginIsolated), true);
  await loadDemo(page);
  assert.equal(await page.getByTestId("backend").innerText(), "webgpu");
  assert.equal(await page.getByTestId("threads").count(), 0);
  await context.close();
});

test("a model named in the address (?model=) loads at start with either build", async () => {
  const context = await session.browser.newContext();
  const page = await context.newPage();
  const manifest = `${session.server.url}models/demo/manifest.json`;
  // The start-up load is asked for while the page is still choosing its worker.
  for (const isolated of [false, true]) {
    await page.goto(`${session.server.url}?backend=cpu&model=${encodeURIComponent(manifest)}`);
    assert.equal(await page.evaluate(() => self.crossOriginIsolated), isolated);
    await page.waitForSelector('[data-testid="model-status"][data-state="ready"]', { state: "attached", timeout: 600_000 });
    assert.equal(await page.getByTestId("threads-note").count(), isolated ? 0 : 1);
    assert.equal(await analyse(page, IMAGE), "done");
    assertCliNumbers(await pageProbabilities(page), isolated ? "threaded worker" : "plain worker");
    if (!isolated) await waitForServiceWorker(page);
  }
  await context.close();
});
