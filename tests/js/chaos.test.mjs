// Chaos for the JS driver (issue 11): seeded random call sequences on several servers sharing one
// MemoryStore, each server behind a store wrapper that throws synchronously, rejects with odd
// values, never settles (the request lost, or only its reply), answers late, or answers with
// the wrong types; the emulator adds its own transient and ambiguous failures and latency.
// The sequences call Open, Read, Save, Close, Destroy, Queue, Remove, Usage, Reconcile and
// Clone, set properties (good and bad), misuse the API with wrong types, make calls
// concurrently, and connect handlers that throw (sync and async) or call back into the session.
//
// Checked, for every sequence:
// - nothing escapes: no uncaught exception, no unhandled rejection, no method throwing except
//   the documented TypeError/RangeError for misuse;
// - every call settles, and within its deadline: the worst case of what is queued ahead of it
//   on its session (store calls: 3 tries of 15 s data / 10 s lock and queue, 2 s of backoff)
//   plus room for lock refreshes and an auto-save; BindToClose within 25 s;
// - no acknowledged save is lost: every value is `{ n }` with n from one counter, so values
//   written later have larger n; a load (Open or Read answering Success) sees at least the n of
//   the last save acknowledged ("Saved") before it was called, and at the end the store holds
//   at least the last acknowledged n of each key.
//
// Most sequences run on a ManualClock advanced in random steps; a few run briefly on the real
// clock (short store delays and no hangs, since the core's timeouts are 10 to 15 real seconds).
// CHAOS_SEQUENCES and CHAOS_SEED change the run; the figures are printed.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createModule, decompress, ManualClock, MemoryStore, realClock, StoreError } from "../../pkg/node.mjs";
import { Signal } from "../../pkg/lib/signal.js";
import { rng } from "../../bench/corpus.mjs";

const SEQUENCES = Number(process.env.CHAOS_SEQUENCES ?? 300);
const REAL_SEQUENCES = Number(process.env.CHAOS_REAL_SEQUENCES ?? 2);
const FIRST_SEED = Number(process.env.CHAOS_SEED ?? 1);
const START = Date.UTC(2026, 3, 1, 12, 0, 0);
const KEYS = ["1", "2"];

/** Worst-case virtual time of each call (store calls: 3 tries and 2 s of backoff), in ms. */
const MEMORY_OP = 3 * 10_000 + 2_000;
const DATA_OP = 3 * 15_000 + 2_000;
const SAVE = 10_000 + DATA_OP; // SaveDelay at most 10 s, then the write
const WORST = {
  Open: MEMORY_OP + DATA_OP,
  Read: DATA_OP,
  Save: SAVE,
  Close: SAVE + MEMORY_OP,
  Destroy: SAVE + MEMORY_OP,
  Queue: MEMORY_OP,
  Remove: MEMORY_OP,
};
/** Work the session queues on its own ahead of a call: two lock refreshes and an auto-save. */
const BACKGROUND = 2 * MEMORY_OP + SAVE;
const SHUTDOWN_MS = 25_000;

/** Seeded draws (mulberry32, as the bench corpus makes its records), and choices made of them. */
function random(seed) {
  const next = rng(seed);
  return {
    next,
    chance: (p) => next() < p,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (list) => list[Math.floor(next() * list.length)],
  };
}

/** The run's totals. */
const figures = {
  sequences: 0,
  calls: 0,
  misuse: 0,
  faults: {},
  handlerErrors: 0,
  loadsChecked: 0,
  acks: 0,
  hangs: 0,
  crashes: 0,
  lost: 0,
  slowest: {},
};

/** What a sequence found wrong; the test fails on the first sequence with any. */
class Violations {
  list = [];
  add(what) {
    if (this.list.length < 20) this.list.push(what);
  }
}

/**
 * One server's view of `base`: each call may fail as `rates` says. Late answers and hangs use
 * `clock`; a hang either never forwards the request or forwards it and drops the reply.
 */
function chaosStore(base, clock, rng, rates, faults) {
  const count = (kind) => {
    faults[kind] = (faults[kind] ?? 0) + 1;
    figures.faults[kind] = (figures.faults[kind] ?? 0) + 1;
  };
  const odd = () =>
    rng.pick([
      undefined,
      null,
      "503: Service Unavailable",
      42,
      Object.create(null),
      { message: 7 },
      new Error("connection reset"),
      new StoreError("Transient", "InternalError: injected"),
      new StoreError("InvalidRequest", "InvalidRequest: injected, never retried"),
    ]);
  const later = (ms, fn) => new Promise((resolve) => clock.setTimeout(() => resolve(fn()), ms));
  const wrong = {
    dataGet: () => rng.pick([5, { value: 5 }, { value: "1", version: 7 }, "entry"]),
    dataSet: () => rng.pick([42, undefined, { version: "v" }]),
    lockAcquire: () => rng.pick([undefined, { ok: "yes" }, { ok: false }, true]),
    queueRead: () => rng.pick([{ readId: "r" }, { values: [1], readId: "r" }, "read"]),
  };
  return new Proxy(base, {
    get(target, name) {
      const v = Reflect.get(target, name);
      if (typeof v !== "function" || name === "close") return v;
      const forward = (args) => v.apply(target, args);
      return (...args) => {
        const roll = rng.next();
        let edge = 0;
        const hit = (p) => roll < (edge += p);
        if (hit(rates.syncThrow)) {
          count("sync throw");
          throw odd();
        }
        if (hit(rates.reject)) {
          count("rejection");
          return Promise.reject(odd());
        }
        if (hit(rates.hang)) {
          count("hang");
          if (rng.chance(0.5)) forward(args).catch(() => {}); // it lands; the reply is lost
          return new Promise(() => {});
        }
        if (hit(rates.slow)) {
          count("slow");
          const ms = rng.int(0, rates.slowMs);
          if (rng.chance(0.5)) return later(ms, () => forward(args)); // the request is late
          return forward(args).then(
            (r) => later(ms, () => r),
            (e) => later(ms, () => Promise.reject(e)),
          );
        }
        if (wrong[name] && hit(rates.wrongType)) {
          count("wrong type");
          return forward(args).then(() => wrong[name]());
        }
        return forward(args);
      };
    },
  });
}

/** One sequence. `real`: on the real clock, briefly. */
async function sequence(seed, real) {
  const rng = random(seed);
  const violations = new Violations();
  const clock = real ? realClock : new ManualClock(START);
  const base = new MemoryStore({
    clock,
    seed,
    faults: rng.chance(0.7) ? { transient: 0.02, ambiguous: 0.02, latencyMs: real ? [0, 5] : [0, 300] } : null,
  });
  const faults = {};
  const rates = real
    ? { syncThrow: 0.03, reject: 0.04, hang: 0, slow: 0.1, slowMs: 20, wrongType: 0.03 }
    : {
        syncThrow: rng.next() * 0.04,
        reject: rng.next() * 0.06,
        hang: rng.next() * 0.04,
        slow: rng.next() * 0.15,
        slowMs: rng.pick([2_000, 20_000]),
        wrongType: rng.next() * 0.04,
      };
  const servers = Array.from({ length: rng.int(2, 3) }, (_, i) =>
    createModule({ store: chaosStore(base, clock, random(seed * 31 + i), rates, faults), clock, seed: seed * 7 + i }),
  );

  let counter = 0;
  const lastAck = new Map(); // key → the n of the last acknowledged save
  const pending = new Set();
  const now = () => clock.now();
  let calls = 0;

  /** Tracks a call's promise: it must resolve (never reject) with a [response, data] pair. */
  function track(kind, ds, promise, { bound, onAnswer } = {}) {
    calls++;
    const ahead = [...pending].filter((c) => c.ds === ds && ds !== undefined);
    const call = {
      kind,
      ds,
      issued: now(),
      bound: bound ?? ahead.reduce((sum, c) => sum + (WORST[c.kind] ?? 0), WORST[kind] ?? 0) + BACKGROUND,
    };
    pending.add(call);
    Promise.resolve(promise).then(
      (answer) => {
        pending.delete(call);
        const took = now() - call.issued;
        figures.slowest[kind] = Math.max(figures.slowest[kind] ?? 0, took);
        if (took > call.bound) violations.add(`${kind} settled after ${took} ms (deadline ${call.bound} ms)`);
        onAnswer?.(answer);
      },
      (error) => {
        pending.delete(call);
        figures.crashes++;
        violations.add(`${kind} rejected: ${error?.stack ?? error}`);
      },
    );
  }

  /** A method call that must not throw. */
  function safely(what, fn) {
    try {
      return fn();
    } catch (e) {
      figures.crashes++;
      violations.add(`${what} threw ${e?.stack ?? e}`);
      return undefined;
    }
  }

  /** Misuse: must throw `type`, synchronously. */
  function misuse(what, type, fn) {
    figures.misuse++;
    try {
      const result = fn();
      violations.add(`${what} did not throw (gave ${String(result)})`);
    } catch (e) {
      if (!(e instanceof type)) violations.add(`${what} threw ${e?.name}: ${e?.message}, not a ${type.name}`);
    }
  }

  // ---- sessions -----------------------------------------------------------------------------

  /** Per DataStore: the count of Value assignments (a load check skips if one came between). */
  const assigned = new WeakMap();
  const saving = new WeakMap(); // DataStore → n of the snapshot of the save in progress
  const known = new WeakSet();

  function session(server, key, hidden) {
    const ds = safely("new", () => (hidden ? server.hidden("Player", key) : server.new("Player", key)));
    if (ds === undefined || known.has(ds)) return ds;
    known.add(ds);
    // The ack recorder: the snapshot is taken right after the Saving handlers (none of which
    // assigns Value), and a "Saved" firing acknowledges the write of that snapshot.
    ds.Saving.Connect((value) => saving.set(ds, value?.n));
    ds.Saved.Connect((response) => {
      if (response !== "Saved") return;
      figures.acks++;
      const n = saving.get(ds);
      if (typeof n === "number") lastAck.set(key, Math.max(lastAck.get(key) ?? -1, n));
    });
    if (rng.chance(0.4)) {
      ds.ProcessQueue.Connect((id) => {
        if (rng.chance(0.8)) track("Remove", ds, ds.Remove(id));
        else if (rng.chance(0.5)) throw new Error("ProcessQueue handler");
        else return (async () => ds.Remove(5))(); // a TypeError inside an async handler
      });
    }
    if (rng.chance(0.5)) {
      ds.StateChanged.Connect((state) => {
        const r = rng.next();
        if (r < 0.2) throw new Error("StateChanged handler");
        if (r < 0.35) return Promise.reject(new Error("async StateChanged handler"));
        if (r < 0.5) ds.Usage();
        else if (r < 0.6 && state === true) track("Save", ds, ds.Save());
        else if (r < 0.65 && state === false) openAndCheck(ds, key, "Open");
      });
    }
    if (rng.chance(0.3)) ds.Saving.Connect(() => rng.chance(0.5) && ds.Clone());
    if (rng.chance(0.3)) {
      ds.Saved.Connect(async () => {
        if (rng.chance(0.5)) throw new Error("async Saved handler");
      });
    }
    if (rng.chance(0.2)) {
      ds.AttemptsChanged.Connect(() => {
        throw new Error("AttemptsChanged handler");
      });
    }
    if (rng.chance(0.5)) {
      const props = [
        ["LockInterval", rng.pick([10, 30, 60])],
        ["LockAttempts", rng.pick([1, 2, 5])],
        ["SaveInterval", rng.pick([0, 10, 30])],
        ["SaveDelay", delays()],
      ];
      for (const [name, value] of props) safely(`set ${name}`, () => (ds[name] = value));
    }
    return ds;
  }

  /** Per DataStore and kind: the Open or Read task that later calls join (behaviour.md §4). */
  const loads = new WeakMap();

  /**
   * Open or Read, checking what it loaded against the last acknowledged save before the call;
   * a call that joins a pending task of its kind gets that task's load, so the floor is the one
   * of the call that started it.
   */
  function openAndCheck(ds, key, kind, template) {
    const tasks = loads.get(ds) ?? {};
    loads.set(ds, tasks);
    const task = (tasks[kind] ??= { floor: lastAck.get(key), calls: 0 });
    task.calls++;
    const floor = task.floor;
    const wasOpen = ds.State === true;
    const generation = assigned.get(ds) ?? 0;
    track(kind, ds, ds[kind](template), {
      onAnswer([response]) {
        if (--task.calls === 0 && tasks[kind] === task) delete tasks[kind];
        if (response !== "Success" || wasOpen || floor === undefined) return;
        if ((assigned.get(ds) ?? 0) !== generation) return; // the caller changed Value meanwhile
        figures.loadsChecked++;
        const n = ds.Value?.n;
        if (!(typeof n === "number" && n >= floor)) {
          figures.lost++;
          violations.add(`${kind} of ${ds.Id} loaded n=${n} after n=${floor} was acknowledged`);
        }
      },
    });
  }

  // On the real clock a SaveDelay would be waited out in real seconds.
  const delays = () => (real ? 0 : rng.pick([0, 1, 5]));
  const template = () => (rng.chance(0.5) ? { n: -1, extra: 0 } : undefined);
  const anySession = () => session(rng.pick(servers), rng.pick(KEYS), rng.chance(0.1));

  /** One random action. */
  function act() {
    const ds = anySession();
    if (ds === undefined) return;
    const key = String(ds.Key);
    const r = rng.next();
    if (r < 0.14) openAndCheck(ds, key, "Open", template());
    else if (r < 0.2) openAndCheck(ds, key, "Read", template());
    else if (r < 0.36) {
      ds.Value = { n: ++counter, pad: "x".repeat(rng.int(0, 200)) };
      assigned.set(ds, (assigned.get(ds) ?? 0) + 1);
    } else if (r < 0.48)
      track(
        "Save",
        ds,
        safely("Save", () => ds.Save()),
      );
    else if (r < 0.53)
      track(
        "Close",
        ds,
        safely("Close", () => ds.Close()),
      );
    else if (r < 0.56)
      track(
        "Destroy",
        ds,
        safely("Destroy", () => ds.Destroy()),
      );
    else if (r < 0.62) {
      const args = rng.chance(0.5) ? [{ gift: ++counter }] : [{ gift: ++counter }, rng.int(0, 600), rng.int(-5, 5)];
      track(
        "Queue",
        ds,
        safely("Queue", () => ds.Queue(...args)),
      );
    } else if (r < 0.64)
      track(
        "Remove",
        ds,
        safely("Remove", () => ds.Remove(`read-${rng.int(0, 9)}`)),
      );
    else if (r < 0.67) safely("Usage", () => ds.Usage());
    else if (r < 0.7) safely("Clone", () => ds.Clone());
    else if (r < 0.72) safely("Reconcile", () => ds.Reconcile({ n: -1, extra: 0 }));
    else if (r < 0.8) {
      const good = [
        ["SaveInterval", rng.pick([0, 10, 30, 60])],
        ["SaveDelay", delays()],
        ["LockInterval", rng.pick([10, 30, 60])],
        ["LockAttempts", rng.pick([1, 2, 5])],
        ["SaveOnClose", rng.chance(0.8)],
        ["Metadata", rng.pick([{}, { tag: "x" }, { Compress: { Level: 2, Decimals: 3, Safety: true } }])],
        ["UserIds", rng.pick([[], [1, 2]])],
        ["Custom", { any: "thing" }],
      ];
      const [name, value] = rng.pick(good);
      safely(`set ${name}`, () => (ds[name] = value));
    } else if (r < 0.9) {
      const bad = rng.int(0, 9);
      if (bad === 0) misuse("Queue(1, '60')", TypeError, () => ds.Queue(1, "60"));
      else if (bad === 1) misuse("Queue(1, 60, {})", TypeError, () => ds.Queue(1, 60, {}));
      else if (bad === 2) misuse("Remove(5)", TypeError, () => ds.Remove(5));
      else if (bad === 3) misuse("Save on {}", TypeError, () => Object.getPrototypeOf(ds).Save.call({}));
      else if (bad === 4) misuse("SaveInterval = 'x'", TypeError, () => (ds.SaveInterval = "x"));
      else if (bad === 5) misuse("SaveInterval = 5", RangeError, () => (ds.SaveInterval = 5));
      else if (bad === 6) misuse("Id = 'x'", TypeError, () => (ds.Id = "x"));
      else if (bad === 7) misuse("Metadata = 5", TypeError, () => (ds.Metadata = 5));
      else {
        figures.misuse++;
        // Values that cannot be stored answer Error, for Open, Read and Queue alike.
        const [kind, call] = rng.pick([
          ["Open", () => ds.Open({ bad: NaN })],
          ["Read", () => ds.Read(() => 1)],
          ["Queue", () => ds.Queue(NaN)],
          ["Queue", () => ds.Queue(1, NaN)],
        ]);
        track(kind, ds, safely(`${kind} of an unstorable value`, call), {
          onAnswer([response]) {
            if (response !== "Error") violations.add(`${kind} of an unstorable value answered ${response}`);
          },
        });
      }
    } else {
      // Concurrent: the same call twice in one turn, or calls on both servers of a key.
      const kind = rng.pick(["Save", "Close", "Open", "Destroy"]);
      for (let i = 0; i < 2; i++) {
        if (kind === "Open") openAndCheck(ds, key, "Open");
        else
          track(
            kind,
            ds,
            safely(kind, () => ds[kind]()),
          );
      }
    }
  }

  /** Lets time pass: ManualClock steps, or real milliseconds. */
  const pass = real
    ? () => new Promise((resolve) => setTimeout(resolve, rng.int(0, 15)))
    : () => clock.advance(rng.pick([0, 0, 50, 500, 2_000, 5_000, 15_000]));

  /** Calls pending past their deadline. */
  const overdue = () => {
    for (const c of pending) {
      if (now() - c.issued > c.bound) {
        figures.hangs++;
        violations.add(`${c.kind} still pending ${now() - c.issued} ms after it was called (deadline ${c.bound} ms)`);
        pending.delete(c);
      }
    }
  };

  const steps = real ? rng.int(60, 90) : rng.int(120, 180);
  for (let i = 0; i < steps && violations.list.length === 0; i++) {
    for (let j = rng.int(1, 3); j > 0; j--) act();
    await pass();
    overdue();
  }

  // Shut every server down (some twice, concurrently); all calls must be answered by then.
  const shutdowns = servers.flatMap((s) => (rng.chance(0.3) ? [s, s] : [s]));
  for (const s of shutdowns) {
    track("BindToClose", undefined, s.BindToClose(), {
      bound: SHUTDOWN_MS,
      onAnswer(report) {
        if (!(Number.isInteger(report?.closed) && Number.isInteger(report?.saved) && Array.isArray(report?.failed))) {
          violations.add(`BindToClose resolved ${JSON.stringify(report)}`);
        }
      },
    });
  }
  const deadline = real ? Date.now() + 12_000 : undefined;
  while (pending.size > 0) {
    if (real ? Date.now() > deadline : now() - START > 24 * 3600_000) break;
    if (real) await new Promise((resolve) => setTimeout(resolve, 20));
    else await clock.advance(1_000);
    overdue();
  }
  for (const c of pending) {
    figures.hangs++;
    violations.add(`${c.kind} never settled`);
  }

  // What the store holds at the end: at least the last acknowledged save of each key.
  base.setFaults(null);
  for (const key of KEYS) {
    const acked = lastAck.get(key);
    if (acked === undefined) continue;
    const entry = await base.dataGet("Player", "global", key);
    let stored = entry === undefined ? undefined : JSON.parse(entry.value);
    const compress = entry === undefined ? undefined : JSON.parse(entry.metadata).Compress;
    if (typeof stored === "string" && compress) stored = decompress(stored, compress);
    const n = typeof stored === "object" && stored !== null ? stored.n : undefined;
    if (!(typeof n === "number" && n >= acked)) {
      figures.lost++;
      violations.add(`key ${key}: the store holds n=${n}, the last acknowledged save was n=${acked}`);
    }
  }
  await base.close();
  figures.sequences++;
  figures.calls += calls;
  return violations.list;
}

test("chaos: random call sequences against a faulty store settle in time and lose no acknowledged save", async () => {
  const escaped = [];
  const onUncaught = (e) => escaped.push(`uncaught: ${e?.stack ?? e}`);
  const onUnhandled = (e) => escaped.push(`unhandled rejection: ${e?.stack ?? e}`);
  process.on("uncaughtException", onUncaught);
  process.on("unhandledRejection", onUnhandled);
  const onError = Signal.onError;
  Signal.onError = () => figures.handlerErrors++;
  const started = Date.now();
  try {
    for (let i = 0; i < SEQUENCES + REAL_SEQUENCES; i++) {
      const seed = FIRST_SEED + i;
      const real = i >= SEQUENCES;
      const found = await sequence(seed, real);
      figures.crashes += escaped.length;
      assert.deepEqual(
        [...escaped.splice(0), ...found],
        [],
        `seed ${seed}${real ? " (real clock)" : ""}; run again with CHAOS_SEED=${seed} CHAOS_SEQUENCES=1`,
      );
    }
  } finally {
    Signal.onError = onError;
    process.off("uncaughtException", onUncaught);
    process.off("unhandledRejection", onUnhandled);
    const faults = Object.entries(figures.faults)
      .map(([kind, n]) => `${kind} ${n}`)
      .join(", ");
    const slowest = Object.entries(figures.slowest)
      .map(([kind, ms]) => `${kind} ${(ms / 1000).toFixed(1)} s`)
      .join(", ");
    console.log(
      `chaos: ${figures.sequences} sequences (${REAL_SEQUENCES} on the real clock), ${figures.calls} calls, ` +
        `${figures.misuse} misuses, ${Object.values(figures.faults).reduce((a, b) => a + b, 0)} faults injected ` +
        `(${faults}), ${figures.handlerErrors} handler errors contained, ${figures.acks} saves acknowledged, ` +
        `${figures.loadsChecked} loads checked; hangs ${figures.hangs}, crashes ${figures.crashes}, ` +
        `lost saves ${figures.lost}; slowest on the clock: ${slowest}; ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }
});
