// The module API through its JS objects, on a MemoryStore with a ManualClock (two modules on one
// store are two Roblox servers): every response of Open/Read/Save/Close/Destroy/Queue/Remove
// (behaviour.md §4 with D3 and D6), the signal order of §5.4, property validation (§3.2, D11,
// D12), argument checks, unstorable values, lock refresh counting (§8.3, D7), and the takeover
// of a key held by a server that vanished without closing.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { createModule, ManualClock, MemoryStore, Response } from "../../pkg/node.mjs";
import { START, world, within } from "./helpers/world.mjs";

// The original's messages, shared with the Luau module's test (tests/luau/module/errors.luau).
const ERRORS = JSON.parse(readFileSync(new URL("../vectors/errors.json", import.meta.url), "utf8"));
const READONLY = { name: "TypeError", message: ERRORS.readonly.message };
const SPECIAL = { NaN, Infinity, "-Infinity": -Infinity, function: () => 1 };
/** The values a case of errors.json stands for in JS (null stands for undefined too). */
const valuesOf = (c) => ("special" in c ? [SPECIAL[c.special]] : c.value === null ? [null, undefined] : [c.value]);
const PENDING = Symbol("pending");

/** The promise's outcome if it has settled once the queued work ran, else PENDING. */
const peek = (promise) => Promise.race([promise, new Promise((resolve) => setImmediate(() => resolve(PENDING)))]);

/** The store as one server sees it, counting its calls by kind. */
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
  return { store: proxy, calls };
}

/**
 * The store as one server sees it, until `crash()`: from then on that server has vanished. A
 * dead process sends nothing and hears nothing, so each of its calls hangs forever without
 * reaching the store (its module's timers still fire on the shared clock; nothing they do gets
 * out). `swallowed` counts the calls that went nowhere.
 */
function vanishing(store) {
  let gone = false;
  let swallowed = 0;
  const proxy = new Proxy(store, {
    get(target, name) {
      const v = Reflect.get(target, name);
      if (typeof v !== "function") return v;
      return (...args) => {
        if (!gone) return v.apply(target, args);
        swallowed++;
        return new Promise(() => {});
      };
    },
  });
  return {
    store: proxy,
    crash: () => (gone = true),
    get swallowed() {
      return swallowed;
    },
  };
}

const stored = async (store, key, name = "Player") => {
  const entry = await store.dataGet(name, "global", String(key));
  return entry && JSON.parse(entry.value);
};

// ---- Open ---------------------------------------------------------------------------------------

describe("Open", () => {
  test("Success on a closed session: the key is locked, loaded and the template fills what is missing", async () => {
    const { store, server } = world();
    await store.dataSet("Player", "global", "1", '{"Coins":5}', "[7]", '{"m":1}', null);
    const ds = server().new("Player", 1);
    assert.deepEqual(await ds.Open({ Coins: 0, Items: [] }), ["Success", undefined]);
    assert.equal(ds.State, true);
    assert.deepEqual(ds.Value, { Coins: 5, Items: [] });
    assert.deepEqual(ds.Metadata, { m: 1 });
    assert.deepEqual(ds.UserIds, [7]);
    assert.equal(ds.AttemptsRemaining, 5);
    assert.deepEqual(await store.lockAcquire("Player/global/1", "SOMEONE", 30, 2 ** 32, false), {
      ok: false,
      holder: ds.UniqueId,
    });
  });

  test("Success at once on an open session, reconciling the template into the live value", async () => {
    const { store: raw, server } = world();
    const { store, calls } = counting(raw);
    const ds = server(store).new("Player", 1);
    await ds.Open({ Coins: 1 });
    const value = ds.Value;
    value.Coins = 9;
    const before = { ...calls };
    const again = ds.Open({ Coins: 0, Gems: 2 });
    assert.deepEqual(await peek(again), ["Success", undefined], "answered without waiting for the store");
    assert.deepEqual(calls, before, "no store call");
    assert.equal(ds.Value, value, "the same object, filled in place");
    assert.deepEqual(value, { Coins: 9, Gems: 2 });
  });

  test("Locked, with the holder's UniqueId, while another server holds the key", async () => {
    const { server } = world();
    const a = server().new("Player", 1);
    await a.Open();
    const b = server().new("Player", 1);
    assert.deepEqual(await b.Open(), ["Locked", a.UniqueId]);
    assert.equal(b.State, false);
    // A hidden session in the same server is another holder too.
    const hidden = server().hidden("Player", 1);
    assert.notEqual(hidden.UniqueId, a.UniqueId);
    assert.deepEqual(await hidden.Open(), ["Locked", a.UniqueId]);
  });

  test("State Destroying while a Destroy is pending, State Destroyed after it", async () => {
    const { server } = world();
    const ds = server().new("Player", 1);
    await ds.Open();
    const destroying = ds.Destroy();
    assert.deepEqual(await ds.Open(), ["State", "Destroying"]);
    await destroying;
    assert.deepEqual(await ds.Open(), ["State", "Destroyed"]);
    assert.equal(ds.State, null);
  });

  test("Error when the lock cannot be taken in 3 tries; nothing is left locked", async () => {
    const { clock, store: raw, server } = world();
    const { store, calls } = counting(raw);
    raw.setFaults({ ops: { mapUpdate: { transient: 1 } } });
    const ds = server(store).new("Player", 1);
    const [response, message] = await within(clock, ds.Open());
    assert.equal(response, "Error");
    assert.match(message, /InternalError/);
    assert.equal(calls.lockAcquire, 3);
    assert.equal(calls.dataGet, undefined, "no load without the lock");
    assert.equal(ds.State, false);
    raw.setFaults(null);
    assert.deepEqual(await server().new("Player", 1).Open(), ["Success", undefined]);
  });

  test("Error when the load fails after the lock was taken: the lock is released again", async () => {
    const { clock, store, server } = world();
    store.setFaults({ ops: { dataGet: { transient: 1 } } });
    const ds = server().new("Player", 1);
    const [response, message] = await within(clock, ds.Open());
    assert.equal(response, "Error");
    assert.match(message, /^502: /);
    assert.equal(ds.State, false);
    store.setFaults(null);
    // Another server opens at once: the unlock went out.
    assert.deepEqual(await server().new("Player", 1).Open(), ["Success", undefined]);
  });

  test("Opens made together join one task: one lock, one load, every template applied in order", async () => {
    const { store: raw, server } = world();
    const { store, calls } = counting(raw);
    const ds = server(store).new("Player", 1);
    const results = await Promise.all([ds.Open({ A: 1 }), ds.Open({ A: 2, B: 2 }), ds.Open()]);
    assert.deepEqual(results, Array(3).fill(["Success", undefined]));
    assert.equal(calls.lockAcquire, 1);
    assert.equal(calls.dataGet, 1);
    assert.deepEqual(ds.Value, { A: 1, B: 2 });
  });

  test("D4: Open from a StateChanged(true) handler answers Success instead of hanging", async () => {
    const { server } = world();
    const ds = server().new("Player", 1);
    let inner;
    ds.StateChanged.Connect((state) => {
      if (state === true) inner = ds.Open({ Late: true });
    });
    assert.deepEqual(await ds.Open(), ["Success", undefined]);
    assert.deepEqual(await peek(inner), ["Success", undefined]);
    assert.deepEqual(ds.Value, { Late: true });
  });

  test("Open after Close re-opens: the lock is taken again and the saved value loaded", async () => {
    const { server } = world();
    const ds = server().new("Player", 1);
    await ds.Open();
    ds.Value = { n: 1 };
    await ds.Close();
    ds.Value = "changed while closed";
    assert.deepEqual(await ds.Open(), ["Success", undefined]);
    assert.deepEqual(ds.Value, { n: 1 });
    assert.deepEqual(await server().new("Player", 1).Open(), ["Locked", ds.UniqueId]);
  });
});

// ---- Read ---------------------------------------------------------------------------------------

describe("Read", () => {
  test("Success on a closed session, without taking the lock; the template fills the loaded value", async () => {
    const { store, server } = world();
    const owner = server().new("Player", 1);
    await owner.Open();
    owner.Value = { Coins: 3 };
    await owner.Save();
    const reader = server().new("Player", 1);
    assert.deepEqual(await reader.Read({ Coins: 0, Gems: 0 }), ["Success", undefined]);
    assert.deepEqual(reader.Value, { Coins: 3, Gems: 0 });
    assert.equal(reader.State, false);
    assert.equal(typeof reader.Version, "string");
    assert.ok(reader.Version.length > 0);
    assert.ok(reader.CreatedTime >= START && reader.UpdatedTime >= reader.CreatedTime);
    // The owner still holds the lock.
    assert.deepEqual(await store.lockAcquire("Player/global/1", "X", 30, 2 ** 32, false), {
      ok: false,
      holder: owner.UniqueId,
    });
  });

  test("Success on a missing key: Value is undefined, or the template", async () => {
    const { server } = world();
    const ds = server().new("Player", "nobody");
    assert.deepEqual(await ds.Read(), ["Success", undefined]);
    assert.equal(ds.Value, undefined);
    assert.deepEqual(ds.Metadata, {});
    assert.deepEqual(ds.UserIds, []);
    assert.equal(ds.Version, "");
    assert.deepEqual(await ds.Read([1, 2]), ["Success", undefined]);
    assert.deepEqual(ds.Value, [1, 2]);
  });

  test("State Open on an open session, and the value is not reloaded", async () => {
    const { server } = world();
    const ds = server().new("Player", 1);
    await ds.Open();
    ds.Value = "unsaved";
    assert.deepEqual(await ds.Read(), ["State", "Open"]);
    assert.equal(ds.Value, "unsaved");
  });

  test("D6: State Destroyed on a destroyed session, and Value is left alone", async () => {
    const { store, server } = world();
    const ds = server().new("Player", 1);
    await ds.Open();
    ds.Value = "kept";
    await ds.Destroy();
    await store.dataSet("Player", "global", "1", '"written later"', "[]", "{}", null);
    assert.deepEqual(await ds.Read(), ["State", "Destroyed"]);
    assert.equal(ds.Value, "kept");
  });

  test("Error when the load fails 3 times", async () => {
    const { clock, store, server } = world({ faults: { ops: { dataGet: { transient: 1 } } } });
    const ds = server(counting(store).store).new("Player", 1);
    const [response, message] = await within(clock, ds.Read());
    assert.equal(response, "Error");
    assert.match(message, /^502: /);
    store.setFaults(null);
    assert.deepEqual(await ds.Read(), ["Success", undefined]);
  });
});

// ---- Save ---------------------------------------------------------------------------------------

describe("Save", () => {
  test("Saved with the live Value (the same object); the store holds it and Version moves on", async () => {
    const { store, server } = world();
    const ds = server().new("Player", 1);
    await ds.Open({ Coins: 0 });
    ds.Value.Coins = 10;
    ds.UserIds = [1];
    ds.Metadata = { Note: "x" };
    const [response, data] = await ds.Save();
    assert.equal(response, "Saved");
    assert.equal(data, ds.Value);
    const entry = await store.dataGet("Player", "global", "1");
    assert.deepEqual(JSON.parse(entry.value), { Coins: 10 });
    assert.deepEqual(JSON.parse(entry.userIds), [1]);
    assert.deepEqual(JSON.parse(entry.metadata), { Note: "x" });
    assert.equal(ds.Version, entry.version);
  });

  test("State Closed before Open and after Close", async () => {
    const { server } = world();
    const ds = server().new("Player", 1);
    assert.deepEqual(await ds.Save(), ["State", "Closed"]);
    await ds.Open();
    await ds.Close();
    assert.deepEqual(await ds.Save(), ["State", "Closed"]);
  });

  test("State Closing while a Close is pending, State Destroying while a Destroy is", async () => {
    const { server } = world();
    const a = server().new("Player", 1);
    await a.Open();
    const closing = a.Close();
    assert.deepEqual(await a.Save(), ["State", "Closing"]);
    await closing;
    const b = server().new("Player", 2);
    await b.Open();
    const destroying = b.Destroy();
    assert.deepEqual(await b.Save(), ["State", "Destroying"]);
    await destroying;
  });

  test("State Destroyed after Destroy", async () => {
    const { server } = world();
    const ds = server().new("Player", 1);
    await ds.Open();
    await ds.Destroy();
    assert.deepEqual(await ds.Save(), ["State", "Destroyed"]);
  });

  test("Error when the write fails 3 times; the session stays open and the next Save works", async () => {
    const { clock, store: raw, server } = world();
    const { store, calls } = counting(raw);
    const ds = server(store).new("Player", 1);
    await ds.Open();
    ds.Value = { n: 1 };
    raw.setFaults({ ops: { dataSet: { transient: 1 } } });
    const [response, message] = await within(clock, ds.Save());
    assert.equal(response, "Error");
    assert.match(message, /^502: /);
    assert.equal(calls.dataSet, 3);
    assert.equal(ds.State, true);
    raw.setFaults(null);
    assert.deepEqual(await ds.Save(), ["Saved", ds.Value]);
    assert.deepEqual(await stored(raw, 1), { n: 1 });
  });

  test("a Value a DataStore cannot hold: Error naming the path, nothing written, the session stays usable", async () => {
    const cyclic = { a: {} };
    cyclic.a.back = cyclic;
    const cases = [
      [{ Inventory: [1, NaN] }, /^Value\.Inventory\[1\]: NaN cannot be stored$/],
      [{ deep: { x: Infinity } }, /^Value\.deep\.x: .*Infinity/],
      [{ f: () => 1 }, /^Value\.f: .*function/],
      [{ big: 10n }, /^Value\.big: .*BigInt/],
      [{ when: new Date(0) }, /^Value\.when: /],
      [{ holes: [1, , 3] }, /^Value\.holes\[1\]: /], // eslint-disable-line no-sparse-arrays
      [{ nulls: [null] }, /^Value\.nulls\[0\]: /],
      [{ text: "\ud800" }, /^Value\.text: /],
      [cyclic, /^Value\.a\.back: .*cycl/i],
    ];
    const { clock, store, server } = world();
    const ds = server().new("Player", 1);
    await ds.Open();
    ds.Value = { good: 0 };
    await ds.Save();
    const saved = [];
    ds.Saved.Connect((response, data) => saved.push([response, data]));
    for (const [value, pattern] of cases) {
      ds.Value = value;
      // A save that sent nothing lets the clock move before the next one starts.
      const [response, message] = await within(clock, ds.Save(), 1);
      assert.equal(response, "Error", `${pattern}`);
      assert.match(message, pattern);
      assert.deepEqual(saved.pop(), ["Error", message], "the Saved signal reports it too");
      assert.deepEqual(await stored(store, 1), { good: 0 }, "nothing was written");
      assert.equal(ds.State, true);
    }
    ds.Value = { good: 1 };
    assert.deepEqual(await within(clock, ds.Save(), 1), ["Saved", ds.Value]);
    assert.deepEqual(await stored(store, 1), { good: 1 });
  });

  test("bad Metadata or UserIds contents fail the save the same way", async () => {
    const { clock, server } = world();
    const ds = server().new("Player", 1);
    await ds.Open();
    ds.Value = 1;
    ds.Metadata = { bad: NaN };
    assert.match((await ds.Save())[1], /^Metadata\.bad: NaN/);
    ds.Metadata = {};
    ds.UserIds = [Infinity];
    assert.match((await within(clock, ds.Save(), 1))[1], /^UserIds\[0\]: /);
    ds.UserIds = [];
    assert.equal((await within(clock, ds.Save(), 1))[0], "Saved");
  });

  test("Value undefined removes the key; Metadata and UserIds reset", async () => {
    const { store, server } = world();
    const ds = server().new("Player", 1);
    await ds.Open();
    ds.Value = 1;
    ds.UserIds = [5];
    await ds.Save();
    ds.Value = undefined;
    assert.deepEqual(await ds.Save(), ["Saved", undefined]);
    assert.equal(await store.dataGet("Player", "global", "1"), undefined);
    assert.deepEqual(ds.UserIds, []);
    assert.deepEqual(ds.Metadata, {});
    assert.equal(ds.Version, "");
  });

  test("Saves made together join one task; a Save during the write gets its own", async () => {
    const { store: raw, server } = world();
    const { store, calls } = counting(raw);
    const ds = server(store).new("Player", 1);
    await ds.Open();
    ds.Value = { n: 1 };
    const [a, b] = await Promise.all([ds.Save(), ds.Save()]);
    assert.deepEqual([a[0], b[0]], ["Saved", "Saved"]);
    assert.equal(calls.dataSet, 1);
    let during;
    ds.Saving.Connect(() => {
      ds.Value = { n: ds.Value.n + 1 };
      during ??= ds.Save();
    });
    await ds.Save();
    assert.deepEqual(await during, ["Saved", ds.Value]);
    assert.equal(calls.dataSet, 3);
    assert.deepEqual(await stored(raw, 1), { n: 3 });
  });
});

// ---- Close --------------------------------------------------------------------------------------

describe("Close", () => {
  test("Success on a session that was never opened", async () => {
    const { server } = world();
    const ds = server().new("Player", 1);
    assert.deepEqual(await ds.Close(), ["Success", undefined]);
    assert.equal(ds.State, false);
  });

  test("Saved with the Value when open: saved, unlocked, closed", async () => {
    const { store, server } = world();
    const ds = server().new("Player", 1);
    await ds.Open();
    ds.Value = { n: 2 };
    const [response, data] = await ds.Close();
    assert.equal(response, "Saved");
    assert.equal(data, ds.Value);
    assert.equal(ds.State, false);
    assert.deepEqual(await stored(store, 1), { n: 2 });
    assert.deepEqual(await server().new("Player", 1).Open(), ["Success", undefined]);
    assert.deepEqual(await ds.Close(), ["Success", undefined], "closing again");
  });

  test("Success without saving when SaveOnClose is false", async () => {
    const { store, server } = world();
    const ds = server().new("Player", 1);
    await ds.Open();
    ds.SaveOnClose = false;
    ds.Value = "not saved";
    assert.deepEqual(await ds.Close(), ["Success", undefined]);
    assert.equal(await stored(store, 1), undefined);
    assert.deepEqual(await server().new("Player", 1).Open(), ["Success", undefined]);
  });

  test("D3: Error when the save-on-close fails; the session still closes and the lock is released", async () => {
    const { clock, store, server } = world();
    const ds = server().new("Player", 1);
    await ds.Open();
    ds.Value = { lost: true };
    const states = [];
    ds.StateChanged.Connect((state) => states.push(state));
    store.setFaults({ ops: { dataSet: { transient: 1 } } });
    const [response, message] = await within(clock, ds.Close());
    assert.equal(response, "Error");
    assert.match(message, /^502: /);
    assert.equal(ds.State, false);
    assert.deepEqual(states, [false]);
    store.setFaults(null);
    assert.deepEqual(await server().new("Player", 1).Open(), ["Success", undefined]);
  });

  test("Success on a destroyed session", async () => {
    const { server } = world();
    const ds = server().new("Player", 1);
    await ds.Open();
    await ds.Destroy();
    assert.deepEqual(await ds.Close(), ["Success", undefined]);
  });

  test("a Close while a Destroy is pending joins it and gets its answer", async () => {
    const { server } = world();
    const ds = server().new("Player", 1);
    await ds.Open();
    ds.Value = 5;
    const destroyed = ds.Destroy();
    const closed = ds.Close();
    assert.deepEqual(await closed, ["Saved", 5]);
    assert.deepEqual(await destroyed, ["Saved", 5]);
    assert.equal(ds.State, null);
  });

  test("a Close while an Open is pending closes after it", async () => {
    const { server } = world();
    const ds = server().new("Player", 1);
    const opened = ds.Open({ n: 1 });
    const closed = ds.Close();
    assert.deepEqual(await opened, ["Success", undefined]);
    assert.deepEqual(await closed, ["Saved", { n: 1 }]);
    assert.equal(ds.State, false);
  });
});

// ---- Destroy ------------------------------------------------------------------------------------

describe("Destroy", () => {
  test("Success on a closed session: nothing saved; the session leaves the cache", async () => {
    const { store, server } = world();
    const module = server();
    const ds = module.new("Player", 1);
    ds.Value = "never saved";
    assert.deepEqual(await ds.Destroy(), ["Success", undefined]);
    assert.equal(ds.State, null);
    assert.equal(await stored(store, 1), undefined);
    assert.equal(module.find("Player", 1), undefined);
    const fresh = module.new("Player", 1);
    assert.notEqual(fresh, ds);
    assert.notEqual(fresh.UniqueId, ds.UniqueId);
  });

  test("Saved with the Value when open; the lock is released", async () => {
    const { store, server } = world();
    const ds = server().new("Player", 1);
    await ds.Open();
    ds.Value = [1, 2];
    assert.deepEqual(await ds.Destroy(), ["Saved", [1, 2]]);
    assert.deepEqual(await stored(store, 1), [1, 2]);
    assert.deepEqual(await server().new("Player", 1).Open(), ["Success", undefined]);
  });

  test("D3: Error when the save fails; the session is destroyed and unlocked anyway", async () => {
    const { clock, store, server } = world();
    const ds = server().new("Player", 1);
    await ds.Open();
    ds.Value = 1;
    store.setFaults({ ops: { dataSet: { transient: 1 } } });
    const [response, message] = await within(clock, ds.Destroy());
    assert.equal(response, "Error");
    assert.match(message, /^502: /);
    assert.equal(ds.State, null);
    store.setFaults(null);
    assert.deepEqual(await server().new("Player", 1).Open(), ["Success", undefined]);
  });

  test("Success when already destroyed; Destroys made together share one answer", async () => {
    const { server } = world();
    const ds = server().new("Player", 1);
    await ds.Open();
    ds.Value = 3;
    assert.deepEqual(await Promise.all([ds.Destroy(), ds.Destroy()]), [
      ["Saved", 3],
      ["Saved", 3],
    ]);
    assert.deepEqual(await ds.Destroy(), ["Success", undefined]);
  });

  test("a destroyed session keeps its properties, answers every method, and takes custom fields", async () => {
    const { server } = world();
    const ds = server().new("Player", 1);
    await ds.Open();
    ds.Metadata.Compress = { Level: 2 };
    ds.Value = { n: 1 };
    const uniqueId = ds.UniqueId;
    await ds.Destroy();
    // Let the module forget the session's internals.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(ds.UniqueId, uniqueId);
    assert.equal(ds.Id, "Player/global/1");
    assert.equal(ds.State, null);
    assert.equal(ds.SaveInterval, 30);
    assert.ok(ds.Version.length > 0);
    assert.deepEqual(await ds.Open(), ["State", "Destroyed"]);
    assert.deepEqual(await ds.Read(), ["State", "Destroyed"]);
    assert.deepEqual(await ds.Save(), ["State", "Destroyed"]);
    assert.deepEqual(await ds.Close(), ["Success", undefined]);
    assert.deepEqual(await ds.Destroy(), ["Success", undefined]);
    assert.deepEqual(ds.Clone(), { n: 1 });
    const [characters] = ds.Usage();
    assert.ok(characters > 0);
    ds.Custom = 1;
    assert.equal(ds.Custom, 1);
    assert.throws(() => (ds.Id = "x"), READONLY);
    assert.throws(() => (ds.State = true), READONLY);
    assert.throws(() => (ds.SaveInterval = 5), RangeError);
    assert.throws(() => (ds.Metadata = 5), TypeError);
    ds.SaveInterval = 20;
    assert.equal(ds.SaveInterval, 20);
    ds.Metadata = { a: 1 };
    assert.deepEqual(ds.Metadata, { a: 1 });
  });
});

// ---- Queue and Remove ---------------------------------------------------------------------------

describe("Queue and Remove", () => {
  test("Queue answers Success on any session; the owner's ProcessQueue gets it; Remove answers Success", async () => {
    const { clock, server } = world();
    const owner = server().new("Player", 1);
    await owner.Open();
    const received = [];
    owner.ProcessQueue.Connect(async (id, values) => {
      received.push(...values);
      assert.deepEqual(await owner.Remove(id), ["Success", undefined]);
    });
    const sender = server().new("Player", 1); // never opened: Queue does not look at the state
    assert.deepEqual(await sender.Queue({ Coins: 5 }), ["Success", undefined]);
    const hidden = server().hidden("Player", 1);
    await hidden.Destroy();
    assert.deepEqual(await hidden.Queue(7, 60, 1), ["Success", undefined], "even a destroyed session sends");
    await clock.advance(5_000);
    assert.deepEqual(received, [7, { Coins: 5 }], "higher priority first");
    await clock.advance(120_000);
    assert.equal(received.length, 2, "removed: not delivered again");
  });

  test("a closed session's queue read ends: the key's next holder gets items at once, not 30 s later", async () => {
    // A long poll left running after Destroy took the next item, hid it for 30 s (Roblox's
    // invisibility) and was thrown away (a helper's hunt: delivery 31.8 s late, and with many
    // players one timer and one polling read per left session for 30 s).
    const { clock, server } = world();
    const [a, b, c] = [server(), server(), server()];
    const first = a.new("Player", 1);
    first.ProcessQueue.Connect(() => {});
    assert.deepEqual(await within(clock, first.Open(), 100), ["Success", undefined]);
    assert.deepEqual(await within(clock, first.Destroy(), 100), ["Saved", undefined]);
    await clock.advance(1_000);
    const next = b.new("Player", 1);
    const received = [];
    next.ProcessQueue.Connect((id, values) => {
      received.push(...values);
      next.Remove(id);
    });
    assert.deepEqual(await within(clock, next.Open(), 100), ["Success", undefined]);
    assert.deepEqual(await within(clock, c.new("Player", 1).Queue({ Gift: 10 }), 100), ["Success", undefined]);
    await clock.advance(3_000);
    assert.deepEqual(received, [{ Gift: 10 }], "delivered within one 2 s look");
  });

  test("Queue answers Error for a value that cannot be stored, naming the path", async () => {
    const { server } = world();
    const ds = server().new("Player", 1);
    const [response, message] = await ds.Queue({ a: [NaN] });
    assert.equal(response, "Error");
    assert.match(message, /^value\.a\[0\]: NaN cannot be stored$/);
  });

  test("Queue and Remove answer Error when the store fails 3 times", async () => {
    const {
      clock,
      store: raw,
      server,
    } = world({ faults: { ops: { queueAdd: { transient: 1 }, queueRemove: { transient: 1 } } } });
    const { store, calls } = counting(raw);
    const ds = server(store).new("Player", 1);
    const [response, message] = await within(clock, ds.Queue(1));
    assert.equal(response, "Error");
    assert.match(message, /InternalError/);
    assert.equal(calls.queueAdd, 3);
    const [removed, why] = await within(clock, ds.Remove("some-read-id"));
    assert.equal(removed, "Error");
    assert.equal(typeof why, "string");
  });

  test("bad arguments throw the original's TypeError: Luau's concatenation error, key first", () => {
    const module = world().server();
    const cases = [
      ...ERRORS.constructors.map(({ args, message }) => [args.map((a) => (a?.nil === true ? undefined : a)), message]),
      // What JSON cannot carry is refused by the host, naming the argument.
      [["P", NaN], "argument 2: NaN cannot be stored"],
      [["P", Infinity], "argument 2: Infinity cannot be stored"],
      [["P", () => 1], "argument 2: a function cannot be stored"],
    ];
    for (const method of ["new", "hidden", "find"]) {
      for (const [args, message] of cases) {
        assert.throws(
          () => module[method](...args),
          (e) => e instanceof TypeError && e.message === message,
          `${method}(${args.map(String).join(", ")})`,
        );
      }
    }
  });

  test("numbers concatenate as Luau writes them: new(5, 0.5, 1e20) is 5/0.5/100000000000000000000", () => {
    const module = world().server();
    const ds = module.new(5, 0.5, 1e20);
    assert.equal(ds.Id, "5/0.5/100000000000000000000");
    assert.equal(ds.Key, 1e20);
    assert.equal(module.find("5", "0.5", "100000000000000000000"), ds);
  });

  test("(name, key), (name, scope, key) and (name, key, undefined) address the right Id", () => {
    const module = world().server();
    const a = module.new("Player", "k");
    assert.equal(a.Id, "Player/global/k");
    assert.equal(module.new("Player", "global", "k"), a);
    assert.equal(module.new("Player", "k", undefined), a);
    assert.equal(module.find("Player", "global", "k"), a);
    const scoped = module.new("Player", "eu", "k");
    assert.equal(scoped.Id, "Player/eu/k");
    assert.notEqual(scoped, a);
    assert.equal(module.find("Player", "nobody"), undefined);
  });

  test("hidden gives a new, uncached session each time", () => {
    const module = world().server();
    const visible = module.new("Player", 1);
    const h1 = module.hidden("Player", 1);
    const h2 = module.hidden("Player", "global", 1);
    assert.equal(h1.Hidden, true);
    assert.notEqual(h1, h2);
    assert.notEqual(h1.UniqueId, h2.UniqueId);
    assert.equal(module.find("Player", 1), visible);
  });

  test("Response is the frozen enum, on the module and exported", () => {
    const module = world().server();
    assert.equal(module.Response, Response);
    assert.deepEqual(
      { ...Response },
      { Success: "Success", Saved: "Saved", Locked: "Locked", State: "State", Error: "Error" },
    );
    assert.ok(Object.isFrozen(Response));
    assert.ok(Object.isFrozen(module));
  });

  test("createModule refuses something that is not a store", () => {
    assert.throws(() => createModule({}), TypeError);
    assert.throws(() => createModule({ store: {} }), /store/);
  });
});

// ---- a server that vanishes ---------------------------------------------------------------------

describe("takeover after a crash", () => {
  /** Server A opens and saves, then vanishes; server B tries at `attempts` ms after A's lock. */
  async function crashAndRetake({ lockInterval, lockAttempts, attempts, crash = true }) {
    const { clock, store, server } = world();
    const a = vanishing(store);
    const dead = server(a.store).new("Player", 1);
    if (lockInterval !== undefined) dead.LockInterval = lockInterval;
    if (lockAttempts !== undefined) dead.LockAttempts = lockAttempts;
    assert.deepEqual(await dead.Open(), ["Success", undefined]);
    const lockedAt = clock.now();
    dead.Value = { Coins: 100 };
    assert.equal((await dead.Save())[0], "Saved");
    if (crash) a.crash(); // never closed: no save-on-close, no unlock
    const b = server().new("Player", 1);
    const results = [];
    for (const at of attempts) {
      await clock.advance(lockedAt + at - clock.now());
      results.push(await b.Open());
      if (b.State) break;
    }
    return { dead, b, results, swallowed: a.swallowed, store };
  }

  test("LockInterval 10, LockAttempts 1: another server opens at 40 s (I × A + 30) and not before", async () => {
    const { dead, b, results, swallowed, store } = await crashAndRetake({
      lockInterval: 10,
      lockAttempts: 1,
      attempts: [1_000, 39_999, 40_000],
    });
    assert.deepEqual(results, [
      ["Locked", dead.UniqueId],
      ["Locked", dead.UniqueId],
      ["Success", undefined],
    ]);
    assert.deepEqual(b.Value, { Coins: 100 }, "the crashed server's last save is intact");
    assert.ok(swallowed > 0, "the dead module kept trying (its refresh) but reached nothing");
    assert.deepEqual(await store.lockAcquire("Player/global/1", dead.UniqueId, 30, 2 ** 32, false), {
      ok: false,
      holder: b.UniqueId,
    });
  });

  test("defaults: another server opens at 330 s (60 × 5 + 30) and not before", async () => {
    const { dead, b, results } = await crashAndRetake({ attempts: [60_000, 300_000, 329_999, 330_000] });
    assert.deepEqual(results, [...Array(3).fill(["Locked", dead.UniqueId]), ["Success", undefined]]);
    assert.deepEqual(b.Value, { Coins: 100 });
  });

  test("control: a server that is alive keeps refreshing, so the key stays locked past 40 s", async () => {
    const { dead: alive, results } = await crashAndRetake({
      lockInterval: 10,
      lockAttempts: 1,
      attempts: [40_000, 100_000],
      crash: false,
    });
    assert.deepEqual(results, [
      ["Locked", alive.UniqueId],
      ["Locked", alive.UniqueId],
    ]);
    assert.equal(alive.State, true);
  });
});

describe("a lease that lapsed at the store (D22, issue 17)", () => {
  test("a refresh that finds the entry gone closes the session; its saves write nothing", async () => {
    const { clock, store, server } = world();
    const a = server().new("Player", 1);
    a.LockInterval = 10;
    const attempts = [];
    const states = [];
    a.AttemptsChanged.Connect((remaining) => attempts.push(remaining));
    a.StateChanged.Connect((state) => states.push(state));
    assert.deepEqual(await a.Open({ Coins: 0 }), ["Success", undefined]);
    a.Value.Coins = 1;
    assert.equal((await a.Save())[0], "Saved");

    // The store loses the entry (as a Redis restart or an eviction would): here, a release of
    // the session's acquisition, whose token is its first (1 × 2^32, src/fence.rs).
    await store.lockRelease("Player/global/1", a.UniqueId, 2 ** 32);
    // Meanwhile another server takes the key, writes it and closes it (saving and unlocking):
    // when A refreshes, the entry is absent, as if A's lease had simply run on.
    const b = server().new("Player", 1);
    assert.deepEqual(await b.Open(), ["Success", undefined]);
    b.Value = { Coins: 50 };
    assert.deepEqual(await b.Close(), ["Saved", { Coins: 50 }]);

    // A's next refresh (sent at +10 s, answered 0.5 s later) may not take the key back: it
    // lapses. A Save queued behind it answers the lapse and writes nothing.
    store.setFaults({ ops: { mapUpdate: { latencyMs: 500 } } });
    await clock.advance(10_000);
    a.Value.Coins = 2;
    const pending = a.Save();
    assert.equal(await peek(pending), PENDING, "queued behind the refresh");
    await clock.advance(500);
    assert.deepEqual(attempts, [0]);
    assert.deepEqual(states, [true, false]);
    assert.equal(a.State, false);
    const [response, message] = await pending;
    assert.equal(response, "Error");
    assert.match(message, /lapsed/);
    assert.deepEqual(await a.Save(), ["State", "Closed"], "the next Save: the session is closed");
    store.setFaults(null);
    await clock.advance(60_000); // no auto-save either

    const reader = server().new("Player", 1);
    assert.deepEqual(await reader.Read(), ["Success", undefined]);
    assert.deepEqual(reader.Value, { Coins: 50 }, "B's value was not overwritten");
    // A's refresh did not re-create the entry: the key is free.
    assert.deepEqual(await store.lockAcquire("Player/global/1", "X", 0, 2 ** 32, false), { ok: true });
  });
});
