// The page's DICOM export, held to DICOM's own tools as the CLI's
// `--dicom-out` is (crates/chexlens-cli/tests/dicom_out_cli.rs): dciodvfy
// finds no error in the SR or the Secondary Captures, dsrdump prints the SR
// tree, highdicom reads it as a TID 1500 report with the page's 14
// probabilities and decisions, pydicom reads each capture's pixels equal to
// the page's own PNG of that heat map, and the references are those the CLI
// writes for the same file. The batch's DICOM zip holds a set per DICOM and
// lists the PNG it could not place in a study; a frame of a multi-frame file
// is referenced by its number, and a warned image is exported only once its
// findings are shown, its warnings in the SR. Nothing is requested meanwhile.

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, copyFileSync } from "node:fs";
import { execFileSync, spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  pageSession, exportsAsDownloads, loadDemo, pageProbabilities, requestsBesidesUpdateCheck, dropFiles, ROOT, FIXTURES,
  openPage, cliJson,
} from "./harness.mjs";

const SAMPLES = join(ROOT, "target/dicom-samples/files");
const PYTHON = join(ROOT, ".tools/dicom-venv/bin/python");
const session = pageSession();
const scratch = mkdtempSync(join(tmpdir(), "chexlens-dicom-out-"));

before(() => {
  assert.ok(existsSync(SAMPLES), `${SAMPLES} is missing: run scripts/fetch-dicom-samples (scripts/test does)`);
  assert.ok(existsSync(PYTHON), `${PYTHON} is missing: bash scripts/setup --test makes it`);
});

/** What highdicom and pydicom read in each file (tools/dicom/read_results.py), by name. */
function readResults(...paths) {
  return JSON.parse(execFileSync(PYTHON, [join(ROOT, "tools/dicom/read_results.py"), ...paths], { encoding: "utf8" }));
}

/** A zip's .dcm entries extracted into `dir`, by entry name. */
function unzipDicom(zip, dir) {
  const script = `
import json, os, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
out = {}
for name in z.namelist():
    if name.endswith(".dcm"):
        path = os.path.join(sys.argv[2], name.replace("/", "__"))
        open(path, "wb").write(z.read(name))
        out[name] = path
    else:
        out[name] = z.read(name).decode()
print(json.dumps(out))`;
  return JSON.parse(execFileSync("python3", ["-c", script, zip, dir], { encoding: "utf8" }));
}

/** dciodvfy names the IOD and reports no error. */
function assertValid(path, iod) {
  const run = spawnSync("dciodvfy", [path], { encoding: "utf8" });
  assert.ok(!run.error, `dciodvfy cannot run (${run.error}): bash scripts/setup --test installs it`);
  const report = run.stdout + run.stderr;
  assert.ok(report.split("\n").some((l) => l.trim() === iod), `${path}: not read as ${iod}:\n${report}`);
  assert.deepEqual(report.split("\n").filter((l) => l.startsWith("Error")), [], path);
}

test("the DICOM export of a dropped DICOM is an SR and captures that DICOM's tools read as the CLI's", async () => {
  const file = join(SAMPLES, "RG1_J2KR.dcm");
  const cliOut = join(scratch, "cli");
  const cli = cliJson(file, ["--dicom-out", cliOut]);
  const cliObjects = readResults(cliOut);
  const cliReport = cliObjects[join(cliOut, "RG1_J2KR_report.dcm")];

  const context = await exportsAsDownloads(await session.browser.newContext({ acceptDownloads: true }));
  const { page, pageErrors } = await openPage(context, `${session.server.url}?backend=cpu`);
  await loadDemo(page);
  const browserRequests = [];
  context.on("request", (r) => { if (!r.url().startsWith("data:")) browserRequests.push(r.url()); });
  const served = session.server.requests.length;

  await dropFiles(page, '[data-testid="image-drop"]', [{ name: "RG1_J2KR.dcm", bytes: readFileSync(file) }]);
  await page.waitForSelector('[data-testid="analysis-status"][data-state="done"]', { timeout: 600_000 });
  const findings = cli.findings.map((f) => f.label);
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="heatmap-figure"]').length === n, findings.length,
    { timeout: 600_000 });
  const exportButton = page.getByTestId("export-dicom");
  await page.waitForFunction(() => !document.querySelector('[data-testid="export-dicom"]').disabled);

  // The page's own PNG of each finding's heat map, at the default opacity.
  const pngs = {};
  for (const label of findings) {
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: `Download the heat map for ${label} as PNG` }).click(),
    ]);
    pngs[label] = join(scratch, `page_${label.replace(/\W/g, "_")}.png`);
    await download.saveAs(pngs[label]);
  }
  const [download] = await Promise.all([page.waitForEvent("download"), exportButton.click()]);
  assert.equal(download.suggestedFilename(), "RG1_J2KR-dicom.zip");
  const zipPath = join(scratch, "page.zip");
  await download.saveAs(zipPath);
  await page.waitForFunction(() => /saved/.test(document.querySelector('[data-testid="export-dicom-status"]').textContent));
  assert.match(await page.getByTestId("export-dicom-status").textContent(),
    new RegExp(`^A report and ${findings.length} overlays? saved`));

  const entries = unzipDicom(zipPath, scratch);
  const slug = (label) => label.toLowerCase().replace(/[^a-z0-9]/g, "_");
  assert.deepEqual(Object.keys(entries).sort(),
    ["RG1_J2KR_report.dcm", ...findings.map((l) => `RG1_J2KR_${slug(l)}.dcm`)].sort());
  assertValid(entries["RG1_J2KR_report.dcm"], "ComprehensiveSR");
  for (const label of findings) assertValid(entries[`RG1_J2KR_${slug(label)}.dcm`], "SCImage");
  const tree = execFileSync("dsrdump", [entries["RG1_J2KR_report.dcm"]], { encoding: "utf8" });
  assert.match(tree, /<CONTAINER:\(,,"Imaging Measurement Report"\)=CONTINUOUS>/);
  assert.equal(tree.split('<contains CONTAINER:(,,"Measurement Group")').length - 1, 14);

  const found = readResults(...Object.values(entries).filter((p) => p.endsWith(".dcm")), ...Object.values(pngs));
  const report = found[entries["RG1_J2KR_report.dcm"]];
  // The same study, patient and source as the CLI's report; its own series and instance.
  for (const key of ["study_instance_uid", "patient_id", "patient_name", "accession_number", "evidence", "statements"]) {
    assert.deepEqual(report[key], cliReport[key], key);
  }
  assert.notEqual(report.sop_instance_uid, cliReport.sop_instance_uid, "fresh UIDs for each export");
  // The page's probabilities exactly, the CLI's to 1e-4, and the page's findings as Present.
  const onPage = await pageProbabilities(page);
  assert.equal(report.groups.length, 14);
  for (const group of report.groups) {
    assert.ok(Math.abs(group.probability - onPage[group.label]) <= 1e-6, `${group.label}: SR ${group.probability}, page ${onPage[group.label]}`);
    assert.ok(Math.abs(group.probability - cli.probabilities[group.label]) <= 1e-4, `${group.label}: SR vs CLI`);
    assert.equal(group.decision, findings.includes(group.label) ? "Present" : "Absent", group.label);
    assert.deepEqual(group.source_images, cliReport.groups[0].source_images);
    assert.deepEqual(group.parameters, cliReport.groups[0].parameters, "the same model, metadata and preprocessing");
  }
  // Each capture: the page's PNG of that map, pixel for pixel, derived from the source.
  for (const label of findings) {
    const capture = found[entries[`RG1_J2KR_${slug(label)}.dcm`]];
    assert.deepEqual(capture.pixels, found[pngs[label]].pixels, label);
    assert.deepEqual(capture.source_images, cliReport.groups[0].source_images);
    assert.deepEqual(capture.image_type, ["DERIVED", "SECONDARY"]);
    assert.equal(capture.study_instance_uid, cliReport.study_instance_uid);
  }
  assert.deepEqual(requestsBesidesUpdateCheck(session.server, served), [], "the server saw no request");
  assert.deepEqual(browserRequests, [], "the browser made no request");
  assert.deepEqual(pageErrors, []);
  await context.close();
});

test("a PNG in view offers no DICOM export, and the batch's DICOM zip holds a set per DICOM and names the PNG it skipped", async () => {
  const context = await exportsAsDownloads(await session.browser.newContext({ acceptDownloads: true }));
  const { page, pageErrors } = await openPage(context, `${session.server.url}?backend=cpu`);
  await loadDemo(page);
  await page.getByTestId("image-input").setInputFiles(join(FIXTURES, "xray_grey8.png"));
  await page.waitForSelector('[data-testid="analysis-status"][data-state="done"]', { timeout: 600_000 });
  assert.equal(await page.getByTestId("export-dicom").count(), 0, "no study for a PNG's results to join");

  const images = ["RG1_UNCR.dcm", "xray_grey8.png"];
  copyFileSync(join(SAMPLES, "RG1_UNCR.dcm"), join(scratch, "RG1_UNCR.dcm"));
  copyFileSync(join(FIXTURES, "xray_grey8.png"), join(scratch, "xray_grey8.png"));
  await dropFiles(page, '[data-testid="batch-drop"]', images.map((name) => ({ name, bytes: readFileSync(join(scratch, name)) })));
  await page.waitForSelector(`[data-testid="batch-status"][data-done="2"][data-running="false"]`, { timeout: 600_000 });
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-dicom-batch").click()]);
  const zipPath = join(scratch, "batch.zip");
  await download.saveAs(zipPath);
  await page.waitForSelector('[data-testid="export-status"][data-running="false"]');

  const cli = cliJson(join(scratch, "RG1_UNCR.dcm"));
  const findings = cli.findings.map((f) => f.label);
  const entries = unzipDicom(zipPath, scratch);
  const slug = (label) => label.toLowerCase().replace(/[^a-z0-9]/g, "_");
  assert.deepEqual(Object.keys(entries).sort(),
    ["dicom/RG1_UNCR_report.dcm", ...findings.map((l) => `dicom/RG1_UNCR_${slug(l)}.dcm`), "provenance.json"].sort());
  const about = JSON.parse(entries["provenance.json"]);
  assert.equal(about.images, 1);
  assert.deepEqual(about.skipped, [{ image: "xray_grey8.png", error: "not a DICOM file, so its results join no study" }]);
  assert.match(await page.getByTestId("export-status").textContent(), new RegExp(`^${1 + findings.length} DICOM objects from 1 image saved`));

  assertValid(entries["dicom/RG1_UNCR_report.dcm"], "ComprehensiveSR");
  const found = readResults(...Object.values(entries).filter((p) => p.endsWith(".dcm")));
  const report = found[entries["dicom/RG1_UNCR_report.dcm"]];
  for (const group of report.groups) {
    assert.ok(Math.abs(group.probability - cli.probabilities[group.label]) <= 1e-4, group.label);
    assert.equal(group.decision, findings.includes(group.label) ? "Present" : "Absent", group.label);
  }
  for (const label of findings) {
    const path = entries[`dicom/RG1_UNCR_${slug(label)}.dcm`];
    assertValid(path, "SCImage");
    const [rows, columns] = found[path].pixels.shape;
    assert.deepEqual([rows, columns], [512, Math.round(1841 * 512 / 1955)], `${label}: fitted in 512 px`);
  }
  assert.deepEqual(pageErrors, []);
  await context.close();
});

test("a warned frame of a multi-frame DICOM is exported, once its findings are shown, as that frame with its warnings", async () => {
  // pydicom's emri_small_RLE: an MR head of 10 frames, warned and so withheld.
  const file = join(SAMPLES, "emri_small_RLE.dcm");
  const cli = cliJson(file, ["--frame", "7"]);
  const context = await exportsAsDownloads(await session.browser.newContext({ acceptDownloads: true }));
  const { page, pageErrors } = await openPage(context, `${session.server.url}?backend=cpu`);
  await loadDemo(page);
  await page.getByTestId("image-input").setInputFiles(file);
  await page.waitForSelector('[data-testid="analysis-status"][data-state="done"]', { timeout: 600_000 });
  const before = Number(await page.getByTestId("analysis-status").getAttribute("data-run"));
  await page.getByTestId("frame-input").fill("7");
  await page.getByTestId("frame-input").press("Enter");
  await page.waitForFunction((before) => {
    const el = document.querySelector('[data-testid="analysis-status"]');
    return Number(el.dataset.run) > before && el.dataset.state === "done";
  }, before, { timeout: 600_000 });
  assert.ok(await page.getByTestId("export-dicom").isDisabled(), "withheld findings are not exported");
  await page.getByTestId("show-anyway").click();
  const findings = cli.findings.map((f) => f.label);
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="heatmap-figure"]').length === n, findings.length,
    { timeout: 600_000 });
  await page.waitForFunction(() => !document.querySelector('[data-testid="export-dicom"]').disabled);
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-dicom").click()]);
  const zipPath = join(scratch, "frame.zip");
  await download.saveAs(zipPath);
  const entries = unzipDicom(zipPath, scratch);
  assertValid(entries["emri_small_RLE_report.dcm"], "ComprehensiveSR");
  const found = readResults(...Object.values(entries));
  const report = found[entries["emri_small_RLE_report.dcm"]];
  for (const group of report.groups) assert.deepEqual(group.source_frames, [[7]], group.label);
  assert.deepEqual(report.statements.slice(1), cli.warnings.map((w) => `Warning: ${w.message}`));
  const captures = Object.values(found).filter((o) => o.kind === "sc");
  assert.equal(captures.length, findings.length);
  for (const capture of captures) assert.deepEqual(capture.source_frames, [7]);
  assert.deepEqual(pageErrors, []);
  await context.close();
});
