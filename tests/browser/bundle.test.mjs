// The package as a browser app gets it: `import … from "datastore-module"`, bundled for the
// browser with no special options by esbuild, Vite and webpack (all from npm), then run in
// headless Chromium (fixtures/bundle-app.mjs). esbuild keeps `new URL("./web/…wasm",
// import.meta.url)` as it is, so the wasm file goes beside the bundle as the package README says;
// Vite and webpack find that URL themselves and emit the wasm as an asset. A bundle must hold
// nothing Node-only, and the page must load without a failed request or a console error.
import assert from "node:assert/strict";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { build } from "esbuild";
import { build as viteBuild } from "vite";
import webpack from "webpack";
import { chromium } from "playwright-core";
import { serveStatic } from "../../scripts/serve.mjs";
import { CHROMIUM, CHROMIUM_FLAGS } from "../js/helpers/chromium.mjs";

const pkg = fileURLToPath(new URL("../../pkg", import.meta.url));

/** An app folder with the package installed under its name (a link to pkg/) and the app. */
function appFolder() {
  const dir = mkdtempSync(join(tmpdir(), "dsm-bundle-"));
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(pkg, join(dir, "node_modules", "datastore-module"), "dir");
  copyFileSync(new URL("fixtures/bundle-app.mjs", import.meta.url), join(dir, "app.mjs"));
  return dir;
}

/** A page that runs `script` (a module unless `classic`). */
function page(script, classic = false) {
  const type = classic ? "" : ' type="module"';
  return `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script${type} src="${script}"></script>`;
}

/** The scripts of a bundle (not the wasm), to check for Node-only imports. */
function scriptsOf(dist) {
  return readdirSync(dist, { recursive: true })
    .filter((f) => f.endsWith(".js"))
    .map((f) => readFileSync(join(dist, f), "utf8"))
    .join("\n");
}

/** Serves `dist`, opens its index.html in headless Chromium and checks what the app reports. */
async function runInChromium(dir, dist) {
  const bundle = scriptsOf(dist);
  assert.ok(bundle.length > 0, "the bundle has a script");
  assert.ok(!/["']node:/.test(bundle), "nothing Node-only in a browser bundle");
  assert.ok(!bundle.includes("datastore_module_bg.wasm"), "only the wasm a browser loads");
  let server, context;
  try {
    server = await serveStatic(new URL(`file://${dist}/`));
    context = await chromium.launchPersistentContext(join(dir, "profile"), {
      executablePath: CHROMIUM,
      headless: true,
      args: [...CHROMIUM_FLAGS],
    });
    const tab = await context.newPage();
    const problems = [];
    tab.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    tab.on("console", (m) => m.type() === "error" && problems.push(`console error: ${m.text()}`));
    tab.on("response", (r) => r.status() >= 400 && problems.push(`${r.status()} ${r.url()}`));
    await tab.goto(`${server.url}/index.html`);
    await tab.waitForFunction(() => window.bundleResult !== undefined, null, { timeout: 30_000 });
    const outcome = await tab.evaluate(() => window.bundleResult);
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
  }
}

/** Runs `bundle(dir)` (which gives the folder it wrote) in a fresh app folder, then the app. */
async function bundled(bundle) {
  const dir = appFolder();
  try {
    await runInChromium(dir, await bundle(dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const TIMEOUT = { timeout: 120_000 };

test("an app bundled by esbuild runs in headless Chromium: open, save, read back", TIMEOUT, () =>
  bundled(async (dir) => {
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
    // The wasm goes to web/ beside the bundle, found through the package's own export of it.
    const wasm = createRequire(join(dir, "app.mjs")).resolve("datastore-module/web/datastore_module_full_bg.wasm");
    mkdirSync(join(dist, "web"));
    copyFileSync(wasm, join(dist, "web", "datastore_module_full_bg.wasm"));
    writeFileSync(join(dist, "index.html"), page("app.js"));
    return dist;
  }),
);

test("an app bundled by Vite runs in headless Chromium", TIMEOUT, () =>
  bundled(async (dir) => {
    writeFileSync(join(dir, "index.html"), page("./app.mjs"));
    const dist = join(dir, "dist");
    await viteBuild({ root: dir, logLevel: "silent", configFile: false, build: { outDir: dist } });
    assert.ok(
      readdirSync(join(dist, "assets")).some((f) => f.endsWith(".wasm")),
      "Vite emitted the wasm as an asset",
    );
    return dist;
  }),
);

test("an app bundled by webpack runs in headless Chromium", TIMEOUT, () =>
  bundled(async (dir) => {
    const dist = join(dir, "dist");
    const stats = await new Promise((resolve, reject) =>
      webpack(
        {
          mode: "production",
          context: dir,
          entry: "./app.mjs",
          output: { path: dist, filename: "app.js" },
          // The wasm is an asset of ~470 KiB: above webpack's size hint, which is advice only.
          performance: { hints: false },
        },
        (e, s) => (e ? reject(e) : resolve(s)),
      ),
    );
    assert.deepEqual(stats.toJson({ all: false, errors: true }).errors, []);
    assert.deepEqual(stats.toJson({ all: false, warnings: true }).warnings, []);
    assert.ok(
      readdirSync(dist).some((f) => f.endsWith(".wasm")),
      "webpack emitted the wasm as an asset",
    );
    writeFileSync(join(dist, "index.html"), page("app.js", true));
    return dist;
  }),
);
