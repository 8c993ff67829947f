// axe-core (npm, pinned) audits the real page in Chromium: empty, after the
// demo model's analysis with all 14 heat maps, with each member's maps, the
// metadata sensitivity table, the Hub form and a viewer overlay open, and
// with a batch table. No
// violation of impact serious or critical may remain; every violation found
// is printed, whatever its impact.

import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { pageSession, loadDemo, audit, openPanel, FIXTURES } from "./harness.mjs";

const session = pageSession();

test("axe finds no serious or critical violation: empty, analysed with heat maps, with the ensemble's panels, with a batch table", async () => {
  // axe is injected as a script, which the page's CSP forbids: this context
  // alone bypasses the CSP, for the audit.
  const context = await session.browser.newContext({ bypassCSP: true });
  const page = await context.newPage();
  await page.goto(`${session.server.url}?backend=cpu`);
  await page.waitForSelector('[data-testid="load-demo"]');
  await audit(page, "empty page");

  await loadDemo(page);
  await page.getByTestId("image-input").setInputFiles(join(FIXTURES, "xray_grey.jpg"));
  await page.waitForSelector('[data-testid="analysis-status"][data-state="done"]', { timeout: 600_000 });
  await page.getByTestId("threshold").fill("0");
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="heatmap"]').length >= 14, null, { timeout: 600_000 });
  await audit(page, "analysed, 14 heat maps");

  // Each member's maps, the metadata sensitivity table, the Hub form open, an overlay in the viewer.
  await page.getByTestId("member-maps-button").first().click();
  await page.waitForSelector('[data-testid="member-heatmap"]', { timeout: 600_000 });
  await page.getByTestId("sensitivity-button").click();
  await page.waitForSelector('[data-testid="sensitivity"]', { timeout: 600_000 });
  await page.locator("details.hub summary").click();
  await page.getByTestId("viewer-overlay").selectOption({ index: 1 });
  await audit(page, "member maps, sensitivity, Hub form, overlay");

  await page.getByTestId("batch-input").setInputFiles([join(FIXTURES, "xray_grey8.png"), join(FIXTURES, "xray_rgb.png")]);
  await page.waitForSelector('[data-testid="batch-status"][data-done="2"][data-running="false"]', { timeout: 300_000 });
  await audit(page, "batch table");
  await context.close();
});

test("at a phone's width (390x844) nothing is wider than the screen", async () => {
  const context = await session.browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  await page.goto(`${session.server.url}?backend=cpu`);
  await loadDemo(page);
  await page.getByTestId("image-input").setInputFiles(join(FIXTURES, "xray_grey.jpg"));
  await page.waitForSelector('[data-testid="analysis-status"][data-state="done"]', { timeout: 600_000 });
  await page.getByTestId("threshold").fill("0");
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="heatmap"]').length >= 14, null, { timeout: 600_000 });
  await openPanel(page, "batch-panel");
  await page.getByTestId("batch-input").setInputFiles([join(FIXTURES, "xray_grey8.png")]);
  await page.waitForSelector('[data-testid="batch-status"][data-done="1"][data-running="false"]', { timeout: 300_000 });
  await page.getByTestId("sensitivity-button").click();
  await page.waitForSelector('[data-testid="sensitivity"]', { timeout: 600_000 });
  // The model panel folds away on a phone once the model is ready: opened again, as a reader would.
  await openPanel(page, "model-panel");
  await page.locator("details.hub summary").click();
  const overflow = await page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    // The widest elements that stick out, for the message.
    const wide = [...document.querySelectorAll("body *")]
      .filter((el) => el.getBoundingClientRect().right > width + 1)
      .slice(0, 5)
      .map((el) => `${el.tagName.toLowerCase()}.${el.className} (${Math.round(el.getBoundingClientRect().right)} px)`);
    return { scroll: document.documentElement.scrollWidth, width, wide };
  });
  assert.ok(overflow.scroll <= overflow.width, `the page is ${overflow.scroll} px wide on a ${overflow.width} px screen: ${overflow.wide.join(", ")}`);
  await context.close();
});
