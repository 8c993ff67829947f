// Many images at once in the page: five radiographs and a CheXpert-format
// labels CSV are picked, the queue runs, and the table, the AUROC table and
// both exports hold the numbers `chexlens evaluate` gives on the same files;
// nothing is requested while the batch runs.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  serveDist, launchChromium, loadDemo, waitForServiceWorker, requestsBesidesUpdateCheck, FIXTURES, DEMO_MANIFEST, ROOT,
} from "./harness.mjs";

const LABELS = [
  "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
  "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture",
  "Support Devices",
];
const IMAGES = ["xray_grey8.png", "xray_rgb.png", "xray_grey.jpg", "resized_xray_rgb.png", "xray_grey16.png"];

let server;
let browser;
const scratch = mkdtempSync(join(tmpdir(), "chexlens-batch-"));

/** A labelled set of the five images: both classes for most labels, some -1 and blanks. */
function writeSet() {
  const values = ["1.0", "0.0", "-1.0", "0.0", "1.0", ""];
  const meta = [["Female", "61", "Frontal", "AP"], ["Male", "45", "Lateral", ""], ["Male", "", "Frontal", "PA"],
    ["Female", "30", "Frontal", "PA"], ["Male", "77", "Frontal", "AP"]];
  const rows = IMAGES.map((image, i) => {
    copyFileSync(join(FIXTURES, image), join(scratch, image));
    const labels = LABELS.map((_, f) => values[(i * 5 + f * 2) % values.length]);
    return [image, ...meta[i], ...labels].join(",");
  });
  const csv = join(scratch, "labels.csv");
  writeFileSync(csv, [`Path,Sex,Age,Frontal/Lateral,AP/PA,${LABELS.join(",")}`, ...rows].join("\n") + "\n");
  return csv;
}

before(async () => {
  server = await serveDist();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

function parseCsv(text) {
  const [header, ...rows] = text.trim().split("\n").map((l) => l.split(","));
  return { header, rows };
}

test("a batch with a labels CSV gives evaluate's numbers in the table, the AUROCs and the exports", async () => {
  const csv = writeSet();
  const predictions = join(scratch, "cli_predictions.csv");
  const cli = JSON.parse(execFileSync(join(ROOT, "target/release/chexlens"), [
    "evaluate", "--labels", csv, "--model", DEMO_MANIFEST, "--predictions", predictions, "--json",
  ], { encoding: "utf8" }));
  const cliRows = new Map(parseCsv(readFileSync(predictions, "utf8")).rows.map(([path, ...p]) => [path, p.map(Number)]));
  assert.equal(cliRows.size, IMAGES.length);

  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  await page.goto(`${server.url}?backend=cpu`);
  await waitForServiceWorker(page);
  await loadDemo(page);

  const browserRequests = [];
  context.on("request", (r) => { if (!r.url().startsWith("data:")) browserRequests.push(r.url()); });
  const served = server.requests.length;

  await page.getByTestId("labels-input").setInputFiles(csv);
  await page.getByTestId("batch-input").setInputFiles(IMAGES.map((i) => join(scratch, i)));
  await page.waitForSelector(`[data-testid="batch-status"][data-done="${IMAGES.length}"][data-running="false"]`, { timeout: 300_000 });
  assert.equal(await page.getByTestId("batch-status").getAttribute("data-failed"), "0");

  // The table: each image's 14 probabilities are the CLI's.
  const table = await page.$$eval('[data-testid="batch-row"]', (rows) => rows.map((r) => ({
    path: r.dataset.path,
    values: Object.fromEntries([...r.querySelectorAll("td[data-label]")].map((td) => [td.dataset.label, Number(td.dataset.value)])),
  })));
  assert.equal(table.length, IMAGES.length);
  for (const { path, values } of table) {
    LABELS.forEach((label, f) => {
      const diff = Math.abs(values[label] - cliRows.get(path)[f]);
      assert.ok(diff <= 1e-4, `${path} ${label}: page ${values[label]} vs CLI ${cliRows.get(path)[f]}`);
    });
  }

  // The AUROC table: the same evaluation code on the same numbers.
  const aurocs = Object.fromEntries(await page.$$eval('[data-testid="auroc"]', (rows) => rows.map((r) => [r.dataset.label, r.dataset.value])));
  let compared = 0;
  for (const report of cli.labels) {
    if (report.auroc === null) {
      assert.equal(aurocs[report.label], "", `${report.label}: no AUROC on either side`);
      continue;
    }
    assert.ok(Math.abs(Number(aurocs[report.label]) - report.auroc) <= 1e-6, `${report.label}: page ${aurocs[report.label]} vs CLI ${report.auroc}`);
    compared += 1;
  }
  assert.ok(compared >= 5, `${compared} labels with both classes compared`);
  const mean = Number(await page.getByTestId("mean-auroc").getAttribute("data-value"));
  assert.ok(Math.abs(mean - cli.mean_auroc) <= 1e-6, `mean AUROC page ${mean} vs CLI ${cli.mean_auroc}`);

  // Exports: the CSV in the CLI's predictions schema, the JSON with provenance.
  const [csvDownload] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-csv").click()]);
  const exported = parseCsv(readFileSync(await csvDownload.path(), "utf8"));
  assert.deepEqual(exported.header, ["Path", ...LABELS]);
  for (const [path, ...p] of exported.rows) {
    const shown = table.find((r) => r.path === path).values;
    LABELS.forEach((label, f) => assert.equal(Number(p[f]), shown[label], `${path} ${label} exported as shown`));
  }
  const [jsonDownload] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-json").click()]);
  const report = JSON.parse(readFileSync(await jsonDownload.path(), "utf8"));
  assert.equal(report.results.length, IMAGES.length);
  assert.equal(report.provenance.backend, "cpu");
  assert.equal(report.provenance.members, 3);
  assert.ok(report.provenance.chexlens && report.provenance.model && report.provenance.input.size, "provenance");
  const first = report.results.find((r) => r.image === IMAGES[1]);
  assert.deepEqual(first.metadata, { sex: "male", age: 45, view: "lateral", projection: "none" }, "the CSV's metadata was used");
  LABELS.forEach((label, f) => assert.ok(Math.abs(first.probabilities[label] - cliRows.get(IMAGES[1])[f]) <= 1e-4));

  assert.deepEqual(requestsBesidesUpdateCheck(server, served), [], "the server saw no request during the batch");
  assert.deepEqual(browserRequests.filter((u) => !u.endsWith("/sw.js")), [], "the browser made no request during the batch");

  // Choosing an image opens it with the main view's analysis.
  await page.locator(`[data-testid="batch-row"][data-path="${IMAGES[2]}"] button.link`).click();
  await page.waitForSelector('[data-testid="analysis-status"][data-state="done"]', { timeout: 300_000 });
  assert.match(await page.locator(".file-name").textContent(), new RegExp(IMAGES[2].replace(".", "\\.")));
  assert.deepEqual(pageErrors, []);
  await context.close();
});
