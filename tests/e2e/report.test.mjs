// The printable report: after an analysis with heat maps, the print style
// shows the image, its overlays, the probability table, what produced them
// and the disclaimer on one page, and none of the page's controls.

import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { pageSession, loadDemo, analyse, FIXTURES } from "./harness.mjs";

const session = pageSession();

test("the printed report is one page holding the image, its heat maps, the table, the provenance and the disclaimer", async () => {
  const page = await session.browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${session.server.url}?backend=cpu`);
  const print = page.getByTestId("print-report");
  assert.equal(await print.isDisabled(), true, "nothing to print before an analysis");
  await loadDemo(page);
  assert.equal(await analyse(page, join(FIXTURES, "xray_grey8.png")), "done");
  // One heat map asked for by hand, so that one is there whatever the findings.
  await page.locator('[data-testid="map-button"]').first().click();
  await page.waitForSelector('[data-testid="heatmap"]');
  assert.equal(await print.isDisabled(), false);

  await page.emulateMedia({ media: "print" });
  const shown = async (selector) => page.locator(selector).first().isVisible();
  assert.ok(await shown('[data-testid="report-details"]'), "what produced the numbers");
  assert.ok(await shown('[data-testid="heatmap"]'), "the heat maps");
  assert.ok(await shown('[data-testid="probability"]'), "the probability table");
  assert.ok(await shown(".disclaimer"), "the disclaimer");
  assert.ok(await shown("#image-canvas, .drop-zone canvas"), "the image");
  for (const hidden of ['[data-testid="batch-drop"]', '[data-testid="load-demo"]', '[data-testid="threshold"]', '[data-testid="privacy"]', "button"]) {
    assert.equal(await shown(hidden), false, `${hidden} is not printed`);
  }
  const details = Object.fromEntries(await page.$$eval('[data-testid="report-details"] dt', (terms) =>
    terms.map((dt) => [dt.textContent, dt.nextElementSibling.textContent])));
  assert.equal(details.Image, "xray_grey8.png");
  assert.match(details.Model, /3 members, cpu/);
  assert.match(details["Patient metadata"], /^male, age 50, /);
  assert.match(details.Input, /^384x384 px/);

  const pdf = await page.pdf({ preferCSSPageSize: true, printBackground: true });
  const pages = pdf.toString("latin1").match(/\/Type\s*\/Page[^s]/g) ?? [];
  assert.equal(pages.length, 1, "the report fits on one page");
  await page.close();
});
