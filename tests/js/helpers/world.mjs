// A world for tests through the public API: a ManualClock, a MemoryStore on it, and `server()`,
// which makes a module on them. Two modules on one store are two Roblox servers (each its own
// seed, so its own UniqueId).
import { createModule, ManualClock, MemoryStore } from "../../../pkg/node.mjs";

/** When every world's clock starts. */
export const START = Date.UTC(2026, 3, 1, 12, 0, 0);

/** `faults`: the MemoryStore's fault plan. `server(store, clock)` may use another store or clock. */
export function world({ faults } = {}) {
  const clock = new ManualClock(START);
  const store = new MemoryStore({ clock, faults });
  let seed = 0;
  return { clock, store, server: (s = store, c = clock) => createModule({ store: s, clock: c, seed: ++seed }) };
}

/** Runs the clock `ms` while `promise` works (SaveDelay, retries and backoff wait on the clock). */
export async function within(clock, promise, ms = 10_000) {
  await clock.advance(ms);
  return promise;
}
