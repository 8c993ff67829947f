// The memory of the Chromium processes this node process started, read
// from /proc: what the memory benchmarks and the batch's memory test
// sample. Run with one browser at a time (each test file is its own node
// process), so that the sum is that browser's.

import { readdirSync, readFileSync } from "node:fs";

/** Every process below `root` (Chromium's, under this node process). */
export function descendants(root) {
  const parent = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // The process ended while the table was read.
    }
  }
  const found = [];
  const walk = (pid) => {
    for (const [child, ppid] of parent) if (ppid === pid) { found.push(child); walk(child); }
  };
  walk(root);
  return found;
}

/** The Chromium processes' RSS in bytes: in all, and by process type. */
export function rss() {
  let total = 0;
  const byType = {};
  for (const pid of descendants(process.pid)) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const bytes = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
      const type = /--type=([a-z-]+)/.exec(readFileSync(`/proc/${pid}/cmdline`, "utf8"))?.[1] ?? "browser";
      total += bytes;
      byType[type] = (byType[type] ?? 0) + bytes;
    } catch {
      // Gone.
    }
  }
  return { total, byType };
}
