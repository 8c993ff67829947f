// Times the page's own analyses in headless Chromium: the "Analysed in N ms"
// the page shows (decode, preprocessing and the forward passes, in its
// workers), the median after one warm-up. Shared by the browser benchmark
// (bench.mjs, against ONNX Runtime Web) and the build benchmark
// (build-bench.mjs, one build of the page against another).

import { analyse, FIXTURES } from "../../../tests/e2e/harness.mjs";
import { join } from "node:path";

export const IMAGES = ["resized_xray_grey.png", "resized_xray_rgb.png"].map((f) => join(FIXTURES, f));
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Opens the page at `url` on `backend` (cpu or webgpu) with the model at
 * `manifestUrl` (the built-in demo when absent), analyses `count` + 1 images
 * and returns the load time and the analysis times after the first, in ms,
 * with the number of workers and threads the page used. `threads` is the
 * threaded worker's pool (`?threads=`; 0: the plain worker), which runs in
 * a cross-origin isolated page only.
 */
export async function timeAnalyses(browser, url, { backend, manifestUrl, workers, threads, count }) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const started = Date.now();
  const params = new URLSearchParams({ backend });
  if (workers) params.set("workers", String(workers));
  if (threads !== undefined) params.set("threads", String(threads));
  if (manifestUrl) params.set("model", manifestUrl);
  await page.goto(`${url}?${params}`);
  if (!manifestUrl) await page.getByTestId("load-demo").click();
  await page.waitForSelector('[data-testid="model-status"][data-state="ready"], [data-testid="model-status"][data-state="error"]', { timeout: 600_000 });
  if ((await page.getByTestId("model-status").getAttribute("data-state")) === "error") {
    throw new Error(`chexlens (${backend}) could not load the model: ${await page.getByTestId("model-status").textContent()}`);
  }
  const loadMs = Date.now() - started;
  const shown = await page.getByTestId("workers").count();
  const inWorkers = shown ? Number(await page.getByTestId("workers").textContent()) : 1;
  const threadsShown = await page.getByTestId("threads").count();
  const onThreads = threadsShown ? Number(await page.getByTestId("threads").textContent()) : 1;
  await page.getByTestId("threshold").fill("1"); // no findings, so no heat maps between runs
  const times = [];
  for (let i = 0; i < count + 1; i++) {
    const state = await analyse(page, IMAGES[i % IMAGES.length]);
    if (state !== "done") throw new Error(`chexlens (${backend}): analysis ${state}`);
    const text = await page.getByTestId("analysis-status").textContent();
    const ms = Number(/Analysed in (\d+) ms/.exec(text)?.[1]);
    if (i > 0) times.push(ms); // the first is the warm-up
  }
  await context.close();
  return { loadMs, times, workers: inWorkers, threads: onThreads };
}
