// The page end to end in Debian's headless Chromium, once per backend: load
// the demo, analyse real-size PNG and JPEG radiographs, compare every
// probability with the native CLI, recover from bad files, and make no
// network request while analysing.

import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  pageSession, cliJson, cliProbabilities, loadDemo, analyse, pageProbabilities, waitForServiceWorker, requestsBesidesUpdateCheck, FIXTURES, openPage,
} from "./harness.mjs";

const session = pageSession();
const scratch = mkdtempSync(join(tmpdir(), "chexlens-e2e-"));

function assertClose(page, cli, where) {
  const labels = Object.keys(cli);
  assert.equal(labels.length, 14);
  assert.deepEqual(Object.keys(page).sort(), [...labels].sort(), `${where}: all 14 labels on the page`);
  for (const label of labels) {
    const diff = Math.abs(page[label] - cli[label]);
    assert.ok(diff <= 1e-4, `${where} ${label}: page ${page[label]} vs CLI ${cli[label]} (diff ${diff})`);
  }
}

// The CPU backend runs the demo's three members in three member workers, or
// all in the model worker (?workers=1); WebGPU always in the model worker.
const ENGINES = [
  { backend: "cpu", workers: 3 },
  { backend: "cpu", workers: 1 },
  { backend: "webgpu", workers: 1 },
];

for (const { backend, workers } of ENGINES) {
  test(`analysis on ${backend} in ${workers} worker(s) equals the CLI and uploads nothing`, async () => {
    const context = await session.browser.newContext();
    const { page, pageErrors } = await openPage(context, `${session.server.url}?backend=${backend}&workers=${workers}`);
    // On a first visit the service worker fetches the app's own files once, in
    // the background; the claim under test is about analysis, after that.
    await waitForServiceWorker(page);
    const started = Date.now();
    await loadDemo(page);
    const loadSeconds = (Date.now() - started) / 1000;
    assert.equal(await page.getByTestId("backend").textContent(), backend);
    const shown = await page.getByTestId("workers").count() ? Number(await page.getByTestId("workers").textContent()) : 1;
    assert.equal(shown, workers, "the members run in the workers asked for");

    // From here on nothing may be fetched: record the browser's and the server's view.
    const browserRequests = [];
    context.on("request", (r) => browserRequests.push(r.url()));
    const served = session.server.requests.length;

    for (const image of ["xray_grey8.png", "xray_grey.jpg"]) {
      const t0 = Date.now();
      assert.equal(await analyse(page, join(FIXTURES, image)), "done", `${image} analysed`);
      const seconds = (Date.now() - t0) / 1000;
      assertClose(await pageProbabilities(page), cliProbabilities(join(FIXTURES, image)), `${backend} ${image}`);
      console.log(`# ${backend}, ${workers} worker(s): ${image} analysed in ${seconds.toFixed(1)} s (model load ${loadSeconds.toFixed(1)} s)`);
    }
    const findings = await page.getByTestId("finding").count();
    const cli = cliProbabilities(join(FIXTURES, "xray_grey.jpg"));
    assert.equal(findings, Object.values(cli).filter((p) => p >= 0.55).length, "findings at the default 0.55");

    // A file that is not an image: a clear message, and the next good file still works.
    const bogus = join(scratch, "not-an-xray.png");
    writeFileSync(bogus, "this is a text file, not a PNG");
    assert.equal(await analyse(page, bogus), "error");
    const message = await page.getByTestId("error").textContent();
    assert.match(message, /not-an-xray\.png: not a PNG, JPEG or DICOM image/);
    assert.doesNotMatch(message, /panicked|\.rs:|wasm-function|RuntimeError/);
    assert.equal(await analyse(page, join(FIXTURES, "xray_rgb.png")), "done");
    assertClose(await pageProbabilities(page), cliProbabilities(join(FIXTURES, "xray_rgb.png")), `${backend} after a bad file`);
    if (workers > 1) {
      // Heat maps come from every member worker, combined as the CLI does.
      await page.getByTestId("threshold").fill("0");
      const cli = cliJson(join(FIXTURES, "xray_rgb.png"), ["--threshold", "0"]);
      const maps = await heatmaps(page, 14);
      for (const finding of cli.findings) {
        const expected = finding.cam.flat();
        const diff = Math.max(...maps[finding.label].values.map((v, i) => Math.abs(v - expected[i])));
        assert.ok(diff <= 1e-3, `${finding.label}: map from the member workers differs from the CLI's by ${diff}`);
      }
    }

    assert.deepEqual(browserRequests, [], "no request while analysing");
    assert.deepEqual(requestsBesidesUpdateCheck(session.server, served), [], "the server saw no request while analysing");
    assert.deepEqual(pageErrors, []);
    await context.close();
  });
}

test("threshold slider re-filters without a new analysis", async () => {
  const context = await session.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${session.server.url}?backend=cpu`);
  await loadDemo(page);
  await analyse(page, join(FIXTURES, "xray_grey8.png"));
  const run = await page.getByTestId("analysis-status").getAttribute("data-run");
  const probabilities = Object.values(await pageProbabilities(page));
  for (const t of [0.0, 0.5, 0.62, 1.0]) {
    await page.getByTestId("threshold").fill(String(t));
    const expected = probabilities.filter((p) => p >= t).length;
    assert.equal(await page.getByTestId("finding").count(), expected, `findings at threshold ${t}`);
  }
  assert.equal(await page.getByTestId("analysis-status").getAttribute("data-run"), run, "no new analysis");
  await context.close();
});

test("metadata changes re-run the analysis with the CLI's numbers", async () => {
  const context = await session.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${session.server.url}?backend=cpu`);
  await loadDemo(page);
  const image = join(FIXTURES, "xray_grey8.png");
  await analyse(page, image);
  const status = page.getByTestId("analysis-status");
  const before = Number(await status.getAttribute("data-run"));
  await page.getByTestId("sex").selectOption("female");
  await page.waitForFunction((b) => {
    const el = document.querySelector('[data-testid="analysis-status"]');
    return Number(el.getAttribute("data-run")) > b && el.getAttribute("data-state") === "done";
  }, before);
  assertClose(await pageProbabilities(page), cliProbabilities(image, ["--sex", "female"]), "female");
  await context.close();
});

test("corrupt weights give a plain message and the page recovers", async () => {
  const context = await session.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${session.server.url}?backend=cpu`);
  await page.getByTestId("model-input").setInputFiles(join(FIXTURES, "bad_os_system.pth"));
  await page.waitForSelector('[data-testid="model-status"][data-state="error"]');
  assert.match(await page.getByTestId("error").textContent(), /bad_os_system\.pth: .*posix\.system.* not allowed/);
  // Two files: each goes to its own member worker, and the bad one's message still reaches the page.
  await page.getByTestId("model-input").setInputFiles([join(FIXTURES, "tiny_m0.safetensors"), join(FIXTURES, "bad_nan.pth")]);
  // The status is still "error" from the first file: wait for the new message.
  await page.waitForFunction(() => /bad_nan/.test(document.querySelector('[data-testid="error"]')?.textContent ?? ""));
  assert.equal(await page.getByTestId("model-status").getAttribute("data-state"), "error");
  const message = await page.getByTestId("error").textContent();
  assert.match(message, /bad_nan\.pth: .*non-finite values/);
  assert.doesNotMatch(message, /panicked|\.rs:|wasm-function|RuntimeError/);
  await page.getByTestId("model-input").setInputFiles([join(FIXTURES, "tiny_m0.safetensors"), join(FIXTURES, "tiny_m2.pth")]);
  await page.waitForSelector('[data-testid="model-status"][data-state="ready"]');
  assert.equal(await analyse(page, join(FIXTURES, "xray_grey16.png")), "done");
  await context.close();
});

/** Each finding's heat map on the page: its label, shape and values. */
async function heatmaps(page, count) {
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="heatmap"]').length >= n, count, { timeout: 600_000 });
  return page.$$eval('[data-testid="heatmap"]', (canvases) =>
    Object.fromEntries(canvases.map((c) => [c.dataset.label, {
      shape: c.dataset.shape, values: c.dataset.values.split(",").map(Number), drawn: c.width > 1 && c.height > 1,
    }])),
  );
}

test("every finding gets a heat map, the same on webgpu and cpu and as the CLI's", async () => {
  const image = join(FIXTURES, "xray_grey8.png");
  const cli = cliJson(image);
  const expected = Object.fromEntries(cli.findings.map((f) => [f.label, f.cam.flat()]));
  assert.ok(cli.findings.length > 0, "the fixture has findings at 0.55");
  const maps = {};
  for (const backend of ["cpu", "webgpu"]) {
    const context = await session.browser.newContext();
    const page = await context.newPage();
    await page.goto(`${session.server.url}?backend=${backend}`);
    await loadDemo(page);
    if (backend === "cpu") {
      // By default the CPU backend gives each member a worker wherever there
      // are several cores and (where the browser says) 8 GB of memory.
      const { cores, memory } = await page.evaluate(() => ({ cores: navigator.hardwareConcurrency, memory: navigator.deviceMemory }));
      const shown = await page.getByTestId("workers").count() ? Number(await page.getByTestId("workers").textContent()) : 1;
      assert.equal(shown, cores > 1 && (memory === undefined || memory >= 8) ? 3 : 1, `${cores} cores, ${memory} GB`);
    }
    await analyse(page, image);
    maps[backend] = await heatmaps(page, cli.findings.length);
    assert.deepEqual(Object.keys(maps[backend]).sort(), Object.keys(expected).sort(), `${backend}: one map per finding`);
    for (const [label, map] of Object.entries(maps[backend])) {
      assert.equal(map.shape, "12x12");
      assert.ok(map.drawn, `${backend} ${label}: drawn on its canvas`);
      const diff = Math.max(...map.values.map((v, i) => Math.abs(v - expected[label][i])));
      assert.ok(diff <= 1e-3, `${backend} ${label}: map differs from the CLI's by ${diff}`);
    }
    await context.close();
  }
  for (const label of Object.keys(expected)) {
    const diff = Math.max(...maps.cpu[label].values.map((v, i) => Math.abs(v - maps.webgpu[label].values[i])));
    assert.ok(diff <= 1e-3, `${label}: webgpu and cpu maps differ by ${diff}`);
  }
});
