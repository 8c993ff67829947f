// The last step of tools/build/page.mjs: makes the build an offline PWA.
//
// 1. Content-hashes the model worker's files (the build names them
//    chexlens-worker.js, _bg.wasm and _loader.js), so that no page can load a
//    worker from another build; the page finds the loader through
//    <meta name="chexlens-worker">. The same for the threaded worker
//    (chexlens-worker-threads.js and _bg.wasm, an ES module: its loader is
//    written here), found through <meta name="chexlens-threads-worker">.
// 2. Versions the build (a hash of every shell file) in
//    <meta name="chexlens-build">.
// 3. Adds the page's Content-Security-Policy, with the hashes of the
//    inline start-up script (no 'unsafe-inline').
// 4. Writes sw.js from tools/pwa/sw.js with the version and the shell list
//    (everything but the models, which the model cache handles).
//
//   node tools/pwa/finish-build.mjs DIR

import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync, renameSync, readdirSync, statSync } from "node:fs";
import { join, relative, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const dir = process.argv[2];
if (!dir) {
  console.error("finish-build: no directory given");
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const sha256 = (data) => createHash("sha256").update(data).digest();
const hex16 = (data) => sha256(data).toString("hex").slice(0, 16);

// 1. The worker, content-hashed.
const workerJs = readFileSync(join(dir, "chexlens-worker.js"));
const workerWasm = readFileSync(join(dir, "chexlens-worker_bg.wasm"));
const workerHash = hex16(Buffer.concat([workerJs, workerWasm]));
const base = `chexlens-worker-${workerHash}`;
renameSync(join(dir, "chexlens-worker.js"), join(dir, `${base}.js`));
renameSync(join(dir, "chexlens-worker_bg.wasm"), join(dir, `${base}_bg.wasm`));
renameSync(join(dir, "chexlens-worker_loader.js"), join(dir, `${base}_loader.js`));
writeFileSync(join(dir, `${base}_loader.js`), `importScripts("./${base}.js");wasm_bindgen("./${base}_bg.wasm");\n`);
let threadsBase = null;
if (existsSync(join(dir, "chexlens-worker-threads.js"))) {
  const js = readFileSync(join(dir, "chexlens-worker-threads.js"));
  const wasm = readFileSync(join(dir, "chexlens-worker-threads_bg.wasm"));
  threadsBase = `chexlens-worker-threads-${hex16(Buffer.concat([js, wasm]))}`;
  renameSync(join(dir, "chexlens-worker-threads.js"), join(dir, `${threadsBase}.js`));
  renameSync(join(dir, "chexlens-worker-threads_bg.wasm"), join(dir, `${threadsBase}_bg.wasm`));
  // wasm-bindgen-rayon's helpers import the bindings by their own address.
  writeFileSync(
    join(dir, `${threadsBase}_loader.js`),
    `import init from "./${threadsBase}.js";\nawait init({ module_or_path: "./${threadsBase}_bg.wasm" });\n`,
  );
}

// 2. The shell and its version.
function walk(d) {
  return readdirSync(d).flatMap((name) => {
    const path = join(d, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}
const shell = walk(dir)
  .map((p) => relative(dir, p).split("\\").join("/"))
  .filter((p) => !p.startsWith("models/") && p !== "sw.js")
  .sort();
const versionHash = createHash("sha256");
for (const path of shell) versionHash.update(`${path}\0`).update(sha256(readFileSync(join(dir, path))));
const version = versionHash.digest("hex").slice(0, 16);

// 3. The page: worker address, build version, CSP.
const indexPath = join(dir, "index.html");
let html = readFileSync(indexPath, "utf8");
const inlineHashes = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].map(
  (m) => `'sha256-${sha256(m[1]).toString("base64")}'`,
);
const csp = [
  "default-src 'none'",
  `script-src 'self' 'wasm-unsafe-eval' ${inlineHashes.join(" ")}`.trim(),
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "worker-src 'self'",
  "manifest-src 'self'",
  "base-uri 'self'",
  "form-action 'none'",
].join("; ");
const metas = [
  `<meta http-equiv="Content-Security-Policy" content="${csp}">`,
  `<meta name="chexlens-build" content="${version}">`,
  `<meta name="chexlens-worker" content="./${base}_loader.js">`,
  ...(threadsBase ? [`<meta name="chexlens-threads-worker" content="./${threadsBase}_loader.js">`] : []),
].join("\n  ");
html = html.replace(/<meta charset="utf-8">/, (m) => `${m}\n  ${metas}`);
writeFileSync(indexPath, html);

// 4. The service worker.
const template = readFileSync(join(here, "sw.js"), "utf8");
const sw = template
  .replace('"__CHEXLENS_VERSION__"', JSON.stringify(version))
  .replace('["__CHEXLENS_SHELL__"]', JSON.stringify(shell.map((p) => `./${p}`)));
writeFileSync(join(dir, "sw.js"), sw);
console.log(`finish-build: build ${version}, worker ${base}${threadsBase ? ` and ${threadsBase}` : ""}, ${shell.length} shell files`);
