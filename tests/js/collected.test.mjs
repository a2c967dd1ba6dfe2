// What the application lets go of is freed (found by long runs that watched memory): a module
// made with `bindToClose: true` (the process-wide shutdown list held every one for good), a
// module with an `onEvent` on a store that reports on its own (the store's listener held the
// whole module), and the handlers of disconnected connections while the application still holds
// an earlier connection (each removed connection kept its handler, and the links led on to every
// later one). Each object is watched through a WeakRef after a full garbage collection.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createModule, ManualClock, MemoryStore } from "../../pkg/node.mjs";
import { Signal } from "../../pkg/lib/signal.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc");

/** Collects garbage, and lets finalisers run. */
async function collect() {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** How many of `refs` still point at something after a collection. */
async function alive(refs) {
  await collect();
  return refs.filter((ref) => ref.deref() !== undefined).length;
}

test("modules made with bindToClose: true are freed once dropped, but for those with onShutdown", async () => {
  const clock = new ManualClock(0);
  const store = new MemoryStore({ clock });
  const dropped = [];
  const hooked = [];
  for (let i = 0; i < 20; i++) {
    dropped.push(new WeakRef(createModule({ store, clock, bindToClose: true })));
  }
  for (let i = 0; i < 2; i++) {
    hooked.push(new WeakRef(createModule({ store, clock, bindToClose: true, onShutdown() {} })));
  }
  assert.equal(await alive(dropped), 0, "the shutdown list holds no module without a hook");
  assert.equal(await alive(hooked), 2, "a module whose hook must run at shutdown stays listed");
});

test("a module observing its store is freed once dropped, and its listener removed", async () => {
  const clock = new ManualClock(0);
  const listeners = new Set();
  const memory = new MemoryStore({ clock });
  // A store that reports on its own, as RedisStore and PostgresStore do.
  const store = new Proxy(memory, {
    get(target, name) {
      if (name === "observe") {
        return (listener) => {
          listeners.add(listener);
          return () => listeners.delete(listener);
        };
      }
      const v = Reflect.get(target, name);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  const events = [];
  const kept = createModule({ store, clock, onEvent: (e) => events.push(e.type) });
  const refs = [];
  for (let i = 0; i < 20; i++) refs.push(new WeakRef(createModule({ store, clock, onEvent() {} })));
  assert.equal(listeners.size, 21);
  assert.equal(await alive(refs), 0, "dropped modules are freed");
  assert.equal(listeners.size, 1, "their listeners are gone; the live module's stays");
  for (const listener of listeners) listener("store.connection", { store: "test", state: "ready" });
  assert.deepEqual(events, ["store.connection"], "the live module still hears its store");
  assert.ok(kept);
});

test("a held connection keeps no handler of a removed one, nor of those connected after it", async () => {
  const signal = new Signal();
  const first = signal.Connect(() => {});
  let current = first;
  const refs = [];
  // The application replaces its handler: connects the new one, then disconnects the old.
  const replace = () => {
    const data = { big: new Array(1000).fill(1) };
    refs.push(new WeakRef(data));
    const next = signal.Connect(() => data);
    current.Disconnect();
    current = next;
  };
  for (let i = 0; i < 20; i++) replace();
  const once = () => {
    const data = {};
    refs.push(new WeakRef(data));
    signal.Once(() => data);
  };
  once();
  signal.Fire();
  assert.equal(await alive(refs), 1, "only the connected handler's data is alive");
  current.Disconnect();
  assert.equal(await alive(refs), 0, "and it goes once disconnected");
  assert.equal(first.Connected, false, "the held connection still answers");
});
