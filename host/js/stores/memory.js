/**
 * MemoryStore: the Rust emulator of Roblox's DataStore and MemoryStore (compiled into the
 * package's second wasm, `datastore_module_full`) behind the store interface (README.md in this
 * folder). Node loads that wasm when the first MemoryStore is made, so users of the other stores
 * never pay for it.
 *
 * Everything Roblox-like is decided in Rust: KeyInfo and version ids, TTLs, queue priority and
 * invisibility, limits and their error texts, fencing, and the faults. This file only reads the
 * clock, forwards, and waits: each emulator reply says how long it took (`latencyMs`, from the
 * configured faults), and the promise settles that long later on the store's clock. A
 * `queueRead` with `waitSeconds` reads again every 2 s on the clock, as Roblox's `ReadAsync`.
 *
 * Data reads bypass Roblox's 4 s `GetAsync` cache. All calls act as one server; two modules
 * sharing one MemoryStore are two servers on one emulated Roblox.
 */
import { checkClock, describe, realClock, sleep } from "../lib/clock.js";
import { StoreError } from "./errors.js";
import { checkArgs, QueuePolls, closedError, timed } from "./common.js";
import { bytes } from "../lib/utf8.js";

/**
 * The faults option as JSON text for the emulator. Its fields: `transient`, `ambiguous`,
 * `throttle`, `rerun`, `conflict`, `spike` (probabilities), `latencyMs` (a number or
 * `[min, max]`), `spikeMs`, for every operation kind; `ops: { dataSet: {…}, mapUpdate: {…}, … }`
 * per kind; `outages: [{ startMs, endMs, ops? }]`.
 *
 * Options are the caller's mistake, so they are refused like arguments: a `RangeError` for a
 * number out of its range (checked here: a probability outside 0..1, a negative or fractional
 * millisecond count, `[min, max]` with min > max, an outage that ends before it starts), a
 * `TypeError` for the rest, which the emulator finds (wrong types, unknown names).
 */
function faultsJson(faults) {
  if (faults === undefined || faults === null) return "null";
  if (typeof faults !== "object" || Array.isArray(faults)) {
    throw new TypeError(`MemoryStore: faults must be an object or null, got ${describe(faults)}`);
  }
  checkRanges(faults, "faults");
  if (typeof faults.ops === "object" && faults.ops !== null) {
    for (const [name, op] of Object.entries(faults.ops)) {
      if (typeof op === "object" && op !== null) checkRanges(op, `faults.ops.${name}`);
    }
  }
  if (Array.isArray(faults.outages)) {
    faults.outages.forEach((outage, i) => {
      for (const name of ["startMs", "endMs"]) millis(outage?.[name], `faults.outages[${i}].${name}`);
      const { startMs, endMs } = outage ?? {};
      if (typeof startMs === "number" && typeof endMs === "number" && startMs > endMs) {
        throw new RangeError(`MemoryStore: faults.outages[${i}] ends (${endMs}) before it starts (${startMs})`);
      }
    });
  }
  try {
    return JSON.stringify(faults);
  } catch (e) {
    throw new TypeError(`MemoryStore: faults cannot be read as JSON: ${e.message}`);
  }
}

const PROBABILITIES = ["transient", "ambiguous", "throttle", "rerun", "conflict", "spike"];

/** The ranges of one level's fault settings (types are the emulator's to check). */
function checkRanges(f, path) {
  for (const name of PROBABILITIES) {
    const p = f[name];
    if (typeof p === "number" && !(p >= 0 && p <= 1)) {
      throw new RangeError(`MemoryStore: ${path}.${name} must be a probability from 0 to 1, got ${p}`);
    }
  }
  millis(f.spikeMs, `${path}.spikeMs`);
  const latency = f.latencyMs;
  if (Array.isArray(latency) && latency.length === 2) {
    latency.forEach((ms, i) => millis(ms, `${path}.latencyMs[${i}]`));
    if (typeof latency[0] === "number" && typeof latency[1] === "number" && latency[0] > latency[1]) {
      throw new RangeError(`MemoryStore: ${path}.latencyMs must be [min, max] with min ≤ max, got [${latency}]`);
    }
  } else {
    millis(latency, `${path}.latencyMs`);
  }
}

/** A number of milliseconds, when it is a number, is whole and not negative. */
function millis(ms, path) {
  if (typeof ms === "number" && !(Number.isInteger(ms) && ms >= 0)) {
    throw new RangeError(`MemoryStore: ${path} must be a whole, non-negative number of milliseconds, got ${ms}`);
  }
}

/** The seed option: a whole number from 0 to 2^53 - 1 (the emulator's dice). */
function checkSeed(seed) {
  if (typeof seed !== "number") throw new TypeError(`MemoryStore: seed must be a number, got ${describe(seed)}`);
  if (!(Number.isSafeInteger(seed) && seed >= 0)) {
    throw new RangeError(`MemoryStore: seed must be a whole number from 0 to 2^53 - 1, got ${seed}`);
  }
}

/** The emulator's refusal of a fault setting, as the TypeError it is. */
function settingError(e) {
  return e instanceof Error && typeof e.kind === "string" ? new TypeError(`MemoryStore: ${e.message}`) : e;
}

/** A thrown emulator error (`Error` with `kind`) as a StoreError; anything else as is. */
function storeError(e) {
  if (e instanceof Error && typeof e.kind === "string") {
    return new StoreError(e.kind, e.message, { code: e.code });
  }
  return e;
}

/**
 * @param {() => typeof import("../web/datastore_module_full.js")} loadWasm gives the initialised
 *   glue of the wasm with the emulator; called, synchronously, when the first MemoryStore is made
 */
export function bindMemoryStore(loadWasm) {
  let wasm;
  return class MemoryStore {
    #emu;
    #clock;
    #polls;
    #closed = false;

    /**
     * @param {{ clock?: { now(): number, setTimeout?: Function, clearTimeout?: Function },
     *   faults?: object, seed?: number }} [options]
     */
    constructor({ clock = realClock, faults, seed = 0 } = {}) {
      checkClock(clock, "MemoryStore: options.clock");
      checkSeed(seed);
      const json = faultsJson(faults);
      this.#clock = clock;
      wasm ??= loadWasm();
      try {
        this.#emu = new wasm.Emulator(seed, json);
      } catch (e) {
        throw settingError(e);
      }
      this.#polls = new QueuePolls({ store: "MemoryStore", clock, closed: () => this.#closed });
    }

    /** The clock the store reads and waits on. */
    get clock() {
      return this.#clock;
    }

    /** Replaces the fault configuration (same shape as the `faults` option; null for none). */
    setFaults(faults) {
      if (this.#closed) throw closedError("MemoryStore");
      const json = faultsJson(faults);
      try {
        this.#emu.setFaults(json);
      } catch (e) {
        throw settingError(e);
      }
    }

    /** Nothing to connect to: resolves at once, unless the store is closed. */
    async connect() {
      if (this.#closed) throw closedError("MemoryStore");
    }

    /** Resolves with the milliseconds a call takes (next to none: the emulator is in this process). */
    async ping() {
      return timed(() => this.connect());
    }

    /** Runs one emulator call at `now` and settles after its latency. */
    async #call(run) {
      if (this.#closed) throw closedError("MemoryStore");
      let reply;
      try {
        reply = run(this.#emu, this.#clock.now());
      } catch (e) {
        const error = storeError(e);
        await sleep(this.#clock, e?.latencyMs ?? 0);
        throw error;
      }
      await sleep(this.#clock, reply.latencyMs);
      return reply;
    }

    async dataGet(name, scope, key) {
      checkArgs("dataGet", [name, scope, key]);
      const reply = await this.#call((emu, now) => emu.dataGet(now, name, scope, key));
      return reply.entry;
    }

    async dataSet(name, scope, key, value, userIds, metadata, fence = null) {
      checkArgs("dataSet", [name, scope, key, value, userIds, metadata, fence]);
      const reply = await this.#call((emu, now) =>
        emu.dataSet(now, name, scope, key, bytes(value), userIds, metadata, fence?.owner, fence?.token, fence?.seq),
      );
      return reply.version;
    }

    async dataRemove(name, scope, key, fence = null) {
      checkArgs("dataRemove", [name, scope, key, fence]);
      await this.#call((emu, now) => emu.dataRemove(now, name, scope, key, fence?.owner, fence?.token, fence?.seq));
    }

    async lockAcquire(map, owner, ttlSeconds, token, renew, held = null) {
      checkArgs("lockAcquire", [map, owner, ttlSeconds, token, renew, held]);
      const reply = await this.#call((emu, now) =>
        emu.lockAcquire(now, map, owner, ttlSeconds, token, renew, held ?? undefined),
      );
      if (reply.lapsed) return { ok: false, lapsed: true };
      return reply.holder === undefined ? { ok: true } : { ok: false, holder: reply.holder };
    }

    async lockRelease(map, owner, token) {
      checkArgs("lockRelease", [map, owner, token]);
      await this.#call((emu, now) => emu.lockRelease(now, map, owner, token));
    }

    async queueAdd(queue, value, expirationSeconds, priority = 0) {
      checkArgs("queueAdd", [queue, value, expirationSeconds, priority]);
      await this.#call((emu, now) => emu.queueAdd(now, queue, bytes(value), expirationSeconds, priority));
    }

    async queueRead(queue, count, allOrNothing, waitSeconds, invisibilitySeconds, signal) {
      checkArgs("queueRead", [queue, count, allOrNothing, waitSeconds, invisibilitySeconds, signal]);
      // Looks every 2 s (Roblox's cadence, the default), on the store's clock.
      return this.#polls.read(
        queue,
        waitSeconds,
        async () => {
          const reply = await this.#call((emu, now) =>
            emu.queueRead(now, queue, count, allOrNothing, invisibilitySeconds),
          );
          return reply.readId === undefined ? undefined : { values: reply.values, readId: reply.readId };
        },
        signal,
      );
    }

    async queueRemove(queue, readId) {
      checkArgs("queueRemove", [queue, readId]);
      await this.#call((emu, now) => emu.queueRemove(now, queue, readId));
    }

    /** Ends pending long polls (they resolve `undefined`); later calls reject with `Closed`. */
    async close() {
      if (this.#closed) return;
      this.#closed = true;
      this.#polls.cancelAll();
      this.#emu.free();
    }
  };
}
