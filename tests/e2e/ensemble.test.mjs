// The ensemble's doubt on the page: each member's probability under each
// label's bar equals the CLI's per-member output (`member_probabilities`),
// and the labels marked "members disagree" are the CLI's `members_disagree`.
// The metadata's weight: each finding's probability under each metadata
// change equals `chexlens predict` re-run with that metadata. Each member's
// heat map, on request, equals pytorch-grad-cam's for that member.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pageSession, cliJson, loadDemo, analyse, FIXTURES } from "./harness.mjs";

const session = pageSession();

test("member probabilities and the disagreement mark match the CLI", async () => {
  const context = await session.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${session.server.url}?backend=cpu`);
  await loadDemo(page);
  const image = join(FIXTURES, "xray_grey.jpg");
  assert.equal(await analyse(page, image), "done");
  const cli = cliJson(image);

  const shown = await page.$$eval('[data-testid="probability"]', (rows) =>
    rows.map((r) => ({
      label: r.dataset.label,
      members: r.querySelector('[data-testid="member-dots"]').dataset.values.split(",").map(Number),
      disagree: r.querySelector('[data-testid="finding-mark"]').dataset.disagree === "true",
      mark: r.querySelector('[data-testid="finding-mark"]').textContent,
    })),
  );
  assert.equal(shown.length, 14);
  for (const row of shown) {
    const expected = cli.member_probabilities[row.label];
    assert.equal(row.members.length, 3, row.label);
    row.members.forEach((p, i) => assert.ok(Math.abs(p - expected[i]) < 1e-4, `${row.label} member ${i + 1}: page ${p} CLI ${expected[i]}`));
    assert.equal(row.disagree, cli.members_disagree.includes(row.label), row.label);
    assert.equal(row.mark.includes("members disagree"), row.disagree, row.label);
  }
  assert.ok(shown.some((r) => r.disagree) && shown.some((r) => !r.disagree), "the demo's untrained members give both cases");
  await context.close();
});

test("metadata sensitivity equals the CLI re-run with each changed metadata", async () => {
  const context = await session.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${session.server.url}?backend=cpu`);
  await loadDemo(page);
  const image = join(FIXTURES, "xray_rgb.png");
  assert.equal(await analyse(page, image), "done");
  await page.getByTestId("sensitivity-button").click();
  await page.waitForSelector('[data-testid="sensitivity"]', { timeout: 600_000 });
  const caption = await page.locator('[data-testid="sensitivity"] caption').innerText();
  assert.match(caption, /head only: \d+ ms/);
  console.log(`# sensitivity (demo model): ${caption}`);

  const changes = await page.$$eval('[data-testid="sensitivity-change"]', (heads) =>
    heads.map((h) => ({ name: h.textContent, ...h.dataset })),
  );
  assert.deepEqual(
    changes.map((c) => c.name),
    ["sex: female", "age: 40", "age: 60", "view: lateral", "projection: AP"],
    "the demo's default patient (male, 50, frontal PA), each field changed once",
  );
  const cells = await page.$$eval('[data-testid="sensitivity-cell"]', (tds) =>
    tds.map((td) => ({ label: td.dataset.label, index: Number(td.dataset.index), value: Number(td.dataset.value) })),
  );
  const findings = await page.getByTestId("finding").count();
  assert.ok(findings > 0);
  assert.equal(cells.length, findings * changes.length);
  for (const [i, change] of changes.entries()) {
    const flags = ["--sex", change.sex, "--age", change.age, "--view", change.view, "--projection", change.projection];
    const expected = cliJson(image, flags).probabilities;
    for (const cell of cells.filter((c) => c.index === i)) {
      assert.ok(
        Math.abs(cell.value - expected[cell.label]) < 1e-4,
        `${change.name}, ${cell.label}: page ${cell.value} CLI ${expected[cell.label]}`,
      );
    }
  }
  await context.close();
});

test("each member's heat map, on request, is pytorch-grad-cam's for that member", async () => {
  const reference = JSON.parse(readFileSync(join(FIXTURES, "gradcam.json"), "utf8"));
  const members = ["tiny_m0", "tiny_m1", "tiny_m2"];
  const context = await session.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${session.server.url}?backend=cpu`);
  await page.getByTestId("model-input").setInputFiles([
    join(FIXTURES, "tiny_m0.pth"), join(FIXTURES, "tiny_m1_checkpoint.pth"), join(FIXTURES, "tiny_m2.pth"),
  ]);
  await page.waitForSelector('[data-testid="model-status"][data-state="ready"]', { timeout: 600_000 });
  assert.equal(await analyse(page, join(FIXTURES, reference.image)), "done");
  // Threshold 0: every label is a finding and gets the ensemble's map.
  await page.getByTestId("threshold").focus();
  await page.keyboard.press("Home");
  const labels = await page.$$eval('[data-testid="probability"]', (rows) => rows.map((r) => r.dataset.label));
  const names = JSON.parse(readFileSync(join(FIXTURES, "reference.json"), "utf8")).labels;
  for (const index of reference.labels) {
    const label = names[index];
    assert.ok(labels.includes(label));
    const figure = page.locator("figure.heatmap", { has: page.locator(`[data-testid="heatmap"][data-label="${label}"]`) });
    await figure.getByTestId("member-maps-button").click({ timeout: 600_000 });
    await figure.locator('[data-testid="member-heatmap"]').nth(2).waitFor({ timeout: 600_000 });
    const shown = await figure.locator('[data-testid="member-heatmap"]').evaluateAll((canvases) =>
      canvases.map((c) => c.dataset.values.split(",").map(Number)),
    );
    assert.equal(shown.length, 3);
    for (const [k, member] of members.entries()) {
      const expected = reference.members[member][String(index)].flat();
      assert.equal(shown[k].length, expected.length);
      const diff = Math.max(...shown[k].map((v, i) => Math.abs(v - expected[i])));
      assert.ok(diff <= 1e-3, `${label}, ${member}: differs from pytorch-grad-cam by ${diff}`);
    }
  }
  await context.close();
});
