// Hardened JS host (issue 11): what comes from outside the module cannot stop it, every call
// settles, no call waits for time it does not need, and misuse has one contract.
//
// 1. A store call that throws, rejects with any value, never settles or resolves with the wrong
//    shape is that command's failure (the call answers "Error" after its tries); a late answer
//    after the deadline changes nothing. Signal handlers that throw, sync or async, are reported
//    and affect nothing else.
// 2. BindToClose resolves every caller with the report; SIGINT/SIGTERM end the process after
//    every module made with `bindToClose: true` has closed, also after the application's own
//    BindToClose. createModule checks its options. A broken clock (NaN, a string, going back,
//    throwing) leaves no call pending and arms no NaN, negative or spinning timer.
// 3. Under a ManualClock, calls that need no store time resolve without `advance`.
// 4. Wrong argument types throw a TypeError where the original raises; values that cannot be
//    stored answer "Error" naming the path (Open, Read and Queue alike). MemoryStore refuses bad
//    options with a TypeError or RangeError naming them.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createModule, ManualClock, MemoryStore, StoreError } from "../../pkg/node.mjs";
import { Signal } from "../../pkg/lib/signal.js";
import { faulty } from "./helpers/faulty.mjs";
import { signalWhenReady } from "./helpers/processes.mjs";
import { START, within, world } from "./helpers/world.mjs";

const PENDING = Symbol("pending");
/** Every store call's worst case: 3 tries of 15 s and 2 s of backoff, with room to spare. */
const TRIES_MS = 60_000;

/** The promise's outcome once the work already queued has run (a few loop turns), else PENDING. */
async function peek(promise) {
  let settled = PENDING;
  promise.then(
    (v) => (settled = v),
    (e) => (settled = e),
  );
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  return settled;
}

/** Runs `body` with console[name] collecting its calls instead of printing. */
async function capturing(name, body) {
  const calls = [];
  const original = console[name];
  console[name] = (...args) => calls.push(args);
  try {
    await body(calls);
  } finally {
    console[name] = original;
  }
  return calls;
}

/**
 * Opens a session on a server whose `method` calls run `instead` until Open has answered: it
 * answers Error matching `message`; once the store behaves, the same session opens.
 */
async function openThroughFault(method, instead, message) {
  const { clock, store, server } = world();
  let failing = true;
  const base = method === "lockAcquireAndGet" ? readingWithLock(store) : store;
  const module = server(faulty(base, (name) => (failing && name === method ? instead : undefined)));
  const ds = module.new("Player", 1);
  const opening = ds.Open();
  await clock.advance(TRIES_MS);
  const [response, why] = await opening;
  assert.equal(response, "Error");
  assert.match(why, message);
  failing = false;
  await clock.advance(TRIES_MS); // a lock that a bad answer hid expires on its own
  assert.deepEqual(await ds.Open(), ["Success", undefined], "the core is intact");
  assert.deepEqual(await ds.Destroy(), ["Saved", undefined]);
}

/**
 * `store` with `lockAcquireAndGet` made of its own `lockAcquire` and `dataGet` (the emulator has
 * no single request for both; on one thread nothing runs between them).
 */
function readingWithLock(store) {
  return new Proxy(store, {
    get(target, name) {
      if (name !== "lockAcquireAndGet") {
        const v = Reflect.get(target, name);
        return typeof v === "function" ? v.bind(target) : v;
      }
      return async (map, owner, ttl, token, dsName, scope, key) => {
        const lock = await target.lockAcquire(map, owner, ttl, token, false);
        return lock.ok ? { ok: true, entry: await target.dataGet(dsName, scope, key) } : lock;
      };
    },
  });
}

/** A valid stored entry holding `value`. */
const entry = (value = "{}") => ({
  value,
  version: "v1",
  createdTime: START,
  updatedTime: START,
  userIds: "[]",
  metadata: "{}",
});

// ---- 1. nothing from outside stops the module --------------------------------------------------

describe("a store call that fails in any way fails only its command", () => {
  const sync = (thrown) => () => {
    throw thrown;
  };
  const rejects = (value) => () => Promise.reject(value);
  const unreadable = new Proxy(
    {},
    {
      get() {
        throw new Error("no");
      },
    },
  );
  const cases = [
    ["throws an Error synchronously", sync(new Error("disk on fire")), /^disk on fire$/],
    ["throws undefined synchronously", sync(undefined), /^store\.dataGet failed with undefined$/],
    ["rejects with undefined", rejects(undefined), /^store\.dataGet failed with undefined$/],
    ["rejects with null", rejects(null), /^store\.dataGet failed with null$/],
    ["rejects with a string", rejects("503: Service Unavailable"), /^503: Service Unavailable$/],
    ["rejects with a number", rejects(42), /^store\.dataGet failed with number 42$/],
    ["rejects with a null-prototype object", rejects(Object.create(null)), /failed with an object$/],
    ["rejects with a non-string message", rejects({ message: 7 }), /failed with an object$/],
    ["rejects with a symbol", rejects(Symbol("x")), /failed with a symbol$/],
    ["rejects with an object whose every read throws", rejects(unreadable), /message cannot be read/],
    ["resolves with a thenable whose then throws", () => ({ then: sync(new Error("bad then")) }), /^bad then$/],
    // `Promise.resolve` hands a native promise back as it is, so its own `then` ran in the
    // driver loop: the throw ended the process.
    [
      "resolves with a native promise whose own then throws",
      () => Object.assign(Promise.resolve(entry()), { then: sync(new Error("own then")) }),
      /^own then$/,
    ],
  ];
  for (const [name, failure, message] of cases) {
    test(`a dataGet that ${name}: Open answers Error after its tries; the module carries on`, () =>
      openThroughFault("dataGet", failure, message));
  }

  const shapes = [
    ["dataGet", 5, /store\.dataGet resolved with number 5 where an entry belongs/],
    ["dataGet", { ...entry(), value: 5 }, /an entry whose value is number 5, not a string/],
    ["dataGet", { ...entry(), version: 7 }, /an entry whose version is number 7, not a string/],
    ["dataGet", { ...entry(), createdTime: "now" }, /an entry whose createdTime is a string, not a finite number/],
    ["dataGet", { ...entry(), updatedTime: NaN }, /updatedTime is number NaN/],
    ["dataGet", { ...entry(), userIds: [1, 2] }, /an entry whose userIds is an array, not a JSON array \(text\)/],
    ["dataGet", { ...entry(), userIds: "5" }, /userIds is a string, not a JSON array/],
    ["dataGet", { ...entry(), metadata: {} }, /metadata is an object, not a JSON object \(text\)/],
    ["dataGet", { ...entry(), value: "{not json" }, /stored value/],
    ["dataGet", { ...entry(), value: '"\ud800"' }, /an entry whose value has an unpaired surrogate/],
    ["dataGet", { ...entry(), metadata: '{"a":"\udc00"}' }, /an entry whose metadata has an unpaired surrogate/],
    // Longer than any record: read into a tree, a text like it took all of wasm's memory.
    [
      "dataGet",
      { ...entry(), value: `[${"0,".repeat(4_194_304)}0]` },
      /value is 8388611 characters long, more than any/,
    ],
    [
      "dataGet",
      { ...entry(), value: `["${"é".repeat(4_194_304)}"]` },
      /stored value: the store answered 8388612 bytes/,
    ],
    ["lockAcquire", undefined, /store\.lockAcquire resolved with undefined where a lock result belongs/],
    ["lockAcquire", { ok: "yes" }, /a lock result whose ok is a string, not a boolean/],
    ["lockAcquire", { ok: false }, /neither a holder string nor lapsed/],
    ["lockAcquire", { ok: false, holder: 12 }, /neither a holder string nor lapsed/],
    ["lockAcquireAndGet", undefined, /store\.lockAcquireAndGet resolved with undefined where a lock result belongs/],
    ["lockAcquireAndGet", { ok: false }, /a lock result that is not ok and has no holder string/],
  ];
  for (const [method, result, message] of shapes) {
    const shown = JSON.stringify(result) ?? String(result);
    const name = shown.length > 100 ? `${shown.slice(0, 100)}… (${shown.length} characters)` : shown;
    test(`${method} resolving ${name}: Open answers Error naming what is wrong`, () =>
      openThroughFault(method, () => Promise.resolve(result), message));
  }

  test("lockAcquireAndGet with the lock taken and an entry that cannot be read: the read goes again alone", async () => {
    // The lock is written: the read failed, not the lock. Before, the whole command failed, so
    // the core never knew it held the lock, and nothing let it go.
    for (const result of [{ ok: true }, { ok: true, entry: 5 }, { ok: true, entry: { ...entry(), version: 7 } }]) {
      const { clock, store, server } = world();
      const calls = [];
      const module = server(
        faulty(readingWithLock(store), (name) => {
          calls.push(name);
          return name === "lockAcquireAndGet" ? () => Promise.resolve(result) : undefined;
        }),
      );
      // The read's next try waits out the retry backoff.
      const opened = await within(clock, module.new("Player", 1).Open(), TRIES_MS);
      assert.deepEqual(opened, ["Success", undefined], JSON.stringify(result));
      assert.deepEqual(calls.slice(0, 2), ["lockAcquireAndGet", "dataGet"]);
    }
  });

  test("lockAcquireAndGet with the lock taken and a record no load reads: Open answers Error and lets the lock go", async () => {
    // RedisStore's one-call Open of a record that a load refuses left the lock held after Open
    // answered Error: every other server's Open was Locked until the lock expired.
    const { clock, store, server } = world();
    let failing = true;
    const unreadable = new Proxy(store, {
      get(target, name) {
        const v = Reflect.get(target, name);
        if (name === "dataGet") return (...args) => (failing ? { ...entry(), userIds: "5" } : v.apply(target, args));
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const ds = server(readingWithLock(unreadable)).new("Player", 1);
    const opening = ds.Open();
    await clock.advance(TRIES_MS);
    const [response, why] = await opening;
    assert.equal(response, "Error");
    assert.match(why, /an entry whose userIds is a string, not a JSON array/);
    failing = false;
    const other = server(readingWithLock(store)).new("Player", 1);
    assert.deepEqual(await other.Open(), ["Success", undefined], "not Locked: the lock was let go");
    assert.deepEqual(await other.Destroy(), ["Saved", undefined]);
  });

  test("a store with lockAcquireAndGet: Open takes the lock and the record in one call", async () => {
    const { store, server } = world();
    const first = server().new("Player", 1);
    await first.Open();
    first.Value = { Coins: 5 };
    assert.deepEqual(await first.Close(), ["Saved", { Coins: 5 }]);
    const calls = [];
    const module = server(faulty(readingWithLock(store), (name) => void calls.push(name)));
    const ds = module.new("Player", 1);
    assert.deepEqual(await ds.Open(), ["Success", undefined]);
    assert.deepEqual(ds.Value, { Coins: 5 });
    assert.deepEqual(calls, ["lockAcquireAndGet"]);
    const [response] = await server(readingWithLock(store)).new("Player", 1).Open();
    assert.equal(response, "Locked");
    assert.deepEqual(await ds.Destroy(), ["Saved", { Coins: 5 }]);
  });

  test("a dataSet resolving a version that is not a string: Save answers Error; the next Save works", async () => {
    const { clock, store, server } = world();
    let failing = false;
    const module = server(
      faulty(store, (name, args) =>
        failing && name === "dataSet" ? () => store.dataSet(...args).then(() => 42) : undefined,
      ),
    );
    const ds = module.new("Player", 1);
    await ds.Open({ Coins: 0 });
    ds.Value.Coins = 1;
    failing = true;
    const saving = ds.Save();
    await clock.advance(TRIES_MS);
    const [response, why] = await saving;
    assert.equal(response, "Error");
    assert.match(why, /store\.dataSet resolved with number 42 where a version string belongs/);
    failing = false;
    ds.Value.Coins = 2;
    assert.deepEqual(await ds.Save(), ["Saved", { Coins: 2 }]);
  });

  for (const [name, result] of [
    ["no values", { readId: "r1" }],
    ["values that are not strings", { values: [1, 2], readId: "r1" }],
    ["no read id", { values: ["1"] }],
    ["a string", "r1"],
  ]) {
    test(`a queueRead resolving ${name} is a failed read: no ProcessQueue fires for it`, async () => {
      const { clock, store, server } = world();
      let bad = 0;
      const module = server(
        faulty(store, (method) => (method === "queueRead" && bad++ < 3 ? () => Promise.resolve(result) : undefined)),
      );
      const ds = module.new("Player", 1);
      const batches = [];
      ds.ProcessQueue.Connect((id, values) => batches.push([id, values]));
      await ds.Open();
      await clock.advance(1_000);
      assert.ok(bad >= 1, "the loop read the bad answer");
      assert.deepEqual(batches, []);
      await server().new("Player", 1).Queue({ Gift: 1 });
      await clock.advance(30_000);
      assert.deepEqual(
        batches.map(([, values]) => values),
        [[{ Gift: 1 }]],
        "good reads deliver again",
      );
    });
  }

  test("a call that never settles fails at its deadline; its late answer, even a wrong one, changes nothing", async () => {
    const { clock, store, server } = world();
    const held = [];
    let hanging = true;
    const module = server(
      faulty(store, (method) =>
        hanging && method === "dataGet" ? () => new Promise((resolve) => held.push(resolve)) : undefined,
      ),
    );
    const ds = module.new("Player", 1);
    const opening = ds.Open();
    await clock.advance(TRIES_MS);
    const [response, why] = await opening;
    assert.equal(response, "Error");
    assert.match(why, /timed out/);
    assert.equal(held.length, 3, "three tries");
    hanging = false;
    held[0](entry('{"Coins":5}'));
    held[1]({ ...entry(), value: 5 }); // would trap in wasm if it reached the core
    held[2](undefined);
    await clock.advance(1_000);
    assert.equal(ds.State, false);
    assert.equal(ds.Value, undefined);
    assert.deepEqual(await ds.Open(), ["Success", undefined], "the core is intact");
  });
});

test("a store of your own whose Fenced refusal is worded its own way still makes the session check its lock", async () => {
  // The core knows a fenced refusal by its "Fenced:" prefix, which every built-in store writes;
  // the host adds it for a StoreError of kind Fenced that lacks it.
  const { clock, store } = world();
  let taken = false;
  const module = createModule({
    clock,
    store: faulty(store, (name, args) => {
      if (!taken) return undefined;
      if (name === "dataSet") return () => Promise.reject(new StoreError("Fenced", "not your lock any more"));
      if (name === "lockAcquire" && args[4]) return () => Promise.resolve({ ok: false, lapsed: true });
      return undefined;
    }),
  });
  const ds = module.new("Player", 1);
  assert.deepEqual(await within(clock, ds.Open(), 100), ["Success", undefined]);
  taken = true;
  ds.Value = { Coins: 1 };
  assert.deepEqual(await within(clock, ds.Save(), 100), ["Error", "Fenced: not your lock any more"]);
  await clock.advance(1_000);
  assert.equal(ds.State, false, "closed at once, not at the next refresh a minute on");
});

describe("signal handlers cannot break the module", () => {
  test("handlers that throw, sync or async, are reported; the others run and the save goes through", async () => {
    const { clock, server } = world();
    const reported = [];
    const onError = Signal.onError;
    Signal.onError = (e) => reported.push(e);
    try {
      const ds = server().new("Player", 1);
      const ran = [];
      ds.StateChanged.Connect(async () => {
        await null;
        throw "a string"; // eslint-disable-line no-throw-literal
      });
      ds.StateChanged.Connect((state) => ran.push(`state ${state}`));
      ds.Saving.Connect(() => {
        throw new Error("sync");
      });
      ds.Saving.Connect(() => ran.push("saving"));
      ds.Saved.Connect(async () => {
        throw new Error("async");
      });
      ds.Saved.Connect((response) => ran.push(`saved ${response}`));
      ds.ProcessQueue.Connect(async (id) => {
        await ds.Remove(5); // a TypeError inside an async handler
      });
      ds.ProcessQueue.Connect((id, values) => ran.push(`queue ${JSON.stringify(values)}`));
      await ds.Open({ Coins: 0 });
      ds.Value.Coins = 1;
      assert.deepEqual(await ds.Save(), ["Saved", { Coins: 1 }]);
      await server().new("Player", 1).Queue(7);
      await clock.advance(5_000);
      assert.deepEqual(ran, ["state true", "saving", "saved Saved", "queue [7]"]);
      const messages = reported.map((e) => (e instanceof Error ? e.message : e));
      assert.deepEqual(messages.slice(0, 3), ["a string", "sync", "async"]);
      assert.match(messages[3], /RemoveQueue failed: Passed value is not a string/);
    } finally {
      Signal.onError = onError;
    }
  });

  test("an onError that throws is contained too", async () => {
    const onError = Signal.onError;
    Signal.onError = () => {
      throw new Error("the reporter is broken");
    };
    try {
      const { server } = world();
      const ds = server().new("Player", 1);
      ds.Saving.Connect(() => {
        throw new Error("handler");
      });
      ds.Saved.Connect(() => Promise.reject(new Error("async handler")));
      await ds.Open();
      assert.deepEqual(await ds.Save(), ["Saved", undefined]);
    } finally {
      Signal.onError = onError;
    }
  });
});

// ---- 2. every call settles ---------------------------------------------------------------------

describe("BindToClose", () => {
  test("every caller gets the report, {closed, saved, failed}, at each BindToCloseDone", async () => {
    const { clock, store, server } = world();
    const module = server(
      faulty(store, (method, args) =>
        method === "dataSet" && args[2] === "2"
          ? () => Promise.reject(new StoreError("InvalidRequest", "105: Serialized value exceeds 4194304 limit."))
          : undefined,
      ),
    );
    const a = module.new("Player", 1);
    const b = module.new("Player", 2);
    await a.Open();
    await b.Open();
    a.Value = 1;
    b.Value = 2;
    const first = module.BindToClose();
    const second = module.BindToClose();
    await clock.advance(25_000);
    const expected = {
      closed: 2,
      saved: 1,
      failed: [{ id: "Player/global/2", error: "105: Serialized value exceeds 4194304 limit." }],
    };
    assert.deepEqual(await first, expected);
    assert.deepEqual(await second, expected);
    assert.notEqual(await first, await second, "each caller its own copy");
    const again = await peek(module.BindToClose());
    assert.deepEqual(again, expected, "nothing left: answered at once, with the report so far");
  });

  /** Runs fixtures/shutdown-server.mjs in `mode`, sends `signal` once it is ready. */
  function shutdown(mode, signal) {
    const file = fileURLToPath(new URL("./fixtures/shutdown-server.mjs", import.meta.url));
    return signalWhenReady({ file, args: [mode], signal });
  }

  test("SIGTERM ends the process only after every bindToClose module has closed", async () => {
    const { code, lines, stderr } = await shutdown("plain", "SIGTERM");
    assert.equal(code, 143, stderr);
    assert.ok(lines.includes("saved fast 1"), lines.join("\n"));
    assert.ok(lines.includes("saved slow 1"), `the slow module's save landed before the exit:\n${lines.join("\n")}`);
  });

  test("SIGINT after the application's own BindToClose still closes what opened since, then exits", async () => {
    const { code, lines, stderr } = await shutdown("before", "SIGINT");
    assert.equal(code, 130, stderr);
    assert.ok(lines.some((l) => l.startsWith("closed by the application")));
    assert.ok(lines.includes("saved slow 2"), lines.join("\n"));
  });

  test("SIGTERM while the application's BindToClose runs joins it and exits", async () => {
    const { code, lines, stderr } = await shutdown("pending", "SIGTERM");
    assert.equal(code, 143, stderr);
    assert.ok(lines.includes("saved fast 1") && lines.includes("saved slow 1"), lines.join("\n"));
  });
});

describe("createModule checks its options at once, naming the field", () => {
  const store = new MemoryStore();
  const now = () => 0;
  const cases = [
    ["no options", undefined, /options must be an object/],
    ["null options", null, /options must be an object/],
    ["no store", {}, /options\.store must be a store/],
    ["store null", { store: null }, /options\.store must be a store/],
    ["a store without its methods", { store: { dataGet() {} } }, /options\.store is not a store: it has no dataSet, /],
    ["clock null", { store, clock: null }, /options\.clock must be an object with a now\(\) method/],
    ["a clock without now()", { store, clock: {} }, /options\.clock must have a now\(\) method/],
    ["a clock whose now is a number", { store, clock: { now: 5 } }, /options\.clock must have a now\(\) method/],
    [
      "setTimeout without clearTimeout",
      { store, clock: { now, setTimeout() {} } },
      /setTimeout and clearTimeout, or neither/,
    ],
    [
      "setTimeout not a function",
      { store, clock: { now, setTimeout: 1, clearTimeout() {} } },
      /clock\.setTimeout must be/,
    ],
    ["bindToClose a string", { store, bindToClose: "yes" }, /options\.bindToClose must be a boolean, got a string/],
    ["bindToClose a number", { store, bindToClose: 1 }, /options\.bindToClose must be a boolean/],
    ["seed a string", { store, seed: "1" }, /options\.seed must be a finite number/],
    ["seed NaN", { store, seed: NaN }, /options\.seed must be a finite number, got number NaN/],
    ["seed Infinity", { store, seed: Infinity }, /options\.seed must be a finite number/],
  ];
  for (const [name, options, message] of cases) {
    test(`${name}: TypeError`, () => {
      assert.throws(
        () => createModule(options),
        (e) => e instanceof TypeError && message.test(e.message),
      );
    });
  }

  test("a clock with only now() runs on the global timers", async () => {
    const module = createModule({ store, clock: { now: () => Date.now() }, seed: 1 });
    const ds = module.new("Player", "global-timers");
    assert.deepEqual(await ds.Open({ Coins: 0 }), ["Success", undefined]);
    ds.Value.Coins = 3;
    assert.deepEqual(await ds.Save(), ["Saved", { Coins: 3 }]);
    assert.deepEqual(await ds.Destroy(), ["Saved", { Coins: 3 }]);
  });
});

describe("a broken clock leaves no call pending and arms no bad timer", () => {
  const clocks = {
    "gives NaN": () => () => NaN,
    "gives a string": () => () => String(START),
    "goes back a second at every reading": () => {
      let t = START;
      return () => (t -= 1_000);
    },
    throws: () => () => {
      throw new Error("no time");
    },
    "gives NaN after a while": () => {
      let n = 0;
      return () => (n++ < 5 ? START : NaN);
    },
    // Past 2^53 ms a deadline a few seconds on rounds to the time itself, so timers would spin.
    "jumps to 2^63 after a while": () => {
      let n = 0;
      return () => (n++ < 5 ? START : 2 ** 63);
    },
  };
  for (const [name, make] of Object.entries(clocks)) {
    test(`a clock that ${name}`, { timeout: 10_000 }, async () => {
      // The store keeps good time (a ManualClock); the module reads the broken clock and sets its
      // timers on the same ManualClock, so the test decides when they run.
      const good = new ManualClock(START);
      const store = new MemoryStore({ clock: good });
      const delays = [];
      const clock = {
        now: make(),
        setTimeout(fn, ms) {
          delays.push(ms);
          return good.setTimeout(fn, ms);
        },
        clearTimeout: (id) => good.clearTimeout(id),
      };
      let hanging = false;
      const warnings = await capturing("warn", async () => {
        const module = createModule({
          store: faulty(store, (method) => (hanging && method === "dataSet" ? () => new Promise(() => {}) : undefined)),
          clock,
          seed: 1,
        });
        const ds = module.new("Player", 1);
        assert.deepEqual(await peek(ds.Open({ Coins: 0 })), ["Success", undefined]);
        ds.Value.Coins = 1;
        assert.deepEqual(await peek(ds.Save()), ["Saved", { Coins: 1 }]);
        // A write that never answers still fails at its deadline: the module's timers say when.
        hanging = true;
        ds.Value.Coins = 2;
        const saving = ds.Save();
        for (let i = 0; i < 12 && (await peek(saving)) === PENDING; i++) await good.advance(5_000);
        const [response, why] = await peek(saving);
        assert.equal(response, "Error");
        assert.match(why, /timed out/);
      });
      assert.ok(
        delays.every((ms) => Number.isFinite(ms) && ms >= 0),
        `every delay finite and not negative: ${delays}`,
      );
      assert.ok(delays.length < 40, `no timer spin: ${delays.length} timers armed`);
      assert.equal(warnings.length, 1, "warned once");
      assert.match(String(warnings[0][0]), /clock\.now\(\)/);
    });
  }
});

// ---- 3. no waits a user would not expect --------------------------------------------------------

describe("under a ManualClock, what needs no store time needs no advance", () => {
  test("Save after Save (nothing to write), concurrent Saves, Close and BindToClose", async () => {
    const { clock, server } = world();
    const module = server();
    const ds = module.new("Player", 1);
    assert.deepEqual(await peek(ds.Open({ Coins: 0 })), ["Success", undefined]);
    assert.deepEqual(await peek(ds.Save()), ["Saved", { Coins: 0 }]);
    assert.deepEqual(await peek(ds.Save()), ["Saved", { Coins: 0 }], "the same value again: no write");
    const both = [ds.Save(), ds.Save()];
    assert.deepEqual(await peek(Promise.all(both)), [
      ["Saved", { Coins: 0 }],
      ["Saved", { Coins: 0 }],
    ]);
    assert.deepEqual(await peek(ds.Close()), ["Saved", { Coins: 0 }]);
    assert.deepEqual(
      await peek(module.BindToClose()),
      { closed: 1, saved: 0, failed: [] },
      "destroyed, nothing to save",
    );
    assert.equal(clock.now(), START, "no time passed");
  });

  test("a Saved handler that saves on every save does not block the event loop", async () => {
    const { server } = world();
    const ds = server().new("Player", 1);
    await ds.Open();
    let saves = 0;
    const connection = ds.Saved.Connect(() => {
      saves++;
      ds.Save();
    });
    ds.Save();
    await new Promise((resolve) => setTimeout(resolve, 30)); // a timer still gets its turn
    connection.Disconnect();
    assert.ok(saves > 1, `the handler's saves ran: ${saves}`);
    assert.deepEqual(await peek(ds.Destroy()), ["Saved", undefined]);
  });
});

// ---- 4. one misuse contract ---------------------------------------------------------------------

describe("the caller's code the driver runs cannot change what a call carries", () => {
  /** A server whose clock reads NaN once when told to, and whose onEvent then queues a value
   * of the same length as the session's (so a refilled shared buffer would still parse). */
  function reentrant() {
    const base = new ManualClock(START);
    const store = new MemoryStore({ clock: base });
    const state = { breakNext: false };
    const clock = {
      now: () => (state.breakNext ? ((state.breakNext = false), NaN) : base.now()),
      setTimeout: (fn, ms) => base.setTimeout(fn, ms),
      clearTimeout: (id) => base.clearTimeout(id),
    };
    let other;
    const server = createModule({
      store,
      clock,
      onEvent: (e) => {
        if (e.type === "clock.broken") other.Queue({ coins: 999, lvl: 9 });
      },
    });
    other = server.new("Ops", "alerts");
    return { base, store, server, state };
  }

  test("a clock reading that makes an observer call the module, during Save", async () => {
    const { base, store, server, state } = reentrant();
    const ds = server.new("Player", 1);
    assert.equal((await within(base, ds.Open()))[0], "Success");
    ds.Value = { coins: 100, lvl: 1 };
    ds.Saving.Once(() => (state.breakNext = true)); // the snapshot's clock reading
    assert.deepEqual(await within(base, ds.Save()), ["Saved", { coins: 100, lvl: 1 }]);
    assert.equal((await store.dataGet("Player", "global", "1")).value, '{"coins":100,"lvl":1}');
  });

  test("a clock reading that makes an observer call the module, during Open(template)", async () => {
    const { base, server, state } = reentrant();
    const ds = server.new("Player", 1);
    state.breakNext = true; // the call's clock reading
    assert.equal((await within(base, ds.Open({ coins: 100, lvl: 1 })))[0], "Success");
    assert.deepEqual(ds.Value, { coins: 100, lvl: 1 });
  });

  test("an async onEvent or logger whose promise rejects is reported once, like one that throws", async () => {
    // Reported to the logger's error when there is a logger, else to console.error.
    const logged = [];
    const logger = {
      debug: async () => Promise.reject(new Error("log transport down")),
      info() {},
      warn() {},
      error: (_, text) => logged.push([text]),
    };
    for (const [observers, reports] of [
      [{ onEvent: async () => Promise.reject(new Error("metrics backend down")) }, undefined],
      [{ logger }, logged],
    ]) {
      const clock = new ManualClock(START);
      const server = createModule({ store: new MemoryStore({ clock }), clock, ...observers });
      const ds = server.new("Player", 1);
      const printed = await capturing("error", async () => {
        assert.equal((await within(clock, ds.Open()))[0], "Success");
        ds.Value = { coins: 1 };
        assert.equal((await within(clock, ds.Save()))[0], "Saved");
        assert.equal((await within(clock, ds.Save()))[0], "Saved");
      });
      const reported = reports ?? printed;
      assert.equal(reported.length, 1, "reported once");
      assert.match(
        String(reported[0][0]),
        /threw \(reported once; events go on\): (metrics backend|log transport) down/,
      );
    }
  });

  test("Open(template) of an open session whose Value cannot take it answers Error, and stays open", async () => {
    const { clock, server } = world();
    const ds = server().new("Player", 1);
    assert.equal((await within(clock, ds.Open()))[0], "Success");
    ds.Value = Object.freeze({ coins: 1 });
    const [response, message] = await peek(ds.Open({ coins: 0, gems: 0 }));
    assert.equal(response, "Error");
    assert.match(message, /^Value: the template cannot be filled in: .*gems/);
    assert.equal(ds.State, true);
    ds.Value = { coins: 1 };
    assert.deepEqual(await peek(ds.Open({ coins: 0, gems: 0 })), ["Success", undefined]);
    assert.deepEqual(ds.Value, { coins: 1, gems: 0 });
  });
});

describe("misuse: wrong types throw, values that cannot be stored answer Error", () => {
  const cycle = {};
  cycle.self = cycle;

  test("Open, Read and Queue answer Error naming the path of what cannot be stored, and throw nothing", async () => {
    const { server } = world();
    const ds = server().new("Player", 1);
    const answers = [
      [() => ds.Open(NaN), "template: NaN cannot be stored"],
      [() => ds.Open({ a: [1, () => 1] }), "template.a[1]: a function cannot be stored"],
      [() => ds.Read(() => 1), "template: a function cannot be stored"],
      [() => ds.Read({ big: 10n }), /^template\.big: a BigInt cannot be stored/],
      [() => ds.Open(cycle), /^template\.self: a cycle cannot be stored/],
      [() => ds.Queue(NaN), "value: NaN cannot be stored"],
      [() => ds.Queue({ a: [Infinity] }), "value.a[0]: Infinity cannot be stored"],
      [() => ds.Queue(undefined), /nil/],
    ];
    for (const [call, message] of answers) {
      const [response, why] = await peek(call());
      assert.equal(response, "Error");
      if (typeof message === "string") assert.equal(why, message);
      else assert.match(why, message);
    }
    assert.equal(ds.State, false);
    assert.deepEqual(await ds.Open({ Coins: 0 }), ["Success", undefined], "the session is untouched");
  });

  test("Queue's expiration or priority not nil or number, and Remove's id not a string, throw TypeError", () => {
    const { server } = world();
    const ds = server().new("Player", 1);
    const queue = { name: "TypeError", message: "Attempt to Queue failed: Passed value is not nil or number" };
    assert.throws(() => ds.Queue(1, "60"), queue);
    assert.throws(() => ds.Queue(1, 60, "high"), queue);
    assert.throws(() => ds.Queue(1, {}), queue);
    assert.throws(() => ds.Queue(NaN, "60"), queue, "the types first");
    const remove = { name: "TypeError", message: "Attempt to RemoveQueue failed: Passed value is not a string" };
    assert.throws(() => ds.Remove(5), remove);
    assert.throws(() => ds.Remove(), remove);
  });

  test("a method called on something that is not a DataStore throws the original's TypeError", () => {
    const { server } = world();
    const module = server();
    const ds = module.new("Player", 1);
    const proto = Object.getPrototypeOf(ds);
    const methods = ["Open", "Read", "Save", "Close", "Destroy", "Queue", "Remove", "Clone", "Reconcile", "Usage"];
    for (const method of methods) {
      for (const self of [{}, undefined, null, 5, module, Object.create(ds)]) {
        assert.throws(
          () => proto[method].call(self, "id"),
          { name: "TypeError", message: `Attempt to ${method} failed: Passed value is not a DataStore` },
          `${method} on ${String(self)}`,
        );
      }
    }
    const { Save } = ds;
    assert.throws(() => Save(), {
      name: "TypeError",
      message: "Attempt to Save failed: Passed value is not a DataStore",
    });
  });

  test("MemoryStore refuses bad options with a TypeError or RangeError naming them", () => {
    const cases = [
      [{ faults: { transient: 2 } }, RangeError, /faults\.transient must be a probability from 0 to 1, got 2/],
      [{ faults: { ambiguous: -0.1 } }, RangeError, /faults\.ambiguous/],
      [{ faults: { throttle: NaN } }, RangeError, /faults\.throttle/],
      [{ faults: { ops: { dataSet: { conflict: 1.5 } } } }, RangeError, /faults\.ops\.dataSet\.conflict/],
      [
        { faults: { latencyMs: [10, 1] } },
        RangeError,
        /faults\.latencyMs must be \[min, max\] with min ≤ max, got \[10,1\]/,
      ],
      [{ faults: { latencyMs: [1, 2.5] } }, RangeError, /faults\.latencyMs\[1\] must be a whole, non-negative number/],
      [{ faults: { spikeMs: -1 } }, RangeError, /faults\.spikeMs/],
      [
        { faults: { outages: [{ startMs: 10, endMs: 5 }] } },
        RangeError,
        /faults\.outages\[0\] ends \(5\) before it starts \(10\)/,
      ],
      [{ faults: { transient: "0.5" } }, TypeError, /faults\.transient must be a finite number/],
      [{ faults: 5 }, TypeError, /faults must be an object or null, got number 5/],
      [{ seed: "x" }, TypeError, /seed must be a number, got a string/],
      [{ seed: 1.5 }, RangeError, /seed must be a whole number from 0 to 2\^53 - 1, got 1\.5/],
      [{ seed: -1 }, RangeError, /seed/],
      [{ clock: null }, TypeError, /options\.clock must be an object/],
      [{ clock: { now: () => 0, setTimeout() {} } }, TypeError, /clearTimeout/],
    ];
    for (const [options, type, message] of cases) {
      assert.throws(
        () => new MemoryStore(options),
        (e) => e instanceof type && message.test(e.message),
        JSON.stringify(options),
      );
    }
    const store = new MemoryStore();
    assert.throws(() => store.setFaults({ transient: 2 }), RangeError);
    assert.throws(() => store.setFaults({ latencyMs: [10, 1] }), RangeError);
    store.setFaults({ transient: 1, latencyMs: [1, 1] }); // the edges are fine
  });
});
