// `npm install <repo>/pkg` in an empty folder gives a package that both `require` and `import`
// load: the published file list, the exports map and both glues are complete.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const pkg = fileURLToPath(new URL("../../pkg/", import.meta.url));
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

test("npm install of the packed pkg/ works with require and import", () => {
  const dir = mkdtempSync(join(tmpdir(), "dsm-install-"));
  try {
    const tarball = run("npm", ["pack", "--silent", "--pack-destination", dir, pkg], dir).trim().split("\n").pop();
    writeFileSync(join(dir, "package.json"), '{ "name": "consumer", "private": true }');
    run("npm", ["install", "--no-audit", "--no-fund", "--offline", join(dir, tarball)], dir);
    const check = 'm.decompress(m.compress({ Coins: 10, Items: ["Sword"] }))';
    const cjs = run("node", ["-e", `const m = require("datastore-module"); console.log(JSON.stringify(${check}))`], dir);
    const esm = run("node", ["--input-type=module", "-e", `const m = await import("datastore-module"); console.log(JSON.stringify(${check}))`], dir);
    assert.equal(cjs.trim(), '{"Coins":10,"Items":["Sword"]}');
    assert.equal(esm.trim(), cjs.trim());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
