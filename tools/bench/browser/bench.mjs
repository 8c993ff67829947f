// chexlens in headless Chromium against ONNX Runtime Web, same machine, same
// run: one convnext_base member (the checkpoint tools/bench/pytorch_peer.py
// writes; chexlens reads it converted to f16 safetensors, ORT as ONNX),
// 384x384, then an analysis by a three-member ensemble (that member three
// times: the same work as three different members). chexlens runs its plain
// worker in a page that is not cross-origin isolated (one thread a worker,
// members in workers side by side) and its threaded worker in an isolated
// one (served with COOP/COEP, as its service worker serves it), on pools of
// 1, 2 and all cores, beside ORT-Web on as many threads. chexlens is timed by the
// page's own "Analysed in N ms" (decode, preprocessing and the forward
// passes, in its workers); ORT by session.run, three runs one after another
// for the ensemble. Run through tools/bench/browser-bench, which prepares
// the files.
//
//   node bench.mjs DIR [--runs 3] [--webgpu-runs 0]

import { mkdirSync, rmSync, symlinkSync, readdirSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { availableParallelism } from "node:os";
import { serveDist, launchChromium, DIST } from "../../../tests/e2e/harness.mjs";
import { timeAnalyses, median } from "./page-timing.mjs";

const args = process.argv.slice(2);
const dir = args[0];
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const runs = option("--runs", 3);
// WebGPU only where Chromium has a real GPU: with its software fallback the
// first convnext_base forward did not finish in eight minutes on 2 cores.
const webgpuRuns = option("--webgpu-runs", 0);
const HERE = import.meta.dirname;

function site() {
  const root = join(dir, "site");
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(root, "bench"), { recursive: true });
  for (const entry of readdirSync(DIST)) symlinkSync(join(DIST, entry), join(root, entry));
  const bench = join(root, "bench");
  symlinkSync(join(dir, "member0_f16.safetensors"), join(bench, "member0_f16.safetensors"));
  symlinkSync(join(dir, "member0.onnx"), join(bench, "member0.onnx"));
  symlinkSync(join(dir, "member0.expected.json"), join(bench, "member0.expected.json"));
  symlinkSync(join(HERE, "node_modules/onnxruntime-web/dist"), join(bench, "ort"));
  for (const f of ["ort.html", "ort-bench.mjs"]) symlinkSync(join(HERE, f), join(bench, f));
  writeFileSync(join(bench, "manifest.json"), JSON.stringify({
    name: "convnext_base bench member",
    members: [{ weights: "member0_f16.safetensors" }],
  }));
  writeFileSync(join(bench, "ensemble.json"), JSON.stringify({
    name: "convnext_base bench ensemble",
    members: [0, 1, 2].map(() => ({ weights: "member0_f16.safetensors" })),
  }));
  return root;
}

async function chexlens(browser, url, backend, count, { manifest = "manifest.json", workers, threads } = {}) {
  return timeAnalyses(browser, url, { backend, manifestUrl: `${url}bench/${manifest}`, workers, threads, count });
}

async function ort(browser, url, threads, count) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${url}bench/ort.html`);
  await page.waitForFunction(() => window.ortReady === true);
  const result = await page.evaluate((o) => window.runOrt(o), { threads, runs: count, warmup: 1 });
  await context.close();
  if (threads > 1 && !result.isolated) throw new Error("the ORT page is not cross-origin isolated: no threads");
  if (result.drift > 1e-3) throw new Error(`ONNX Runtime Web's logits differ from PyTorch's by ${result.drift}`);
  return result;
}

for (const f of ["member0_f16.safetensors", "member0.onnx", "member0.expected.json"]) {
  if (!existsSync(join(dir, f))) throw new Error(`${join(dir, f)} is missing: run tools/bench/browser-bench`);
}
const root = site();
const plain = await serveDist(root);
const isolated = await serveDist(root, {
  headers: { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" },
});
const browser = await launchChromium();
const cores = availableParallelism();
const counts = [...new Set([1, 2, cores])].filter((n) => n <= cores);
try {
  const results = [];
  const add = (name, r, extra = {}) => {
    results.push({ name, load: r.loadMs / 1000, forward: median(r.times) / 1000, ...extra });
    const last = results.at(-1);
    console.error(`# ${name}: load ${last.load.toFixed(1)} s, median ${last.forward.toFixed(2)} s of ${r.times.length}`);
    return last;
  };
  // A plain page (not cross-origin isolated): the plain worker, one thread.
  add("chexlens, CPU, plain worker", await chexlens(browser, plain.url, "cpu", runs, { threads: 0 }));
  // An isolated page: the threaded worker on a pool of n threads.
  const threaded = {};
  for (const n of counts) {
    const r = await chexlens(browser, isolated.url, "cpu", runs, { threads: n });
    if (r.threads !== n) throw new Error(`the isolated page ran ${r.threads} threads, not ${n}`);
    threaded[n] = add(`chexlens, CPU, threaded worker, ${n} thread${n > 1 ? "s" : ""}`, r);
  }
  const ortRuns = {};
  for (const n of counts) ortRuns[n] = await ort(browser, isolated.url, n, runs);
  const ortOne = {};
  for (const n of counts) ortOne[n] = add(`ONNX Runtime Web, wasm SIMD, ${n} thread${n > 1 ? "s" : ""}`, ortRuns[n]);
  if (webgpuRuns > 0) add("chexlens, WebGPU backend", await chexlens(browser, plain.url, "webgpu", webgpuRuns));
  else console.error("# WebGPU not timed (--webgpu-runs N, on a machine where Chromium has a GPU)");

  // The analysis a user runs: three members. ORT runs them one after another.
  const ensemble = [];
  const addEnsemble = (name, seconds) => {
    ensemble.push({ name, seconds });
    console.error(`# ${name}: ${seconds.toFixed(2)} s`);
    return seconds;
  };
  for (const workers of [1, undefined]) {
    const r = await chexlens(browser, plain.url, "cpu", runs, { manifest: "ensemble.json", workers, threads: 0 });
    addEnsemble(`chexlens, CPU, plain: ${r.workers} worker${r.workers > 1 ? "s" : ""}`, median(r.times) / 1000);
  }
  // The threaded worker keeping its members (?workers=1), on each pool.
  const threadedEnsemble = {};
  for (const n of counts) {
    const r = await chexlens(browser, isolated.url, "cpu", runs, { manifest: "ensemble.json", threads: n, workers: 1 });
    threadedEnsemble[n] = addEnsemble(`chexlens, CPU, threaded: 1 worker, ${n} thread${n > 1 ? "s" : ""}`, median(r.times) / 1000);
  }
  // What an isolated page chooses by itself for these cores and members.
  const chosen = await chexlens(browser, isolated.url, "cpu", runs, { manifest: "ensemble.json" });
  addEnsemble(
    `chexlens, CPU, isolated page's choice: ${chosen.workers} worker${chosen.workers > 1 ? "s" : ""} x ${chosen.threads} thread${chosen.threads > 1 ? "s" : ""}`,
    median(chosen.times) / 1000,
  );
  const ortEnsemble = {};
  for (const n of counts) ortEnsemble[n] = addEnsemble(`ONNX Runtime Web, ${n} thread${n > 1 ? "s" : ""}, 3 runs`, 3 * ortOne[n].forward);

  const top = cores;
  const version = browser.version();
  console.log(`chexlens vs ONNX Runtime Web 1.30.0 in Chromium ${version} (${cores} cores): convnext_base, 384x384, median of ${runs} after 1 warm-up`);
  console.log("One member:");
  console.log(`${"".padEnd(48)}${"load".padStart(9)}${"forward".padStart(10)}   ratio to ORT 1 thread / ${top} threads`);
  for (const r of results) {
    console.log(`${r.name.padEnd(48)}${r.load.toFixed(1).padStart(7)} s${r.forward.toFixed(2).padStart(8)} s   ${(r.forward / ortOne[1].forward).toFixed(2)} / ${(r.forward / ortOne[top].forward).toFixed(2)}`);
  }
  console.log("An analysis, three members:");
  console.log(`${"".padEnd(48)}${"time".padStart(9)}   ratio to ORT 1 thread / ${top} threads`);
  for (const r of ensemble) {
    console.log(`${r.name.padEnd(48)}${r.seconds.toFixed(2).padStart(7)} s   ${(r.seconds / ortEnsemble[1]).toFixed(2)} / ${(r.seconds / ortEnsemble[top]).toFixed(2)}`);
  }
  console.log("Scaling with threads (chexlens threaded worker vs ORT-Web on as many threads; speed-up over 1 thread):");
  console.log(`${"threads".padEnd(9)}${"chexlens 1".padStart(12)}${"ORT 1".padStart(9)}${"ratio".padStart(7)}${"chexlens 3".padStart(12)}${"ORT 3".padStart(9)}${"ratio".padStart(7)}${"speed-up".padStart(10)}`);
  for (const n of counts) {
    const one = threaded[n].forward;
    const three = threadedEnsemble[n];
    console.log(`${String(n).padEnd(9)}${one.toFixed(2).padStart(10)} s${ortOne[n].forward.toFixed(2).padStart(7)} s${(one / ortOne[n].forward).toFixed(2).padStart(7)}${three.toFixed(2).padStart(10)} s${ortEnsemble[n].toFixed(2).padStart(7)} s${(three / ortEnsemble[n]).toFixed(2).padStart(7)}${(threaded[1].forward / one).toFixed(2).padStart(9)}x`);
  }
  const drift = Math.max(...Object.values(ortRuns).map((r) => r.drift));
  console.log(`ONNX Runtime Web's logits vs PyTorch's: largest difference ${drift.toExponential(2)}`);
} finally {
  await browser.close();
  await plain.close();
  await isolated.close();
}
