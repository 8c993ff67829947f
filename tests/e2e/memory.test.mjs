// A model that will not fit the memory the browser reports
// (navigator.deviceMemory, set small here) is refused once its first
// weight file's index is read, before any weight is converted: the page
// says how much it needs and offers what fits, the ensemble's first
// members or one worker, and that offer loads and runs.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pageSession, cliJson, analyse, pageProbabilities, FIXTURES, DEMO_MANIFEST } from "./harness.mjs";

const session = pageSession();

/** A page whose browser reports `gb` of device memory. */
async function pageReporting(gb, query = "") {
  const context = await session.browser.newContext();
  await context.addInitScript((gb) => {
    Object.defineProperty(Navigator.prototype, "deviceMemory", { get: () => gb, configurable: true });
  }, gb);
  const page = await context.newPage();
  await page.goto(`${session.server.url}?backend=cpu${query}`);
  return { context, page };
}

async function refusedDemo(page) {
  await page.getByTestId("load-demo").click();
  await page.waitForSelector('[data-testid="model-status"][data-state="too-large"]', { timeout: 120_000 });
  return page.getByTestId("too-large").innerText();
}

const ready = (page) =>
  page.waitForSelector('[data-testid="model-status"][data-state="ready"]', { timeout: 600_000 });

/** The demo manifest's first `count` members, for the CLI. */
function firstMembers(count) {
  const manifest = JSON.parse(readFileSync(DEMO_MANIFEST, "utf8"));
  const folder = dirname(DEMO_MANIFEST);
  manifest.members = manifest.members.slice(0, count).map((m) => ({ ...m, weights: join(folder, m.weights) }));
  if (manifest.reference_statistics) manifest.reference_statistics.file = join(folder, manifest.reference_statistics.file);
  const path = join(mkdtempSync(join(tmpdir(), "chexlens-members-")), "manifest.json");
  writeFileSync(path, JSON.stringify(manifest));
  return path;
}

test("too little memory for three members: refused with what it needs; the first two load and give the CLI's numbers", async () => {
  // 2.6 MB reported: a page counts on half, 1.4 MB; each of the demo's
  // members takes 0.56 MB while loading (0.47 MB of f32 weights, 1.2 times).
  const { context, page } = await pageReporting(0.0026, "&workers=1");
  const text = await refusedDemo(page);
  assert.match(text, /needs about 1\.7 MB of memory for its 3 members/, text);
  assert.match(text, /reports 0\.0026 GB, of which a page can count on about 1\.4 MB/, text);
  assert.equal(await page.getByTestId("load-one-worker").count(), 0, "it was one worker already");

  const fewer = page.getByTestId("load-fewer");
  assert.equal(await fewer.innerText(), "Load the first 2 of its 3 members");
  await fewer.click();
  await ready(page);
  assert.match(await page.getByTestId("model-status").innerText(), /the first 2 of its 3 members/);

  const image = join(FIXTURES, "xray_grey.jpg");
  assert.equal(await analyse(page, image), "done");
  const expected = cliJson(image, [], firstMembers(2)).probabilities;
  const shown = await pageProbabilities(page);
  assert.equal(Object.keys(shown).length, 14);
  for (const [label, p] of Object.entries(shown)) {
    assert.ok(Math.abs(p - expected[label]) < 1e-4, `${label}: page ${p}, CLI with two members ${expected[label]}`);
  }
  const dots = await page.$$eval('[data-testid="member-dots"]', (els) => els.map((e) => e.dataset.values.split(",").length));
  assert.ok(dots.length > 0 && dots.every((n) => n === 2), `each label shows two members: ${dots}`);
  await context.close();
});

test("member workers that do not fit where one worker does: the offer loads all members in one worker", async () => {
  // 100 MB reported (54 MB for the page): three member workers' own
  // overhead (160 MB each) does not fit, the three members in this worker do.
  const { context, page } = await pageReporting(0.1);
  const text = await refusedDemo(page);
  assert.match(text, /needs about \d+\.\d MB of memory for its 3 members/, text);
  assert.equal(await page.getByTestId("load-fewer").count(), 0, "no fewer members fit in member workers");
  await page.getByTestId("load-one-worker").click();
  await ready(page);
  const status = await page.getByTestId("model-status").innerText();
  assert.match(status, /3 members/);
  assert.equal(await page.getByTestId("workers").count(), 0, "one worker, not several side by side");
  assert.equal(await analyse(page, join(FIXTURES, "xray_grey.jpg")), "done");
  await context.close();
});
