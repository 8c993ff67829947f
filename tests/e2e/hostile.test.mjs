// Hostile files from tools/hostile/make_hostile.py fed to the real page: each
// gets the model crate's plain message (the one the CLI prints, checked in
// crates/chexlens-model/tests/hostile_files.rs), and the worker lives on:
// the next good image still analyses and equals the CLI.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pageSession, ROOT, cliProbabilities, loadDemo, analyse, pageProbabilities, FIXTURES, openPage } from "./harness.mjs";

const HOSTILE = join(ROOT, "tests/hostile");
const EXPECTED = JSON.parse(readFileSync(join(HOSTILE, "expected.json"), "utf8"));
const PLAIN = /panicked|\.rs:|wasm-function|RuntimeError|unreachable|backtrace/;

const session = pageSession();

function escape(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The page's probabilities for the image just analysed equal the CLI's. */
async function assertMatchesCli(page, image, after) {
  const shown = await pageProbabilities(page);
  for (const [label, p] of Object.entries(cliProbabilities(image))) {
    assert.ok(Math.abs(shown[label] - p) <= 1e-4, `${label} after ${after}: page ${shown[label]} vs CLI ${p}`);
  }
}

async function messageFor(page, name) {
  await page.waitForFunction(
    (n) => (document.querySelector('[data-testid="error"]')?.textContent ?? "").includes(n), name, { timeout: 120_000 },
  );
  const message = await page.getByTestId("error").textContent();
  assert.match(message, new RegExp(escape(EXPECTED[name].refused_with), "i"), `${name}: ${message}`);
  assert.doesNotMatch(message, PLAIN, `${name}: ${message}`);
  return message;
}

for (const workers of [3, 1]) {
  test(`hostile weight files are refused plainly in ${workers} worker(s) and the model still loads after`, async () => {
    const context = await session.browser.newContext();
    const { page, pageErrors } = await openPage(context, `${session.server.url}?backend=cpu&workers=${workers}`);
    for (const name of ["pth_nested_tuples.pth", "pth_stride_zero_tib.pth", "st_block_index_1e9.safetensors", "st_metadata_9_inputs.safetensors"]) {
      // Beside a good member, so that with member workers each file has a worker of its own.
      await page.getByTestId("model-input").setInputFiles([join(FIXTURES, "tiny_m0.safetensors"), join(HOSTILE, name)]);
      await messageFor(page, name);
      assert.equal(await page.getByTestId("model-status").getAttribute("data-state"), "error");
    }
    await loadDemo(page);
    assert.equal(await analyse(page, join(FIXTURES, "xray_grey8.png")), "done");
    await assertMatchesCli(page, join(FIXTURES, "xray_grey8.png"), "hostile weights");
    assert.deepEqual(pageErrors, []);
    await context.close();
  });
}

test("hostile DICOM files are refused plainly and the next image still analyses", async () => {
  const context = await session.browser.newContext();
  const { page, pageErrors } = await openPage(context, `${session.server.url}?backend=cpu`);
  await loadDemo(page);
  // A DICOM is read before it is analysed: a refused one leaves no run behind.
  for (const name of ["dicom_element_claims_4gb.dcm", "dicom_jpeg_sof_60000.dcm", "dicom_colour_jpeg_in_grey_file.dcm"]) {
    await page.getByTestId("image-input").setInputFiles(join(HOSTILE, name));
    await messageFor(page, name);
  }
  assert.equal(await analyse(page, join(FIXTURES, "xray_grey.jpg")), "done");
  await assertMatchesCli(page, join(FIXTURES, "xray_grey.jpg"), "hostile DICOM");
  assert.deepEqual(pageErrors, []);
  await context.close();
});
