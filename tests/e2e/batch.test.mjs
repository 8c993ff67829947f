// Many images at once in the page: five radiographs and a CheXpert-format
// labels CSV are dropped, the queue runs, and the table, the AUROC table and
// the exports hold the numbers `chexlens evaluate` and `chexlens predict
// --cam` give on the same files; nothing is requested while the batch runs.

import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  pageSession, exportsAsDownloads, loadDemo, waitForServiceWorker, requestsBesidesUpdateCheck, dropFiles, dropPaths, cliJson, FIXTURES, DEMO_MANIFEST, ROOT, openPage,
} from "./harness.mjs";

const LABELS = [
  "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
  "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture",
  "Support Devices",
];
const IMAGES = ["xray_grey8.png", "xray_rgb.png", "xray_grey.jpg", "resized_xray_rgb.png", "xray_grey16.png"];

const session = pageSession();
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

/** A predictions CSV: its `#` lines, header and rows. */
function parseCsv(text) {
  const lines = text.trim().split("\n");
  const comments = lines.filter((l) => l.startsWith("#"));
  const [header, ...rows] = lines.filter((l) => !l.startsWith("#")).map((l) => l.split(","));
  return { comments, header, rows };
}

/** A zip's entries as Python's zipfile reads them (CRCs checked), each PNG's size from its IHDR and its pixel rows inflated. */
function readZip(path) {
  const script = `
import json, struct, sys, zipfile, zlib
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
out = {}
for name in z.namelist():
    data = z.read(name)
    if name.endswith(".png"):
        assert data[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
        width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
        pos, idat = 8, b""
        while pos < len(data):
            length, kind = struct.unpack(">I4s", data[pos:pos + 8])
            if kind == b"IDAT":
                idat += data[pos + 8:pos + 8 + length]
            pos += 12 + length
        out[name] = {"width": width, "height": height, "depth": depth, "colour": colour, "inflated": len(zlib.decompress(idat))}
    else:
        out[name] = {"text": data.decode()}
print(json.dumps(out))`;
  return JSON.parse(execFileSync("python3", ["-c", script, path], { encoding: "utf8" }));
}

test("a dropped batch with a labels CSV gives the CLI's numbers in the table, the AUROCs, the heat maps and the exports", async () => {
  const csv = writeSet();
  const predictions = join(scratch, "cli_predictions.csv");
  const cli = JSON.parse(execFileSync(join(ROOT, "target/release/chexlens"), [
    "evaluate", "--labels", csv, "--model", DEMO_MANIFEST, "--predictions", predictions, "--json",
  ], { encoding: "utf8" }));
  const cliRows = new Map(parseCsv(readFileSync(predictions, "utf8")).rows.map(([path, ...p]) => [path, p.map(Number)]));
  assert.equal(cliRows.size, IMAGES.length);

  const context = await exportsAsDownloads(await session.browser.newContext({ acceptDownloads: true }));
  const { page, pageErrors } = await openPage(context, `${session.server.url}?backend=cpu`);
  await waitForServiceWorker(page);
  await loadDemo(page);

  const browserRequests = [];
  context.on("request", (r) => { if (!r.url().startsWith("data:")) browserRequests.push(r.url()); });
  const served = session.server.requests.length;

  // Dropped together: the CSV is read first, so its metadata reaches the images.
  const dropped = [csv, ...IMAGES.map((i) => join(scratch, i))].map((path) => ({
    name: path.split("/").pop(), bytes: readFileSync(path),
  }));
  await dropFiles(page, '[data-testid="batch-drop"]', dropped);
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
  assert.deepEqual(exported.header, ["Path", ...LABELS, "Warnings"]);
  assert.equal(exported.comments.length, 1, "one provenance line before the header");
  const csvProvenance = JSON.parse(exported.comments[0].replace(/^# chexlens provenance /, ""));
  assert.equal(csvProvenance.members, 3);
  assert.equal(csvProvenance.backend, "cpu");
  assert.equal(exported.rows.length, IMAGES.length);
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

  // The CLI reads the page's CSV back, provenance line and all, and scores it alike.
  const rescored = JSON.parse(execFileSync(join(ROOT, "target/release/chexlens"), [
    "evaluate", "--labels", csv, "--predictions", await csvDownload.path(), "--json",
  ], { encoding: "utf8" }));
  assert.ok(Math.abs(rescored.mean_auroc - cli.mean_auroc) <= 1e-6, `re-scored ${rescored.mean_auroc} vs ${cli.mean_auroc}`);

  // Each finding's heat map in the JSON is the CLI's for the same image and metadata.
  const cams = {};
  for (const result of report.results) {
    const m = result.metadata;
    const flags = ["--cam", join(scratch, "cli-overlays"), "--sex", m.sex, "--view", m.view, "--projection", m.projection,
      ...(m.age === null ? ["--age", "unknown"] : ["--age", String(m.age)])];
    const cliResult = cliJson(join(scratch, result.image), flags);
    for (const finding of result.findings) {
      const cliMap = cliResult.findings.find((f) => f.label === finding.label)?.cam;
      assert.ok(finding.cam && cliMap, `${result.image} ${finding.label}: a map on both sides`);
      const diff = Math.max(...finding.cam.flat().map((v, i) => Math.abs(v - cliMap.flat()[i])));
      assert.ok(diff <= 1e-4, `${result.image} ${finding.label}: heat map differs from the CLI's by ${diff}`);
      cams[`${result.image}|${finding.label}`] = true;
    }
  }
  assert.ok(Object.keys(cams).length >= IMAGES.length, `${Object.keys(cams).length} heat maps compared`);

  // The overlay zip: one PNG per finding, each image fitted in the page's 512 px preview, with the provenance.
  const [zipDownload] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-overlays").click()]);
  const zip = readZip(await zipDownload.path());
  await page.waitForSelector('[data-testid="export-status"][data-running="false"]');
  const expected = report.results.flatMap((r) => r.findings.map((f) =>
    `overlays/${r.image.replace(/\.[^.]+$/, "")}_${f.label.toLowerCase().replace(/[^a-z0-9]/g, "_")}.png`));
  assert.deepEqual(Object.keys(zip).filter((n) => n.endsWith(".png")).sort(), expected.sort());
  const sizes = JSON.parse(execFileSync("python3", ["-c", `
import json, struct, sys
out = {}
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    out[path.rsplit("/", 1)[-1]] = struct.unpack(">II", data[16:24])
print(json.dumps(out))`, ...IMAGES.filter((i) => i.endsWith(".png")).map((i) => join(scratch, i))], { encoding: "utf8" }));
  for (const [name, entry] of Object.entries(zip).filter(([n]) => n.endsWith(".png"))) {
    assert.equal(entry.depth, 8, name);
    assert.equal(entry.colour, 2, `${name}: RGB`);
    assert.equal(entry.inflated, entry.height * (1 + 3 * entry.width), `${name}: every row of pixels is there`);
    assert.ok(Math.max(entry.width, entry.height) <= 512, `${name}: fitted in 512 px`);
    const source = IMAGES.find((i) => name.startsWith(`overlays/${i.replace(/\.[^.]+$/, "")}_`));
    if (sizes[source]) {
      const [w, h] = sizes[source];
      const scale = Math.min(1, 512 / Math.max(w, h));
      assert.deepEqual([entry.width, entry.height], [Math.max(1, Math.round(w * scale)), Math.max(1, Math.round(h * scale))], name);
    }
  }
  const zipProvenance = JSON.parse(zip["provenance.json"].text);
  assert.equal(zipProvenance.provenance.members, 3);
  assert.deepEqual(zipProvenance.skipped, []);
  assert.match(await page.getByTestId("export-status").textContent(), new RegExp(`^${expected.length} overlays from 5 images saved`));

  assert.deepEqual(requestsBesidesUpdateCheck(session.server, served), [], "the server saw no request during the batch");
  assert.deepEqual(browserRequests.filter((u) => !u.endsWith("/sw.js") && !u.startsWith("blob:")), [],
    "the browser made no request during the batch (blob: is the zip the page saved)");

  // Choosing an image opens it with the main view's analysis.
  await page.locator(`[data-testid="batch-row"][data-path="${IMAGES[2]}"] button.link`).click();
  await page.waitForSelector('[data-testid="analysis-status"][data-state="done"]', { timeout: 300_000 });
  assert.match(await page.locator(".file-name").textContent(), new RegExp(IMAGES[2].replace(".", "\\.")));
  assert.deepEqual(pageErrors, []);
  await context.close();
});

test("a DICOM in a batch without a labels row is analysed with its own tags, as the CLI does", async () => {
  const file = join(ROOT, "target/dicom-samples/files/RG1_J2KR.dcm");
  const cli = cliJson(file);
  const context = await exportsAsDownloads(await session.browser.newContext({ acceptDownloads: true }));
  const page = await context.newPage();
  await page.goto(`${session.server.url}?backend=cpu`);
  await loadDemo(page);
  await page.getByTestId("batch-input").setInputFiles(file);
  await page.waitForSelector('[data-testid="batch-status"][data-done="1"][data-running="false"]', { timeout: 300_000 });
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-json").click()]);
  const [result] = JSON.parse(readFileSync(await download.path(), "utf8")).results;
  assert.deepEqual(result.metadata, cli.metadata, "the file's sex, age and view, as the CLI reads them");
  assert.notDeepEqual(result.metadata, { sex: "male", age: 50, view: "frontal", projection: "pa" }, "not the form's defaults");
  for (const label of LABELS) {
    assert.ok(Math.abs(result.probabilities[label] - cli.probabilities[label]) <= 1e-4, `${label}: page ${result.probabilities[label]} vs CLI ${cli.probabilities[label]}`);
  }
  await context.close();
});

test("a folder dragged from the file manager is walked: subfolders, its labels CSV, hidden files left out", async () => {
  const study = join(scratch, "study");
  mkdirSync(join(study, "frontal"), { recursive: true });
  const images = ["xray_grey8.png", "xray_grey.jpg"];
  for (const image of images) copyFileSync(join(FIXTURES, image), join(study, "frontal", image));
  writeFileSync(join(study, ".DS_Store"), "not an image");
  const labels = LABELS.map((_, f) => (f % 2 ? "1.0" : "0.0"));
  writeFileSync(join(study, "labels.csv"), [
    `Path,Sex,Age,Frontal/Lateral,AP/PA,${LABELS.join(",")}`,
    `study/frontal/${images[0]},Female,33,Frontal,AP,${labels.join(",")}`,
    `study/frontal/${images[1]},Male,71,Lateral,,${labels.join(",")}`,
  ].join("\n") + "\n");

  const context = await exportsAsDownloads(await session.browser.newContext({ acceptDownloads: true }));
  const page = await context.newPage();
  await page.goto(`${session.server.url}?backend=cpu`);
  await loadDemo(page);
  await dropPaths(page, '[data-testid="batch-drop"]', [study]);
  await page.waitForSelector(`[data-testid="batch-status"][data-total="${images.length}"][data-done="${images.length}"][data-running="false"]`, { timeout: 300_000 });
  const paths = await page.$$eval('[data-testid="batch-row"]', (rows) => rows.map((r) => r.dataset.path));
  assert.deepEqual(paths.sort(), images.map((i) => `study/frontal/${i}`).sort(), "paths inside the folder; the hidden file and the CSV are not queued");
  assert.match(await page.locator('[data-testid="labelled-scores"] h3').textContent(), /Scored against labels\.csv/);

  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-json").click()]);
  const results = JSON.parse(readFileSync(await download.path(), "utf8")).results;
  const metadata = Object.fromEntries(results.map((r) => [r.image, r.metadata]));
  assert.deepEqual(metadata[`study/frontal/${images[0]}`], { sex: "female", age: 33, view: "frontal", projection: "ap" });
  assert.deepEqual(metadata[`study/frontal/${images[1]}`], { sex: "male", age: 71, view: "lateral", projection: "none" });
  await context.close();
});
