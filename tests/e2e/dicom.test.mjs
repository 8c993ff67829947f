// A real DICOM radiograph dropped on the page: decoded in the worker, its
// sex, age and view fill the form (marked "from file", still editable), the
// analysis equals the native CLI's on the same file, nothing is fetched, and
// a broken DICOM gets its own message without losing the image on screen.
// The sample files come from scripts/fetch-dicom-samples (PyPI's pydicom-data).

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import {
  pageSession, cliJson, loadDemo, pageProbabilities, requestsBesidesUpdateCheck, dropFiles, ROOT, openPage,
} from "./harness.mjs";

const SAMPLES = join(ROOT, "target/dicom-samples/files");

const session = pageSession();

before(() => {
  assert.ok(existsSync(SAMPLES), `${SAMPLES} is missing: run scripts/fetch-dicom-samples (scripts/test does)`);
});

/** Drops a file on the image drop zone, as a user dragging it from a file manager. */
function dropFile(page, name, bytes) {
  return dropFiles(page, '[data-testid="image-drop"]', [{ name, bytes }]);
}

async function runCount(page) {
  return Number(await page.getByTestId("analysis-status").getAttribute("data-run"));
}

async function waitForRun(page, after) {
  await page.waitForFunction(
    (after) => {
      const el = document.querySelector('[data-testid="analysis-status"]');
      const state = el.getAttribute("data-state");
      return Number(el.getAttribute("data-run")) > after && (state === "done" || state === "error");
    },
    after,
    { timeout: 600_000 },
  );
  return page.getByTestId("analysis-status").getAttribute("data-state");
}

test("a dropped DICOM is analysed with its tags in the form, as the CLI does", async () => {
  const context = await session.browser.newContext();
  const { page, pageErrors } = await openPage(context, `${session.server.url}?backend=cpu`);
  await loadDemo(page);
  const browserRequests = [];
  context.on("request", (r) => browserRequests.push(r.url()));
  const served = session.server.requests.length;

  // RG1 of the DICOM WG04 set: a CR chest PA, MONOCHROME1, JPEG 2000 lossless,
  // female, no PatientAge but birth and study dates (64 years). Dropped
  // without an extension: the DICM magic decides.
  const file = join(SAMPLES, "RG1_J2KR.dcm");
  const before = await runCount(page);
  const t0 = Date.now();
  await dropFile(page, "RG1", readFileSync(file));
  assert.equal(await waitForRun(page, before), "done");
  console.log(`# DICOM (JPEG 2000, 1841x1955) decoded and analysed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  assert.equal(await page.getByTestId("sex").inputValue(), "female");
  assert.equal(await page.getByTestId("age").inputValue(), "64");
  assert.equal(await page.getByTestId("view").inputValue(), "frontal");
  assert.equal(await page.getByTestId("projection").inputValue(), "pa");
  for (const field of ["sex", "age", "view", "projection"]) {
    assert.equal(await page.getByTestId(`${field}-from-file`).count(), 1, `${field} marked as from the file`);
  }
  const summary = await page.getByTestId("dicom-summary").textContent();
  assert.match(summary, /CR CHEST/);
  assert.match(summary, /MONOCHROME1/);
  assert.match(summary, /JPEG 2000/);
  assert.doesNotMatch(summary, /CompressedSamples|9RG1|19400305|20040826/, "no name, ID or dates shown");

  const cli = cliJson(file);
  assert.deepEqual(cli.metadata, { sex: "female", age: 64, view: "frontal", projection: "pa" });
  const onPage = await pageProbabilities(page);
  for (const [label, p] of Object.entries(cli.probabilities)) {
    assert.ok(Math.abs(onPage[label] - p) <= 1e-4, `${label}: page ${onPage[label]} vs CLI ${p}`);
  }

  // Editing a field from the file: the badge goes, the analysis re-runs with the edit.
  const again = await runCount(page);
  await page.getByTestId("sex").selectOption("male");
  assert.equal(await waitForRun(page, again), "done");
  assert.equal(await page.getByTestId("sex-from-file").count(), 0);
  const edited = cliJson(file, ["--sex", "male"]).probabilities;
  const afterEdit = await pageProbabilities(page);
  for (const [label, p] of Object.entries(edited)) {
    assert.ok(Math.abs(afterEdit[label] - p) <= 1e-4, `after the edit, ${label}: page ${afterEdit[label]} vs CLI ${p}`);
  }

  // A truncated DICOM and an unsupported one: specific messages; the image and
  // results on screen stay.
  const bytes = readFileSync(file);
  await dropFile(page, "cut.dcm", bytes.subarray(0, bytes.length / 3));
  await page.waitForSelector('[data-testid="error"]');
  assert.match(await page.getByTestId("error").textContent(), /cut\.dcm: the DICOM file is truncated or corrupt/);
  await dropFile(page, "part2.dcm", readFileSync(join(SAMPLES, "unsupported_jpeg2000_part2.dcm")));
  await page.waitForFunction(() => /Part 2/.test(document.querySelector('[data-testid="error"]')?.textContent ?? ""));
  const message = await page.getByTestId("error").textContent();
  assert.match(message, /part2\.dcm: the DICOM transfer syntax JPEG 2000 Part 2 .*\(1\.2\.840\.10008\.1\.2\.4\.92\) is not supported/);
  assert.doesNotMatch(message, /panicked|\.rs:|wasm-function|RuntimeError/);
  assert.equal(await page.getByTestId("analysis-status").getAttribute("data-state"), "done", "the last analysis stays");
  assert.match(await page.locator(".file-name").textContent(), /^RG1$/);

  // A PNG after the DICOM: the file's values go back to the model's defaults.
  const png = join(ROOT, "crates/chexlens-model/tests/fixtures/xray_grey8.png");
  const beforePng = await runCount(page);
  await page.getByTestId("image-input").setInputFiles(png);
  assert.equal(await waitForRun(page, beforePng), "done");
  assert.equal(await page.getByTestId("age").inputValue(), "50", "the DICOM's age does not carry over");
  assert.equal(await page.getByTestId("dicom-summary").count(), 0);

  assert.deepEqual(browserRequests, [], "no request while reading and analysing DICOM");
  assert.deepEqual(requestsBesidesUpdateCheck(session.server, served), [], "the server saw no request while reading and analysing DICOM");
  assert.deepEqual(pageErrors, []);
  await context.close();
});

test("a multi-frame DICOM's frame is chosen in the page and analysed as the CLI's --frame", async () => {
  const context = await session.browser.newContext();
  const { page, pageErrors } = await openPage(context, `${session.server.url}?backend=cpu`);
  await loadDemo(page);
  // pydicom's emri_small_RLE: 10 MR frames, RLE lossless, one fragment each.
  const file = join(SAMPLES, "emri_small_RLE.dcm");
  const first = await runCount(page);
  await page.getByTestId("image-input").setInputFiles(file);
  assert.equal(await waitForRun(page, first), "done");
  assert.match(await page.getByTestId("dicom-summary").textContent(), /frame 1 of 10/);
  const frameOne = await pageProbabilities(page);

  const before = await runCount(page);
  await page.getByTestId("frame-input").fill("7");
  await page.getByTestId("frame-input").press("Enter");
  assert.equal(await waitForRun(page, before), "done");
  assert.match(await page.getByTestId("dicom-summary").textContent(), /frame 7 of 10/);
  assert.equal(await page.getByTestId("frame-input").inputValue(), "7");
  assert.match(await page.getByTestId("report-details").textContent(), /emri_small_RLE\.dcm \(frame 7 of 10\)/, "the printed report names the frame");
  const cli = cliJson(file, ["--frame", "7"]);
  assert.equal(cli.dicom.summary.frame, 7);
  const onPage = await pageProbabilities(page);
  let moved = 0;
  for (const [label, p] of Object.entries(cli.probabilities)) {
    assert.ok(Math.abs(onPage[label] - p) <= 1e-4, `frame 7, ${label}: page ${onPage[label]} vs CLI ${p}`);
    moved = Math.max(moved, Math.abs(onPage[label] - frameOne[label]));
  }
  assert.ok(moved > 1e-6, "frame 7 is another picture than frame 1");

  // A frame past the end is not offered: the field keeps its bounds.
  assert.equal(await page.getByTestId("frame-input").getAttribute("max"), "10");
  assert.deepEqual(pageErrors, []);
  await context.close();
});

test("JPEG-LS and 12-bit JPEG DICOMs are decoded in the page as by the CLI", async () => {
  const context = await session.browser.newContext();
  const { page, pageErrors } = await openPage(context, `${session.server.url}?backend=cpu`);
  await loadDemo(page);
  // pydicom's samples: JPEG-LS lossless (signed 16-bit MR) and near-lossless
  // (16-bit grey; 8-bit colour, sample interleaved), and 12-bit JPEG extended.
  const files = [
    ["MR_small_jpeg_ls_lossless.dcm", /JPEG-LS Lossless/],
    ["JPEGLSNearLossless_16.dcm", /JPEG-LS Lossy/],
    ["SC_rgb_jls_lossy_sample.dcm", /JPEG-LS Lossy/],
    ["JPGExtended.dcm", /JPEG Extended/],
  ];
  for (const [name, syntax] of files) {
    const file = join(SAMPLES, name);
    const before = await runCount(page);
    await page.getByTestId("image-input").setInputFiles(file);
    assert.equal(await waitForRun(page, before), "done", name);
    assert.match(await page.getByTestId("dicom-summary").textContent(), syntax, name);
    const cli = cliJson(file).probabilities;
    const onPage = await pageProbabilities(page);
    for (const [label, p] of Object.entries(cli)) {
      assert.ok(Math.abs(onPage[label] - p) <= 1e-4, `${name}, ${label}: page ${onPage[label]} vs CLI ${p}`);
    }
  }
  assert.deepEqual(pageErrors, []);
  await context.close();
});
