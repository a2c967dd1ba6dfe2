// The package as a browser app gets it: `import … from "datastore-module"`, bundled by esbuild
// (from npm) for the browser with no special options, the wasm file put beside the bundle as the
// package README says, then run in headless Chromium (fixtures/bundle-app.mjs). The bundle must
// hold nothing Node-only, and the page must load without a failed request or a console error.
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { serveStatic } from "../../scripts/serve.mjs";
import { CHROMIUM, CHROMIUM_FLAGS } from "../js/helpers/chromium.mjs";

const pkg = fileURLToPath(new URL("../../pkg", import.meta.url));

test("an app bundled by esbuild runs in headless Chromium: open, save, read back", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "dsm-bundle-"));
  let server, context;
  try {
    // An app folder with the package installed under its name (a link to pkg/).
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(pkg, join(dir, "node_modules", "datastore-module"), "dir");
    copyFileSync(new URL("fixtures/bundle-app.mjs", import.meta.url), join(dir, "app.mjs"));
    const dist = join(dir, "dist");
    const result = await build({
      entryPoints: [join(dir, "app.mjs")],
      bundle: true,
      format: "esm",
      platform: "browser",
      outdir: dist,
      logLevel: "silent",
    });
    assert.deepEqual(result.warnings, []);
    const bundle = readFileSync(join(dist, "app.js"), "utf8");
    assert.ok(!/["']node:/.test(bundle), "nothing Node-only in a browser bundle");
    assert.ok(!bundle.includes("datastore_module_bg.wasm"), "only the wasm a browser loads");
    // esbuild keeps `new URL("./web/…", import.meta.url)`: the file goes to web/ beside the bundle,
    // found through the package's own export of it.
    const wasm = createRequire(join(dir, "app.mjs")).resolve("datastore-module/web/datastore_module_full_bg.wasm");
    mkdirSync(join(dist, "web"));
    copyFileSync(wasm, join(dist, "web", "datastore_module_full_bg.wasm"));
    writeFileSync(
      join(dist, "index.html"),
      '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module" src="app.js"></script>',
    );

    server = await serveStatic(new URL(`file://${dist}/`));
    const profile = join(dir, "profile");
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [...CHROMIUM_FLAGS],
    });
    const page = await context.newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => m.type() === "error" && problems.push(`console error: ${m.text()}`));
    page.on("response", (r) => r.status() >= 400 && problems.push(`${r.status()} ${r.url()}`));
    await page.goto(`${server.url}/index.html`);
    await page.waitForFunction(() => window.bundleResult !== undefined, null, { timeout: 30_000 });
    const outcome = await page.evaluate(() => window.bundleResult);
    assert.deepEqual(outcome, {
      opened: "Success",
      saved: "Saved",
      destroyed: "Saved",
      read: "Success",
      value: { Coins: 10, Items: ["Sword"] },
      ok: true,
    });
    assert.deepEqual(problems, []);
  } finally {
    await context?.close();
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
