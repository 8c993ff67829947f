// chexlens in headless Chromium against ONNX Runtime Web, same machine, same
// run: one convnext_base member (the checkpoint tools/bench/pytorch_peer.py
// writes; chexlens reads it converted to f16 safetensors, ORT as ONNX),
// 384x384, then an analysis by a three-member ensemble (that member three
// times: the same work as three different members). chexlens is timed by the
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

async function chexlens(browser, url, backend, count, { manifest = "manifest.json", workers } = {}) {
  return timeAnalyses(browser, url, { backend, manifestUrl: `${url}bench/${manifest}`, workers, count });
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
try {
  const results = [];
  const add = (name, r) => {
    results.push({ name, load: r.loadMs / 1000, forward: median(r.times) / 1000, spread: [Math.min(...r.times), Math.max(...r.times)].map((t) => t / 1000) });
    const last = results.at(-1);
    console.error(`# ${name}: load ${last.load.toFixed(1)} s, median ${last.forward.toFixed(2)} s of ${r.times.length}`);
  };
  add("chexlens, CPU backend (1 worker)", await chexlens(browser, plain.url, "cpu", runs));
  const ort1 = await ort(browser, isolated.url, 1, runs);
  add("ONNX Runtime Web, wasm SIMD, 1 thread", ort1);
  const cores = availableParallelism();
  const ortN = await ort(browser, isolated.url, cores, runs);
  add(`ONNX Runtime Web, wasm SIMD, ${cores} threads`, ortN);
  if (webgpuRuns > 0) add("chexlens, WebGPU backend", await chexlens(browser, plain.url, "webgpu", webgpuRuns));
  else console.error("# WebGPU not timed (--webgpu-runs N, on a machine where Chromium has a GPU)");

  // The analysis a user runs: three members. ORT runs them one after another.
  const ensemble = [];
  const addEnsemble = (name, seconds) => {
    ensemble.push({ name, seconds });
    console.error(`# ${name}: ${seconds.toFixed(2)} s`);
  };
  for (const workers of [1, undefined]) {
    const r = await chexlens(browser, plain.url, "cpu", runs, { manifest: "ensemble.json", workers });
    addEnsemble(`chexlens, CPU backend, ${r.workers} worker${r.workers > 1 ? "s" : ""}`, median(r.times) / 1000);
  }
  addEnsemble("ONNX Runtime Web, 1 thread, 3 runs", 3 * results[1].forward);
  addEnsemble(`ONNX Runtime Web, ${cores} threads, 3 runs`, 3 * results[2].forward);

  const version = browser.version();
  console.log(`chexlens vs ONNX Runtime Web 1.30.0 in Chromium ${version} (${cores} cores): convnext_base, 384x384, median after 1 warm-up`);
  console.log("One member:");
  console.log(`${"".padEnd(44)}${"load".padStart(9)}${"forward".padStart(10)}   ratio to ORT 1 thread / ${cores} threads`);
  const [, ortOne, ortMany] = results;
  for (const r of results) {
    console.log(`${r.name.padEnd(44)}${r.load.toFixed(1).padStart(7)} s${r.forward.toFixed(2).padStart(8)} s   ${(r.forward / ortOne.forward).toFixed(2)} / ${(r.forward / ortMany.forward).toFixed(2)}`);
  }
  console.log("An analysis, three members:");
  console.log(`${"".padEnd(44)}${"time".padStart(9)}   ratio to ORT 1 thread / ${cores} threads`);
  const [, , ensOne, ensMany] = ensemble;
  for (const r of ensemble) {
    console.log(`${r.name.padEnd(44)}${r.seconds.toFixed(2).padStart(7)} s   ${(r.seconds / ensOne.seconds).toFixed(2)} / ${(r.seconds / ensMany.seconds).toFixed(2)}`);
  }
  console.log(`ONNX Runtime Web's logits vs PyTorch's: largest difference ${Math.max(ort1.drift, ortN.drift).toExponential(2)}`);
} finally {
  await browser.close();
  await plain.close();
  await isolated.close();
}
