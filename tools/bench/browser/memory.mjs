// The page's memory while it loads a three-member convnext_base ensemble
// in headless Chromium: the peak of the Chromium processes' total RSS
// (sampled every 50 ms from /proc) above the browser's own baseline (the
// same page open, no model), as a ratio to the ensemble's f32 weight bytes,
// the time to ready, and how much of the peak is in the renderer (the page
// and its workers) and in the browser process. For `.pth` (f32) and f16
// safetensors members, in member workers (one per member) and in one
// worker; a fresh browser with a new profile on disk for each, as a user's
// (an off-the-record context would keep the offline copy in memory), so
// that no run inherits another's memory or copy. Each is loaded as a first
// visit does, keeping the offline copy, and from a server that announces
// no sizes, where the page keeps no copy (it could not check one): the
// difference is what keeping the copy costs while loading. Run through
// tools/bench/browser-bench --memory, which prepares the files.
//
//   node memory.mjs DIR

import { mkdirSync, mkdtempSync, rmSync, symlinkSync, readdirSync, writeFileSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { serveDist, launchChromiumProfile, DIST } from "../../../tests/e2e/harness.mjs";
import { rss } from "./processes.mjs";

const dir = process.argv[2];
const MEMBERS = 3;
// The issue's goals, above the baseline: member workers and one worker.
const GOALS = { members: 1.6, one: 1.3 };

function site() {
  const root = join(dir, "memory-site");
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(root, "bench"), { recursive: true });
  for (const entry of readdirSync(DIST)) symlinkSync(join(DIST, entry), join(root, entry));
  const files = { pth: "convnext_base_member0.pth", f16: "member0_f16.safetensors" };
  for (const [kind, file] of Object.entries(files)) {
    // Three names for one file: three members to read, as a real ensemble.
    const members = [];
    for (let i = 0; i < MEMBERS; i++) {
      const name = `${kind}_member${i}${file.slice(file.lastIndexOf("."))}`;
      symlinkSync(join(dir, file), join(root, "bench", name));
      members.push({ weights: name });
    }
    writeFileSync(join(root, "bench", `${kind}.json`), JSON.stringify({ name: `convnext_base x${MEMBERS} (${kind})`, members }));
  }
  return root;
}

async function measure(url, manifest, workers) {
  const profile = mkdtempSync(join(tmpdir(), "chexlens-memory-profile-"));
  const browser = await launchChromiumProfile(profile);
  try {
    const page = browser.pages()[0] ?? (await browser.newPage());
    const limit = workers ? `&workers=${workers}` : "";
    await page.goto(`${url}?backend=cpu${limit}`);
    await page.waitForSelector('[data-testid="load-demo"]');
    await new Promise((r) => setTimeout(r, 1000));
    const base = rss();
    let top = base;
    const sample = () => {
      const now = rss();
      if (now.total > top.total) top = now;
    };
    const sampler = setInterval(sample, 50);
    const started = Date.now();
    // The page loads a `?model=` manifest on opening, as a shared link does.
    await page.goto(`${url}?backend=cpu${limit}&model=${encodeURIComponent(`${url}bench/${manifest}`)}`);
    await page.waitForSelector('[data-testid="model-status"][data-state="ready"], [data-testid="model-status"][data-state="error"]', { timeout: 900_000 });
    const readyS = (Date.now() - started) / 1000;
    clearInterval(sampler);
    sample();
    // Where the peak is: the page and its workers (renderer), the browser
    // process (which handles storage for the page), the rest.
    const growth = (type) => ((top.byType[type] ?? 0) - (base.byType[type] ?? 0)) / 1e9;
    const signed = (gb) => `${gb <= -0.005 ? "-" : "+"}${Math.abs(gb).toFixed(2)} GB`;
    const where = `renderer ${signed(growth("renderer"))}, browser ${signed(growth("browser"))}`;
    const state = await page.getByTestId("model-status").getAttribute("data-state");
    const shown = await page.getByTestId("workers").count();
    const inWorkers = shown ? Number(await page.getByTestId("workers").textContent()) : 1;
    const message = await page.getByTestId("model-status").textContent();
    return { state, message, baseline: base.total, peak: top.total, readyS, workers: inWorkers, where };
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

const root = site();
const server = await serveDist(root);
const unsized = await serveDist(root, { sizes: false });
try {
  // The f32 weight bytes: the .pth's size (its tensors are f32; the pickle around them is a few kB).
  const f32Bytes = MEMBERS * statSync(join(dir, "convnext_base_member0.pth")).size;
  console.log(`chexlens page memory while loading ${MEMBERS} convnext_base members (${(f32Bytes / 1e9).toFixed(2)} GB of f32 weights), Chromium, CPU backend`);
  console.log(`${"".padEnd(40)}${"baseline".padStart(10)}${"peak".padStart(10)}${"above".padStart(10)}${"ratio".padStart(8)}${"goal".padStart(7)}${"ready".padStart(9)}`);
  for (const [copy, host] of [["", server], [", no copy", unsized]]) {
    for (const [kind, label] of [["pth", ".pth, f32"], ["f16", "safetensors, f16"]]) {
      for (const workers of [undefined, 1]) {
        const r = await measure(host.url, `${kind}.json`, workers);
        const name = `${label}, ${r.workers} worker${r.workers > 1 ? "s" : ""}${copy}`;
        if (r.state !== "ready") {
          console.log(`${name.padEnd(40)}did not load: ${r.message}`);
          continue;
        }
        const above = r.peak - r.baseline;
        const goal = workers === 1 ? GOALS.one : GOALS.members;
        const gb = (b) => `${(b / 1e9).toFixed(2)} GB`.padStart(10);
        console.log(`${name.padEnd(40)}${gb(r.baseline)}${gb(r.peak)}${gb(above)}${(above / f32Bytes).toFixed(2).padStart(8)}${goal.toFixed(1).padStart(7)}${`${r.readyS.toFixed(1)} s`.padStart(9)}   ${r.where}`);
      }
    }
  }
} finally {
  await server.close();
  await unsized.close();
}
