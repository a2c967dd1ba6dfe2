/**
 * What the stores share: argument checks with the emulator's limits and wording (so every
 * store refuses the same requests the same way), Roblox-shaped version ids, the long polls of
 * `queueRead` (`QueuePolls`), and loading an optional npm package (`loadOptional`).
 */
import { realClock } from "../lib/clock.js";
import { StoreError } from "./errors.js";

/** Roblox's limits, as the emulator applies them (src/emulator/mod.rs). */
export const LIMITS = Object.freeze({
  dataNameBytes: 50,
  dataValueBytes: 4_194_304,
  memoryValueBytes: 32 * 1024,
  maxExpirationSeconds: 3_888_000,
  maxQueueRead: 100,
  userIds: 4,
  metadataKeyBytes: 50,
  metadataValueBytes: 250,
  metadataBytes: 300,
});

/** Roblox's queue long-poll cadence: `ReadAsync` looks again every 2 s while it waits. */
export const POLL_MS = 2000;

const invalid = (message, code) => new StoreError("InvalidRequest", message, { code });

// ---- argument types (every store, before anything else) -------------------------------------

/** Each store method's arguments and their kinds, in order. */
const SIGNATURES = {
  dataGet: ["name", "scope", "key"],
  dataSet: ["name", "scope", "key", "value:json", "userIds:json", "metadata:json", "fence:fence"],
  dataRemove: ["name", "scope", "key", "fence:fence"],
  lockAcquire: ["map", "owner", "ttlSeconds:number", "token:token", "renew:boolean", "held:held"],
  lockAcquireAndGet: ["map", "owner", "ttlSeconds:number", "token:token", "name", "scope", "key"],
  lockRelease: ["map", "owner", "token:token"],
  queueAdd: ["queue", "value:json", "expirationSeconds:number", "priority:number"],
  queueRead: [
    "queue",
    "count:number",
    "allOrNothing:boolean",
    "waitSeconds:wait",
    "invisibilitySeconds:number",
    "signal:signal",
  ],
  queueRemove: ["queue", "readId"],
};

/** Checks the kinds of a store method's arguments (every store, before anything else). */
export function checkArgs(method, args) {
  const specs = PARSED[method];
  for (let i = 0; i < specs.length; i++) specs[i][1](args[i], specs[i][0]);
  if (method === "lockAcquire" && args[4] && (args[5] === null || args[5] === undefined)) {
    throw invalid("held must be the token last written (a number) when renew is true, got null");
  }
}

const CHECKS = {
  string(value, what) {
    if (typeof value !== "string") throw invalid(`${what} must be a string, got ${describe(value)}`);
  },
  json(value, what) {
    if (typeof value !== "string") throw invalid(`${what} must be JSON text (a string), got ${describe(value)}`);
    // UTF-8 has no unpaired surrogate: every store would keep U+FFFD (or worse) in its place.
    if (!value.isWellFormed()) throw invalid(`${what} has an unpaired surrogate, which no store can keep`);
  },
  number(value, what) {
    if (typeof value !== "number") throw invalid(`${what} must be a number, got ${describe(value)}`);
  },
  boolean(value, what) {
    if (typeof value !== "boolean") throw invalid(`${what} must be a boolean, got ${describe(value)}`);
  },
  /** A lock token or write sequence number: a whole number from 0 to 2^53 - 1. */
  token(value, what) {
    if (!Number.isSafeInteger(value) || value < 0) {
      const got = typeof value === "number" ? String(value) : describe(value);
      throw invalid(`${what} must be a whole number from 0 to 2^53 - 1, got ${got}`);
    }
  },
  /** A refresh's last known token, `null`/`undefined` for a new acquisition. */
  held(value, what) {
    if (value !== null && value !== undefined) CHECKS.token(value, what);
  },
  /** `null`/`undefined` (no fence) or `{ owner, token, seq }`. */
  fence(value) {
    if (value === null || value === undefined) return;
    const shaped =
      typeof value === "object" &&
      !Array.isArray(value) &&
      typeof value.owner === "string" &&
      Number.isSafeInteger(value.token) &&
      value.token >= 0 &&
      Number.isSafeInteger(value.seq) &&
      value.seq >= 0;
    if (!shaped) {
      throw invalid(
        `fence must be null or { owner: string, token, seq } (whole numbers from 0 to 2^53 - 1), got ${describeFence(value)}`,
      );
    }
  },
  /** `null`/`undefined` or an `AbortSignal` (queueRead's: the caller no longer wants the items). */
  signal(value, what) {
    if (value !== null && value !== undefined && !(value instanceof AbortSignal)) {
      throw invalid(`${what} must be an AbortSignal or undefined, got ${describe(value)}`);
    }
  },
  /** 0 (no wait), a positive number of seconds, or -1 (wait until items come). */
  wait(value, what) {
    CHECKS.number(value, what);
    if (!(value === -1 || (Number.isFinite(value) && value >= 0))) {
      throw invalid(`InvalidRequest: waitSeconds must be 0 or more, or -1 to wait until items come (got ${value}).`);
    }
  },
};

/** Each signature as `[what, check]` pairs, read once (checkArgs runs on every store call). */
const PARSED = Object.fromEntries(
  Object.entries(SIGNATURES).map(([method, specs]) => [
    method,
    specs.map((spec) => {
      const [what, kind = "string"] = spec.split(":");
      return [what, CHECKS[kind]];
    }),
  ]),
);

function describe(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value;
}

function describeFence(value) {
  if (typeof value !== "object" || Array.isArray(value)) return describe(value);
  try {
    return JSON.stringify(value);
  } catch {
    return "an object";
  }
}

// ---- the lock table and the fence (D22; src/fence.rs is the normative text) ------------------

/** Tokens are `acquisition × 2^32 + renewal`. */
export const ACQUISITION = 2 ** 32;

/** The acquisition a token belongs to. */
export const acquisition = (token) => Math.floor(token / ACQUISITION);

/**
 * What a lock command does to the entry as it stands (`lock_decision` in src/fence.rs):
 * `"write"` (owner and token; a release deletes), `"locked"` (nothing written; answer the
 * holder), `"lapsed"` (a refresh whose entry is gone or not of its acquisition; nothing
 * written) or `"nothing"`. `mode` is `"acquire"`, `"renew"` or `"release"`; `current` the live
 * entry `{ owner, token }` or undefined (a missing token counts as 0).
 */
export function lockDecision(mode, owner, token, held, current) {
  const e = current?.token ?? 0;
  if (mode === "release") {
    return current && current.owner === owner && acquisition(e) === acquisition(token) ? "write" : "nothing";
  }
  if (current && current.owner !== owner) return "locked";
  if (mode === "acquire") return !current || e <= token ? "write" : "locked";
  return current && held <= e && e <= token ? "write" : "lapsed";
}

/**
 * Why a fenced write may not go ahead, or null (`fence_refusal` in src/fence.rs). `lock` is the
 * live lock entry `{ owner, token }` or undefined; `mark` the last fenced write applied to the
 * key, `{ owner, token, seq }` or undefined.
 */
export function fenceRefusal(fence, lock, mark) {
  if (!lock) return "the lock is not held (expired or released)";
  if (lock.owner !== fence.owner) return `the lock is held by ${lock.owner}`;
  const acq = acquisition(fence.token);
  if (acquisition(lock.token ?? 0) !== acq) {
    return `the lock is held by another acquisition of ${fence.owner} than this write's`;
  }
  if (mark && mark.owner === fence.owner && acquisition(mark.token) === acq && mark.seq >= fence.seq) {
    return `a newer write (#${mark.seq}) of the same session has landed already (this is #${fence.seq})`;
  }
  return null;
}

/** The Fenced rejection, worded as the emulator's. */
export function fencedError(name, scope, key, fence, reason) {
  return new StoreError("Fenced", `Fenced: write to ${name}/${scope}/${key} by ${fence.owner} refused: ${reason}`);
}

// ---- Roblox's limits (the stores that do not run the emulator) ------------------------------

/** Node's native byte count, when there is a Node. */
const byteLength = typeof Buffer === "function" && typeof Buffer.byteLength === "function" ? Buffer.byteLength : null;

/** UTF-8 length of a string (Roblox measures names and values in bytes). */
export function utf8Length(text) {
  if (byteLength !== null) return byteLength(text, "utf8");
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 2; // 4 bytes for the pair's 2 units
        i++;
        continue;
      }
    }
    if (c >= 0x800) n += 2;
    else if (c >= 0x80) n += 1;
  }
  return n;
}

/**
 * Whether `text` is over `max` UTF-8 bytes. A UTF-16 unit is at most 3 bytes, so short texts
 * (every name, most values) need no count at all.
 */
function overBytes(text, max) {
  return text.length * 3 > max && utf8Length(text) > max;
}

export function checkNames(name, scope, key) {
  const max = LIMITS.dataNameBytes;
  if (name.length === 0) throw invalid("DataStore name can't be empty.");
  if (overBytes(name, max)) throw invalid(`DataStore name exceeds the ${max} character limit.`);
  if (overBytes(scope, max)) throw invalid(`DataStore scope exceeds the ${max} character limit.`);
  if (key.length === 0) throw invalid("101: Key name can't be empty.", 101);
  if (overBytes(key, max)) throw invalid(`102: Key name exceeds the ${max} character limit.`, 102);
}

export function checkDataValue(json) {
  if (json === "null") throw invalid("Argument 2 missing or nil");
  const max = LIMITS.dataValueBytes;
  if (overBytes(json, max)) throw invalid(`105: Serialized value exceeds ${max} limit.`, 105);
}

/**
 * A write's user ids and metadata as `SetAsync` takes them, as the emulator does: an empty
 * table is either shape (an empty Luau table is both), stored as the one a load reads (`[]`,
 * `{}`); what Roblox refuses (511–513) is refused (the emulator's `attributes_refusal`). A
 * store here would keep them, and the record would hold what Roblox never would, or a shape
 * no load reads back. Gives `[userIds, metadata]` to store.
 */
export function attributesOf(userIds, metadata) {
  if (userIds === "[]" && metadata === "{}") return [userIds, metadata]; // nearly every write
  let ids = parsed(userIds);
  if (isEmptyObject(ids)) [ids, userIds] = [[], "[]"];
  if (!Array.isArray(ids)) throw invalid("513: Attribute userId format is invalid.", 513);
  if (ids.length > LIMITS.userIds) throw invalid(`512: UserID size exceeds ${LIMITS.userIds} limit.`, 512);
  if (!ids.every(Number.isInteger)) throw invalid("513: Attribute userId format is invalid.", 513);
  let data = parsed(metadata);
  if (Array.isArray(data) && data.length === 0) [data, metadata] = [{}, "{}"];
  if (!isObject(data)) throw invalid("513: Attribute metadata format is invalid.", 513);
  const tooLarge = (limit) => invalid(`511: Metadata attribute size exceeds ${limit} limit.`, 511);
  for (const [k, v] of Object.entries(data)) {
    if (overBytes(k, LIMITS.metadataKeyBytes)) throw tooLarge(LIMITS.metadataKeyBytes);
    if (overBytes(JSON.stringify(v), LIMITS.metadataValueBytes)) throw tooLarge(LIMITS.metadataValueBytes);
  }
  if (overBytes(metadata, LIMITS.metadataBytes)) throw tooLarge(LIMITS.metadataBytes);
  return [userIds, metadata];
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const isEmptyObject = (v) => isObject(v) && Object.keys(v).length === 0;

function parsed(json) {
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}

export function checkMemoryValue(json) {
  if (json === "null") throw invalid("InvalidRequest: The value can't be nil.");
  const max = LIMITS.memoryValueBytes;
  if (!overBytes(json, max)) return;
  const size = utf8Length(json);
  throw invalid(`ItemValueSizeTooLarge: The value is ${size} bytes, over the ${max} limit.`);
}

/** A MemoryStore expiration (also a lock's TTL) in seconds → milliseconds. */
export function expirationMs(seconds) {
  const max = LIMITS.maxExpirationSeconds;
  if (!(seconds >= 0 && seconds <= max)) {
    throw invalid(`InvalidExpirationTime: The expiration time must be between 0 and ${max} seconds.`);
  }
  return Math.round(seconds * 1000);
}

export function checkPriority(priority) {
  if (!Number.isFinite(priority)) throw invalid("InvalidRequest: The priority must be a finite number.");
}

/** A queue read's count and invisibility timeout; gives the timeout in milliseconds. */
export function checkRead(count, invisibilitySeconds) {
  if (!Number.isInteger(count)) throw invalid(`The count must be an integer (got ${count}).`);
  const most = LIMITS.maxQueueRead;
  if (count < 1 || count > most) throw invalid(`InvalidRequest: The count must be between 1 and ${most}.`);
  const max = LIMITS.maxExpirationSeconds;
  if (!(invisibilitySeconds >= 0 && invisibilitySeconds <= max)) {
    throw invalid(`InvalidRequest: The invisibility timeout must be between 0 and ${max} seconds.`);
  }
  return Math.round(invisibilitySeconds * 1000);
}

// ---- versions -------------------------------------------------------------------------------

/** .NET ticks (100 ns since 0001-01-01) at the Unix epoch. */
const TICKS_AT_UNIX_EPOCH = 621_355_968_000_000_000n;
const ticks = (ms) => (TICKS_AT_UNIX_EPOCH + BigInt(ms) * 10_000n).toString(16).toUpperCase().padStart(16, "0");

/**
 * A Roblox-shaped version id, as the emulator makes them
 * (`08DBB6A47FDE6132.0000000016.08DBB782CEE11766.01`: creation time in ticks, the key's write
 * count, this write's time in ticks). Opaque to callers; increasing from one write of a key to
 * the next, as long as the write count is.
 */
export function versionId(createdMs, writes, updatedMs) {
  return `${ticks(createdMs)}.${String(writes).padStart(10, "0")}.${ticks(updatedMs)}.01`;
}

// ---- waiting --------------------------------------------------------------------------------

/**
 * Timed waits on a clock that can be cut short: `wake(key)` ends the waits on that key (a queue
 * that just got an item), `cancelAll()` ends every wait (the store is closing).
 */
class Waits {
  #clock;
  #pending = new Set();

  /** @param {{ now(): number, setTimeout?: Function, clearTimeout?: Function }} clock */
  constructor(clock) {
    this.#clock = clock;
  }

  /** Resolves after `ms`, or earlier on `wake(key)`, `cancelAll()` or `signal`'s abort. */
  wait(ms, key, signal) {
    return new Promise((resolve) => {
      const clock = this.#clock;
      const own = typeof clock.setTimeout === "function";
      const entry = { key, resolve: () => done() };
      const timer = own ? clock.setTimeout(() => done(), ms) : globalThis.setTimeout(() => done(), ms);
      const done = () => {
        if (!this.#pending.delete(entry)) return;
        if (own) clock.clearTimeout?.(timer);
        else globalThis.clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      this.#pending.add(entry);
      signal?.addEventListener("abort", done);
    });
  }

  wake(key) {
    for (const entry of [...this.#pending]) if (entry.key === key) entry.resolve();
  }

  cancelAll() {
    for (const entry of [...this.#pending]) entry.resolve();
  }
}

/**
 * `queueRead`'s long poll: reads at once, then again every `intervalMs` (or when woken) until
 * items come or `waitSeconds` has passed on the clock (`-1`: until items come). A read that
 * fails rejects at once. Ends with `undefined` when the store closes or `signal` aborts (the
 * module no longer wants the items: its session closed).
 * @param {{ readOnce: () => Promise<any>, waitSeconds: number, intervalMs: number, waits: Waits,
 *   clock: { now(): number }, key: string, closed: () => boolean, signal?: AbortSignal }} poll
 */
async function longPoll({ readOnce, waitSeconds, intervalMs, waits, clock, key, closed, signal }) {
  const deadline = waitSeconds < 0 ? Infinity : clock.now() + waitSeconds * 1000;
  const over = () => closed() || signal?.aborted === true;
  if (over()) return undefined;
  for (;;) {
    const got = await readOnce();
    if (got !== undefined) return got;
    const left = deadline - clock.now();
    if (left <= 0 || over()) return undefined;
    await waits.wait(Math.min(intervalMs, left), key, signal);
    if (over()) return undefined;
  }
}

/**
 * A store's waiting `queueRead`s. `read(queue, waitSeconds, readOnce)` is one read's long poll
 * (`longPoll`); `wake(queue)` makes that queue's polls look again at once (an item was added
 * through this store; other servers' items are seen at the next look, every `intervalMs`);
 * `cancelAll()` ends every poll with `undefined` (the store is closing). `closed` is the
 * store's own flag, read at each turn of every poll.
 */
export class QueuePolls {
  #waits;
  #clock;
  #intervalMs;
  #closed;

  /**
   * @param {{ store: string, intervalMs?: number, clock?: { now(): number, setTimeout?: Function,
   *   clearTimeout?: Function }, closed: () => boolean }} options `intervalMs` is the store's
   *   `pollMs` option (a TypeError naming `store` unless it is a positive number; default 2000,
   *   Roblox's cadence); `clock` the store's (default the machine's)
   */
  constructor({ store, intervalMs = POLL_MS, clock = realClock, closed }) {
    if (!(Number.isFinite(intervalMs) && intervalMs > 0)) {
      throw new TypeError(`${store}: pollMs must be a positive number`);
    }
    this.#waits = new Waits(clock);
    this.#clock = clock;
    this.#intervalMs = intervalMs;
    this.#closed = closed;
  }

  /**
   * Reads at once, then looks again until items come, `waitSeconds` has passed or `signal` (an
   * optional `AbortSignal`) aborts.
   */
  read(queue, waitSeconds, readOnce, signal) {
    return longPoll({
      readOnce,
      waitSeconds,
      intervalMs: this.#intervalMs,
      waits: this.#waits,
      clock: this.#clock,
      key: queue,
      closed: this.#closed,
      signal: signal ?? undefined,
    });
  }

  wake(queue) {
    this.#waits.wake(queue);
  }

  cancelAll() {
    this.#waits.cancelAll();
  }
}

/** The rejection for a call on a closed store. */
export function closedError(store) {
  return new StoreError("Closed", `${store}: the store is closed`);
}

// ---- optional packages ------------------------------------------------------------------------

/**
 * An optional npm package, loaded on first use: `load` is `() => import("name")` (a literal
 * specifier, which bundlers see and leave external). A package that cannot be loaded rejects
 * with `Unavailable`, saying which store (`needer`, e.g. "RedisStore with { url }") needs it and
 * how to install it.
 */
export async function loadOptional(load, name, needer) {
  try {
    return await load();
  } catch (cause) {
    throw new StoreError(
      "Unavailable",
      `${needer} needs the npm package ${name}, which could not be loaded: install it with \`npm install ${name}\``,
      { cause },
    );
  }
}

// ---- lifecycle and reports --------------------------------------------------------------------

/**
 * Who hears what a store sees on its own, outside any call (a client's connection error, a
 * reconnect): `observe(listener)` on a store adds one (a module with a `logger` or `onEvent`
 * adds itself), and gives the function that removes it. A listener that throws is ignored.
 */
export class Listeners {
  #listeners = new Set();

  add(listener) {
    if (typeof listener !== "function") throw new TypeError("observe: the listener must be a function");
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  tell(type, fields) {
    for (const listener of this.#listeners) {
      try {
        listener(type, fields);
      } catch {
        // A listener's failure is its own.
      }
    }
  }
}

/** Rows (entries) one sweep deletes at most of each kind. */
export const SWEEP_BATCH = 500;
/** How long a background sweep goes on while it finds full batches (a backlog). */
const SWEEP_BUDGET_MS = 5_000;

/**
 * Paces a store's background sweeps: `maybe()` (after each command) starts one when the last
 * started `everyMs` ago (0: never), never two at once; one goes on at once while its
 * `sweep()` deletes a full batch of anything, for up to `SWEEP_BUDGET_MS`, so rows expiring
 * faster than a batch per `everyMs` cannot pile up. A failed sweep waits for the next.
 */
export class Sweeps {
  #store;
  #everyMs;
  #sweep;
  #closed;
  #next = 0;
  #running = null;

  /** @param {{ store: string, everyMs: number, sweep: () => Promise<Record<string, number>>,
   *   closed: () => boolean }} options */
  constructor({ store, everyMs, sweep, closed }) {
    if (!(Number.isFinite(everyMs) && everyMs >= 0)) {
      throw new TypeError(`${store}: sweepMs must be 0 (no background sweeps) or a positive number`);
    }
    this.#store = store;
    this.#everyMs = everyMs;
    this.#sweep = sweep;
    this.#closed = closed;
  }

  /** The sweep running, if any (a store's `close()` may wait for it). */
  get running() {
    return this.#running;
  }

  maybe() {
    if (this.#everyMs === 0 || this.#running || this.#closed()) return;
    const now = Date.now(); // only paces this process's sweeps; never compared with data
    if (now < this.#next) return;
    this.#next = now + this.#everyMs;
    this.#running = this.#backlog()
      .catch(() => {}) // the next one tries again
      .finally(() => (this.#running = null));
  }

  async #backlog() {
    const until = Date.now() + SWEEP_BUDGET_MS;
    for (;;) {
      const deleted = await this.#sweep();
      if (Math.max(...Object.values(deleted)) < SWEEP_BATCH || Date.now() >= until || this.#closed()) return;
    }
  }
}

/** A connection URL with its password hidden, for messages. */
export function redact(url) {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(a URL that cannot be parsed)";
  }
}

/** How long `connect()` and `ping()` wait for a server that does not answer. */
export const CONNECT_TIMEOUT_MS = 10_000;

/**
 * `work`, or a Transient StoreError `message` once `ms` have passed without an answer (the work
 * goes on; its answer is then ignored).
 */
export function withTimeout(work, ms, message) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new StoreError("Transient", message)), ms);
    timer.unref?.();
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** Runs `check` and resolves with how long it took, in milliseconds (`ping()`). */
export async function timed(check) {
  const start = performance.now();
  await check();
  return performance.now() - start;
}
