// Images that are not chest radiographs, in the page: the warning names the
// reason (pydicom's CT sample; scikit-image's coffee photograph), the
// findings are withheld until "Show findings anyway", the distance to the
// demo model's reference radiographs equals the CLI's, and the batch table
// and its CSV export mark the image, and damaged statistics are refused
// with the CLI's message. A damaged JPEG is warned with its damage, in the
// CLI's words. Keyboard and axe stay clean.

import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { pageSession, loadDemo, analyse, audit, cliJson, exportsAsDownloads, FIXTURES, ROOT } from "./harness.mjs";

const session = pageSession();
const CT = join(ROOT, "target/dicom-samples/files/CT_small.dcm");
const PHOTO = join(ROOT, "crates/chexlens-jpeg/tests/fixtures/jpeg/coffee_444_q95.jpg");
const CHEST = join(FIXTURES, "xray_grey8.png");
// A chest radiograph crop whose last scan was cut short before its end
// marker (tools/reference/jpeg_corpus.py); Pillow decodes it, djpeg warns.
const DAMAGED = join(ROOT, "crates/chexlens-jpeg/tests/fixtures/corpus/340_chest_rg1_q100_baseline_cut_tail.jpg");

async function pageDistances(page) {
  const text = await page.getByTestId("typicality").getAttribute("data-distances");
  return text.split(",").map(Number);
}

function assertDistancesClose(onPage, cli, what) {
  assert.equal(onPage.length, cli.length, what);
  onPage.forEach((d, m) => assert.ok(Math.abs(d - cli[m]) <= 1e-4, `${what}, member ${m}: page ${d} vs CLI ${cli[m]}`));
}

async function warningCodes(page) {
  return page.$$eval('[data-testid="warning"]', (items) => items.map((i) => i.dataset.code));
}

test("a CT and a photograph are warned with their reason, withheld until asked for, at the CLI's distance", async () => {
  const context = await session.browser.newContext({ bypassCSP: true });
  const page = await context.newPage();
  await page.goto(`${session.server.url}?backend=cpu`);
  await loadDemo(page);
  assert.match(await page.getByTestId("reference-status").textContent(), /Reference statistics of 7 radiographs/);

  // A chest radiograph: no warning, nothing withheld.
  assert.equal(await analyse(page, CHEST), "done");
  assert.equal(await page.getByTestId("suitability").count(), 0);
  assert.equal(await page.locator(".findings-body.withheld").count(), 0);
  assertDistancesClose(await pageDistances(page), cliJson(CHEST).typicality.distances, "chest radiograph");

  // A CT: the reason, the findings greyed and out of reach, no heat maps made.
  assert.equal(await analyse(page, CT), "done");
  assert.deepEqual(await warningCodes(page), ["not-radiograph"]);
  assert.equal(await page.getByTestId("warning").textContent(), "a CT, not a chest radiograph");
  const body = page.getByTestId("findings-body");
  assert.match(await body.getAttribute("class"), /withheld/);
  assert.equal(await body.evaluate((el) => el.inert), true);
  const cli = cliJson(CT);
  assertDistancesClose(await pageDistances(page), cli.typicality.distances, "CT");
  await page.getByTestId("threshold").fill("0");
  await page.waitForTimeout(500);
  assert.equal(await page.locator('[data-testid="heatmap"]').count(), 0, "no maps for a withheld result");
  await audit(page, "CT withheld");

  // From the keyboard: the choice is a button, and then every map comes.
  await page.getByTestId("show-anyway").focus();
  await page.keyboard.press("Enter");
  await page.waitForSelector('[data-testid="findings-body"]:not(.withheld)');
  assert.equal(await body.evaluate((el) => el.inert), false);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="heatmap"]').length >= 14, null, { timeout: 600_000 });
  assert.equal(await page.getByTestId("warning").textContent(), "a CT, not a chest radiograph", "the warning stays beside the result");
  await audit(page, "CT shown anyway");

  // A photograph: its colour, and its features beyond every reference radiograph's.
  assert.equal(await analyse(page, PHOTO), "done");
  assert.deepEqual(await warningCodes(page), ["colour", "unlike-reference"]);
  assert.match(await body.getAttribute("class"), /withheld/, "a new image is withheld again");
  const photo = cliJson(PHOTO);
  assertDistancesClose(await pageDistances(page), photo.typicality.distances, "photograph");
  const ratio = Number(await page.getByTestId("typicality").getAttribute("data-ratio"));
  assert.ok(Math.abs(ratio - photo.typicality.ratio) <= 1e-4 && ratio > 1, `ratio ${ratio}`);
  await context.close();
});

test("a damaged JPEG is decoded as Pillow decodes it and warned with its damage, in the CLI's words", async () => {
  const context = await session.browser.newContext({ bypassCSP: true });
  const page = await context.newPage();
  await page.goto(`${session.server.url}?backend=cpu`);
  await loadDemo(page);
  assert.equal(await analyse(page, DAMAGED), "done");
  assert.ok((await warningCodes(page)).includes("damaged"), String(await warningCodes(page)));
  const shown = await page.locator('[data-testid="warning"][data-code="damaged"]').textContent();
  const cli = cliJson(DAMAGED);
  assert.equal(shown, cli.warnings.find((w) => w.code === "damaged").message);
  assert.match(shown, /^the file is damaged \(premature end of data segment\)/);
  assert.match(await page.getByTestId("findings-body").getAttribute("class"), /withheld/);
  await audit(page, "damaged JPEG");
  await context.close();
});

test("the batch table and its CSV mark a warned image", async () => {
  const context = await exportsAsDownloads(await session.browser.newContext({ acceptDownloads: true }));
  const page = await context.newPage();
  await page.goto(`${session.server.url}?backend=cpu`);
  await loadDemo(page);
  await page.getByTestId("batch-input").setInputFiles([CHEST, CT]);
  await page.waitForSelector('[data-testid="batch-status"][data-done="2"][data-running="false"]', { timeout: 300_000 });
  const ct = page.locator('[data-testid="batch-row"][data-path="CT_small.dcm"]');
  assert.equal(await ct.getAttribute("data-state"), "warned");
  assert.match(await ct.textContent(), /warning: a CT, not a chest radiograph/);
  assert.equal(await page.locator('[data-testid="batch-row"][data-path="xray_grey8.png"]').getAttribute("data-state"), "done");

  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-csv").click()]);
  const lines = readFileSync(await download.path(), "utf8").trim().split("\n").filter((l) => !l.startsWith("#"));
  assert.ok(lines[0].endsWith(",Warnings"), lines[0]);
  const row = lines.find((l) => l.startsWith("CT_small.dcm,"));
  assert.ok(row.endsWith(",a CT, not a chest radiograph") || row.endsWith(',"a CT, not a chest radiograph"'), row);
  assert.ok(lines.find((l) => l.startsWith("xray_grey8.png,")).endsWith(","), "no warning, an empty cell");
  await context.close();
});

test("a manifest naming damaged reference statistics is refused plainly, and the next model loads", async () => {
  const demo = join(ROOT, "public/models/demo");
  const dir = mkdtempSync(join(tmpdir(), "chexlens-damaged-reference-"));
  const manifest = JSON.parse(readFileSync(join(demo, "manifest.json"), "utf8"));
  // Cut in half: what a broken copy leaves. Named with its own sha256, so
  // that the file itself, not the checksum, is what is refused.
  const damaged = readFileSync(join(demo, manifest.reference_statistics.file)).subarray(0, 20_000);
  writeFileSync(join(dir, "reference.safetensors"), damaged);
  manifest.reference_statistics = { file: "reference.safetensors", sha256: createHash("sha256").update(damaged).digest("hex") };
  // Members by their full path, for the CLI; the page finds picked files by name.
  manifest.members = manifest.members.map((m) => ({ ...m, weights: join(demo, m.weights) }));
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest));

  const cli = spawnSync(join(ROOT, "target/release/chexlens"), ["predict", "--model", join(dir, "manifest.json"), CHEST], { encoding: "utf8" });
  assert.equal(cli.status, 2);
  const refusal = cli.stderr.trim().split("\n").at(-1).replace(/^chexlens: .*reference\.safetensors: /, "");
  assert.match(refusal, /^reference statistics: /, cli.stderr);

  const context = await session.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${session.server.url}?backend=cpu`);
  const files = [join(dir, "manifest.json"), join(dir, "reference.safetensors"), ...manifest.members.map((m) => m.weights)];
  await page.getByTestId("model-input").setInputFiles(files);
  await page.waitForSelector('[data-testid="model-status"][data-state="error"]', { timeout: 120_000 });
  const message = await page.getByTestId("error").textContent();
  assert.ok(message.includes(`reference.safetensors: ${refusal}`), `${message} vs the CLI's ${refusal}`);
  assert.doesNotMatch(message, /panicked|\.rs:|wasm-function|RuntimeError|unreachable/);
  await loadDemo(page);
  assert.equal(await analyse(page, CHEST), "done");
  await context.close();
});
