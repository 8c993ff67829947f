// Screenshots of the real page for a person to check by eye (not a test):
// 1280x800, 1920x1080 and a phone's 390x844; each empty, with the demo
// model loaded, analysed with a finding selected (its map on the image),
// and with a batch table. The first screen of each, as a reader sees it;
// and the heat maps' panel on its own (Layer-CAM at stages_2, a map's
// faithfulness measured).
// Writes PNGs into the folder given (default target/screenshots).
//
//   node tests/e2e/screenshots.mjs [DIR]

import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { serveDist, launchChromium, loadDemo, openPanel, FIXTURES, ROOT } from "./harness.mjs";

const out = resolve(process.argv[2] ?? join(ROOT, "target/screenshots"));
mkdirSync(out, { recursive: true });
const server = await serveDist();
const browser = await launchChromium();
const sizes = [["1280x800", { width: 1280, height: 800 }], ["1920x1080", { width: 1920, height: 1080 }], ["phone", { width: 390, height: 844 }]];
for (const [name, viewport] of sizes) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const shot = (state) => page.screenshot({ path: join(out, `${name}-${state}.png`) });
  await page.goto(`${server.url}?backend=cpu`);
  await page.waitForSelector('[data-testid="load-demo"]', { state: "attached" });
  await shot("empty");
  await loadDemo(page);
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot("model");
  await page.getByTestId("image-input").setInputFiles(join(FIXTURES, "xray_grey.jpg"));
  await page.waitForSelector('[data-testid="analysis-status"][data-state="done"]', { state: "attached", timeout: 600_000 });
  // The second most probable finding, selected as a reader clicks it.
  await page.locator('[data-testid="probability"]').nth(1).click();
  await page.waitForSelector('[data-testid="heatmap-figure"].selected', { timeout: 600_000 });
  await page.waitForTimeout(300);
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot("analysed-finding-selected");
  // The heat maps' panel with another method and layer, and one map's faithfulness.
  await page.getByLabel("Layer", { exact: true }).selectOption("stages_2");
  await page.getByLabel("Method", { exact: true }).selectOption("layercam");
  const figure = page.locator('[data-testid="heatmap-figure"].selected');
  await figure.getByTestId("faithfulness-button").click({ timeout: 600_000 });
  await figure.getByTestId("faithfulness").waitFor({ timeout: 600_000 });
  const panel = page.locator(".panel", { has: page.getByTestId("cam-method") });
  await panel.scrollIntoViewIfNeeded();
  await panel.screenshot({ path: join(out, `${name}-heat-maps-panel.png`) });
  await openPanel(page, "batch-panel");
  await page.getByTestId("batch-input").setInputFiles([join(FIXTURES, "xray_grey8.png"), join(FIXTURES, "xray_rgb.png")]);
  await page.waitForSelector('[data-testid="batch-status"][data-done="2"][data-running="false"]', { timeout: 300_000 });
  await page.getByTestId("batch-table").scrollIntoViewIfNeeded();
  await shot("batch");
  await context.close();
}
await browser.close();
await server.close();
console.log(`screenshots in ${out}`);
