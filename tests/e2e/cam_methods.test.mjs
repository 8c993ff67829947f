// Explanation methods on the page: every method at both layers, chosen with
// the heat maps' selectors, equals `chexlens predict --cam-method M
// --cam-layer L` (1e-4) on the CPU backend and on WebGPU, switching runs no
// forward pass again, and a map's faithfulness, on request, equals the
// CLI's `--cam-metrics`. The methods themselves are held to
// pytorch-grad-cam by crates/chexlens-model/tests/cam_methods.rs.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pageSession, cliJson, analyse, audit, FIXTURES } from "./harness.mjs";

const session = pageSession();
const MEMBERS = ["tiny_m0.pth", "tiny_m1_checkpoint.pth", "tiny_m2.pth"].map((f) => join(FIXTURES, f));
const MANIFEST_FLAGS = MEMBERS.flatMap((m) => ["--weights", m]);
const METHODS = ["gradcam", "layercam", "gradcam++", "xgradcam", "hirescam", "gradcam-elementwise", "eigencam", "eigengradcam"];
const LAYERS = ["last", "stages_2"];

/** The CLI's ensemble maps for every label, by label, for one method and layer. */
function cliMaps(image, method, layer, extra = []) {
  const args = ["--threshold", "0", "--cam-method", method, "--cam-layer", layer, ...extra, ...MANIFEST_FLAGS];
  const line = cliJson(image, args, null);
  return Object.fromEntries(line.findings.map((f) => [f.label, { cam: f.cam.flat(), faithfulness: f.faithfulness }]));
}

async function openWithTinyMembers(backend, options = {}) {
  const context = await session.browser.newContext(options);
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${session.server.url}?backend=${backend}`);
  await page.getByTestId("model-input").setInputFiles(MEMBERS);
  await page.waitForSelector('[data-testid="model-status"][data-state="ready"]', { timeout: 600_000 });
  return { context, page, errors };
}

async function pageMaps(page, count) {
  await page.waitForFunction(
    (count) => document.querySelectorAll('[data-testid="heatmap"]').length === count
      && !document.querySelector('[data-testid="cam-progress"]'),
    count,
    { timeout: 600_000 },
  );
  return page.$$eval('[data-testid="heatmap"]', (canvases) =>
    Object.fromEntries(canvases.map((c) => [c.dataset.label, { shape: c.dataset.shape, values: c.dataset.values.split(",").map(Number) }])),
  );
}

for (const backend of ["cpu", "webgpu"]) {
  test(`every method at both layers equals the CLI's (${backend}), without another forward pass`, async () => {
    const reference = JSON.parse(readFileSync(join(FIXTURES, "cam_methods.json"), "utf8"));
    const image = join(FIXTURES, reference.image);
    const { context, page, errors } = await openWithTinyMembers(backend, { bypassCSP: true });
    assert.equal(await analyse(page, image), "done");
    // Threshold 0: every label is a finding and gets a map.
    await page.getByTestId("threshold").focus();
    await page.keyboard.press("Home");
    const status = page.getByTestId("analysis-status");
    const run = await status.getAttribute("data-run");
    let worst = 0;
    for (const layer of LAYERS) {
      for (const method of METHODS) {
        // Chosen from the keyboard's point of view: the selects are labelled form controls.
        await page.getByLabel("Layer", { exact: true }).selectOption(layer);
        await page.getByLabel("Method", { exact: true }).selectOption(method);
        const shown = await pageMaps(page, 14);
        const expected = cliMaps(image, method, layer);
        const side = layer === "last" ? 12 : 24;
        for (const [label, map] of Object.entries(shown)) {
          assert.equal(map.shape, `${side}x${side}`, `${method} at ${layer}, ${label}`);
          // HiResCAM is rounding noise at both layers (its caveat, and
          // cam_methods.rs's test): two runs' noise is not compared.
          if (method === "hirescam") continue;
          const cli = expected[label].cam;
          assert.equal(map.values.length, cli.length);
          const diff = Math.max(...map.values.map((v, i) => Math.abs(v - cli[i])));
          worst = Math.max(worst, diff);
          assert.ok(diff <= 1e-4, `${backend}, ${method} at ${layer}, ${label}: page and CLI differ by ${diff}`);
        }
        const caveat = await page.getByTestId("cam-caveat").count();
        assert.equal(caveat > 0, method === "hirescam" || method === "eigencam", `${method}: its caveat`);
      }
    }
    console.log(`# ${backend}: 7 methods (HiResCAM's noise aside) x 2 layers x 14 labels, largest page-CLI difference ${worst.toExponential(2)}`);
    assert.equal(await status.getAttribute("data-run"), run, "switching method or layer ran no new analysis");
    await audit(page, `heat maps by ${METHODS.at(-1)} at ${LAYERS.at(-1)}`);
    assert.deepEqual(errors, []);
    await context.close();
  });
}

test("a map's faithfulness, on request, equals the CLI's --cam-metrics, with its progress shown", async () => {
  const reference = JSON.parse(readFileSync(join(FIXTURES, "cam_methods.json"), "utf8"));
  const image = join(FIXTURES, reference.image);
  const { context, page, errors } = await openWithTinyMembers("cpu");
  assert.equal(await analyse(page, image), "done");
  await page.getByTestId("threshold").focus();
  await page.keyboard.press("Home");
  await page.getByLabel("Method", { exact: true }).selectOption("gradcam++");
  await page.getByLabel("Layer", { exact: true }).selectOption("stages_2");
  await pageMaps(page, 14);
  const label = "Pneumothorax";
  const figure = page.locator("figure.heatmap", { has: page.locator(`[data-testid="heatmap"][data-label="${label}"]`) });
  // Seen at each pass: the worker reports the passes as they run.
  const seen = [];
  await page.exposeFunction("sawProgress", (text) => seen.push(text));
  await page.evaluate(() => {
    new MutationObserver(() => {
      const p = document.querySelector('[data-testid="faithfulness-progress"]');
      if (p) window.sawProgress(p.textContent);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  await figure.getByTestId("faithfulness-button").focus();
  await page.keyboard.press("Enter");
  const shown = JSON.parse(await figure.getByTestId("faithfulness").getAttribute("data-values", { timeout: 600_000 }));
  assert.ok(seen.some((t) => /Measuring: \d of 9 passes/.test(t)), `progress was shown: ${seen.join(" | ")}`);
  const expected = cliMaps(image, "gradcam++", "stages_2", ["--cam-metrics"])[label].faithfulness;
  const close = (a, b, what) => assert.ok(Math.abs(a - b) <= 1e-4, `${what}: page ${a} CLI ${b}`);
  close(shown.probability, expected.probability, "probability");
  close(shown.confidence_change, expected.confidence_change, "confidence change");
  close(shown.multiplied_probability, expected.multiplied_probability, "multiplied");
  shown.deletion.forEach((d, i) => {
    assert.equal(d.percent, expected.deletion[i].percent);
    close(d.most_relevant_removed, expected.deletion[i].most_relevant_removed, `most ${d.percent}%`);
    close(d.least_relevant_removed, expected.deletion[i].least_relevant_removed, `least ${d.percent}%`);
  });
  assert.match(await figure.getByTestId("faithfulness").innerText(), /A faithful map keeps the score/);
  assert.deepEqual(errors, []);
  await context.close();
});
