// A static server for the built page: what `scripts/serve` runs (no file
// watcher, nothing rebuilt) and what the browser tests serve dist/ with.
// No dependencies beyond Node.js.
//   node tools/serve/static.mjs [DIR] [PORT]

import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const TYPES = {
  ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".css": "text/css",
  ".json": "application/json", ".png": "image/png", ".svg": "image/svg+xml", ".webmanifest": "application/manifest+json",
};

/**
 * Serves a built folder on a loopback port (a free one unless given); `log`
 * records every request (method, path, Service-Worker header, whether it had
 * a body) and `requests` lists their paths. `setRoot` swaps the folder (a new deployment),
 * `setDown(true)` drops every connection (the network is gone), and
 * `setTruncate(fn)` cuts matching files in half after announcing their full
 * length (a download that breaks part-way). `headers` go on every file
 * (the browser benchmark's cross-origin isolation). With `sizes: false` no
 * Content-Length is sent (chunked), as servers that stream do.
 */
export async function serveDist(root, { headers = {}, port = 0, record = true, sizes = true } = {}) {
  const log = [];
  let down = false;
  let truncate = null;
  const server = createServer(async (req, res) => {
    if (record) log.push({
      method: req.method,
      url: req.url,
      serviceWorker: req.headers["service-worker"] ?? null,
      hasBody: Number(req.headers["content-length"] ?? 0) > 0 || "transfer-encoding" in req.headers,
    });
    if (down) {
      req.socket.destroy();
      return;
    }
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
    let file = join(root, path);
    try {
      if ((await stat(file)).isDirectory()) file = join(file, "index.html");
      const body = await readFile(file);
      res.writeHead(200, {
        "content-type": TYPES[extname(file)] ?? "application/octet-stream",
        ...(sizes ? { "content-length": body.length } : {}),
        "cache-control": "no-cache",
        ...headers,
      });
      if (truncate?.(path)) {
        res.write(body.subarray(0, body.length >> 1));
        setTimeout(() => req.socket.destroy(), 50);
        return;
      }
      res.end(req.method === "HEAD" ? undefined : body);
    } catch {
      res.writeHead(404).end("not found");
    }
  });
  await new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, "127.0.0.1", ok);
  });
  const url = `http://127.0.0.1:${server.address().port}/`;
  return {
    url,
    log,
    get requests() { return log.map((r) => r.url); },
    setRoot: (dir) => { root = dir; },
    setDown: (value) => { down = value; },
    setTruncate: (fn) => { truncate = fn; },
    close: () => new Promise((ok) => { server.closeAllConnections(); server.close(ok); }),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const [dir = "dist", port = "8080"] = process.argv.slice(2);
  try {
    const server = await serveDist(resolve(dir), { port: Number(port), record: false });
    console.log(`serving ${dir} on ${server.url} (Ctrl-C stops)`);
  } catch (e) {
    console.error(`serve: cannot listen on 127.0.0.1:${port} (${e.code ?? e.message})`);
    process.exit(1);
  }
}
