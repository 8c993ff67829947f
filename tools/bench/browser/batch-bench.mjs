// The batch benchmark's runs (see tools/bench/batch-bench): each in a fresh
// Chromium with its profile on disk, as a user's, so that the results the
// page keeps go to disk and not to the browser's memory.
//
//   node batch-bench.mjs DIR [--count N] [--peer-count N] [--kinds dicom,png,jpeg] [--model demo|convnext] [--copies]

import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serveDist, launchChromiumProfile, loadDemo, DIST, FIXTURES, ROOT } from "../../../tests/e2e/harness.mjs";
import { copies, rates, runBatch } from "./batch-run.mjs";

const [dir, ...args] = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const count = Number(option("--count", 2000));
const peerCount = Math.min(count, Number(option("--peer-count", 200)));
const kinds = option("--kinds", "dicom").split(",");
const model = option("--model", "demo");
const link = !args.includes("--copies");
const SOURCES = {
  dicom: join(ROOT, "target/dicom-samples/files/RG1_UNCR.dcm"),
  png: join(FIXTURES, "xray_grey16.png"),
  jpeg: join(FIXTURES, "xray_grey.jpg"),
};

/** dist/ and, for convnext, the generated member with its manifest. */
function site() {
  const root = join(dir, "site");
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(root, "bench"), { recursive: true });
  for (const entry of readdirSync(DIST)) symlinkSync(join(DIST, entry), join(root, entry));
  if (model === "convnext") {
    symlinkSync(join(dir, "member_f16.safetensors"), join(root, "bench", "member_f16.safetensors"));
    writeFileSync(join(root, "bench", "manifest.json"), JSON.stringify({
      name: "convnext_base bench member", members: [{ weights: "member_f16.safetensors" }],
    }));
  }
  return root;
}

async function run(url, paths, prefetch) {
  const profile = mkdtempSync(join(tmpdir(), "chexlens-batch-bench-profile-"));
  const browser = await launchChromiumProfile(profile);
  try {
    const page = browser.pages()[0] ?? (await browser.newPage());
    const query = `?backend=cpu${prefetch ? "" : "&prefetch=0"}`;
    if (model === "convnext") {
      await page.goto(`${url}${query}&model=${encodeURIComponent(`${url}bench/manifest.json`)}`);
      await page.waitForSelector('[data-testid="model-status"][data-state="ready"]', { timeout: 900_000 });
    } else {
      await page.goto(`${url}${query}`);
      await loadDemo(page);
    }
    const workers = (await page.getByTestId("workers").count()) ? await page.getByTestId("workers").textContent() : "1";
    const result = await runBatch(page, paths, { sampleMs: 100 });
    return { ...result, ...rates(result.timeline, paths.length), workers };
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

const server = await serveDist(site(), { record: false });
const mb = (b) => `${(b / 1e6).toFixed(0)} MB`;
try {
  console.log(`chexlens batch benchmark: ${model === "convnext" ? "one generated convnext_base member (f16)" : "the demo model"}, CPU backend, headless Chromium, ${link ? "hard-linked" : "copied"} files`);
  console.log(`${"run".padEnd(34)}${"images".padStart(8)}${"data".padStart(10)}${"peak above ready".padStart(18)}${"first 10%".padStart(12)}${"middle".padStart(10)}${"last 10%".padStart(11)}${"last/first".padStart(12)}   finished`);
  for (const kind of kinds) {
    const source = SOURCES[kind];
    const paths = copies(source, join(dir, `images-${kind}`), count, { link });
    const results = {};
    for (const [name, prefetch, n] of [["read ahead", true, count], ["peer: ?prefetch=0", false, peerCount]]) {
      if (n === 0) continue;
      const r = await run(server.url, paths.slice(0, n), prefetch);
      results[name] = r;
      const data = `${((statSync(source).size * n) / 1e9).toFixed(1)} GB`;
      console.log(`${`${kind} ${name}`.padEnd(34)}${String(n).padStart(8)}${data.padStart(10)}${`${mb(r.peakAbove)} (r ${mb(r.byType.renderer ?? 0)})`.padStart(18)}${`${r.first.toFixed(2)}/s`.padStart(12)}${`${r.middle.toFixed(2)}/s`.padStart(10)}${`${r.last.toFixed(2)}/s`.padStart(11)}${(r.last / r.first).toFixed(2).padStart(12)}   ${r.done} done, ${r.failed} failed in ${r.seconds.toFixed(0)} s (first result at ${r.firstResult.toFixed(1)} s), ${r.workers} worker(s)`);
    }
    const ahead = results["read ahead"];
    const peer = results["peer: ?prefetch=0"];
    if (ahead && peer) {
      // Like for like: both runs' first peerCount images, from the pick.
      const rate = (r) => peerCount / r.timeline.find((t) => t.finished >= peerCount).s;
      console.log(`${kind}: images per second over the first ${peerCount} images, reading ahead ${rate(ahead).toFixed(2)}, peer ${rate(peer).toFixed(2)}: ratio ${(rate(ahead) / rate(peer)).toFixed(2)}`);
    }
  }
} finally {
  await server.close();
}
