// Window/level and the pixel probe on a real 15-bit DICOM radiograph (RG1
// of the DICOM WG04 set, MONOCHROME1), and pinch zoom on a touch screen.
// The viewer redraws from the file's full-depth values, not the 8-bit
// preview: pixels that one 8-bit level held apart come apart under a
// narrow window. The probe reads pydicom's stored values at the pixel
// under the pointer, rescaled as pydicom reads the file. Neither changes
// the analysis. The sample and its reference come from
// scripts/fetch-dicom-samples (pydicom-data, pydicom 3.0.2).

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { pageSession, loadDemo, pageProbabilities, dropFiles, ROOT, FIXTURES, keepPixels, misplacedPixels } from "./harness.mjs";

const SAMPLES = join(ROOT, "target/dicom-samples");
const NAME = "RG1_UNCR.dcm";

const session = pageSession();

before(() => {
  assert.ok(existsSync(join(SAMPLES, "reference/index.json")), "run scripts/fetch-dicom-samples (scripts/test does)");
});

function reference() {
  const index = JSON.parse(readFileSync(join(SAMPLES, "reference/index.json"), "utf8"));
  const sample = index.samples.find((s) => s.file === NAME);
  const raw = readFileSync(join(SAMPLES, `reference/${NAME}.stored.i32`));
  const stored = new Int32Array(raw.buffer, raw.byteOffset, raw.length / 4);
  return { sample, stored };
}

/** The viewer's red channel (the image is grey) summarised in the page: megapixel canvases are slow to copy out. */
const viewerValues = (page) =>
  page.$eval('[data-testid="viewer"]', (c) => {
    const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let [min, max] = [255, 0];
    for (let p = 0; p < data.length; p += 4) [min, max] = [Math.min(min, data[p]), Math.max(max, data[p])];
    return { min, max };
  });

/** The viewer's values now at the pixels that shared pixel `i`'s value in the kept picture `name`. */
const nowAtKeptLevel = (page, name, i) =>
  page.$eval('[data-testid="viewer"]', (c, { name, i }) => {
    const kept = window.__keptPixels[name].data;
    const now = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    const values = [];
    for (let p = 0; p < kept.length; p += 4) if (kept[p] === kept[i]) values.push(now[p]);
    return values;
  }, { name, i });

async function viewerBox(page) {
  await page.getByTestId("viewer").scrollIntoViewIfNeeded();
  const box = await page.getByTestId("viewer").boundingBox();
  const size = await page.$eval('[data-testid="viewer"]', (c) => [c.width, c.height]);
  return { ...box, canvasWidth: size[0], canvasHeight: size[1] };
}

/** Moves the mouse over the centre of preview pixel (px, py) at zoom 1 and reads the probe. */
async function probeAt(page, box, px, py) {
  const before = await page.$eval('[data-testid="viewer-probe"]', (p) => p.textContent);
  await page.mouse.move(
    box.x + ((px + 0.5) * box.width) / box.canvasWidth,
    box.y + ((py + 0.5) * box.height) / box.canvasHeight,
  );
  await page.waitForFunction((before) => document.querySelector('[data-testid="viewer-probe"]').textContent !== before, before);
  return page.$eval('[data-testid="viewer-probe"]', (p) => ({ ...p.dataset, text: p.textContent }));
}

// Tall enough that the whole viewer is on screen, where the pointer can reach it.
const VIEWPORT = { viewport: { width: 1280, height: 1600 } };

async function setWindow(page, level, width) {
  await page.getByTestId("viewer-level").fill(String(level));
  await page.getByTestId("viewer-level").press("Enter");
  await page.getByTestId("viewer-width").fill(String(width));
  await page.getByTestId("viewer-width").press("Enter");
  await page.waitForSelector(`[data-testid="viewer"][data-window="${level},${width}"]`);
}

test("window/level redraws a 16-bit DICOM from its stored values; the probe reads them; the analysis stays", async () => {
  const { sample, stored } = reference();
  const page = await session.browser.newPage(VIEWPORT);
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  await page.goto(`${session.server.url}?backend=cpu`);
  await loadDemo(page);
  await dropFiles(page, '[data-testid="image-drop"]', [{ name: NAME, bytes: readFileSync(join(SAMPLES, "files", NAME)) }]);
  await page.waitForSelector('[data-testid="analysis-status"][data-state="done"]', { timeout: 600_000 });
  const run = await page.getByTestId("analysis-status").getAttribute("data-run");
  const probabilities = await pageProbabilities(page);

  // As analysed, the fields show the file's own window (pydicom's reading).
  const [fileCenter, fileWidth] = sample.windows[0];
  assert.equal(Number(await page.getByTestId("viewer-level").inputValue()), fileCenter);
  assert.equal(Number(await page.getByTestId("viewer-width").inputValue()), fileWidth);
  const presets = await page.$$eval('[data-testid="viewer-window-preset"] option', (o) => o.map((x) => x.textContent));
  assert.deepEqual(presets.slice(0, 3), ["As analysed", "File window 1", "Full range"]);
  await keepPixels(page, '[data-testid="viewer"]', "asAnalysed");

  // The probe: the stored value under the pointer is pydicom's, at the
  // image pixel that preview pixel starts in; the modality value is rescaled.
  const box = await viewerBox(page);
  const { columns, rows } = sample;
  assert.deepEqual([box.canvasWidth, box.canvasHeight], [964, 1024], "RG1 (1841x1955) fits the 1024 preview");
  let probed;
  for (const [px, py] of [[20, 20], [482, 512], [800, 200], [962, 1022], [240, 760]]) {
    probed = await probeAt(page, box, px, py);
    // An image pixel within that preview pixel's footprint (the pointer's
    // position reaches the page rounded to a fraction of a CSS pixel).
    const [x, y] = [Number(probed.x), Number(probed.y)];
    const within = (v, p, size, preview) => v >= Math.floor((p * size) / preview) && v < Math.ceil(((p + 1) * size) / preview);
    assert.ok(within(x, px, columns, box.canvasWidth) && within(y, py, rows, box.canvasHeight), `${x},${y} under preview pixel ${px},${py}`);
    const value = stored[y * columns + x];
    assert.equal(Number(probed.stored), value, `stored value at ${x},${y}`);
    assert.equal(Number(probed.modality), value * sample.rescale_slope + sample.rescale_intercept);
    assert.match(probed.text, new RegExp(`x ${x}, y ${y}: stored ${value}, modality`));
  }

  // A narrow window about the probed value: the display changes, and
  // pixels one 8-bit level could not tell apart now differ.
  const level = Number(probed.stored);
  await setWindow(page, level, 400);
  assert.ok(await misplacedPixels(page, '[data-testid="viewer"]', "asAnalysed") > 0, "the displayed values change");
  const i = (760 * box.canvasWidth + 240) * 4;
  const sameLevel = await nowAtKeptLevel(page, "asAnalysed", i);
  const apart = new Set(sameLevel).size;
  console.log(`# ${sameLevel.length} pixels at one 8-bit level show ${apart} levels under window ${level}/400`);
  assert.ok(apart > 8, `full depth: pixels of one 8-bit level spread over ${apart} levels`);

  // Windows below and above every value: MONOCHROME1, so all black, then all white.
  await setWindow(page, sample.stored_min - 10, 1);
  assert.deepEqual(await viewerValues(page), { min: 0, max: 0 }, "all above the window: black (inverted)");
  await setWindow(page, sample.stored_max + 10, 1);
  assert.deepEqual(await viewerValues(page), { min: 255, max: 255 }, "all below the window: white (inverted)");

  // Presets: the full range, then back to the picture as analysed.
  await page.getByTestId("viewer-window-preset").selectOption({ label: "Full range" });
  const range = [sample.stored_min, sample.stored_max].map((v) => v * sample.rescale_slope + sample.rescale_intercept);
  await page.waitForSelector(`[data-testid="viewer"][data-window="${(range[0] + range[1]) / 2},${range[1] - range[0]}"]`);
  await page.getByTestId("viewer-window-preset").selectOption({ label: "As analysed" });
  await page.waitForSelector('[data-testid="viewer"][data-window=""]');
  assert.equal(await misplacedPixels(page, '[data-testid="viewer"]', "asAnalysed"), 0, "as analysed again");

  // Drag in window mode: right widens the window, the level stays.
  await page.getByTestId("viewer-drag-window").click();
  assert.equal(await page.getByTestId("viewer-drag-window").getAttribute("aria-pressed"), "true");
  const start = [box.x + box.width / 2, box.y + box.height / 2];
  await page.mouse.move(...start);
  await page.mouse.down();
  await page.mouse.move(start[0] + 60, start[1], { steps: 4 });
  await page.mouse.up();
  const [dragCenter, dragWidth] = (await page.getByTestId("viewer").getAttribute("data-window")).split(",").map(Number);
  assert.equal(dragCenter, fileCenter);
  assert.ok(dragWidth > fileWidth, `wider after dragging right: ${dragWidth}`);
  assert.equal(await page.getByTestId("viewer").getAttribute("data-zoom"), "1", "no pan or zoom in window mode");

  // Keyboard: W leaves window mode, + zooms, and the probe reads the middle of the view.
  await page.getByTestId("viewer").focus();
  await page.keyboard.press("w");
  assert.equal(await page.getByTestId("viewer-drag-window").getAttribute("aria-pressed"), "false");
  await page.keyboard.press("+");
  const middle = await page.$eval('[data-testid="viewer-probe"]', (p) => ({ ...p.dataset }));
  assert.equal(Number(middle.stored), stored[Number(middle.y) * columns + Number(middle.x)]);

  // Nothing of this touched the analysis.
  assert.equal(await page.getByTestId("analysis-status").getAttribute("data-run"), run, "no new analysis");
  assert.deepEqual(await pageProbabilities(page), probabilities);
  assert.deepEqual(pageErrors, []);
  await page.close();
});

test("a 16-bit PNG gets window/level from its samples; pinch zooms on a touch screen", async () => {
  const context = await session.browser.newContext({ hasTouch: true, ...VIEWPORT });
  const page = await context.newPage();
  await page.goto(`${session.server.url}?backend=cpu`);
  await page.getByTestId("image-input").setInputFiles(join(FIXTURES, "xray_grey16.png"));
  await page.waitForSelector('[data-testid="viewer-window-preset"]');
  // The model's mapping of 16-bit samples (the whole 0..65535 scale) is the window as analysed.
  assert.equal(Number(await page.getByTestId("viewer-width").inputValue()), 65535);
  const box = await viewerBox(page);
  const probed = await probeAt(page, box, 50, 60);
  assert.match(probed.text, /: value \d+ \(16-bit\)$/);

  // Two fingers moving apart about the middle: the view zooms in about it.
  const cdp = await context.newCDPSession(page);
  const [cx, cy] = [box.x + box.width / 2, box.y + box.height / 2];
  const touch = (type, spread) =>
    cdp.send("Input.dispatchTouchEvent", {
      type,
      touchPoints: type === "touchEnd" ? [] : [
        { x: cx - spread, y: cy, id: 1 },
        { x: cx + spread, y: cy, id: 2 },
      ],
    });
  await touch("touchStart", 20);
  for (const spread of [30, 40, 50, 60, 70, 80]) await touch("touchMove", spread);
  await touch("touchEnd", 0);
  const zoom = Number(await page.getByTestId("viewer").getAttribute("data-zoom"));
  assert.ok(zoom > 3 && zoom < 5, `fingers four times as far apart zoom about 4x: ${zoom}`);
  // About the middle: the image point under the fingers' midpoint stays there.
  const [x, y] = ["data-x", "data-y"].map(async (a) => Number(await page.getByTestId("viewer").getAttribute(a)));
  const middle = box.canvasWidth / 2;
  assert.ok(Math.abs((middle - (await x)) / zoom - middle) <= 2, "horizontal midpoint kept");
  assert.ok(Math.abs((box.canvasHeight / 2 - (await y)) / zoom - box.canvasHeight / 2) <= 2, "vertical midpoint kept");
  await context.close();
});
