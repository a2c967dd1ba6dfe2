// What only LmdbStore has: several processes on one database path, durability across reopening,
// and its default path. The shared behaviour is in stores.test.mjs.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createModule, LmdbStore, StoreError } from "../../pkg/node.mjs";

const entry = fileURLToPath(new URL("../../pkg/node.mjs", import.meta.url));
let dir;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "dsm-lmdb-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `body` (an async function's source, given `store`) in a separate Node process on `dir`. */
async function inChild(body) {
  const script = `
    const { LmdbStore } = await import(${JSON.stringify(entry)});
    const store = new LmdbStore({ path: ${JSON.stringify(dir)} });
    try {
      const result = await (${body})(store);
      process.stdout.write(JSON.stringify(result ?? null));
    } finally {
      await store.close();
    }`;
  const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], {
    timeout: 30_000,
  });
  return JSON.parse(stdout);
}

test("another process on the same path shares locks, fencing, data and queues", async () => {
  const store = new LmdbStore({ path: dir });
  try {
    const map = "Players/global/k";
    // The other process takes the lock and writes under it.
    const child = await inChild(`async (store) => {
      const lock = await store.lockAcquire("Players/global/k", "CHILD", 30, 2 ** 32, false);
      await store.dataSet("Players", "global", "k", '{"by":"child"}', "[]", "{}", { owner: "CHILD", token: 2 ** 32, seq: 1 });
      await store.queueAdd("Players/global/k", '"from child"', 60, 0);
      return lock;
    }`);
    assert.deepEqual(child, { ok: true });
    assert.deepEqual(await store.lockAcquire(map, "PARENT", 30, 2 ** 32, false), { ok: false, holder: "CHILD" });
    await assert.rejects(
      store.dataSet("Players", "global", "k", "1", "[]", "{}", { owner: "PARENT", token: 2 ** 32, seq: 1 }),
      (e) => e instanceof StoreError && e.kind === "Fenced",
    );
    assert.equal((await store.dataGet("Players", "global", "k")).value, '{"by":"child"}');
    const read = await store.queueRead(map, 10, false, 0, 30);
    assert.deepEqual(read.values, ['"from child"']);
    // And back: the other process sees this one's queue removal and lock release.
    await store.queueRemove(map, read.readId);
    const seen = await inChild(`async (store) => {
      await store.lockRelease("Players/global/k", "CHILD", 2 ** 32);
      return store.queueRead("Players/global/k", 10, false, 0, 30);
    }`);
    assert.equal(seen, null);
    assert.deepEqual(await store.lockAcquire(map, "PARENT", 30, 2 ** 32, false), { ok: true });
  } finally {
    await store.close();
  }
});

test("processes racing for one lock: exactly one wins", async () => {
  const racers = Array.from({ length: 4 }, (_, i) =>
    inChild(
      `async (store) => (await store.lockAcquire("Players/global/race", "P${i}", 30, 2 ** 32, false)).ok ? "P${i}" : null`,
    ),
  );
  const winners = (await Promise.all(racers)).filter(Boolean);
  assert.equal(winners.length, 1, `winners: ${winners}`);
  const store = new LmdbStore({ path: dir });
  assert.deepEqual(await store.lockAcquire("Players/global/race", "LATE", 30, 2 ** 32, false), {
    ok: false,
    holder: winners[0],
  });
  await store.close();
});

test("data survives closing and reopening", async () => {
  const first = new LmdbStore({ path: dir });
  const version = await first.dataSet("Players", "global", "k", "[1,2]", "[5]", '{"x":1}', null);
  await first.close();
  const second = new LmdbStore({ path: dir });
  const got = await second.dataGet("Players", "global", "k");
  assert.equal(got.version, version);
  assert.equal(got.value, "[1,2]");
  await second.close();
});

test("empty UserIds and Metadata in either shape save as the shapes a load reads; what Roblox refuses is refused", async () => {
  // `UserIds = {}` and `Metadata = []` (an empty Luau table is either) answered Saved, and every
  // later Open of the key failed: the store kept "{}" as the user ids (a helper's bug hunt).
  const store = new LmdbStore({ path: dir, sweepMs: 0 });
  const module = createModule({ store });
  const ds = module.new("Player", 1);
  assert.deepEqual(await ds.Open(), ["Success", undefined]);
  ds.Value = { Coins: 1 };
  ds.UserIds = {};
  ds.Metadata = [];
  assert.deepEqual(await ds.Save(), ["Saved", { Coins: 1 }]);
  for (const [userIds, metadata, message] of [
    [[1, 2, 3, 4, 5], {}, /^512: UserID size exceeds 4 limit\.$/],
    [[1.5], {}, /^513: Attribute userId format is invalid\.$/],
    [{ 1: 5 }, {}, /^513: Attribute userId format is invalid\.$/],
    [[], [1], /^513: Attribute metadata format is invalid\.$/],
    [[], { Note: "x".repeat(251) }, /^511: Metadata attribute size exceeds 250 limit\.$/],
  ]) {
    ds.UserIds = userIds;
    ds.Metadata = metadata;
    ds.Value = { Coins: 2 };
    const [response, why] = await ds.Save();
    assert.equal(response, "Error", JSON.stringify([userIds, metadata]));
    assert.match(why, message);
  }
  ds.UserIds = [];
  ds.Metadata = {};
  assert.deepEqual(await ds.Destroy(), ["Saved", { Coins: 2 }]);
  const again = createModule({ store }).new("Player", 1);
  assert.deepEqual(await again.Open(), ["Success", undefined], "the key opens again");
  assert.deepEqual([again.Value, again.UserIds, again.Metadata], [{ Coins: 2 }, [], {}]);
  await again.Destroy();
  await store.close();
});

test("the default path is DATASTORE_PATH, else ./.datastore", () => {
  const saved = process.env.DATASTORE_PATH;
  try {
    process.env.DATASTORE_PATH = join(dir, "from-env");
    assert.equal(new LmdbStore().path, join(dir, "from-env"));
    delete process.env.DATASTORE_PATH;
    assert.equal(new LmdbStore().path, join(process.cwd(), ".datastore"));
    assert.equal(new LmdbStore({ path: dir }).path, dir);
  } finally {
    if (saved === undefined) delete process.env.DATASTORE_PATH;
    else process.env.DATASTORE_PATH = saved;
  }
});

test("opening the database lazily: constructing a store touches nothing", async () => {
  const path = join(dir, "never-opened");
  const store = new LmdbStore({ path });
  await store.close();
  const { existsSync } = await import("node:fs");
  assert.equal(existsSync(path), false);
});

test("the CommonJS entry's LmdbStore shares the same database", async () => {
  const cjs = createRequire(import.meta.url)("../../pkg/index.cjs");
  const viaRequire = new cjs.LmdbStore({ path: dir });
  const viaImport = new LmdbStore({ path: dir });
  try {
    assert.deepEqual(await viaRequire.lockAcquire("P/global/k", "CJS", 30, 2 ** 32, false), { ok: true });
    assert.deepEqual(await viaImport.lockAcquire("P/global/k", "ESM", 30, 2 ** 32, false), {
      ok: false,
      holder: "CJS",
    });
    const error = await viaRequire
      .dataSet("P", "global", "k", "1", "[]", "{}", { owner: "ESM", token: 2 ** 32, seq: 1 })
      .catch((e) => e);
    assert.ok(error instanceof cjs.StoreError);
    assert.equal(error.kind, "Fenced");
  } finally {
    await viaRequire.close();
    await viaImport.close();
  }
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const ACQ = 2 ** 32;

/** The raw databases of `dir`, through npm `lmdb` itself (a second handle in this process). */
function raw() {
  const { open } = createRequire(import.meta.url)("lmdb");
  const env = open({ path: dir, maxDbs: 8 });
  const db = (name) => env.openDB({ name });
  return { env, data: db("data"), locks: db("locks"), queues: db("queues"), meta: db("meta") };
}

test("sweep() deletes expired locks, expired items with their queue's counter, and month-old tombstones", async () => {
  const store = new LmdbStore({ path: dir, sweepMs: 0 });
  try {
    await store.lockAcquire("short", "A", 0.05, ACQ, false);
    await store.lockAcquire("long", "A", 30, ACQ, false);
    await store.queueAdd("gone", '"short"', 0.05, 0);
    await store.queueAdd("mixed", '"short"', 0.05, 0);
    await store.queueAdd("mixed", '"long"', 60, 0);
    for (const key of ["old", "new", "live"]) await store.dataSet("P", "global", key, "1", "[]", "{}", null);
    await store.dataRemove("P", "global", "old", null);
    await store.dataRemove("P", "global", "new", null);
    const db = raw();
    const old = JSON.stringify(["P", "global", "old"]);
    await db.data.put(old, { ...db.data.get(old), removedAt: Date.now() - 31 * 86_400_000 });
    await sleep(100);
    assert.deepEqual(await store.sweep(), { locks: 1, items: 2, tombstones: 1 });
    assert.deepEqual(await store.sweep(), { locks: 0, items: 0, tombstones: 0 });
    assert.deepEqual([...db.locks.getRange({ values: false })], [JSON.stringify("long")]);
    assert.deepEqual(
      [...db.queues.getRange()].map(({ value }) => value.value),
      ['"long"'],
    );
    assert.deepEqual([...db.meta.getRange({ values: false })], [["seq", JSON.stringify("mixed")]]);
    assert.deepEqual([...db.data.getRange({ values: false })].map((k) => JSON.parse(k)[2]).sort(), ["live", "new"]);
    assert.equal((await store.dataGet("P", "global", "live")).value, "1");
    await db.env.close();
  } finally {
    await store.close();
  }
});

test("sweepMs is 0 or a positive number", () => {
  for (const sweepMs of [-1, NaN, "60000"]) {
    assert.throws(() => new LmdbStore({ path: dir, sweepMs }), /LmdbStore: sweepMs must be 0 \(no background sweeps\)/);
  }
});

test("the store sweeps in the background, going on while it finds full batches", async () => {
  const store = new LmdbStore({ path: dir, sweepMs: 200 });
  try {
    // 1,200 gifts that expire at once: more than two batches of 500.
    await Promise.all(Array.from({ length: 1200 }, (_, i) => store.queueAdd(`gifts${i % 3}`, String(i), 0.05, 0)));
    await sleep(300);
    await store.lockAcquire("m", "A", 30, ACQ, false); // a command: the background sweep starts
    const db = raw();
    const left = () => db.queues.getKeysCount() + db.meta.getKeysCount();
    for (let i = 0; i < 100 && left() > 0; i++) await sleep(20);
    assert.equal(left(), 0, "every expired item and every emptied queue's counter is gone");
    await db.env.close();
  } finally {
    await store.close();
  }
});

test("a write that cannot commit (the file size limit, as a full disk) answers Error and the process lives on", async () => {
  // The child ignores SIGXFSZ and may grow files to 2 MiB, so LMDB's commit fails with an I/O
  // error as on a full disk. lmdb's batching of one event turn left that failure in a promise no
  // caller could reach, and its unhandled rejection ended the process.
  const script = `
    const { LmdbStore, createModule } = await import(${JSON.stringify(entry)});
    const module = createModule({ store: new LmdbStore({ path: ${JSON.stringify(dir)}, sweepMs: 0 }) });
    const session = module.new("Players", "k");
    await session.Open();
    let saved = 0;
    for (let n = 1; n <= 40; n++) {
      session.Value = { n, pad: "x".repeat(100_000 * n) };
      const [response, message] = await session.Save();
      if (response !== "Saved") {
        await new Promise((resolve) => setTimeout(resolve, 200));
        process.stdout.write(JSON.stringify({ saved, response, message }));
        process.exit(0);
      }
      saved = n;
    }`;
  const { stdout } = await promisify(execFile)(
    "/bin/bash",
    ["-c", 'trap "" XFSZ; ulimit -f 2048; exec "$0" --input-type=module -e "$1"', process.execPath, script],
    { timeout: 60_000 },
  );
  const { saved, response, message } = JSON.parse(stdout);
  assert.equal(response, "Error");
  assert.match(message, /^LMDB: the write did not commit \(.+\); nothing of it was written$/);
  assert.ok(saved >= 1, "some saves went through first");
  const store = new LmdbStore({ path: dir, sweepMs: 0 });
  const stored = await store.dataGet("Players", "global", "k");
  assert.equal(JSON.parse(stored.value).n, saved, "the store holds the last save answered Saved");
  await store.close();
});
