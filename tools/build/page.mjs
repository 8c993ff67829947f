// Builds the page into dist/: what trunk did for this project, without
// installing trunk (13 minutes of a fresh machine's first run; see README,
// "Build time"). index.html is the template; its `data-build` links say what
// to build:
//   <link data-build rel="css" href="style.css">            hashed, with SRI
//   <link data-build rel="copy-dir" href="public/models">   copied as models/
//   <link data-build rel="copy-file" href="public/x.json">  copied as x.json
//   <link data-build rel="rust" data-bin="NAME" data-type="main|worker|threads-worker" data-wasm-opt="LEVEL">
// The page and the worker come from one cargo invocation (their
// dependencies are shared). The threads-worker is the worker built again
// with wasm threads (atomics and shared memory, so the standard library is
// rebuilt too: -Z build-std on this toolchain, enabled by RUSTC_BOOTSTRAP,
// so that no second toolchain is needed) into target/wasm-threads, as an ES
// module with wasm-bindgen-rayon's helper script beside it. Then
// wasm-bindgen and wasm-opt (native binaryen, tools/build/wasm_opt.py) run
// on all of them side by side. The result is staged beside dist/ and
// swapped in whole, after tools/pwa/finish-build.mjs has made it a PWA.
//
//   node tools/build/page.mjs            release build into dist/
//   node tools/build/page.mjs --debug    cargo's dev profile, no wasm-opt
//   node tools/build/page.mjs --timings  also print each step's time
//   node tools/build/page.mjs --out DIR --wasm-opt chexlens-worker=0
//                                        another folder, another wasm-opt
//                                        level (tools/bench/build-bench)

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { basename, join, resolve } from "node:path";

// A failed step says which, without a stack trace (its tool has printed why).
process.on("uncaughtException", (error) => {
  console.error(`page: ${error.message}`);
  process.exit(1);
});

const ROOT = join(import.meta.dirname, "..", "..");
const args = process.argv.slice(2);
const release = !args.includes("--debug");
const option = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const DIST = resolve(option("--out") ?? join(ROOT, "dist"));
const STAGING = `${DIST}.staging`;
const levelOverrides = Object.fromEntries(
  args.flatMap((a, i) => (a === "--wasm-opt" ? [args[i + 1].split("=")] : [])),
);
const BINDGEN_OUT = join(ROOT, "target", "page-bindgen");
const TARGET = "wasm32-unknown-unknown";
// Native binaryen, installed by scripts/setup (tools/build/wasm_opt.py).
const WASM_OPT_PYTHON = join(ROOT, ".tools/binaryen-venv/bin/python");

const timings = [];
async function step(name, work) {
  const started = performance.now();
  const result = await work();
  const seconds = (performance.now() - started) / 1000;
  timings.push([name, seconds]);
  console.error(`page: ${name} done in ${seconds.toFixed(1)} s`);
  return result;
}

function run(command, commandArgs, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, commandArgs, { cwd: ROOT, stdio: "inherit", env: { ...process.env, ...env } });
    child.on("error", (error) => reject(new Error(`${command}: ${error.message} (run bash scripts/setup)`)));
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${commandArgs.join(" ")} exited with ${code}`))));
  });
}

const sha256 = (data) => createHash("sha256").update(data).digest();
const hashedName = (stem, data) => `${stem}-${sha256(data).toString("hex").slice(0, 16)}`;
const integrity = (data) => `sha384-${createHash("sha384").update(data).digest("base64")}`;
const attribute = (tag, name) => new RegExp(`\\b${name}="([^"]*)"`).exec(tag)?.[1];

const template = readFileSync(join(ROOT, "index.html"), "utf8");
const links = [...template.matchAll(/<link data-build [^>]*>/g)].map((m) => m[0]);
const rustLinks = links.filter((tag) => attribute(tag, "rel") === "rust");

rmSync(STAGING, { recursive: true, force: true });
mkdirSync(STAGING, { recursive: true });

// 1. The page and the worker in one cargo run, then the threaded worker.
const profile = release ? "release" : "debug";
const isThreads = (tag) => attribute(tag, "data-type") === "threads-worker";
await step("cargo build (wasm32)", () =>
  run("cargo", ["build", "--locked", `--target=${TARGET}`, ...(release ? ["--release"] : []),
    ...rustLinks.filter((tag) => !isThreads(tag)).flatMap((tag) => ["--bin", attribute(tag, "data-bin")])]),
);
const THREADS_TARGET_DIR = join(ROOT, "target", "wasm-threads");
// Shared memory up to wasm32's 4 GiB (three convnext_base members take
// about 1.3 GB); the TLS exports are what wasm-bindgen's thread start-up calls.
const THREADS_RUSTFLAGS = [
  "-C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128",
  ...["--shared-memory", "--import-memory", "--max-memory=4294967296",
    ...["__wasm_init_tls", "__tls_size", "__tls_align", "__tls_base"].map((s) => `--export=${s}`)]
    .map((arg) => `-C link-arg=${arg}`),
].join(" ");
for (const tag of rustLinks.filter(isThreads)) {
  await step("cargo build (wasm32, threads)", () =>
    run("cargo", ["build", "--locked", `--target=${TARGET}`, ...(release ? ["--release"] : []),
      "-Z", "build-std=std,panic_abort", `--target-dir=${THREADS_TARGET_DIR}`,
      "-p", attribute(tag, "data-bin"), "--bin", attribute(tag, "data-bin")],
      { RUSTFLAGS: THREADS_RUSTFLAGS, RUSTC_BOOTSTRAP: "1" }),
  );
}

// 2. wasm-bindgen, then wasm-opt, for each binary (the two side by side).
async function bindgen(tag) {
  const type = attribute(tag, "data-type");
  const threads = type === "threads-worker";
  const built = attribute(tag, "data-bin");
  // The threaded worker is the same binary under another name.
  const bin = threads ? `${built}-threads` : built;
  const out = join(BINDGEN_OUT, bin);
  rmSync(out, { recursive: true, force: true });
  const input = threads
    ? join(THREADS_TARGET_DIR, TARGET, profile, `${built}.wasm`)
    : join(ROOT, "target", TARGET, profile, `${built}.wasm`);
  await step(`wasm-bindgen ${bin}`, () =>
    run("wasm-bindgen", [`--target=${type === "worker" ? "no-modules" : "web"}`, "--no-typescript",
      // Function names are for debugging (a sixth of the worker's bytes).
      ...(release ? ["--remove-name-section", "--remove-producers-section"] : []),
      `--out-dir=${out}`, `--out-name=${bin}`, input]),
  );
  const wasm = join(out, `${bin}_bg.wasm`);
  const level = levelOverrides[bin] ?? attribute(tag, "data-wasm-opt") ?? "0";
  if (release && level !== "0") {
    const optimised = `${wasm}.opt`;
    await step(`wasm-opt -O${level} ${bin}`, () =>
      run(WASM_OPT_PYTHON, [join(ROOT, "tools/build/wasm_opt.py"), level, wasm, optimised, threads ? "threads" : "plain"]));
    renameSync(optimised, wasm);
  }
  const snippets = join(out, "snippets");
  return {
    tag, bin, type, js: readFileSync(join(out, `${bin}.js`)), wasm: readFileSync(wasm),
    snippets: existsSync(snippets) ? snippets : null,
  };
}
const modules = await Promise.all(rustLinks.map(bindgen));

// 3. The page: every data-build link replaced by what it built.
let html = template;
const replaceLink = (tag, replacement) => {
  html = html.replace(tag, () => replacement);
};
for (const tag of links) {
  const rel = attribute(tag, "rel");
  const href = attribute(tag, "href");
  if (rel === "css") {
    const css = readFileSync(join(ROOT, href));
    const name = `${hashedName(basename(href, ".css"), css)}.css`;
    writeFileSync(join(STAGING, name), css);
    replaceLink(tag, `<link rel="stylesheet" href="./${name}" integrity="${integrity(css)}"/>`);
  } else if (rel === "copy-dir") {
    cpSync(join(ROOT, href), join(STAGING, basename(href)), { recursive: true });
    replaceLink(tag, "");
  } else if (rel === "copy-file") {
    cpSync(join(ROOT, href), join(STAGING, basename(href)));
    replaceLink(tag, "");
  } else if (rel !== "rust") {
    throw new Error(`index.html: unknown data-build link ${tag}`);
  }
}
for (const { tag, bin, type, js, wasm, snippets } of modules) {
  // Scripts the bindings import (wasm-bindgen-rayon's helper), by relative path.
  if (snippets) cpSync(snippets, join(STAGING, "snippets"), { recursive: true });
  if (type === "threads-worker") {
    // finish-build content-hashes these and writes the module loader.
    writeFileSync(join(STAGING, `${bin}.js`), js);
    writeFileSync(join(STAGING, `${bin}_bg.wasm`), wasm);
    replaceLink(tag, "");
    continue;
  }
  if (type === "worker") {
    // The page starts the worker itself; finish-build content-hashes these
    // and writes the loader.
    writeFileSync(join(STAGING, `${bin}.js`), js);
    writeFileSync(join(STAGING, `${bin}_bg.wasm`), wasm);
    writeFileSync(join(STAGING, `${bin}_loader.js`), `importScripts("./${bin}.js");wasm_bindgen("./${bin}_bg.wasm");\n`);
    replaceLink(tag, "");
    continue;
  }
  const base = hashedName(bin, Buffer.concat([js, wasm]));
  writeFileSync(join(STAGING, `${base}.js`), js);
  writeFileSync(join(STAGING, `${base}_bg.wasm`), wasm);
  const preloads = [
    `<link rel="modulepreload" href="./${base}.js" crossorigin="anonymous" integrity="${integrity(js)}">`,
    `<link rel="preload" href="./${base}_bg.wasm" crossorigin="anonymous" integrity="${integrity(wasm)}" as="fetch" type="application/wasm">`,
  ].join("\n");
  const start = `<script type="module">
import init, * as bindings from './${base}.js';
const wasm = await init({ module_or_path: './${base}_bg.wasm' });
window.wasmBindings = bindings;
</script>`;
  replaceLink(tag, "");
  html = html.replace("</head>", () => `${preloads}\n${start}\n</head>`);
}
html = html.replace(/\n\s*\n/g, "\n");
writeFileSync(join(STAGING, "index.html"), html);

// 4. The PWA step, then the swap.
await step("finish-build", () => run("node", [join(ROOT, "tools/pwa/finish-build.mjs"), STAGING]));
const old = `${DIST}.old`;
rmSync(old, { recursive: true, force: true });
if (existsSync(DIST)) renameSync(DIST, old);
renameSync(STAGING, DIST);
rmSync(old, { recursive: true, force: true });

const sizes = modules.map(({ bin, wasm }) => `${bin} ${(wasm.length / 1e6).toFixed(1)} MB`).join(", ");
console.error(`page: built dist/ (${profile}; ${sizes})`);
if (args.includes("--timings")) {
  for (const [name, seconds] of timings) console.log(`${name.padEnd(36)}${seconds.toFixed(1).padStart(8)} s`);
}
