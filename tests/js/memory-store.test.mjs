// What only MemoryStore has: the emulator's faults (errors, ambiguous writes, latency, outages)
// delivered on the store's clock, and Roblox's 2 s long-poll cadence. The shared behaviour is in
// stores.test.mjs.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";
import { ManualClock, MemoryStore, StoreError } from "../../pkg/node.mjs";
import { playerData } from "../../bench/corpus.mjs";

const PENDING = Symbol("pending");
const peek = (promise) => Promise.race([promise, new Promise((resolve) => setImmediate(() => resolve(PENDING)))]);
const START = Date.UTC(2026, 3, 1, 12, 0, 0);

function setup(faults) {
  const clock = new ManualClock(START);
  return { clock, store: new MemoryStore({ clock, faults }) };
}

test("latency from the faults delays each reply on the store's clock", async () => {
  const { clock, store } = setup({ latencyMs: 100 });
  const write = store.dataSet("P", "global", "k", "1", "[]", "{}", null);
  assert.equal(await peek(write), PENDING);
  await clock.advance(99);
  assert.equal(await peek(write), PENDING);
  await clock.advance(1);
  assert.equal(typeof (await write), "string");
  const read = store.dataGet("P", "global", "k");
  await clock.advance(100);
  assert.equal((await read).value, "1");
  assert.equal((await read).updatedTime, START, "the write took effect when it was sent");
});

test("errors arrive after their latency too, as StoreErrors with the emulator's kind and code", async () => {
  const { clock, store } = setup({ transient: 1, latencyMs: [40, 40] });
  const write = store.dataSet("P", "global", "k", "1", "[]", "{}", null);
  const outcome = write.catch((e) => e);
  await clock.advance(39);
  assert.equal(await peek(outcome), PENDING);
  await clock.advance(1);
  const error = await outcome;
  assert.ok(error instanceof StoreError);
  assert.equal(error.kind, "Transient");
  assert.equal(error.code, 502);
  assert.equal(error.retryable, true);
  assert.match(error.message, /^502: /);
});

test("per-kind faults: only the configured operation fails; the lock commands are mapUpdate", async () => {
  const { store } = setup({ ops: { mapUpdate: { transient: 1 } } });
  await store.dataSet("P", "global", "k", "1", "[]", "{}", null);
  const error = await store.lockAcquire("P/global/k", "A", 30, 2 ** 32, false).catch((e) => e);
  assert.equal(error.kind, "Transient");
  assert.match(error.message, /^InternalError: /);
  await store.queueAdd("P/global/k", "1", 60, 0);
});

test("an ambiguous write is reported as failed but was applied", async () => {
  const { store } = setup({ ops: { dataSet: { ambiguous: 1 } } });
  const error = await store.dataSet("P", "global", "k", '"applied"', "[]", "{}", null).catch((e) => e);
  assert.equal(error.kind, "Transient");
  assert.equal((await store.dataGet("P", "global", "k")).value, '"applied"');
});

test("throttling and outage windows", async () => {
  const { clock, store } = setup({
    ops: { queueAdd: { throttle: 1 } },
    outages: [{ startMs: START + 1000, endMs: START + 2000, ops: ["dataGet"] }],
  });
  assert.equal((await store.queueAdd("q", "1", 60, 0).catch((e) => e)).kind, "Throttled");
  assert.equal(await store.dataGet("P", "global", "k"), undefined);
  await clock.advance(1000);
  assert.equal((await store.dataGet("P", "global", "k").catch((e) => e)).kind, "Transient");
  await clock.advance(1000);
  assert.equal(await store.dataGet("P", "global", "k"), undefined);
});

test("setFaults changes the faults while running; null turns them off", async () => {
  const { store } = setup();
  await store.dataSet("P", "global", "k", "1", "[]", "{}", null);
  store.setFaults({ transient: 1 });
  assert.equal((await store.dataGet("P", "global", "k").catch((e) => e)).kind, "Transient");
  store.setFaults(null);
  assert.equal((await store.dataGet("P", "global", "k")).value, "1");
});

test("a bad fault setting is refused at once, naming it: a TypeError, or a RangeError for a number out of range", () => {
  const refused = (faults, type, pattern) => {
    assert.throws(
      () => new MemoryStore({ faults }),
      (e) => e instanceof type && pattern.test(e.message),
    );
    assert.throws(
      () => new MemoryStore().setFaults(faults),
      (e) => e instanceof type && pattern.test(e.message),
    );
  };
  refused({ transent: 1 }, TypeError, /unknown setting "transent"/);
  refused({ ops: { dataSave: { transient: 1 } } }, TypeError, /faults\.ops\.dataSave is not an operation/);
  refused({ latencyMs: [1, 2, 3] }, TypeError, /latencyMs must be a number or \[min, max\]/);
  refused({ latencyMs: -5 }, RangeError, /latencyMs must be a whole, non-negative number/);
  refused({ outages: [{ startMs: 0 }] }, TypeError, /outages\[0\]\.endMs is required/);
  refused({ outages: [{ startMs: 0, endMs: 1, ops: ["lock"] }] }, TypeError, /outages\[0\]\.ops\[0\] must be one of/);
  refused([], TypeError, /faults must be an object/);
  assert.throws(() => new MemoryStore({ seed: -1 }), RangeError);
});

test("the same seed gives the same faults", async () => {
  const run = async () => {
    const { store } = setup({ transient: 0.5 });
    const outcomes = [];
    for (let i = 0; i < 40; i++)
      outcomes.push(
        await store.dataGet("P", "global", "k").then(
          () => "ok",
          (e) => e.kind,
        ),
      );
    return outcomes.join(",");
  };
  const first = await run();
  assert.equal(await run(), first);
  assert.match(first, /ok/);
  assert.match(first, /Transient/);
});

test("a waiting read looks again every 2 s on the clock, as Roblox's ReadAsync", async () => {
  const { clock, store } = setup();
  const read = store.queueRead("q", 5, false, 10, 30);
  await clock.advance(500);
  await store.queueAdd("q", '"x"', 60, 0);
  await clock.advance(1499);
  assert.equal(await peek(read), PENDING, "not seen before the 2 s look");
  await clock.advance(1);
  assert.deepEqual((await read).values, ['"x"']);
});

test("waitSeconds -1 waits until an item comes", async () => {
  const { clock, store } = setup();
  const read = store.queueRead("q", 1, false, -1, 30);
  await clock.advance(3_600_000);
  assert.equal(await peek(read), PENDING);
  await store.queueAdd("q", "1", 60, 0);
  await clock.advance(2000);
  assert.deepEqual((await read).values, ["1"]);
});

test("without a clock, MemoryStore runs on the machine's time", async () => {
  const store = new MemoryStore();
  const before = Date.now();
  await store.dataSet("P", "global", "k", "1", "[]", "{}", null);
  const info = await store.dataGet("P", "global", "k");
  assert.ok(info.createdTime >= before && info.createdTime <= Date.now());
  assert.deepEqual(await store.lockAcquire("m", "o", 0.05, 2 ** 32, false), { ok: true });
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.deepEqual(await store.lockAcquire("m", "p", 1, 2 ** 32, false), { ok: true });
  assert.throws(() => new MemoryStore({ clock: {} }), TypeError);
  await store.close();
});

test("the CommonJS entry has the same MemoryStore and StoreError", async () => {
  const cjs = createRequire(import.meta.url)("../../pkg/index.cjs");
  const clock = new cjs.ManualClock(START);
  const store = new cjs.MemoryStore({ clock });
  assert.deepEqual(await store.lockAcquire("m", "A", 30, 2 ** 32, false), { ok: true });
  const error = await store
    .dataSet("P", "global", "k", "1", "[]", "{}", { owner: "B", token: 2 ** 32, seq: 1 })
    .catch((e) => e);
  assert.ok(error instanceof cjs.StoreError);
  assert.equal(error.kind, "Fenced");
  assert.equal(typeof cjs.LmdbStore, "function");
  assert.equal(typeof cjs.RedisStore, "function");
  await store.close();
});

test("stored versions cost about their JSON text in wasm memory, not a value tree", async () => {
  const { clock, store } = setup(null);
  await store.dataGet("P", "global", "warm-up");
  const { wasmHeapInUse } = await import("../../pkg/web/datastore_module_full.js");
  const record = JSON.stringify(playerData(50 * 1024));
  const before = wasmHeapInUse();
  // A day of hourly saves of one key keeps 24 versions (Roblox keeps one backup an hour).
  for (let hour = 0; hour < 24; hour++) {
    await store.dataSet("P", "global", "k", record, "[]", "{}", null);
    await clock.advance(3_600_000);
  }
  const held = wasmHeapInUse() - before;
  // A tree of each version took 10 to 24 times its text (issue 12's notes; ~270 records of 1 MB
  // exhausted the 4 GiB of wasm memory).
  assert.ok(held < 2 * 24 * record.length, `24 versions of ${record.length} B hold ${held} B`);
  assert.equal((await store.dataGet("P", "global", "k")).value, record, "the latest reads back as written");
  await store.close();
});
