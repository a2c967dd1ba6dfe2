// `npm install <repo>/pkg` in an empty folder gives a package that both `require` and `import`
// load: the published file list, the exports map (Node and browser conditions), both glues and
// the declared optional dependencies are complete.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const pkg = fileURLToPath(new URL("../../pkg/", import.meta.url));
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

test("npm install of the packed pkg/ works with require and import, stores included", () => {
  const dir = mkdtempSync(join(tmpdir(), "dsm-install-"));
  try {
    const tarball = run("npm", ["pack", "--silent", "--pack-destination", dir, pkg], dir).trim().split("\n").pop();
    writeFileSync(join(dir, "package.json"), '{ "name": "consumer", "private": true }');
    run("npm", ["install", "--no-audit", "--no-fund", "--offline", join(dir, tarball)], dir);
    const check = 'm.decompress(m.compress({ Coins: 10, Items: ["Sword"] }))';
    const cjs = run(
      "node",
      ["-e", `const m = require("datastore-module"); console.log(JSON.stringify(${check}))`],
      dir,
    );
    const esm = run(
      "node",
      [
        "--input-type=module",
        "-e",
        `const m = await import("datastore-module"); console.log(JSON.stringify(${check}))`,
      ],
      dir,
    );
    assert.equal(cjs.trim(), '{"Coins":10,"Items":["Sword"]}');
    assert.equal(esm.trim(), cjs.trim());

    // The stores. Importing never needs lmdb: whether npm could fetch the optional dependency
    // depends on the machine's npm cache (this install is offline), so LmdbStore either works or
    // says what to install; tests/js/lmdb-store.test.mjs runs it through both entries in full.
    const stores = `
      const memory = new m.MemoryStore({ clock: new m.ManualClock(0) });
      await memory.dataSet("P", "global", "k", "[1]", "[]", "{}", null);
      const out = [(await memory.dataGet("P", "global", "k")).value];
      const lmdb = new m.LmdbStore({ path: process.argv.at(-1) });
      try {
        await lmdb.dataSet("P", "global", "k", "[2]", "[]", "{}", null);
        out.push((await lmdb.dataGet("P", "global", "k")).value === "[2]" ? "lmdb" : "wrong");
      } catch (e) {
        out.push(e.kind === "Unavailable" && /npm install lmdb/.test(e.message) ? "lmdb" : String(e));
      }
      await lmdb.close();
      // PostgresStore loads pg only when it connects: a closed port is refused at connect().
      const pg = new m.PostgresStore({ connectionString: "postgres://127.0.0.1:1/none" });
      out.push(await pg.connect().then(() => "connected?", (e) => e.kind));
      await pg.close();
      console.log(out.join(" "), typeof m.RedisStore, typeof m.PostgresStore, typeof m.Signal.onError);`;
    const cjsStores = run(
      "node",
      ["-e", `const m = require("datastore-module"); (async () => { ${stores} })()`, join(dir, "db-cjs")],
      dir,
    );
    const esmStores = run(
      "node",
      ["--input-type=module", "-e", `const m = await import("datastore-module"); ${stores}`, join(dir, "db-esm")],
      dir,
    );
    // pg is an optional peer, not installed here: connect() says to install it.
    assert.equal(cjsStores.trim(), "[1] lmdb Unavailable function function function");
    assert.equal(esmStores.trim(), cjsStores.trim());
    const declared = JSON.parse(readFileSync(join(dir, "node_modules/datastore-module/package.json"), "utf8"));
    assert.ok(declared.optionalDependencies?.lmdb, "lmdb is an optional dependency");
    assert.equal(declared.peerDependenciesMeta?.redis?.optional, true, "redis is an optional peer");
    assert.equal(declared.peerDependenciesMeta?.pg?.optional, true, "pg is an optional peer");
    assert.match(declared.repository?.url ?? "", /^git\+https:\/\/|^https:\/\//, "a repository link");
    const shipped = readFileSync(join(dir, "node_modules/datastore-module/CHANGELOG.md"), "utf8");
    assert.match(shipped, /^# Changelog/);
    const readme = readFileSync(join(dir, "node_modules/datastore-module/README.md"), "utf8");
    assert.doesNotMatch(readme, /ARCHITECTURE\.md|behaviour\.md|\bD\d+\b/, "no files or codes that do not ship");
    assert.doesNotMatch(readme, /see the repository/i, "the package README stands alone");

    // What a browser bundler resolves (the "browser" condition): no LMDB or Redis, just a clear error.
    const browser = run(
      "node",
      [
        "--conditions=browser",
        "--input-type=module",
        "-e",
        `const m = await import("datastore-module"); for (const S of [m.LmdbStore, m.PostgresStore]) try { new S(); } catch (e) { console.log(e.kind, typeof m.MemoryStore); }`,
      ],
      dir,
    );
    assert.equal(browser.trim(), "Unavailable function\nUnavailable function");

    // TypeScript consumers of the installed package, through its exports map: an ES module and a
    // CommonJS one (which needs the .d.cts typings; .d.ts in a "type": "module" package is ESM).
    const use = `import DataStoreModule, { createModule, MemoryStore, PostgresStore, Response } from "datastore-module";
      const module = createModule({ store: new MemoryStore(), onEvent: (e) => e.type });
      export const pg = new PostgresStore({ connectionString: "postgres://db/game" });
      const ds = module.new("Player", 1);
      export const ok: boolean = ds.Key === 1 && Response.Success === "Success" && !!DataStoreModule;
      // @ts-expect-error: LockAttempts is a number
      ds.LockAttempts = "5";`;
    writeFileSync(join(dir, "esm.mts"), use);
    writeFileSync(join(dir, "cjs.cts"), use);
    const options = { strict: true, noEmit: true, module: "node16", moduleResolution: "node16", types: [] };
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({ compilerOptions: options, files: ["esm.mts", "cjs.cts"] }),
    );
    const tsc = fileURLToPath(new URL("../../node_modules/.bin/tsc", import.meta.url));
    assert.doesNotThrow(() => run(tsc, ["-p", "."], dir), "tsc over an ESM and a CommonJS consumer");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
