// pkg/index.mjs in a real browser page (Debian's headless Chromium), served from a plain static
// file server: the ESM entry and the web glue load and work without Node, MemoryStore included,
// and the entry never loads the Node-only stores.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { serveStatic } from "../../scripts/serve.mjs";
import { CHROMIUM, CHROMIUM_FLAGS } from "./helpers/chromium.mjs";

const root = new URL("../../", import.meta.url);

test("pkg/ works as ESM in headless Chromium", async () => {
  const server = await serveStatic(root, { "/browser.html": new URL("fixtures/browser.html", import.meta.url) });
  const profile = mkdtempSync(join(tmpdir(), "dsm-chromium-"));
  try {
    const { stdout } = await promisify(execFile)(
      CHROMIUM,
      [
        ...CHROMIUM_FLAGS,
        `--user-data-dir=${profile}`,
        "--virtual-time-budget=10000",
        "--dump-dom",
        `${server.url}/browser.html`,
      ],
      { timeout: 60_000 },
    );
    const text = stdout.match(/<pre id="out">([^<]*)<\/pre>/)?.[1] ?? stdout;
    const result = JSON.parse(text.replaceAll("&quot;", '"').replaceAll("&amp;", "&"));
    assert.deepEqual(result.back, { Coins: 10, Items: ["Sword", "Shield"] });
    assert.equal(result.rejected, "value.x: NaN cannot be stored");
    assert.deepEqual(result.memory, { lock: { ok: true }, fenced: "Fenced", lmdb: "Unavailable" });
  } finally {
    server.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
