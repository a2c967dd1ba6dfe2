// What a module tells its operator (issue 14): events to `onEvent` and a pino-shaped `logger`,
// `sessions()` and `stats()`. Stores that fail on purpose (a Proxy over a MemoryStore on a
// ManualClock) give the failures, retries, fenced writes and lost locks; every event is what
// the driver saw, so each test also checks what the session did.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createModule, ManualClock, MemoryStore, Signal, StoreError } from "../../pkg/node.mjs";
import { faulty } from "./helpers/faulty.mjs";

const START = Date.UTC(2026, 3, 1, 12, 0, 0);

/** A store and clock, and `server(options)` making a module on them that records its events. */
function world(fault = () => undefined) {
  const clock = new ManualClock(START);
  const memory = new MemoryStore({ clock });
  const store = faulty(memory, fault);
  let seed = 0;
  const server = (options = {}) => {
    const events = [];
    const module = createModule({ store, clock, seed: ++seed, onEvent: (e) => events.push(e), ...options });
    return { module, events };
  };
  return { clock, memory, store, server };
}

const types = (events, prefix = "") => events.filter((e) => e.type.startsWith(prefix)).map((e) => e.type);
const only = (events, type) => events.filter((e) => e.type === type);

describe("events and counters of a store that fails on purpose", () => {
  test("two failed writes: store.failed with each attempt, store.retried, then save.saved; stats count them", async () => {
    let failures = 2;
    const { clock, server } = world((method) =>
      method === "dataSet" && failures-- > 0
        ? () => Promise.reject(new StoreError("Transient", "502: down"))
        : undefined,
    );
    const { module, events } = server();
    const ds = module.new("Player", 1);
    await ds.Open({ Coins: 0 });
    ds.Value.Coins = 5;
    const saving = ds.Save();
    await clock.advance(10_000);
    assert.deepEqual(await saving, ["Saved", { Coins: 5 }], "the core retried and saved");

    const failed = only(events, "store.failed");
    assert.deepEqual(
      failed.map(({ command, target, error, kind, retryable, attempt }) => ({
        command,
        target,
        error,
        kind,
        retryable,
        attempt,
      })),
      [1, 2].map((attempt) => ({
        command: "DataSet",
        target: "DataSet Player/global/1",
        error: "502: down",
        kind: "Transient",
        retryable: true,
        attempt,
      })),
    );
    assert.deepEqual(
      only(events, "store.retried").map((e) => e.attempt),
      [2, 3],
    );
    const saved = only(events, "save.saved");
    assert.deepEqual(saved, [{ type: "save.saved", time: saved[0].time, id: "Player/global/1" }]);
    for (const e of events) assert.equal(typeof e.time, "number");

    const stats = module.stats();
    assert.equal(stats.storeFailures, 2);
    assert.equal(stats.retries, 2);
    assert.equal(stats.saves, 1);
    assert.equal(stats.saveFailures, 0);
    assert.equal(stats.sessions, 1);
    assert.equal(stats.open, 1);
    const set = stats.latency.DataSet;
    assert.equal(set.count, 3);
    assert.equal(set.failures, 2);
    assert.ok(set.maxMs >= 0 && set.totalMs >= set.maxMs, JSON.stringify(set));
    assert.equal(stats.latency.LockAcquire.count, 1);
    assert.equal(stats.latency.DataGet.count, 1);
    assert.equal(stats.storeCalls, 5);
    assert.notEqual(module.stats().latency.DataSet, set, "each stats() is a fresh copy");
  });

  test("a save that keeps failing is save.failed with the message; once the store is back, the next one saves", async () => {
    let failing = true;
    const { clock, server } = world((method) =>
      failing && method === "dataSet" ? () => Promise.reject(new StoreError("Transient", "503: busy")) : undefined,
    );
    const { module, events } = server();
    const ds = module.new("Player", 1);
    ds.SaveInterval = 0; // no auto-save in between
    await ds.Open();
    ds.Value = 1;
    const saving = ds.Save();
    await clock.advance(60_000);
    const [response, message] = await saving;
    assert.equal(response, "Error");
    assert.deepEqual(
      only(events, "save.failed").map((e) => [e.id, e.error]),
      [["Player/global/1", message]],
    );
    assert.equal(module.stats().saveFailures, 1);
    assert.equal(module.stats().storeFailures, 3, "3 tries");
    failing = false;
    assert.deepEqual(await Promise.all([ds.Save(), clock.advance(1000)]).then(([r]) => r), ["Saved", 1]);
    assert.equal(module.stats().saves, 1);
  });

  test("a fenced write is save.fenced (error level), is not retried, and the save fails", async () => {
    const { clock, server } = world((method) =>
      method === "dataSet"
        ? () => Promise.reject(new StoreError("Fenced", "Fenced: write refused: the lock is held by OTHER"))
        : undefined,
    );
    const logged = [];
    const logger = Object.fromEntries(
      ["debug", "info", "warn", "error"].map((l) => [l, (o, m) => logged.push([l, o.type, m])]),
    );
    const { module, events } = server({ logger });
    const ds = module.new("Player", 1);
    await ds.Open();
    ds.Value = 1;
    const saving = ds.Save();
    await clock.advance(1000);
    assert.equal((await saving)[0], "Error");
    const fenced = only(events, "save.fenced");
    assert.equal(fenced.length, 1);
    assert.equal(fenced[0].id, "Player/global/1");
    assert.match(fenced[0].error, /held by OTHER/);
    assert.deepEqual(only(events, "store.retried"), [], "D19: refused for good, never sent again");
    assert.equal(only(events, "store.failed")[0].retryable, false);
    assert.equal(module.stats().fenced, 1);
    assert.ok(
      logged.some(([level, type]) => level === "error" && type === "save.fenced"),
      JSON.stringify(logged),
    );
  });

  for (const [reason, answer, holder] of [
    ["lapsed", { ok: false, lapsed: true }, undefined],
    ["taken", { ok: false, holder: "OTHER-SERVER" }, "OTHER-SERVER"],
  ]) {
    test(`a refresh answered ${JSON.stringify(answer)} is lock.lost (${reason}) and the session closes`, async () => {
      const { clock, server } = world((method, args) =>
        method === "lockAcquire" && args[4] === true ? () => Promise.resolve(answer) : undefined,
      );
      const { module, events } = server();
      const ds = module.new("Player", 1);
      await ds.Open();
      assert.equal(module.stats().open, 1);
      await clock.advance(61_000); // LockInterval 60 s: the first refresh
      const lost = only(events, "lock.lost");
      assert.equal(lost.length, 1, JSON.stringify(events));
      assert.equal(lost[0].id, "Player/global/1");
      assert.equal(lost[0].reason, reason);
      assert.equal(lost[0].holder, holder);
      assert.equal(module.stats().locksLost, 1);
      assert.equal(ds.State, false, "the core closed the session");
      assert.equal(module.stats().open, 0);
      assert.deepEqual(
        module.sessions().map((s) => s.state),
        ["closed"],
      );
    });
  }
});

describe("events of a healthy module", () => {
  test("a save with nothing new is save.skipped; Destroy after it too", async () => {
    const { server } = world();
    const { module, events } = server();
    const ds = module.new("Player", 1);
    await ds.Open({ Coins: 0 });
    ds.Value.Coins = 1;
    await ds.Save();
    await ds.Save();
    await ds.Destroy();
    assert.deepEqual(types(events, "save."), ["save.saved", "save.skipped", "save.skipped"]);
    const stats = module.stats();
    assert.equal(stats.saves, 1);
    assert.equal(stats.savesSkipped, 2);
    assert.equal(stats.latency.DataSet.count, 1, "one write");
    assert.equal(stats.sessions, 0, "destroyed");
  });

  test("a queue batch handed to ProcessQueue is queue.delivered with its size", async () => {
    const { clock, server } = world();
    const owner = server();
    const sender = server();
    const ds = owner.module.new("Player", 1);
    await ds.Open();
    const got = [];
    ds.ProcessQueue.Connect((id, values) => got.push(...values));
    const other = sender.module.new("Player", 1);
    assert.deepEqual(await other.Queue({ Gift: 1 }), ["Success", undefined]);
    assert.deepEqual(await other.Queue({ Gift: 2 }), ["Success", undefined]);
    await clock.advance(5_000);
    assert.deepEqual(got, [{ Gift: 1 }, { Gift: 2 }]);
    const delivered = only(owner.events, "queue.delivered");
    assert.equal(
      delivered.reduce((n, e) => n + e.count, 0),
      2,
    );
    assert.ok(delivered.every((e) => e.id === "Player/global/1" && typeof e.batch === "string"));
    assert.equal(owner.module.stats().queueItemsDelivered, 2);
  });

  test("BindToClose: shutdown.started, one shutdown.progress per session, shutdown.done with the report", async () => {
    const { clock, server } = world();
    const { module, events } = server();
    for (const key of [1, 2]) {
      const ds = module.new("Player", key);
      await ds.Open();
      ds.Value = key;
    }
    const closing = module.BindToClose();
    await clock.advance(1000);
    const report = await closing;
    assert.deepEqual(report, { closed: 2, saved: 2, failed: [] });
    assert.deepEqual(types(events, "shutdown."), [
      "shutdown.started",
      "shutdown.progress",
      "shutdown.progress",
      "shutdown.done",
    ]);
    const [started, p1, p2, done] = only(events, "shutdown.started").concat(
      only(events, "shutdown.progress"),
      only(events, "shutdown.done"),
    );
    assert.equal(started.sessions, 2);
    assert.equal(started.open, 2);
    assert.deepEqual([p1.closed, p1.remaining, p2.closed, p2.remaining], [1, 1, 2, 0]);
    assert.deepEqual([done.closed, done.saved, done.failed], [2, 2, []]);
    assert.equal(typeof done.ms, "number");
  });

  test("the logger gets (object, message) at each event's level", async () => {
    const calls = [];
    const logger = Object.fromEntries(
      ["debug", "info", "warn", "error"].map((l) => [l, (o, m) => calls.push({ l, o, m })]),
    );
    const { server } = world();
    const { module } = server({ logger, onEvent: undefined });
    const ds = module.new("Player", 1);
    await ds.Open();
    ds.Value = 1;
    await ds.Save();
    const saved = calls.find((c) => c.o.type === "save.saved");
    assert.equal(saved.l, "debug");
    assert.equal(saved.o.id, "Player/global/1");
    assert.match(saved.m, /^DataStoreModule: /);
  });
});

describe("observers cannot break the module", () => {
  test("an onEvent that throws is reported once to the logger, and events and calls go on", async () => {
    const errors = [];
    const logger = {
      debug() {},
      info() {},
      warn() {},
      error: (o, m) => errors.push([o.type, m]),
    };
    let seen = 0;
    const { server } = world();
    const { module } = server({
      logger,
      onEvent: () => {
        seen++;
        throw new Error("observer bug");
      },
    });
    const ds = module.new("Player", 1);
    await ds.Open();
    ds.Value = 1;
    assert.deepEqual(await ds.Save(), ["Saved", 1]);
    await ds.Save();
    assert.ok(seen >= 2, "onEvent is still called");
    assert.deepEqual(errors, [
      ["observer.failed", "DataStoreModule: onEvent threw (reported once; events go on): observer bug"],
    ]);
  });

  test("a signal handler that throws is handler.failed for a module with observers, not Signal.onError", async () => {
    const original = Signal.onError;
    const global = [];
    Signal.onError = (e) => global.push(e);
    try {
      const { server } = world();
      const { module, events } = server();
      const ds = module.new("Player", 1);
      ds.Saved.Connect(() => {
        throw new Error("handler bug");
      });
      await ds.Open();
      ds.Value = 1;
      assert.deepEqual(await ds.Save(), ["Saved", 1]);
      assert.deepEqual(
        only(events, "handler.failed").map(({ id, signal, error }) => ({ id, signal, error })),
        [{ id: "Player/global/1", signal: "Saved", error: "handler bug" }],
      );
      assert.equal(module.stats().handlerErrors, 1);
      assert.deepEqual(global, []);

      // Without observers, the exported Signal.onError hears it.
      const quiet = createModule({ store: new MemoryStore(), seed: 1 });
      const other = quiet.new("Player", 2);
      other.Saved.Connect(() => {
        throw new Error("unobserved");
      });
      await other.Open();
      other.Value = 2;
      await other.Save();
      assert.deepEqual(
        global.map((e) => e.message),
        ["unobserved"],
      );
      assert.equal(quiet.stats().handlerErrors, 1);
      await other.Destroy();
    } finally {
      Signal.onError = original;
    }
  });

  test("createModule refuses a logger without its methods, a non-function onEvent or onShutdown", () => {
    const store = new MemoryStore();
    const cases = [
      [{ logger: console.log }, /options\.logger must be an object with debug, info, warn and error methods/],
      [{ logger: { info() {}, warn() {} } }, /options\.logger has no debug, error method/],
      [{ onEvent: "log" }, /options\.onEvent must be a function, got a string/],
      [{ onShutdown: {} }, /options\.onShutdown must be a function, got an object/],
    ];
    for (const [options, message] of cases) {
      assert.throws(
        () => createModule({ store, ...options }),
        (e) => e instanceof TypeError && message.test(e.message),
        JSON.stringify(Object.keys(options)),
      );
    }
    createModule({ store, logger: console }); // console has the four methods
  });
});

describe("sessions()", () => {
  test("lists held sessions with id, name, scope, key, state, hidden and UniqueId; destroyed ones leave", async () => {
    const { clock, server } = world();
    const { module } = server();
    const a = module.new("Player", 456056545);
    const b = module.new("Guild/EU", "scope/with/slashes", "key/1");
    const c = module.hidden("Player", "hidden-key");
    await a.Open();
    assert.deepEqual(
      module.sessions().map(({ uniqueId, ...rest }) => rest),
      [
        {
          id: "Player/global/456056545",
          name: "Player",
          scope: "global",
          key: 456056545,
          state: "open",
          hidden: false,
        },
        {
          id: "Guild/EU/scope/with/slashes/key/1",
          name: "Guild/EU",
          scope: "scope/with/slashes",
          key: "key/1",
          state: "closed",
          hidden: false,
        },
        {
          id: "Player/global/hidden-key",
          name: "Player",
          scope: "global",
          key: "hidden-key",
          state: "closed",
          hidden: true,
        },
      ],
    );
    assert.equal(module.sessions()[0].uniqueId, a.UniqueId);
    const destroying = a.Destroy();
    await clock.advance(1000);
    await destroying;
    await b.Destroy();
    await clock.advance(0);
    assert.deepEqual(
      module.sessions().map((s) => s.id),
      ["Player/global/hidden-key"],
    );
    void c;
  });

  test("numbers in the Id are split as the core wrote them (the way Luau prints them)", () => {
    const { server } = world();
    const { module } = server();
    module.new("Player", -0);
    module.new("Player", 1e-7);
    module.new(-0, "s", "k");
    assert.deepEqual(
      module.sessions().map(({ id, name, scope }) => ({ id, name, scope })),
      [
        { id: "Player/global/-0", name: "Player", scope: "global" },
        { id: "Player/global/1e-07", name: "Player", scope: "global" },
        { id: "-0/s/k", name: "-0", scope: "s" },
      ],
    );
  });
});
