// Screenshots of the real page for a person to check by eye (not a test):
// desktop 1280x800 and phone 390x844, empty and after the demo's analysis
// with its heat maps. Writes PNGs into the folder given (default
// target/screenshots).
//
//   node tests/e2e/screenshots.mjs [DIR]

import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { serveDist, launchChromium, loadDemo, FIXTURES, ROOT } from "./harness.mjs";

const out = resolve(process.argv[2] ?? join(ROOT, "target/screenshots"));
mkdirSync(out, { recursive: true });
const server = await serveDist();
const browser = await launchChromium();
for (const [name, viewport] of [["desktop", { width: 1280, height: 800 }], ["phone", { width: 390, height: 844 }]]) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  await page.goto(`${server.url}?backend=cpu`);
  await page.waitForSelector('[data-testid="load-demo"]');
  await page.screenshot({ path: join(out, `${name}-empty.png`), fullPage: true });
  await loadDemo(page);
  await page.getByTestId("image-input").setInputFiles(join(FIXTURES, "xray_grey.jpg"));
  await page.waitForSelector('[data-testid="analysis-status"][data-state="done"]', { timeout: 600_000 });
  await page.getByTestId("threshold").fill("0.45");
  await page.waitForSelector('[data-testid="heatmap"]', { timeout: 600_000 });
  await page.waitForTimeout(500);
  await page.screenshot({ path: join(out, `${name}-analysed.png`), fullPage: true });
  await page.screenshot({ path: join(out, `${name}-analysed-first-screen.png`) });
  await context.close();
}
await browser.close();
await server.close();
console.log(`screenshots in ${out}`);
