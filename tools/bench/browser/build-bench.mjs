// Builds the page once per variant (worker and page wasm-opt levels, with
// tools/build/page.mjs into DIR/dist-NAME), then times each build's analyses
// in one Chromium, variant after variant in each round so that a slow
// moment of the machine falls on all of them, and prints each against the
// first variant (the peer). Run through tools/bench/build-bench.
//
//   node build-bench.mjs DIR [--runs 3] [--rounds 2] [--webgpu-runs 3] [--variants "peer=3,z none=0,0"] [--keep]
//
// --keep reuses a variant's DIR/dist-NAME from an earlier run (its wasm-opt
// time is then not known).

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { serveDist, launchChromium, ROOT } from "../../../tests/e2e/harness.mjs";
import { timeAnalyses, median } from "./page-timing.mjs";

const args = process.argv.slice(2);
const dir = args[0];
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const runs = Number(option("--runs", 3));
const rounds = Number(option("--rounds", 2));
const webgpuRuns = Number(option("--webgpu-runs", 3));
// NAME=WORKER_LEVEL,PAGE_LEVEL; 0 is no wasm-opt.
const variants = option("--variants", "peer=3,z chosen=3s,z O1=1,1 none=0,0")
  .split(/\s+/)
  .map((spec) => {
    const [name, levels] = spec.split("=");
    const [worker, page] = levels.split(",");
    return { name, worker, page };
  });

const keep = args.includes("--keep");

function build(variant) {
  const out = join(dir, `dist-${variant.name}`);
  const kept = keep && existsSync(join(out, "index.html"));
  const printed = kept ? null : execFileSync("node", [
    join(ROOT, "tools/build/page.mjs"), "--out", out, "--timings",
    "--wasm-opt", `chexlens-worker=${variant.worker}`, "--wasm-opt", `chexlens-web=${variant.page}`,
  ], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  const seconds = (step) => (kept ? NaN : Number(new RegExp(`^${step}\\s+([\\d.]+) s`, "m").exec(printed)?.[1] ?? 0));
  const files = readdirSync(out);
  const wasm = (prefix) => readFileSync(join(out, files.find((f) => f.startsWith(prefix) && f.endsWith("_bg.wasm"))));
  const size = (bytes) => ({ bytes: bytes.length, gzip: gzipSync(bytes).length });
  return {
    ...variant,
    out,
    optSeconds: { worker: seconds("wasm-opt -O\\S+ chexlens-worker"), page: seconds("wasm-opt -O\\S+ chexlens-web") },
    workerSize: size(wasm("chexlens-worker-")),
    pageSize: size(wasm("chexlens-web-")),
  };
}

/** The build's files and the bench member, served together. */
function site(build) {
  const root = join(dir, `site-${build.name}`);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(root, "bench"), { recursive: true });
  for (const entry of readdirSync(build.out)) symlinkSync(join(build.out, entry), join(root, entry));
  symlinkSync(join(dir, "member_f16.safetensors"), join(root, "bench", "member_f16.safetensors"));
  writeFileSync(join(root, "bench", "manifest.json"), JSON.stringify({
    name: "convnext_base bench member",
    members: [{ weights: "member_f16.safetensors" }],
  }));
  return root;
}

const builds = variants.map(build);
const servers = await Promise.all(builds.map((b) => serveDist(site(b), { record: false })));
const browser = await launchChromium();
const version = browser.version();
const cpu = builds.map(() => []);
const loads = builds.map(() => []);
const webgpu = builds.map(() => []);
try {
  for (let round = 0; round < rounds; round++) {
    for (const [i, b] of builds.entries()) {
      const { url } = servers[i];
      const one = await timeAnalyses(browser, url, { backend: "cpu", manifestUrl: `${url}bench/manifest.json`, workers: 1, count: runs });
      cpu[i].push(...one.times);
      loads[i].push(one.loadMs);
      if (webgpuRuns > 0) {
        const demo = await timeAnalyses(browser, url, { backend: "webgpu", count: webgpuRuns });
        webgpu[i].push(...demo.times);
      }
      console.error(`# round ${round + 1}, ${b.name}: CPU ${one.times.join(" ")} ms`);
    }
  }
} finally {
  await browser.close();
  await Promise.all(servers.map((s) => s.close()));
}

const mb = (n) => (n / 1e6).toFixed(1);
console.log(`Builds of the page in Chromium ${version}: wasm-opt levels worker,page; sizes in MB (gzip level 6);`);
console.log(`load = median time to model-ready (page, worker and the member's 176 MB); analysis = median "Analysed in" of ${rounds * runs}: one generated convnext_base member on the CPU backend${webgpuRuns > 0 ? ", and the demo on WebGPU" : ""}; ratio to ${builds[0].name}`);
const header = ["variant", "levels", "wasm-opt s", "worker MB", "gzip", "page MB", "gzip", "load s", "CPU s", "ratio", ...(webgpuRuns > 0 ? ["WebGPU demo s", "ratio"] : [])];
console.log(`| ${header.join(" | ")} |`);
console.log(`|${header.map(() => "---").join("|")}|`);
const peerCpu = median(cpu[0]);
const peerGpu = webgpuRuns > 0 ? median(webgpu[0]) : 0;
for (const [i, b] of builds.entries()) {
  const c = median(cpu[i]);
  const row = [
    b.name, `${b.worker},${b.page}`,
    Number.isNaN(b.optSeconds.worker) ? "kept" : `${b.optSeconds.worker.toFixed(0)} + ${b.optSeconds.page.toFixed(0)}`,
    mb(b.workerSize.bytes), mb(b.workerSize.gzip), mb(b.pageSize.bytes), mb(b.pageSize.gzip),
    (median(loads[i]) / 1000).toFixed(1), (c / 1000).toFixed(2), (c / peerCpu).toFixed(3),
  ];
  if (webgpuRuns > 0) {
    const g = median(webgpu[i]);
    row.push((g / 1000).toFixed(2), (g / peerGpu).toFixed(3));
  }
  console.log(`| ${row.join(" | ")} |`);
}
