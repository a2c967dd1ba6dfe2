// `make bench` (module part): what the session module costs a game server, on MemoryStore.
//
// - throughput: Open + Save + Close cycles per second, real clock, no faults, one key each
//   (one at a time, and 500 sessions in flight);
// - memory: RSS growth per open session holding a 1 KB value, at 10k and 100k sessions (each
//   count in a fresh `node --expose-gc` process, a ManualClock so no timer fires; the store
//   holds only the lock entries, the values are not saved);
// - CPU per auto-save round: the time to advance a ManualClock past one SaveInterval with N open
//   sessions, divided by N, with every value changed and with none changed (D16 skips those),
//   on MemoryStore and on a no-op store (the module's own cost: the emulator keeps every
//   version in its wasm's memory, and growing that memory costs V8 garbage collections; in Node
//   that is the second wasm instance, datastore_module_full, not the module's);
// - store requests per idle session-hour: calls counted by kind with a wrapper over MemoryStore
//   while a ManualClock runs one hour, next to the original protocol's 60 lock refreshes and
//   120 saves per hour at the defaults (SaveInterval 30, LockInterval 60).
//
// Targets: 100k open sessions under 1 GiB RSS; idle DataStore writes <= 10 % of the original's.
// `node bench/module.mjs` prints one table; `--quick` uses smaller counts.
//
// The emulator keeps a 4 s read cache per server and, once it holds more than 4096 keys, sweeps
// all of it on every read; more than 4096 distinct keys read within 4 s makes each read cost
// O(keys). So throughput runs stay at 4000 cycles, and the memory runs let the ManualClock move
// 4 s between batches of opens (with SaveInterval and LockInterval at 1000 s, so still no
// timer fires). Without that, opening 100k sessions takes minutes in the emulator.
//
// Past about 64 MiB of wasm memory, every 64 KiB the Rust allocator grows it by makes V8 run
// garbage collection ("external memory pressure"), so opening gets much slower per session
// after ~40k sessions (the core alone holds ~1.4 KiB per session). "time to open" shows it.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createModule, ManualClock, MemoryStore } from "../pkg/node.mjs";

const START = Date.UTC(2026, 3, 1, 12, 0, 0);
const HOUR = 3_600_000;
const quick = process.argv.includes("--quick");

/** A player record whose JSON is exactly 1024 bytes; `i` makes each one different. */
function oneKb(i) {
  const value = {
    UserId: 1_000_000 + i,
    Coins: i % 997,
    Level: 1 + (i % 50),
    Inventory: Array.from({ length: 12 }, (_, k) => `Item-${k}-${i % 1000}`),
    Quests: { Daily: [1, 2, 3], Done: i % 7 },
    Settings: { Music: true, Sfx: false, Volume: 0.5 },
    Bio: "",
  };
  value.Bio = "x".repeat(1024 - JSON.stringify(value).length);
  return value;
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

/**
 * Opens `n` sessions of `module` with 1 KB values, `batch` at a time. With `clock`, the clock
 * moves 4 s after each batch (see the top of the file).
 */
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
          ds.Value = oneKb(i);
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

/**
 * A store that answers at once and keeps only the locks: what the module itself costs, with no
 * emulator (and no emulator memory growing) behind it.
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

// ---- throughput -----------------------------------------------------------------------------------

async function throughput(total, inFlight) {
  const store = new MemoryStore();
  const module = createModule({ store });
  let next = 0;
  async function worker() {
    while (next < total) {
      const i = next++;
      const ds = module.new("Player", i);
      expect(await ds.Open(), "Success", "Open");
      ds.Value = oneKb(i);
      expect(await ds.Save(), "Saved", "Save");
      expect(await ds.Close(), "Saved", "Close");
    }
  }
  const start = performance.now();
  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = (performance.now() - start) / 1000;
  await module.BindToClose();
  await store.close();
  return total / seconds;
}

// ---- memory (in a child process per count) --------------------------------------------------------

async function memoryChild(n) {
  const clock = new ManualClock(START);
  const store = new MemoryStore({ clock });
  const module = createModule({ store, clock });
  // Warm the code paths, then measure from a collected heap.
  const warm = await openMany(createModule({ store, clock }), 200, { setup: (ds) => (ds.SaveOnClose = false) });
  await Promise.all(warm.map((ds) => ds.Destroy()));
  for (let i = 0; i < 3; i++) globalThis.gc();
  const before = process.memoryUsage();
  const start = performance.now();
  const quiet = (ds) => {
    ds.SaveInterval = 1000;
    ds.LockInterval = 1000;
  };
  const sessions = await openMany(module, n, { clock, setup: quiet });
  const openMs = performance.now() - start;
  for (let i = 0; i < 3; i++) globalThis.gc();
  const after = process.memoryUsage();
  if (sessions.some((ds) => ds.State !== true)) throw new Error("not every session is open");
  return {
    n,
    rssPerSession: (after.rss - before.rss) / n,
    heapPerSession: (after.heapUsed - before.heapUsed) / n,
    rss: after.rss,
    openMs,
  };
}

function memory(n) {
  const child = spawnSync(process.execPath, ["--expose-gc", fileURLToPath(import.meta.url), "--memory", String(n)], {
    encoding: "utf8",
    maxBuffer: 1 << 20,
  });
  if (child.status !== 0) throw new Error(`memory bench for ${n} sessions failed:\n${child.stderr}`);
  return JSON.parse(child.stdout);
}

// ---- CPU per auto-save round ----------------------------------------------------------------------

async function autoSaveRounds(n, emulated) {
  const clock = new ManualClock(START);
  const store = emulated ? new MemoryStore({ clock }) : new NullStore();
  const module = createModule({ store, clock });
  // No lock refresh inside the measured rounds (it is at LockInterval = 1000 s).
  const sessions = await openMany(module, n, { setup: (ds) => (ds.LockInterval = 1000) });
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

// ---- requests per idle session-hour ---------------------------------------------------------------

async function idleHour(n, { processQueue = false } = {}) {
  const clock = new ManualClock(START);
  const { store, calls, reset } = counting(new MemoryStore({ clock }));
  const module = createModule({ store, clock });
  const sessions = await openMany(module, n);
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

async function main() {
  const counts = quick ? [2_000, 10_000] : [10_000, 100_000];
  const rows = [];
  const row = (measure, ours, original = "", target = "", met = "") =>
    rows.push({ measure, ours, original, target, met });
  const fixed = (x, digits = 0) =>
    x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

  await throughput(500, 50); // warm-up
  const best = async (inFlight) =>
    Math.max(
      ...[await throughput(4_000, inFlight), await throughput(4_000, inFlight), await throughput(4_000, inFlight)],
    );
  row("Open+Save+Close, one at a time (best of 3 x 4000)", `${fixed(await best(1))} /s`);
  row("Open+Save+Close, 500 in flight (best of 3 x 4000)", `${fixed(await best(500))} /s`);

  for (const n of counts) {
    const m = memory(n);
    row(`RSS per open session (${fixed(n)}, 1 KB value)`, `${fixed(m.rssPerSession / 1024, 2)} KiB`, "", "", "");
    row(`  JS heap per open session (${fixed(n)})`, `${fixed(m.heapPerSession / 1024, 2)} KiB`);
    const gib = m.rss / 2 ** 30;
    if (n >= 100_000)
      row(
        `  process RSS with ${fixed(n)} open`,
        `${fixed(m.rss / 2 ** 20)} MiB`,
        "",
        "< 1 GiB",
        gib < 1 ? "yes" : "NO",
      );
    else row(`  process RSS with ${fixed(n)} open`, `${fixed(m.rss / 2 ** 20)} MiB`);
    row(`  time to open ${fixed(n)}`, `${fixed(m.openMs)} ms`);
  }
  if (quick) row("(100k sessions: run without --quick)", "");

  for (const n of quick ? [2_000] : [1_000, 10_000]) {
    for (const emulated of [true, false]) {
      const cpu = await autoSaveRounds(n, emulated);
      const where = emulated ? "MemoryStore" : "module only";
      row(
        `CPU per auto-save round, ${fixed(n)} sessions, ${where}: values changed`,
        `${fixed(cpu.changed, 1)} µs/session`,
      );
      row(`  nothing changed (D16 skips the write)`, `${fixed(cpu.unchanged, 1)} µs/session`);
    }
  }

  // Per-session counts do not depend on N; the queue's long polls make that variant slow.
  const idle = await idleHour(1_000);
  const pq = await idleHour(100, { processQueue: true });
  const pair = ([first, steady]) => `${fixed(first, 2)} / ${fixed(steady, 2)}`;
  const ratio = Math.max(...idle.writes) / 120;
  row(
    "DataStore writes per idle session-hour (1st hour / later)",
    pair(idle.writes),
    "120",
    "<= 12 (10 %)",
    ratio <= 0.1 ? `yes (${fixed(ratio * 100, 1)} %)` : `NO (${fixed(ratio * 100, 1)} %)`,
  );
  row("DataStore reads per idle session-hour", pair(idle.reads), "0");
  row("MemoryStore lock refreshes per idle session-hour", pair(idle.locks), "60");
  row("  queue reads per hour, ProcessQueue connected", pair(pq.queueReads), "120");

  console.log(`Module costs on MemoryStore (${process.version}; ${quick ? "quick run" : "full run"})`);
  console.table(rows);
}

if (process.argv[2] === "--memory") {
  process.stdout.write(JSON.stringify(await memoryChild(Number(process.argv[3]))));
  process.exit(0);
} else {
  await main();
}
