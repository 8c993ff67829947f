// The viewer: zoom and pan move the image and its heat-map overlay together
// (and 1:1 shows one image pixel per CSS pixel)
// (checked pixel by pixel against the unzoomed picture, which equals the
// heat-map figure's), holding H hides the overlay without changing its
// opacity, invert inverts the image, and none of it changes the analysis.

import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { pageSession, loadDemo, analyse, pageProbabilities, keepPixels, misplacedPixels, FIXTURES } from "./harness.mjs";

const session = pageSession();

async function viewState(page) {
  const v = page.getByTestId("viewer");
  return {
    zoom: Number(await v.getAttribute("data-zoom")),
    x: Number(await v.getAttribute("data-x")),
    y: Number(await v.getAttribute("data-y")),
  };
}

test("zoom and pan keep the overlay on the image; flicker and invert are display only", async () => {
  const context = await session.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${session.server.url}?backend=cpu`);
  await loadDemo(page);
  assert.equal(await analyse(page, join(FIXTURES, "xray_grey8.png")), "done");
  const before = await pageProbabilities(page);
  const run = await page.getByTestId("analysis-status").getAttribute("data-run");
  await page.waitForSelector('[data-testid="heatmap"]', { timeout: 600_000 });

  // The first map's label as the overlay: at zoom 1 the viewer is the heat-map figure.
  await page.getByTestId("viewer-overlay").selectOption({ index: 1 });
  const label = await page.$eval('[data-testid="viewer-overlay"]', (s) => s.selectedOptions[0].textContent);
  const { width, height } = await page.$eval('[data-testid="viewer"]', (c) => ({ width: c.width, height: c.height }));
  await keepPixels(page, '[data-testid="viewer"]', "composite");
  await keepPixels(page, `[data-testid="heatmap"][data-label="${label}"]`, "figure");
  assert.equal(await misplacedPixels(page, '[data-testid="viewer"]', "figure"), 0, "the viewer's overlay is the figure's");
  await keepPixels(page, ".drop-zone canvas[hidden]", "plain");
  assert.ok(await misplacedPixels(page, '[data-testid="viewer"]', "plain") > 0, "the overlay shows");

  // Zoom in twice (x4) and pan with the keyboard: every pixel is the picture's, moved.
  await page.getByTestId("viewer-zoom-in").click();
  await page.getByTestId("viewer-zoom-in").click();
  await page.getByTestId("viewer").focus();
  for (const key of ["ArrowRight", "ArrowRight", "ArrowRight", "ArrowDown", "ArrowDown"]) await page.keyboard.press(key);
  const view = await viewState(page);
  assert.equal(view.zoom, 4);
  assert.ok(view.x !== (width - width * 4) / 2 || view.y !== (height - height * 4) / 2, `the arrows moved the view: ${JSON.stringify(view)}`);
  assert.equal(await misplacedPixels(page, '[data-testid="viewer"]', "composite", view), 0);

  // Wheel zoom about the pointer, then a drag: still registered.
  const box = await page.getByTestId("viewer").boundingBox();
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.6);
  await page.mouse.wheel(0, 100);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.4, box.y + box.height * 0.5, { steps: 4 });
  await page.mouse.up();
  const moved = await viewState(page);
  assert.equal(moved.zoom, 2);
  assert.equal(await misplacedPixels(page, '[data-testid="viewer"]', "composite", moved), 0);

  // Holding H shows the plain image; letting go brings the overlay back at the same opacity.
  await page.keyboard.down("h");
  await page.waitForSelector('[data-testid="viewer"][data-overlay-hidden="true"]');
  assert.equal(await misplacedPixels(page, '[data-testid="viewer"]', "plain", moved), 0);
  await page.keyboard.up("h");
  await page.waitForSelector('[data-testid="viewer"][data-overlay-hidden="false"]');
  assert.equal(await page.getByTestId("viewer-opacity").inputValue(), "0.5");
  assert.equal(await misplacedPixels(page, '[data-testid="viewer"]', "composite", moved), 0);

  // 1:1: one pixel of the 1600 px wide image per CSS pixel.
  await page.getByTestId("viewer-actual").click();
  const clientWidth = await page.$eval('[data-testid="viewer"]', (c) => c.clientWidth);
  assert.ok(Math.abs((await viewState(page)).zoom - 1600 / clientWidth) < 1e-9, JSON.stringify(await viewState(page)));

  // Fit, no overlay, invert: the image's complement.
  await page.getByTestId("viewer-fit").click();
  await page.getByTestId("viewer-overlay").selectOption({ index: 0 });
  await page.getByTestId("viewer-invert").check();
  assert.equal(await misplacedPixels(page, '[data-testid="viewer"]', "plain", undefined, true), 0, "the image's complement");

  // Display only: the analysis is the same one, with the same numbers.
  assert.equal(await page.getByTestId("analysis-status").getAttribute("data-run"), run);
  assert.deepEqual(await pageProbabilities(page), before);
  await context.close();
});
