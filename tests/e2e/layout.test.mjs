// The viewer-first page: the X-ray fills the first screen (whole at
// 1280x800, at least 900 px tall at 1920x1080), and selecting a finding
// (a click on its row, the arrow keys in the list, or its map in the
// strip) lays its heat map over the image in the viewer, pixel for pixel
// the map's own figure (the registration viewer.test.mjs checks under zoom
// and pan).

import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { pageSession, loadDemo, analyse, keepPixels, misplacedPixels, FIXTURES } from "./harness.mjs";

const session = pageSession();
const IMAGE = join(FIXTURES, "xray_grey8.png");

async function analysedAt(viewport) {
  const context = await session.browser.newContext({ viewport });
  const page = await context.newPage();
  await page.goto(`${session.server.url}?backend=cpu`);
  await loadDemo(page);
  assert.equal(await analyse(page, IMAGE), "done");
  await page.evaluate(() => window.scrollTo(0, 0));
  return { context, page };
}

for (const [width, height, tall] of [[1280, 800, 0], [1920, 1080, 900]]) {
  test(`at ${width}x${height} the whole X-ray is on the first screen${tall ? `, ${tall} px tall or more` : ""}`, async () => {
    const { context, page } = await analysedAt({ width, height });
    const box = await page.getByTestId("viewer").boundingBox();
    assert.equal(await page.evaluate(() => window.scrollY), 0);
    assert.ok(box.y >= 0 && box.y + box.height <= height, `the viewer spans ${box.y} to ${box.y + box.height} of ${height}`);
    assert.ok(box.height >= tall, `the viewer is ${box.height} px tall`);
    // The image is whole in it: fitted, not cut.
    assert.equal(await page.getByTestId("viewer").getAttribute("data-zoom"), "1");
    await context.close();
  });
}

test("selecting a finding lays its map over the image, registered as its figure; arrows and the map strip do the same", async () => {
  const { context, page } = await analysedAt({ width: 1280, height: 800 });
  const viewerMatchesFigure = async (label) => {
    await page.waitForSelector(`[data-testid="heatmap"][data-label="${label}"]`, { timeout: 600_000 });
    await page.waitForFunction(
      (label) => document.querySelector('[data-testid="viewer-overlay"]').selectedOptions[0]?.textContent === label, label,
    );
    await keepPixels(page, `[data-testid="heatmap"][data-label="${label}"]`, label);
    assert.equal(await misplacedPixels(page, '[data-testid="viewer"]', label), 0, `${label}: the viewer's overlay is the figure's`);
  };
  const rows = page.getByTestId("probability");
  const labelOf = async (n) => rows.nth(n).getAttribute("data-label");

  // A click on the second row: its map is made and lies over the image.
  await rows.nth(1).click();
  await viewerMatchesFigure(await labelOf(1));
  assert.equal(await rows.nth(1).getAttribute("aria-current"), "true");

  // The arrow keys move the selection down the list, from the keyboard alone.
  await rows.nth(1).focus();
  await page.keyboard.press("ArrowDown");
  await page.keyboard.press("ArrowDown");
  const third = await labelOf(3);
  assert.equal(await page.evaluate(() => document.activeElement.dataset.label), third);
  await viewerMatchesFigure(third);

  // The strip: a map's thumbnail puts it on the image.
  const first = await labelOf(1);
  await page.locator(`[data-testid="heatmap-figure"][data-label="${first}"] .map-thumb`).click();
  await viewerMatchesFigure(first);
  await context.close();
});
