// The batch at a researcher's scale, in small: memory that does not grow
// with the number of images, a reload mid-batch that loses and redoes
// nothing, and exports written through the save picker's stream that are
// the downloads' bytes. tools/bench/batch-bench runs the same at 2,000
// DICOMs.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchChromium, launchChromiumProfile, serveDist, loadDemo, cliJson, pickedFile, audit, FIXTURES, ROOT, openPage } from "./harness.mjs";
import { copies, runBatch } from "../../tools/bench/browser/batch-run.mjs";

const scratch = mkdtempSync(join(tmpdir(), "chexlens-batch-scale-"));
const DICOM = join(ROOT, "target/dicom-samples/files/RG1_UNCR.dcm");
const LABELS = 14;

test("the page's memory does not grow with the batch: 8 and 48 DICOMs of 7.2 MB peak alike above model-ready", async (t) => {
  const server = await serveDist();
  const paths = copies(DICOM, join(scratch, "dicom"), 48);
  const growth = {};
  try {
    for (const count of [8, 48]) {
      const profile = mkdtempSync(join(tmpdir(), "chexlens-batch-profile-"));
      const browser = await launchChromiumProfile(profile);
      try {
        const page = browser.pages()[0] ?? (await browser.newPage());
        await page.goto(`${server.url}?backend=cpu`);
        await loadDemo(page);
        const run = await runBatch(page, paths.slice(0, count), { timeoutMs: 600_000, sampleMs: 50 });
        assert.equal(run.done, count, `${count}: every image analysed`);
        growth[count] = run.peakAbove;
        const rows = await page.locator('[data-testid="batch-row"]').count();
        assert.equal(rows, count, "a page of rows holds them all");
      } finally {
        await browser.close();
        rmSync(profile, { recursive: true, force: true });
      }
    }
  } finally {
    await server.close();
  }
  // Holding the files' bytes, as the page once did, costs 40 x 7.2 MB = 288 MB more;
  // the collector's timing moves a peak by some tens of MB.
  const extra = (growth[48] - growth[8]) / 1e6;
  t.diagnostic(`peak above model-ready: 8 images ${(growth[8] / 1e6).toFixed(0)} MB, 48 images ${(growth[48] / 1e6).toFixed(0)} MB`);
  assert.ok(extra < 150, `48 images peaked ${extra.toFixed(0)} MB above 8 images' peak (${(growth[8] / 1e6).toFixed(0)} MB above model-ready)`);
});

/** The batch's exports, by name: written to a picked file, then as a download. */
async function exportBoth(page, testId, name) {
  await page.evaluate(() => {
    window.showSaveFilePicker = async ({ suggestedName }) =>
      (await navigator.storage.getDirectory()).getFileHandle(`saved-${suggestedName}`, { create: true });
  });
  await page.getByTestId(testId).click();
  await page.waitForSelector('[data-testid="export-status"][data-running="false"]:not(:empty)');
  assert.match(await page.getByTestId("export-status").textContent(), / written \(/, "written to the picked file");
  const streamed = await pickedFile(page, name);
  await page.evaluate(() => { delete window.showSaveFilePicker; });
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId(testId).click()]);
  await page.waitForSelector('[data-testid="export-status"][data-running="false"]');
  return { streamed, downloaded: readFileSync(await download.path()) };
}

test("a reload mid-batch keeps every finished row: the folder picked again finishes the rest, nothing done twice; streamed exports are the downloads", async () => {
  const server = await serveDist();
  const browser = await launchChromium();
  const count = 24;
  const paths = copies(join(FIXTURES, "xray_grey8.png"), join(scratch, "png"), count);
  const expected = cliJson(paths[0]).probabilities;
  try {
    const context = await browser.newContext({ acceptDownloads: true });
    const { page, pageErrors: errors } = await openPage(context, `${server.url}?backend=cpu`);
    await loadDemo(page);
    await page.getByTestId("batch-input").setInputFiles(paths);
    // Reload once six results are on disk (data-saved counts the journal's
    // finished writes; results shown but still being written are what a
    // reload loses, and they are analysed again).
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="batch-status"]')?.dataset.saved) >= 6, null, { timeout: 300_000 });
    await page.reload();

    // Restored at once, before any model: the finished rows, and how to go on.
    const resumed = page.getByTestId("batch-resumed");
    await resumed.waitFor({ timeout: 60_000 });
    const finished = Number(await resumed.getAttribute("data-finished"));
    assert.ok(finished >= 6 && finished < count, `${finished} of ${count} finished before the reload`);
    assert.equal(await page.getByTestId("batch-status").getAttribute("data-saved"), String(finished), "what was restored is what is on disk");
    assert.equal(await resumed.getAttribute("data-total"), String(count));
    assert.equal(await page.locator('[data-testid="batch-row"][data-state="done"]').count(), finished);

    await loadDemo(page);
    await page.getByTestId("batch-input").setInputFiles(paths);
    assert.match(await page.getByTestId("batch-notice").textContent(), new RegExp(`^${finished} of the files picked were analysed already`));
    await page.waitForSelector(`[data-testid="batch-status"][data-done="${count}"][data-running="false"]`, { timeout: 300_000 });
    assert.equal(await page.getByTestId("batch-status").getAttribute("data-total"), String(count), "no row twice");

    const csv = await exportBoth(page, "export-csv", "chexlens-predictions.csv");
    assert.deepEqual(csv.streamed, csv.downloaded);
    const rows = csv.streamed.toString().trim().split("\n").filter((l) => !l.startsWith("#")).slice(1);
    assert.deepEqual(rows.map((r) => r.split(",")[0]).sort(), paths.map((p) => p.split("/").pop()).sort(), "each image once");
    const header = csv.streamed.toString().split("\n").find((l) => l.startsWith("Path,")).split(",");
    assert.equal(header.at(-1), "Warnings");
    const labels = header.slice(1, -1);
    assert.equal(labels.length, LABELS);
    for (const row of rows) {
      assert.ok(row.endsWith(","), `${row}: a chest radiograph has no warning`);
      row.split(",").slice(1, -1).forEach((v, i) => assert.ok(Math.abs(Number(v) - expected[labels[i]]) <= 1e-4, `${labels[i]}: ${v} vs CLI ${expected[labels[i]]}`));
    }

    const json = await exportBoth(page, "export-json", "chexlens-results.json");
    assert.deepEqual(json.streamed, json.downloaded);
    const report = JSON.parse(json.streamed.toString());
    assert.equal(report.results.length, count, "every result once, from before and after the reload");
    assert.equal(new Set(report.results.map((r) => r.image)).size, count);
    assert.ok(report.results.every((r) => r.findings.every((f) => Array.isArray(f.cam))), "heat maps kept across the reload");

    const zip = await exportBoth(page, "export-overlays", "chexlens-overlays.zip");
    assert.deepEqual(zip.streamed, zip.downloaded);
    assert.deepEqual(errors, []);
    await context.close();
  } finally {
    await browser.close();
    await server.close();
  }
});

test("10,000 images queued: the table shows a page of 100 rows, moves by keyboard, sorts them all, and says where each row stands", async () => {
  const server = await serveDist();
  const browser = await launchChromium();
  const count = 10_000;
  const paths = copies(join(FIXTURES, "resized_xray_grey8.png"), join(scratch, "many"), count);
  try {
    // The CSP bypassed for axe's audit at the end.
    const page = await (await browser.newContext({ bypassCSP: true })).newPage();
    await page.goto(`${server.url}?backend=cpu`);
    // No model: the images wait in the queue, as the table holds them.
    const started = Date.now();
    await page.getByTestId("batch-input").setInputFiles(paths);
    await page.waitForSelector(`[data-testid="batch-status"][data-total="${count}"]`, { timeout: 120_000 });
    const rows = page.locator('[data-testid="batch-row"]');
    assert.equal(await rows.count(), 100, `one page rendered (${((Date.now() - started) / 1000).toFixed(1)} s to list them)`);
    assert.equal(await page.getByTestId("batch-table").getAttribute("aria-rowcount"), String(count + 1));
    assert.match(await page.getByTestId("batch-page").textContent(), /^Rows 1–100 of 10000 \(page 1 of 100\)/);

    await page.getByTestId("batch-page-next").focus();
    await page.keyboard.press("Enter");
    await page.waitForSelector('[data-testid="batch-page"][data-page="1"]');
    assert.equal(await rows.first().getAttribute("aria-rowindex"), "102");
    assert.equal(await rows.first().getAttribute("data-path"), "image-000100.png");

    // Sorted by image name already (ascending); again, descending: the
    // last name first, back on page 1.
    await page.locator("thead button.sort").first().click();
    await page.waitForSelector('[data-testid="batch-page"][data-page="0"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="batch-row"]')?.dataset.path === "image-009999.png");
    assert.equal(await page.locator('thead th[aria-sort="descending"]').count(), 1);
    await audit(page, "a batch of 10,000 images, paged");
  } finally {
    await browser.close();
    await server.close();
  }
});
