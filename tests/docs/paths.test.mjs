// Every repository path that the README and docs/ name exists, and every
// page of docs/ is linked from the README: a file moved or renamed without
// its docs fails here. Node's own test runner, no dependencies:
//
//   node --test tests/docs/*.test.mjs
//
// A path is checked where it is in backticks (inline code, or a word of a
// fenced code block) and starts with one of PREFIXES, relative to the
// repository root; and where it is a Markdown link to a file, relative to
// the document that links it. A trailing `:line` or `#anchor` is dropped.
// A path with a glob (`*`, `?`, `[`, `{` or `<...>`) must match at least one
// entry: the part before the first of those must begin some file's or
// folder's name in its folder.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const PREFIXES = ["crates/", "src/", "worker/", "tools/", "scripts/", "tests/", "docs/", "public/", "fuzz/", ".ci/"];
const GLOB = /[*?[{<]/;

/** The documents checked: the README and every page of docs/. */
function documents() {
  const docs = readdirSync(join(ROOT, "docs"))
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => `docs/${name}`);
  return ["README.md", ...docs];
}

/** A path as written, less quotes and brackets around it, a `:line` and an `#anchor`. */
function clean(path) {
  return path
    .replace(/^["'(]+/, "")
    .replace(/["'),;.]+$/, "")
    .replace(/#.*$/, "")
    .replace(/:\d+(-\d+)?$/, "");
}

/** Whether `path` (relative to the repository root) exists; a glob, whether it can match. */
function exists(path) {
  const at = path.search(GLOB);
  if (at < 0) return existsSync(join(ROOT, path));
  const prefix = path.slice(0, at);
  const folder = prefix.endsWith("/") ? prefix : dirname(prefix) + "/";
  const start = prefix.endsWith("/") ? "" : basename(prefix);
  const dir = join(ROOT, folder);
  return existsSync(dir) && readdirSync(dir).some((name) => name.startsWith(start));
}

/**
 * The repository paths `text` (the document `doc`, relative to the root)
 * names, each as { path, written, link }: `path` relative to the root,
 * `link` true for a Markdown link.
 */
export function namedPaths(text, doc) {
  const found = [];
  const repoPath = (word) => {
    const path = clean(word);
    if (PREFIXES.some((prefix) => path.startsWith(prefix))) found.push({ path, written: word, link: false });
  };
  // Fenced code blocks: every word.
  const prose = text.replace(/^```[^\n]*\n([\s\S]*?)^```[^\n]*$/gm, (_, code) => {
    code.split(/\s+/).forEach(repoPath);
    return "";
  });
  // Inline code (which may run over a line break): every word.
  for (const [, code] of prose.matchAll(/`([^`]+)`/g)) code.split(/\s+/).forEach(repoPath);
  // Markdown links and images to files, relative to the document.
  for (const [, target] of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("#")) continue;
    const path = clean(target);
    if (path === "") continue;
    const fromRoot = relative(ROOT, resolve(ROOT, dirname(doc), path)).split("\\").join("/");
    found.push({ path: fromRoot, written: target, link: true });
  }
  return found;
}

/** Each path `text` names that does not exist, as "doc: path". */
export function missingPaths(text, doc) {
  return namedPaths(text, doc)
    .filter(({ path }) => !exists(path))
    .map(({ path, written }) => (path === written ? `${doc}: ${path}` : `${doc}: ${path} (written ${written})`));
}

test("every path the README and docs/ name exists", () => {
  const missing = [];
  let checked = 0;
  for (const doc of documents()) {
    const text = readFileSync(join(ROOT, doc), "utf8");
    checked += namedPaths(text, doc).length;
    missing.push(...missingPaths(text, doc));
  }
  assert.ok(checked > 50, `only ${checked} paths found: is the extraction broken?`);
  assert.deepEqual(missing, [], `${missing.length} paths named in the docs do not exist:\n${missing.join("\n")}`);
});

test("every page of docs/ is linked from the README", () => {
  const linked = new Set(
    namedPaths(readFileSync(join(ROOT, "README.md"), "utf8"), "README.md")
      .filter(({ link }) => link)
      .map(({ path }) => path),
  );
  const unlinked = documents().filter((doc) => doc !== "README.md" && !linked.has(doc));
  assert.deepEqual(unlinked, [], `pages of docs/ the README does not link: ${unlinked.join(", ")}`);
});

test("the check reports a path that does not exist", () => {
  const text = [
    "The decoder is in `crates/chexlens-no-such-crate/src/lib.rs:12` and",
    "`crates/chexlens-model/src/lib.rs`; see [the old page](gone.md#usage),",
    "[the page](page.md) and `tests/e2e/*.test.mjs`, not `tests/nowhere/*.mjs`.",
    "```sh",
    "python3 tools/no_such_script.py --flag",
    "```",
  ].join("\n");
  assert.deepEqual(missingPaths(text, "docs/example.md"), [
    "docs/example.md: tools/no_such_script.py",
    "docs/example.md: crates/chexlens-no-such-crate/src/lib.rs (written crates/chexlens-no-such-crate/src/lib.rs:12)",
    "docs/example.md: tests/nowhere/*.mjs",
    "docs/example.md: docs/gone.md (written gone.md#usage)",
  ]);
});
