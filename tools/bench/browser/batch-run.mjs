// One batch through the page as a researcher runs it: the files picked at
// once in the batch's file input, the Chromium processes' memory sampled
// from model-ready to the last image, and when each image finished. Used
// by tools/bench/batch-bench and by the batch's memory test.

import { linkSync, copyFileSync, mkdirSync, existsSync, statSync } from "node:fs";
import { join, extname } from "node:path";
import { rss } from "./processes.mjs";

/**
 * `count` copies of `source` in `dir` (made once, kept): hard links where
 * the file system allows, so that thousands of 7 MB DICOMs do not need
 * their size on disk twice; the browser reads each as its own file.
 */
export function copies(source, dir, count, { link = true } = {}) {
  mkdirSync(dir, { recursive: true });
  const paths = [];
  for (let i = 0; i < count; i++) {
    const path = join(dir, `image-${String(i).padStart(6, "0")}${extname(source)}`);
    if (!existsSync(path) || statSync(path).size !== statSync(source).size) {
      try {
        if (!link) throw new Error("copy");
        linkSync(source, path);
      } catch {
        copyFileSync(source, path);
      }
    }
    paths.push(path);
  }
  return paths;
}

const status = '[data-testid="batch-status"]';

/**
 * Picks `paths` in the page's batch input (a model must be ready) and waits
 * for every image to finish. Returns the memory above what it was just
 * before the pick (peak, and by process type at the peak) and, for each
 * half-second sample, the images finished so far.
 */
export async function runBatch(page, paths, { timeoutMs = 6 * 3600_000, sampleMs = 100 } = {}) {
  await new Promise((r) => setTimeout(r, 1000));
  const base = rss();
  let top = base;
  const sampler = setInterval(() => {
    const now = rss();
    if (now.total > top.total) top = now;
  }, sampleMs);
  const started = Date.now();
  const timeline = [];
  try {
    await page.getByTestId("batch-input").setInputFiles(paths);
    for (;;) {
      const [done, failed, total, running] = await page.locator(status).evaluate((el) =>
        ["done", "failed", "total", "running"].map((k) => el.dataset[k]),
      ).catch(() => [0, 0, 0, "true"]);
      const finished = Number(done) + Number(failed);
      timeline.push({ s: (Date.now() - started) / 1000, finished });
      if (Number(total) === paths.length && finished === paths.length && running === "false") {
        return {
          done: Number(done),
          failed: Number(failed),
          seconds: (Date.now() - started) / 1000,
          peakAbove: top.total - base.total,
          byType: Object.fromEntries(Object.keys(top.byType).map((t) => [t, top.byType[t] - (base.byType[t] ?? 0)])),
          timeline,
        };
      }
      if (Date.now() - started > timeoutMs) throw new Error(`the batch did not finish: ${finished} of ${paths.length}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    clearInterval(sampler);
  }
}

/**
 * Images per second over the first and the last `share` of a run's
 * images: from the first image's result (the time to it, pick and warm-up
 * included, is `firstResult`) to the one that ends the first share, and
 * from the one that starts the last share to the end.
 */
export function rates(timeline, count, share = 0.1) {
  const at = (n) => timeline.find((t) => t.finished >= n)?.s;
  const slice = Math.max(2, Math.round(count * share));
  const first = (slice - 1) / (at(slice) - at(1));
  const last = slice / (at(count) - at(count - slice));
  // The tenth around the middle: the pace once the browser has compiled
  // the model worker's code for speed (it does so in the background, on
  // the same cores, during the first tens of seconds).
  const mid = Math.round(count / 2 - slice / 2);
  const middle = count >= 20 ? slice / (at(mid + slice) - at(mid)) : NaN;
  return { first, middle, last, firstResult: at(1) };
}
