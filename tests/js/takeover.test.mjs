// Real processes, real stores, real time.
//
// Takeover: a child process (fixtures/takeover-server.mjs) opens a key with LockInterval 10 and
// LockAttempts 1 and saves a value; the test kills it with SIGKILL, so it never saves, closes or
// unlocks. Until its lease (I × A + 30 = 40 s after its last lock) runs out, this process gets
// "Locked" with the child's UniqueId; after it, Open succeeds and finds the child's saved data.
// On LmdbStore (a temp directory shared by the two processes), on RedisStore (a real
// redis-server) and on PostgresStore (a real PostgreSQL).
//
// Redis going away: redis-server stops under an open session (saves fail, each lock refresh
// costs an attempt) and comes back on the same port, empty: the next refresh finds the lease
// lapsed and the session closes (D22). PostgreSQL going away: the same, but it comes back with its
// data, the lock entry included, so the next refresh renews it, AttemptsRemaining resets and
// saves work again.
//
// The five run concurrently: each is mostly waiting, and together they take about 45 s.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createModule, LmdbStore, PostgresStore, RedisStore } from "../../pkg/node.mjs";
import { startPostgres } from "./helpers/postgres.mjs";
import { startRedis } from "./helpers/redis.mjs";

const SERVER = fileURLToPath(new URL("./fixtures/takeover-server.mjs", import.meta.url));
const LEASE_MS = (10 * 1 + 30) * 1000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const sleepUntil = (t) => sleep(Math.max(0, t - Date.now()));

/** Resolves once `ready()` is true (checked every 50 ms); rejects after `ms`. */
async function until(ready, ms, what) {
  const deadline = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Starts the child server; resolves with what its "ready" line says. */
function startServer(args) {
  const child = spawn(process.execPath, [SERVER, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server was not ready within 30 s: ${stderr}`)), 30_000);
    createInterface({ input: child.stdout }).on("line", (line) => {
      const match = /^ready ([0-9A-F-]{36}) (\d+)$/.exec(line);
      if (!match) return;
      clearTimeout(timer);
      resolve({ uniqueId: match[1], openedAfter: Number(match[2]), readyAt: Date.now() });
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code ?? signal}) before it was ready: ${stderr}`));
    });
  });
  return { child, ready, exited };
}

/**
 * The takeover scenario on one kind of store. `args` start the child; `makeStore` gives this
 * process's store on the same storage.
 */
async function takeover(args, makeStore) {
  const key = String(args.at(-1));
  const server = startServer(args);
  let store;
  try {
    const { uniqueId, openedAfter, readyAt } = await server.ready;
    server.child.kill("SIGKILL");
    assert.deepEqual(await server.exited, { code: null, signal: "SIGKILL" });

    store = makeStore();
    const module = createModule({ store });
    const dataStore = module.new("Player", key);
    assert.deepEqual(await dataStore.Open(), ["Locked", uniqueId], "right after the crash");
    // The child's lock was taken at some moment in [openedAfter, readyAt], so its lease ends
    // in [openedAfter + 40 s, readyAt + 40 s]. From 2 s before the earliest end, try every
    // 100 ms: locked until the lease has run out, open soon after.
    await sleepUntil(openedAfter + LEASE_MS - 2_000);
    let lateLocked = 0;
    let result;
    for (;;) {
      result = await dataStore.Open();
      if (result[0] !== "Locked") break;
      assert.equal(result[1], uniqueId);
      lateLocked++;
      assert.ok(Date.now() < readyAt + LEASE_MS + 2_000, "still locked 2 s after the lease must have ended");
      await sleep(100);
    }
    const openedAt = Date.now();
    assert.deepEqual(result, ["Success", undefined]);
    assert.ok(openedAt >= openedAfter + LEASE_MS, `opened ${openedAt - openedAfter} ms after the child's Open began`);
    assert.ok(lateLocked > 0, "still locked in the last 2 s before the lease could end");
    assert.deepEqual(dataStore.Value, { Coins: 250, Items: ["Sword"] }, "the child's saved data is intact");
    assert.equal(dataStore.State, true);
    assert.deepEqual(await dataStore.Destroy(), ["Saved", dataStore.Value]);
  } finally {
    server.child.kill("SIGKILL");
    await store?.close();
  }
}

/**
 * The start of the server-outage scenarios: a session on `store` (refreshing every 10 s) opens,
 * `stop()` takes the server away, a save fails with a message matching `says`, and two lock
 * refreshes fail, costing one attempt each, while the session stays open.
 */
async function outage(store, stop, says) {
  const dataStore = createModule({ store }).new("Player", "outage");
  dataStore.LockInterval = 10; // refreshes at +10 s, +20 s, +30 s
  const attempts = [];
  dataStore.AttemptsChanged.Connect((remaining) => attempts.push(remaining));
  const states = [];
  dataStore.StateChanged.Connect((state) => states.push(state));

  assert.deepEqual(await dataStore.Open({ Coins: 0 }), ["Success", undefined]);
  assert.equal(dataStore.AttemptsRemaining, 5);
  await stop();

  dataStore.Value.Coins = 1;
  const [failed, message] = await dataStore.Save();
  assert.equal(failed, "Error");
  assert.match(message, says);
  assert.equal(dataStore.State, true);

  await until(() => attempts.length >= 2, 25_000, "two failed refreshes");
  assert.deepEqual(attempts, [4, 3]);
  assert.equal(dataStore.AttemptsRemaining, 3);
  assert.equal(dataStore.State, true);
  return { dataStore, attempts, states };
}

describe("real stores, real time", { concurrency: true }, () => {
  test("LmdbStore: a killed process's key opens in another process once its 40 s lease runs out", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dsm-takeover-"));
    try {
      await takeover(["lmdb", dir, "lmdb-1"], () => new LmdbStore({ path: dir }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("RedisStore: a killed process's key opens in another process once its 40 s lease runs out", async () => {
    const redis = await startRedis();
    try {
      await takeover(["redis", redis.url, "redis-1"], () => new RedisStore({ url: redis.url }));
    } finally {
      await redis.stop();
    }
  });

  test("RedisStore: the server goes away under an open session and comes back empty; the lease lapsed (D22)", async () => {
    let redis = await startRedis();
    const store = new RedisStore({ url: redis.url });
    try {
      const { dataStore, attempts, states } = await outage(store, () => redis.stop(), /Redis/);

      // Back on the same port, empty: the lock entry is gone, so the next refresh answers that
      // the lease lapsed (another server could have taken and written the key meanwhile). The
      // session closes without saving instead of silently taking the key back.
      redis = await startRedis({ port: redis.port });
      await until(() => attempts.length >= 3, 12_000, "a refresh after the restart");
      assert.deepEqual(attempts, [4, 3, 0]);
      assert.deepEqual(states, [true, false]);
      assert.deepEqual(await dataStore.Save(), ["State", "Closed"]);
      const probe = createModule({ store }).new("Player", "outage");
      assert.deepEqual(await probe.Read(), ["Success", undefined]);
      assert.equal(probe.Value, undefined, "nothing was written after the lapse");

      // Opening again takes a new lock; its saves land.
      assert.deepEqual(await dataStore.Open({ Coins: 0 }), ["Success", undefined]);
      dataStore.Value.Coins = 1;
      assert.deepEqual(await dataStore.Save(), ["Saved", dataStore.Value]);

      // The write really landed: another server reads it.
      const reader = createModule({ store }).new("Player", "outage");
      assert.deepEqual(await reader.Read(), ["Success", undefined]);
      assert.deepEqual(reader.Value, { Coins: 1 });
      await dataStore.Destroy();
    } finally {
      await store.close();
      await redis.stop();
    }
  });

  test("PostgresStore: a killed process's key opens in another process once its 40 s lease runs out", async () => {
    const postgres = await startPostgres();
    try {
      await takeover(
        ["postgres", postgres.connectionString, "postgres-1"],
        () => new PostgresStore({ connectionString: postgres.connectionString }),
      );
    } finally {
      await postgres.stop();
    }
  });

  test("PostgresStore: the server stops under an open session and restarts with its data; the session carries on", async () => {
    const postgres = await startPostgres();
    const store = new PostgresStore({ connectionString: postgres.connectionString });
    try {
      const { dataStore, attempts, states } = await outage(store, () => postgres.shutdown(), /Postgres/);

      // Back on the same port with its data: the lock entry is still live (its lease is
      // 10 x 5 + 30 = 80 s), so the next refresh renews it and the attempts are restored.
      await postgres.restart();
      await until(() => attempts.length >= 3, 12_000, "a refresh after the restart");
      assert.deepEqual(attempts, [4, 3, 5]);
      assert.deepEqual(states, [true]);
      assert.deepEqual(await dataStore.Save(), ["Saved", dataStore.Value]);

      // The write really landed, and the lock is still the session's.
      const other = createModule({ store }).new("Player", "outage");
      assert.deepEqual(await other.Open(), ["Locked", dataStore.UniqueId]);
      assert.deepEqual(await other.Read(), ["Success", undefined]);
      assert.deepEqual(other.Value, { Coins: 1 });
      assert.deepEqual(await dataStore.Destroy(), ["Saved", { Coins: 1 }]);
    } finally {
      await store.close();
      await postgres.stop();
    }
  });
});
