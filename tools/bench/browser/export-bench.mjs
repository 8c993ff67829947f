// The batch's DICOM export at scale (see tools/bench/export-bench): a batch
// of copies of a real DICOM radiograph analysed in the page, then its DICOM
// zip and, as the named peer, its overlay PNG zip, each written through the
// save picker's stream (to a file in the profile's origin storage, on
// disk, as a picked file on a user's disk). For each export: the time, the
// images per second, the zip's size, and the Chromium processes' peak RSS
// above what it was just before the export; at two batch sizes, so that
// memory that grew with the batch would show.
//
//   node export-bench.mjs DIR [--count N] [--small-count N]

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serveDist, launchChromiumProfile, loadDemo, exportsToPickedFiles, ROOT } from "../../../tests/e2e/harness.mjs";
import { copies, runBatch } from "./batch-run.mjs";
import { rss } from "./processes.mjs";

const [dir, ...args] = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const count = option("--count", 1000);
const smallCount = Math.min(count, option("--small-count", 100));
const SOURCE = join(ROOT, "target/dicom-samples/files/RG1_UNCR.dcm");
const EXPORTS = [["overlays (peer)", "export-overlays", "chexlens-overlays.zip"], ["DICOM", "export-dicom-batch", "chexlens-dicom.zip"]];

/** One export: clicked, its memory sampled until it is written; the saved file then removed. */
async function timeExport(page, testId, name) {
  await new Promise((r) => setTimeout(r, 1000));
  const base = rss().total;
  let peak = base;
  const sampler = setInterval(() => { peak = Math.max(peak, rss().total); }, 100);
  const started = Date.now();
  try {
    await page.getByTestId(testId).click();
    await page.waitForSelector('[data-testid="export-status"][data-running="false"]:not(:empty)', { timeout: 6 * 3600_000 });
  } finally {
    clearInterval(sampler);
  }
  const seconds = (Date.now() - started) / 1000;
  const status = await page.getByTestId("export-status").textContent();
  const bytes = await page.evaluate(async (name) => {
    const root = await navigator.storage.getDirectory();
    const size = (await (await root.getFileHandle(`saved-${name}`)).getFile()).size;
    await root.removeEntry(`saved-${name}`);
    return size;
  }, name);
  return { seconds, peakAbove: peak - base, bytes, status };
}

async function run(url, paths) {
  const profile = mkdtempSync(join(tmpdir(), "chexlens-export-bench-profile-"));
  const context = await launchChromiumProfile(profile);
  try {
    await exportsToPickedFiles(context);
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`${url}?backend=cpu`);
    await loadDemo(page);
    const batch = await runBatch(page, paths, { sampleMs: 100 });
    if (batch.done !== paths.length) throw new Error(`${batch.failed} of ${paths.length} images failed`);
    const results = {};
    for (const [label, testId, name] of EXPORTS) results[label] = await timeExport(page, testId, name);
    return results;
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

const server = await serveDist(undefined, { record: false });
const mb = (b) => `${(b / 1e6).toFixed(0)} MB`;
try {
  const paths = copies(SOURCE, join(dir, "images-dicom"), count);
  console.log("chexlens batch export benchmark: copies of RG1_UNCR.dcm (7.2 MB, 1841x1955), the demo model, CPU backend, headless Chromium, exports written to a picked file");
  console.log(`${"export".padEnd(18)}${"images".padStart(8)}${"time".padStart(9)}${"images/s".padStart(10)}${"zip".padStart(10)}${"peak above start".padStart(18)}   status`);
  const runs = {};
  for (const n of [...new Set([smallCount, count])]) {
    runs[n] = await run(server.url, paths.slice(0, n));
    for (const [label] of EXPORTS) {
      const r = runs[n][label];
      console.log(`${label.padEnd(18)}${String(n).padStart(8)}${`${r.seconds.toFixed(1)} s`.padStart(9)}${(n / r.seconds).toFixed(2).padStart(10)}${mb(r.bytes).padStart(10)}${mb(r.peakAbove).padStart(18)}   ${r.status}`);
    }
  }
  const big = runs[count];
  const [peer, dicom] = [big["overlays (peer)"], big.DICOM];
  console.log(`DICOM / overlays (peer) at ${count} images: time ${(dicom.seconds / peer.seconds).toFixed(2)}, zip ${(dicom.bytes / peer.bytes).toFixed(2)}, peak memory ${(dicom.peakAbove / Math.max(1, peer.peakAbove)).toFixed(2)}`);
  if (smallCount !== count) {
    console.log(`DICOM export's peak memory at ${count} images / at ${smallCount}: ${(dicom.peakAbove / Math.max(1, runs[smallCount].DICOM.peakAbove)).toFixed(2)}`);
  }
} finally {
  await server.close();
}
