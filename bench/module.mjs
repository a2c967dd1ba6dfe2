// `make bench` (module part): what the session module costs a game server, each figure next to
// its target (issue 12), in one table. Every value is a realistic nested player record of about
// 1 KB of JSON (bench/corpus.mjs: inventory items with enchantments, quests, stats with decimals,
// position; 1,024–1,185 bytes, 1,083 on average), never a padding string.
//
// - memory: per session after one save each, at 10k and 100k sessions, on a store that keeps
//   nothing (what the module holds, not a store's data or lock table). Each count runs in a
//   fresh `node --expose-gc` process; another fresh process holding the same records alone
//   gives the live values' own cost, and "beyond the value" is the difference (target 2 KiB),
//   taken at the margin (from half the sessions to all), so that what a process grows once,
//   as V8's young generation (up to 32 MiB), is not charged to the sessions; and exactly, as
//   JS heap plus the bytes the wasm holds (RSS at 10k moves by a kilobyte between runs);
// - Open+Save+Close cycles per second, one at a time on that store: the first 1,000 of a fresh
//   module against 1,000 more after 100k sessions were closed on one module (target: within
//   20 %, issue 12's "no operation's cost grows with the sessions a module has seen");
// - RedisStore against a hand-rolled node-redis session doing the four round trips of the
//   original protocol (SET NX PX, GET, SET, compare-and-delete; the module makes three, its
//   lock and load being one script) on the same redis-server (started here, as the tests start
//   theirs), same process, at 1 and 100 in flight (targets 0.8x and 0.5x), with the Node CPU each
//   cycle costs, the floor of any module on this store (RedisStore's three calls and the value
//   work no module can skip, without the core: the most a module could reach), and the
//   redis-server's own CPU per cycle for ours and the baseline (what bounds a server's rate);
// - LmdbStore and MemoryStore cycles per second (no target: the store's own cost dominates);
// - CPU per auto-save round, module only and on MemoryStore, with and without changes (D16);
// - Reconcile(template) of a 1 KB and a 64 KB record (it reads only the template's keys);
// - store requests per idle session-hour against the original protocol's (target: DataStore
//   writes at most 10 % of its 120).
//
// BENCH_SCALE=0.1 (or `--quick`) scales every count down for a quick look; the targets are for
// the full run. A full run takes about two minutes on a 2-core machine.
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createModule, LmdbStore, ManualClock, MemoryStore, RedisStore } from "../pkg/node.mjs";
// The same glue instance node.mjs initialised: what the module's wasm holds (src/js/alloc.rs).
import { wasmHeapInUse } from "../pkg/web/datastore_module.js";
// The host's value check and writer, as a save runs them (for the floor of a Redis cycle).
import { toJson } from "../pkg/lib/value.js";
import { startRedis } from "../tests/js/helpers/redis.mjs";
import { PostgresStore } from "../pkg/node.mjs";
import { startPostgres } from "../tests/js/helpers/postgres.mjs";
import { playerData } from "./corpus.mjs";

const START = Date.UTC(2026, 3, 1, 12, 0, 0);
const HOUR = 3_600_000;
const SCALE = process.argv.includes("--quick") ? 0.1 : Number(process.env.BENCH_SCALE ?? 1);
if (!(SCALE > 0)) throw new Error(`BENCH_SCALE must be a positive number, got ${process.env.BENCH_SCALE}`);
const scaled = (n) => Math.max(100, Math.round(n * SCALE));

// ---- the records ----------------------------------------------------------------------------------

/** Distinct records as JSON; a cycle parses one, as a game builds its record from its own state. */
const POOL = Array.from({ length: 512 }, (_, i) => JSON.stringify(playerData(1024, i + 1)));
const POOL_BYTES = POOL.reduce((n, json) => n + Buffer.byteLength(json), 0) / POOL.length;

/** A fresh record for cycle or session `i` (its own objects, so memory counts every one). */
function record(i) {
  const value = JSON.parse(POOL[Math.abs(i) % POOL.length]);
  value.UserId = 1_000_000 + i;
  return value;
}

// ---- stores -----------------------------------------------------------------------------------------

/**
 * A store that answers at once and keeps only the locks: what the module itself costs, with no
 * store memory or latency behind it. `Forgetful` keeps not even those (every lock is granted):
 * the memory runs count what the module holds, not a store's lock table.
 */
class NullStore {
  #locks = new Map();
  #writes = 0;
  async dataGet() {
    return undefined;
  }
  async dataSet() {
    return String(++this.#writes).padStart(12, "0");
  }
  async dataRemove() {}
  async lockAcquire(map, owner) {
    const holder = this.#locks.get(map);
    if (holder !== undefined && holder !== owner) return { ok: false, holder };
    this.#locks.set(map, owner);
    return { ok: true };
  }
  async lockRelease(map, owner) {
    if (this.#locks.get(map) === owner) this.#locks.delete(map);
  }
  async queueAdd() {}
  async queueRead() {
    return undefined;
  }
  async queueRemove() {}
  async close() {}
}

class ForgetfulStore extends NullStore {
  async lockAcquire() {
    return { ok: true };
  }
  async lockRelease() {}
}

/** The store as the module sees it, counting calls by kind. */
function counting(store) {
  const calls = {};
  const proxy = new Proxy(store, {
    get(target, name) {
      const v = Reflect.get(target, name);
      if (typeof v !== "function") return v;
      return (...args) => {
        calls[name] = (calls[name] ?? 0) + 1;
        return v.apply(target, args);
      };
    },
  });
  return { store: proxy, calls, reset: () => Object.keys(calls).forEach((k) => delete calls[k]) };
}

function expect(result, response, what) {
  if (result[0] !== response) throw new Error(`${what} answered ${result.join(", ")}, expected ${response}`);
}

// ---- cycles -----------------------------------------------------------------------------------------

/** One Open + Save + Close of key `i` on `module`. */
async function cycle(module, i) {
  const ds = module.new("Player", i);
  expect(await ds.Open(), "Success", "Open");
  ds.Value = record(i);
  expect(await ds.Save(), "Saved", "Save");
  expect(await ds.Close(), "Saved", "Close");
}

/**
 * Runs `total` cycles of `one(i)` (keys `first`…) with `inFlight` at a time; gives cycles per
 * second and the process CPU per cycle (µs).
 */
async function run(one, total, inFlight, first = 0) {
  let next = 0;
  async function worker() {
    while (next < total) await one(first + next++);
  }
  const cpu = process.cpuUsage();
  const start = performance.now();
  await Promise.all(Array.from({ length: Math.min(inFlight, total) }, worker));
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  return { perSecond: total / seconds, cpuUs: (used.user + used.system) / total };
}

/** Issue 12's second point: cycles after 100k closed sessions against a fresh module's first. */
async function afterCloses(closes) {
  const batch = 1000;
  const fresh = [];
  for (let k = 0; k < 3; k++) {
    const module = createModule({ store: new NullStore() });
    fresh.push((await run((i) => cycle(module, i), batch, 1)).perSecond);
  }
  const module = createModule({ store: new NullStore() });
  const start = performance.now();
  await run((i) => cycle(module, i), closes, 1);
  const closingSeconds = (performance.now() - start) / 1000;
  const after = [];
  for (let k = 0; k < 3; k++) after.push((await run((i) => cycle(module, i), batch, 1, closes + k * batch)).perSecond);
  return { first: Math.max(...fresh), after: Math.max(...after), closingSeconds };
}

// ---- Redis: RedisStore against a hand-rolled node-redis session --------------------------------------

/** Deletes the lock only while it is still ours (the baseline's fourth round trip). */
const UNLOCK = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/**
 * The same work without the module: lock (SET NX PX), load (GET, parse), save (stringify, SET),
 * unlock (compare-and-delete). No retries, no fencing, no auto-save: the floor a module cycle is
 * compared with.
 */
async function baseline(client, unlockSha) {
  return async (i) => {
    const lock = `base:{${i}}:lock`;
    const data = `base:{${i}}:data`;
    const owner = randomUUID();
    if ((await client.set(lock, owner, { condition: "NX", expiration: { type: "PX", value: 60_000 } })) !== "OK")
      throw new Error("baseline lock taken");
    const text = await client.get(data);
    if (text !== null) JSON.parse(text);
    await client.set(data, JSON.stringify(record(i)));
    await client.evalSha(unlockSha, { keys: [lock], arguments: [owner] });
  };
}

/**
 * The floor of any module on RedisStore: the store's three calls as the module makes them
 * (acquire and load, fenced save, release) and the value work no module can skip: parse the
 * loaded text; check and write the value for the save (`toJson`: the storable walk, then
 * JSON.stringify); and again for the close, which must see whether the value changed since
 * (D16; the original writes it again instead). No core, no driver, no events. Its ratio to the
 * baseline is the most a module on this store could reach, whatever its own cost.
 */
function designFloor(store) {
  return async (i) => {
    const key = String(i);
    const map = `Direct/global/${key}`;
    const owner = randomUUID();
    const token = 2 ** 32;
    const { ok, entry } = await store.lockAcquireAndGet(map, owner, 330, token, "Direct", "global", key);
    if (!ok) throw new Error("store lock taken");
    if (entry !== undefined) JSON.parse(entry.value);
    const value = record(i);
    const text = toJson(value, "Value");
    await store.dataSet("Direct", "global", key, text, "[]", "{}", { owner, token, seq: 1 });
    if (toJson(value, "Value") !== text) throw new Error("the value changed between save and close");
    await store.lockRelease(map, owner, token);
  };
}

/**
 * The redis-server's CPU per cycle of `one` (µs): its main thread's user and system time (INFO
 * cpu) over 2,000 cycles, 100 in flight. Redis runs commands on that one thread, so this bounds
 * the cycles per second a server can take, whatever the client costs.
 */
async function serverTime(client, one, keys) {
  const n = Math.min(2000, keys);
  const cpu = async () => {
    const info = await client.sendCommand(["INFO", "cpu"]);
    const field = (name) => Number(new RegExp(`${name}:([0-9.]+)`).exec(info)[1]);
    return field("used_cpu_user_main_thread") + field("used_cpu_sys_main_thread");
  };
  const before = await cpu();
  await run(one, n, 100);
  return (((await cpu()) - before) * 1e6) / n;
}

async function redisFigures(keys) {
  const server = await startRedis();
  const { createClient } = await import("redis");
  const client = createClient({ url: server.url });
  await client.connect();
  const store = new RedisStore({ url: server.url });
  try {
    const unlockSha = await client.scriptLoad(UNLOCK);
    const theirs = await baseline(client, unlockSha);
    // A fresh module per run (new sessions, as players joining); keys hold data from the warm-up,
    // so every load reads a record, as a returning player's does.
    const ours = () => {
      const module = createModule({ store });
      return (i) => cycle(module, i);
    };
    // The module's three store calls per cycle, counted once.
    const counted = counting(store);
    const countedModule = createModule({ store: counted.store });
    await cycle(countedModule, keys);
    const calls = Object.values(counted.calls).reduce((a, b) => a + b, 0);
    if (calls !== 3) throw new Error(`a cycle made ${calls} store calls (${JSON.stringify(counted.calls)}), not 3`);
    const floor = designFloor(store);
    await run(ours(), keys, 100);
    await run(theirs, keys, 100);
    await run(floor, keys, 100);
    const figures = {};
    for (const inFlight of [1, 100]) {
      const n = inFlight === 1 ? Math.min(keys, scaled(3000)) : keys;
      const best = { ours: { perSecond: 0 }, theirs: { perSecond: 0 }, floor: { perSecond: 0 } };
      for (let k = 0; k < 3; k++) {
        for (const [who, one] of [
          ["ours", ours()],
          ["theirs", theirs],
          ["floor", floor],
        ]) {
          const r = await run(one, n, inFlight);
          if (r.perSecond > best[who].perSecond) best[who] = r;
        }
      }
      figures[inFlight] = best;
    }
    figures.serverUs = { ours: await serverTime(client, ours(), keys), theirs: await serverTime(client, theirs, keys) };
    return figures;
  } finally {
    await store.close();
    await client.close();
    await server.stop();
  }
}

// ---- LMDB and MemoryStore ---------------------------------------------------------------------------

async function storeCycles(makeStore, n) {
  const out = {};
  const { store, done } = await makeStore();
  try {
    for (const inFlight of [1, 100]) {
      const fresh = () => {
        const module = createModule({ store });
        return (i) => cycle(module, i);
      };
      await run(fresh(), Math.min(n, 500), inFlight); // warm-up, and data to load
      let best = { perSecond: 0 };
      for (let k = 0; k < 3; k++) {
        const r = await run(fresh(), n, inFlight);
        if (r.perSecond > best.perSecond) best = r;
      }
      out[inFlight] = best;
    }
  } finally {
    await done();
  }
  return out;
}

const lmdb = async () => {
  const dir = mkdtempSync(join(tmpdir(), "dsm-bench-lmdb-"));
  const store = new LmdbStore({ path: dir });
  return {
    store,
    done: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

const memoryStore = async () => {
  const store = new MemoryStore();
  return { store, done: () => store.close() };
};

// ---- PostgreSQL: PostgresStore cycles (issue 15) -------------------------------------------------------
//
// Open+Save+Close cycles per second on a PostgreSQL started here as the tests start theirs, but
// durable: fsync and synchronous commit on, as a deployment runs it, so every commit (four a
// cycle: lock, save, save on close, unlock) waits for the disk. Then the same server with
// `synchronous_commit=off` for the store's connections (through the connection string): a
// crash may lose the last moments' commits but never corrupts, the usual setting for a cache-like
// load, and the figure that shows what the store itself costs. At 1 and 100 in flight, the
// store's default pool of 10 connections. No target: the disk's flush time dominates.

async function postgresFigures() {
  const server = await startPostgres({ durable: true });
  const postgres = (connectionString) => async () => {
    const store = new PostgresStore({ connectionString });
    return { store, done: () => store.close() };
  };
  try {
    return {
      durable: await storeCycles(postgres(server.connectionString), scaled(500)),
      asyncCommit: await storeCycles(
        postgres(`${server.connectionString}?options=-c%20synchronous_commit%3Doff`),
        scaled(2000),
      ),
    };
  } finally {
    await server.stop();
  }
}

/** The table rows of postgresFigures (or why there are none). */
async function postgresRows(row) {
  let figures;
  try {
    figures = await postgresFigures();
  } catch (e) {
    row("PostgresStore Open+Save+Close /s", "not measured", "", "", `(${e.message.split(":")[0]})`);
    return;
  }
  const { durable, asyncCommit } = figures;
  row(
    "PostgresStore Open+Save+Close /s, 1 / 100 in flight (durable: fsync, synchronous commit)",
    `${fixed(durable[1].perSecond)} / ${fixed(durable[100].perSecond)}`,
  );
  row(`  Node CPU per cycle`, `${fixed(durable[1].cpuUs)} / ${fixed(durable[100].cpuUs)} µs`);
  row(
    "  same server, synchronous_commit=off (a crash may lose the last commits)",
    `${fixed(asyncCommit[1].perSecond)} / ${fixed(asyncCommit[100].perSecond)}`,
  );
  row(`  Node CPU per cycle`, `${fixed(asyncCommit[1].cpuUs)} / ${fixed(asyncCommit[100].cpuUs)} µs`);
}

// ---- memory (in a child process per count) ------------------------------------------------------------

/** The process's memory after three full collections, and what the module's wasm holds. */
function snapshot() {
  for (let i = 0; i < 3; i++) globalThis.gc();
  return { ...process.memoryUsage(), wasm: wasmHeapInUse() };
}

/**
 * What a process holds once `add(from, to)` made items `from`…`to - 1` (kept in `held`): in
 * total from a collected start, and at the margin, from half the items to all of them. The
 * margin is what each more item costs; the total also counts what the process grows once, as
 * V8's young generation (up to 32 MiB), which weighs on a small count.
 */
async function measured(n, add) {
  const start = snapshot();
  const began = performance.now();
  await add(0, n / 2);
  const half = snapshot();
  await add(n / 2, n);
  const ms = performance.now() - began;
  const end = snapshot();
  const per = (from, to, k, count) => (to[k] - from[k]) / count;
  return {
    ms,
    rss: end.rss,
    rssTotal: per(start, end, "rss", n),
    rssMargin: per(half, end, "rss", n / 2),
    heapMargin: per(half, end, "heapUsed", n / 2),
    wasmMargin: per(half, end, "wasm", n / 2),
  };
}

/** `n` sessions, each opened and saved once; a ManualClock so no timer fires. */
async function sessionsChild(n) {
  const clock = new ManualClock(START);
  const store = new ForgetfulStore();
  // Warm the code paths, then measure from a collected heap.
  const warm = createModule({ store, clock });
  for (let i = 0; i < 200; i++) await cycle(warm, -1 - i);
  const module = createModule({ store, clock });
  const sessions = new Array(n);
  const figures = await measured(n, async (from, to) => {
    // A server's players come and go a few at a time, not all at once (a larger batch only
    // raises the wasm memory's high-water mark, which it never gives back).
    const batch = 100;
    for (let first = from; first < to; first += batch) {
      const work = [];
      for (let i = first; i < Math.min(to, first + batch); i++) {
        const ds = (sessions[i] = module.new("Player", i));
        work.push(
          (async () => {
            expect(await ds.Open(), "Success", "Open");
            ds.Value = record(i);
            expect(await ds.Save(), "Saved", "Save");
          })(),
        );
      }
      await Promise.all(work);
    }
  });
  if (sessions.some((ds) => ds.State !== true)) throw new Error("not every session is open");
  return figures;
}

/** The same `n` records held without the module: the live values' own cost. */
async function valuesChild(n) {
  const records = new Array(n);
  const figures = await measured(n, async (from, to) => {
    for (let i = from; i < to; i++) records[i] = record(i);
  });
  if (records.some((r) => r === undefined)) throw new Error("lost records");
  return figures;
}

function child(kind, n) {
  const out = spawnSync(process.execPath, ["--expose-gc", fileURLToPath(import.meta.url), kind, String(n)], {
    encoding: "utf8",
    maxBuffer: 1 << 20,
  });
  if (out.status !== 0) throw new Error(`memory bench (${kind} ${n}) failed:\n${out.stderr}`);
  return JSON.parse(out.stdout);
}

// ---- CPU per auto-save round ----------------------------------------------------------------------

/** Opens `n` sessions of `module` with records, `batch` at a time (the clock moves 4 s a batch). */
async function openMany(module, n, { batch = 1000, setup, clock } = {}) {
  const sessions = new Array(n);
  for (let first = 0; first < n; first += batch) {
    const opening = [];
    for (let i = first; i < Math.min(n, first + batch); i++) {
      const ds = module.new("Player", i);
      setup?.(ds);
      sessions[i] = ds;
      opening.push(
        ds.Open().then((result) => {
          expect(result, "Success", "Open");
          ds.Value = record(i);
        }),
      );
    }
    await Promise.all(opening);
    await clock?.advance(4_001);
  }
  return sessions;
}

/**
 * Bind-to-close on a ManualClock: a save that follows one that sent nothing (D16) starts a
 * millisecond later at the earliest, so the clock must move for the closing saves to run.
 */
async function closeAll(module, clock) {
  const closed = module.BindToClose();
  await clock.advance(1_000);
  await closed;
}

async function autoSaveRounds(n, emulated) {
  const clock = new ManualClock(START);
  const store = emulated ? new MemoryStore({ clock }) : new NullStore();
  const module = createModule({ store, clock });
  // No lock refresh inside the measured rounds (it is at LockInterval = 1000 s).
  const sessions = await openMany(module, n, { setup: (ds) => (ds.LockInterval = 1000), clock });
  let saves = 0;
  for (const ds of sessions) ds.Saved.Connect((response) => response === "Saved" && saves++);
  const round = async () => {
    saves = 0;
    const start = performance.now();
    await clock.advance(30_000);
    const ms = performance.now() - start;
    if (saves !== n) throw new Error(`${saves} of ${n} sessions saved in the round`);
    return (ms * 1000) / n; // µs per session
  };
  await round(); // the first write of every session (and warm-up)
  for (const ds of sessions) ds.Value.Coins += 1;
  const changed = await round();
  const unchanged = await round();
  await closeAll(module, clock);
  await store.close();
  return { changed, unchanged };
}

// ---- Reconcile -----------------------------------------------------------------------------------

/**
 * µs per `Reconcile(template)` of an open session holding a record of about `bytes` of JSON, the
 * template the seed README's: only the template's keys of the value are read, so the record's
 * size should not show.
 */
async function reconcileUs(bytes) {
  const clock = new ManualClock(START);
  const module = createModule({ store: new NullStore(), clock });
  const ds = module.new("Player", "reconcile");
  const opened = ds.Open();
  await clock.advance(1_000);
  await opened;
  ds.Value = playerData(bytes, 7);
  const template = { Coins: 0, Level: 1, Inventory: [], Settings: { Music: true }, Tutorial: { Done: false } };
  const n = Math.max(200, Math.round(scaled(2_000_000) / bytes));
  let best = Infinity;
  for (let k = 0; k < 3; k++) {
    const start = performance.now();
    for (let i = 0; i < n; i++) ds.Reconcile(template);
    best = Math.min(best, ((performance.now() - start) * 1000) / n);
  }
  await closeAll(module, clock);
  return best;
}

// ---- requests per idle session-hour ---------------------------------------------------------------

async function idleHour(n, { processQueue = false } = {}) {
  const clock = new ManualClock(START);
  const { store, calls, reset } = counting(new MemoryStore({ clock }));
  const module = createModule({ store, clock });
  const sessions = await openMany(module, n, { clock });
  if (processQueue) for (const ds of sessions) ds.ProcessQueue.Connect(() => {});
  reset();
  await clock.advance(HOUR);
  const first = { ...calls };
  reset();
  await clock.advance(HOUR);
  const steady = { ...calls };
  if (sessions.some((ds) => ds.State !== true)) throw new Error("a session closed while idle");
  await closeAll(module, clock);
  const per = (counts, kind) => (counts[kind] ?? 0) / n;
  return {
    writes: [per(first, "dataSet") + per(first, "dataRemove"), per(steady, "dataSet") + per(steady, "dataRemove")],
    reads: [per(first, "dataGet"), per(steady, "dataGet")],
    locks: [per(first, "lockAcquire"), per(steady, "lockAcquire")],
    queueReads: [per(first, "queueRead"), per(steady, "queueRead")],
  };
}

// ---- the table ------------------------------------------------------------------------------------

const fixed = (x, digits = 0) =>
  x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const kib = (bytes) => `${fixed(bytes / 1024, 2)} KiB`;
const verdict = (ok, detail) => `${ok ? "yes" : "NO"}${detail ? ` (${detail})` : ""}`;

async function main() {
  const rows = [];
  const row = (measure, ours, baseline = "", target = "", met = "") => {
    rows.push({ measure, ours, baseline, target, met });
    if (process.env.BENCH_VERBOSE) console.error(measure, ours, baseline, target, met);
  };
  const started = performance.now();

  // Warm-up: JIT and both wasm files.
  await run((i) => cycle(createModule({ store: new NullStore() }), i), 500, 1);

  // 1. Memory per session after one save.
  for (const n of [scaled(10_000), scaled(100_000)]) {
    const s = child("--sessions", n);
    const v = child("--values", n);
    const beyond = s.rssMargin - v.rssMargin;
    const exact = s.heapMargin - v.heapMargin + s.wasmMargin;
    row(
      `RSS per session after one save (${fixed(n)} sessions): total; at the margin`,
      `${kib(s.rssTotal)}; ${kib(s.rssMargin)}`,
    );
    row(
      `  beyond the live value: RSS at the margin (records alone: ${kib(v.rssMargin)})`,
      kib(beyond),
      "",
      "<= 2 KiB",
      verdict(beyond <= 2048),
    );
    row(
      `  beyond the live value: JS heap + wasm heap in use (exact, without allocator overhead)`,
      `${kib(s.heapMargin - v.heapMargin)} + ${kib(s.wasmMargin)} = ${kib(exact)}`,
      "",
      "<= 2 KiB",
      verdict(exact <= 2048),
    );
    row(
      `  process RSS with ${fixed(n)} saved sessions; time to open and save`,
      `${fixed(s.rss / 2 ** 20)} MiB; ${fixed(s.ms)} ms`,
    );
  }

  // 2. Cycles after 100k closes.
  const closes = scaled(100_000);
  const c = await afterCloses(closes);
  row("Open+Save+Close /s, one at a time: first 1,000 of a module", fixed(c.first));
  const ratio = c.after / c.first;
  row(
    `  after ${fixed(closes)} closed sessions (best of 3 x 1,000)`,
    fixed(c.after),
    "",
    ">= 0.8x the first",
    verdict(ratio >= 0.8, `${fixed(ratio, 2)}x`),
  );
  row(`  time for the ${fixed(closes)} closes`, `${fixed(c.closingSeconds, 1)} s`);

  // 3. Redis against the hand-rolled baseline.
  let redis;
  try {
    redis = await redisFigures(scaled(10_000));
  } catch (e) {
    // No redis-server here: say so in the table, and measure the rest.
    row("RedisStore Open+Save+Close /s", "not measured", "", ">= 0.8x / >= 0.5x", `NO (${e.message.split(":")[0]})`);
  }
  for (const [inFlight, target] of redis
    ? [
        [1, 0.8],
        [100, 0.5],
      ]
    : []) {
    const { ours, theirs, floor } = redis[inFlight];
    const r = ours.perSecond / theirs.perSecond;
    row(
      `RedisStore Open+Save+Close /s, ${inFlight} in flight (3 round trips; node-redis 4)`,
      fixed(ours.perSecond),
      fixed(theirs.perSecond),
      `>= ${target}x`,
      verdict(r >= target, `${fixed(r, 2)}x`),
    );
    row(`  Node CPU per cycle`, `${fixed(ours.cpuUs)} µs`, `${fixed(theirs.cpuUs)} µs`);
    if (inFlight === 100) {
      // The server's share, which no client change moves (fenced scripts against plain commands).
      const { ours: server, theirs: theirServer } = redis.serverUs;
      row(
        `  redis-server CPU per cycle (one thread: at most ${fixed(1e6 / server)} / ${fixed(1e6 / theirServer)} cycles/s)`,
        `${fixed(server)} µs`,
        `${fixed(theirServer)} µs`,
      );
    }
    row(
      `  floor: RedisStore's three calls and the value work any module does, no core: /s; Node CPU per cycle`,
      `${fixed(floor.perSecond)}; ${fixed(floor.cpuUs)} µs`,
      "",
      "",
      `${fixed(floor.perSecond / theirs.perSecond, 2)}x`,
    );
  }

  // 4. LMDB and MemoryStore.
  for (const [name, make, n] of [
    ["LmdbStore", lmdb, scaled(3000)],
    ["MemoryStore", memoryStore, scaled(3000)],
  ]) {
    const f = await storeCycles(make, n);
    row(`${name} Open+Save+Close /s, 1 / 100 in flight`, `${fixed(f[1].perSecond)} / ${fixed(f[100].perSecond)}`);
    row(`  Node CPU per cycle`, `${fixed(f[1].cpuUs)} / ${fixed(f[100].cpuUs)} µs`);
  }

  // 4b. PostgreSQL (its own section above).
  await postgresRows(row);

  // 5. CPU per auto-save round.
  for (const n of [scaled(1_000), scaled(10_000)]) {
    for (const emulated of [false, true]) {
      const cpu = await autoSaveRounds(n, emulated);
      const where = emulated ? "MemoryStore" : "module only";
      row(
        `CPU per auto-save round, ${fixed(n)} sessions, ${where}: changed / unchanged (D16)`,
        `${fixed(cpu.changed, 1)} / ${fixed(cpu.unchanged, 1)} µs`,
      );
    }
  }

  // 5b. Reconcile, whose cost must not follow the record's size.
  const small = await reconcileUs(1024);
  const large = await reconcileUs(64 * 1024);
  row("Reconcile(template) of an open session: 1 KB / 64 KB record", `${fixed(small, 1)} / ${fixed(large, 1)} µs`);

  // 6. Requests per idle session-hour (per-session counts do not depend on N; the queue's long
  // polls make that variant slow).
  const idle = await idleHour(scaled(1_000));
  const pq = await idleHour(100, { processQueue: true });
  const pair = ([first, steady]) => `${fixed(first, 2)} / ${fixed(steady, 2)}`;
  const writes = Math.max(...idle.writes) / 120;
  row(
    "DataStore writes per idle session-hour (1st hour / later)",
    pair(idle.writes),
    "120",
    "<= 12 (10 %)",
    verdict(writes <= 0.1, `${fixed(writes * 100, 1)} %`),
  );
  row("DataStore reads per idle session-hour", pair(idle.reads), "0");
  row("MemoryStore lock refreshes per idle session-hour", pair(idle.locks), "60");
  row("  queue reads per hour, ProcessQueue connected", pair(pq.queueReads), "120");

  const seconds = (performance.now() - started) / 1000;
  console.log(
    `Module costs (${process.version}; records of ${fixed(POOL_BYTES)} bytes of JSON on average; ` +
      `BENCH_SCALE=${SCALE}; ${fixed(seconds)} s). "baseline": the original protocol, or hand-rolled node-redis`,
  );
  console.table(rows);
}

const mode = process.argv[2];
if (mode === "--sessions" || mode === "--values") {
  const n = Number(process.argv[3]);
  const figures = mode === "--sessions" ? await sessionsChild(n) : await valuesChild(n);
  process.stdout.write(JSON.stringify(figures));
  process.exit(0);
} else {
  await main();
  process.exit(0);
}
