/**
 * datastore-module: session-locked player data on a Rust/wasm core, with the same names as
 * Suphi's DataStore Module (Luau) so roblox-ts code ports with `await` added.
 */

/** Settings of the original's compression format (`Metadata.Compress`). */
export interface CompressOptions {
  /** `2` (the default) writes arrays compactly; any other value writes every table as pairs. */
  Level?: number;
  /**
   * Decimal places kept for non-integer numbers (the scale is `10 ^ Decimals`). Default 3. Any
   * finite number, or a string Luau reads as one (`"3"`), as the original takes it; a fraction
   * the setting cannot carry (the scale overflows, or the digits would change) is refused with
   * its path.
   */
  Decimals?: number | string;
  /** `true` (the default) replaces DEL (U+007F) in strings with a space; otherwise such strings are rejected. */
  Safety?: boolean;
}

/**
 * Encodes a value in the original module's compression text format: byte for byte what
 * Roblox servers running the original write. Throws an `Error` naming the path of any value a
 * DataStore cannot hold (NaN, ±Infinity, functions, symbols, BigInt, cycles, holes or
 * `null`/`undefined` inside arrays, arrays with named properties, unpaired surrogates, class
 * instances). Nothing is changed on the way: `[]` comes back as `[]`, `{}` as `{}`, -0 as -0.
 */
export function compress(value: unknown, options?: CompressOptions): string;

/**
 * Decodes the original's compression text. A table whose keys are exactly 1..n becomes an
 * array; other tables become objects (number keys turn into their Luau `tostring` text); empty
 * input gives `undefined`. Throws an `Error` naming the byte offset on corrupt input, and on
 * text cut short (a table or string without its closing DEL), where the original returned the
 * part it had read; never traps.
 */
export function decompress(text: string, options?: Pick<CompressOptions, "Decimals">): unknown;

// ---- time ------------------------------------------------------------------------------------

/**
 * Where a module and its store read the time and set their timers. `createModule` and
 * `MemoryStore` throw a `TypeError` for anything else.
 */
export interface Clock {
  /** Milliseconds (Unix time for the real clock). */
  now(): number;
  /**
   * Optional, with `clearTimeout` (both or neither): timers on this clock. Without them, the
   * module and the store wait on the global timers, in real time.
   */
  setTimeout?(fn: (...args: any[]) => void, ms?: number, ...args: any[]): unknown;
  clearTimeout?(id: unknown): void;
}

/** The machine's clock (`Date.now()`) and the global timers. */
export const realClock: Required<Clock>;

/**
 * A clock that moves only when told to: the test clock. Give the same one to a module and a
 * `MemoryStore` and hours of saves, lock refreshes and expiry run in milliseconds.
 */
export class ManualClock implements Required<Clock> {
  /** @param startMs what `now()` gives before any `advance` (default 0) */
  constructor(startMs?: number);
  now(): number;
  setTimeout(fn: (...args: any[]) => void, ms?: number, ...args: any[]): number;
  clearTimeout(id: number): void;
  /** Timers set and not yet run or cleared. */
  readonly pendingTimers: number;
  /**
   * Moves time forward by `ms`, running every timer due on the way in time order (ties in the
   * order set), and letting the promise work each one starts settle before the next and before
   * returning. Concurrent calls take turns.
   */
  advance(ms: number): Promise<void>;
}

// ---- stores ----------------------------------------------------------------------------------

/** Why a store request failed. Decide retries from `kind` (or `retryable`), never the message. */
export type StoreErrorKind =
  | "Transient"
  | "Throttled"
  | "InvalidRequest"
  | "Fenced"
  | "Conflict"
  | "OverQuota"
  | "ShuttingDown"
  | "Closed"
  | "Unavailable";

/** Every store rejects with this. */
export class StoreError extends Error {
  constructor(kind: StoreErrorKind, message: string, options?: { code?: number; cause?: unknown });
  readonly name: "StoreError";
  readonly kind: StoreErrorKind;
  /** Roblox's DataStore error code, where it has one (MemoryStore). */
  readonly code?: number;
  /** Whether sending the same request again may succeed (Transient, Throttled, Conflict, OverQuota). */
  readonly retryable: boolean;
}

/** A stored DataStore value with its key info. JSON fields are JSON text, never parsed by a store. */
export interface StoredEntry {
  /** The value, as JSON text. */
  value: string;
  /** When the key was created (a write after a remove creates it anew), ms since the epoch. */
  createdTime: number;
  /** When this version was written, ms since the epoch. */
  updatedTime: number;
  /** Opaque and Roblox-shaped; greater (as a string) for each later write of the key. */
  version: string;
  /** The user ids, as a JSON array. */
  userIds: string;
  /** The metadata, as a JSON object. */
  metadata: string;
}

/**
 * A lock command's answer: written; someone holds the entry (their UniqueId); or (a refresh
 * only) the entry is gone or not of the refresh's acquisition, so the lease lapsed and nothing
 * was written.
 */
export type LockResult = { ok: true } | { ok: false; holder: string } | { ok: false; lapsed: true };

/**
 * Carried by a fenced data write: the sending session's UniqueId, its acquisition token
 * and its write sequence number.
 */
export interface Fence {
  owner: string;
  /** Whole number, 0 to 2^53 - 1. */
  token: number;
  /** Whole number, 0 to 2^53 - 1; grows with every write try of the session. */
  seq: number;
}

/**
 * What `queueRead` uses of the `AbortSignal` the module passes (declared here so that the typings
 * need neither the DOM library nor Node's types).
 */
export interface QueueReadSignal {
  readonly aborted: boolean;
  addEventListener(type: "abort", listener: () => void): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

export interface QueueRead {
  /** The items read, each as JSON text, higher priority first, then in the order added. */
  values: string[];
  /** Acknowledges this read with `queueRemove`. */
  readId: string;
}

/**
 * The storage commands the module's driver sends (the package's stores/README.md has the full
 * contract). Values, user ids and metadata travel as JSON text. The driver survives a store
 * that breaks the contract: a call that throws, rejects with anything, never settles or resolves
 * with the wrong shape is a failed try of that command (a `StoreError`'s `retryable` says whether
 * to try again; for anything else the message decides).
 */
export interface Store {
  /** The latest value and key info; `undefined` when the key is missing or removed. */
  dataGet(name: string, scope: string, key: string): Promise<StoredEntry | undefined>;
  /**
   * Writes a new version (user ids and metadata replace the stored ones) and returns its
   * version id. With a `fence` it applies only while the lock entry of map
   * `${name}/${scope}/${key}` is live, is `fence.owner`'s and of the acquisition of
   * `fence.token`, and no write of that acquisition with a `seq` as large has landed on the key;
   * else it rejects with kind `"Fenced"` and changes nothing. On applying, the fence becomes the
   * key's mark (kept across removes).
   */
  dataSet(
    name: string,
    scope: string,
    key: string,
    value: string,
    userIds: string,
    metadata: string,
    fence: Fence | null,
  ): Promise<string>;
  /** Removes the key (nothing if missing); fenced like `dataSet`. */
  dataRemove(name: string, scope: string, key: string, fence: Fence | null): Promise<void>;
  /**
   * The lock entry `"Id"` of sorted map `map` (value `owner`, sort key `token`), by the table
   * in the package's stores/README.md. A new acquisition (`renew` false): free, or `owner`'s with a
   * token ≤ `token` → written, expiring in `ttlSeconds`; else the holder. A refresh (`renew`
   * true, `held` the token last known written): `owner`'s with a token from `held` to `token`
   * → written; someone else's → the holder; absent or any other token → lapsed, nothing written.
   */
  lockAcquire(
    map: string,
    owner: string,
    ttlSeconds: number,
    token: number,
    renew: boolean,
    held?: number | null,
  ): Promise<LockResult>;
  /**
   * Optional (RedisStore has it): a new acquisition, as `lockAcquire(map, owner, ttlSeconds,
   * token, false)`, that when it writes also reads the data key after the write, in the same
   * atomic step, and answers what `dataGet(name, scope, key)` would as `entry`. `map` is
   * `${name}/${scope}/${key}`. A fencing store that has it saves each `Open` a round trip.
   */
  lockAcquireAndGet?(
    map: string,
    owner: string,
    ttlSeconds: number,
    token: number,
    name: string,
    scope: string,
    key: string,
  ): Promise<{ ok: true; entry: StoredEntry | undefined } | { ok: false; holder: string }>;
  /** Deletes the lock if it is `owner`'s and of the acquisition of `token`; otherwise nothing. */
  lockRelease(map: string, owner: string, token: number): Promise<void>;
  /** Adds an item living `expirationSeconds` (0–3,888,000); higher `priority` is read first. */
  queueAdd(queue: string, value: string, expirationSeconds: number, priority: number): Promise<void>;
  /**
   * Up to `count` (1–100) visible items, hidden for `invisibilitySeconds` under the returned read
   * id; `undefined` when none (or, with `allOrNothing`, fewer than `count`). `waitSeconds` > 0
   * keeps looking that long (-1: until items come); 0 reads once. When `signal` aborts (the
   * session no longer wants the items) the read looks no more and gives `undefined`.
   */
  queueRead(
    queue: string,
    count: number,
    allOrNothing: boolean,
    waitSeconds: number,
    invisibilitySeconds: number,
    signal?: QueueReadSignal,
  ): Promise<QueueRead | undefined>;
  /** Deletes a read's items while they are still hidden; afterwards does nothing. */
  queueRemove(queue: string, readId: string): Promise<void>;
  /** Ends waiting reads (they resolve `undefined`); later calls reject with kind `"Closed"`. */
  close(): Promise<void>;
  /**
   * Optional (every built-in store has it): connects now rather than at the first command, and
   * rejects with a `StoreError` whose message names the server when it cannot.
   */
  connect?(): Promise<void>;
  /** Optional (every built-in store has it): one round trip to the storage; its milliseconds. */
  ping?(): Promise<number>;
  /**
   * Optional: adds a listener for what the store sees outside any call (its own client's
   * errors and reconnects); gives the function that removes it. A module with a `logger` or
   * `onEvent` adds itself.
   */
  observe?(listener: StoreListener): () => void;
  /**
   * Optional (LmdbStore): how many operations the store has in native threads, which Node's
   * exit waits for. A module's signal handling gives them 2 s, then ends the process by the
   * signal instead of `process.exit` while any are left (one may never finish).
   */
  unfinished?(): number;
}

/** What a store reports on its own: `"store.clientError"` (`error`) or `"store.connection"` (`state`). */
export type StoreListener = (
  type: "store.clientError" | "store.connection",
  fields: { store: string; url?: string; error?: string; state?: "ready" | "reconnecting" | "end" },
) => void;

/** What every built-in store adds to `Store`: connecting, and a round trip. */
export interface StoreLifecycle extends Store {
  /**
   * Connects (or opens) now, rather than at the first command. Rejects with a `StoreError`
   * naming the server or path (a password hidden): `Unavailable` for a URL or setting that cannot
   * work or a missing npm package, `Transient` for a server that refuses or does not answer
   * within 10 s. Optional; calling it again after a failure tries again.
   */
  connect(): Promise<void>;
  /** One round trip to the storage (`PING`, `SELECT 1`, a read); resolves with its milliseconds. */
  ping(): Promise<number>;
}

/** Fault settings of one kind of request (probabilities in 0..1). */
export interface OpFaults {
  /** A 502 / InternalError; nothing applied. */
  transient?: number;
  /** Applied, yet reported as a Transient failure (writes only). */
  ambiguous?: number;
  /** Refused as throttled. */
  throttle?: number;
  /** An UpdateAsync transform runs twice. */
  rerun?: number;
  /** A MemoryStore UpdateAsync gives up with UpdateConflict. */
  conflict?: number;
  /** Reply latency: one number, or `[min, max]` (uniform). */
  latencyMs?: number | [number, number];
  spike?: number;
  spikeMs?: number;
}

/** The emulator's request kinds. The lock commands are `mapUpdate`. */
export type EmulatorOp =
  | "dataGet"
  | "dataSet"
  | "dataUpdate"
  | "dataRemove"
  | "mapGet"
  | "mapSet"
  | "mapUpdate"
  | "mapRemove"
  | "mapGetRange"
  | "mapGetSize"
  | "queueAdd"
  | "queueRead"
  | "queueRemove"
  | "queueGetSize";

/** Faults for every kind (the top-level fields), per kind (`ops`), and outage windows. */
export interface FaultOptions extends OpFaults {
  ops?: Partial<Record<EmulatorOp, OpFaults>>;
  /** During `[startMs, endMs)` on the store's clock every listed kind (default: all) fails. */
  outages?: { startMs: number; endMs: number; ops?: EmulatorOp[] }[];
}

/**
 * Roblox's DataStore and MemoryStore, emulated in the package's wasm: Roblox's limits, KeyInfo,
 * TTLs, queue invisibility, fencing, and injectable faults delivered on `clock`. Works in browsers.
 */
export class MemoryStore implements Store {
  /**
   * Bad options throw, naming them: a `RangeError` for a number out of range (a probability
   * outside 0..1, a negative or fractional millisecond count, `latencyMs` `[min, max]` with
   * min > max, an outage ending before it starts, a seed that is not a whole number from 0 to
   * 2^53 - 1), a `TypeError` for the rest (wrong types, unknown settings or operation names).
   * @param options.seed seeds the fault dice and queue read ids (default 0)
   */
  constructor(options?: { clock?: Clock; faults?: FaultOptions | null; seed?: number });
  readonly clock: Clock;
  /** Replaces the fault settings (`null` for none; refused as the constructor refuses them); the seeded dice carry on. */
  setFaults(faults: FaultOptions | null): void;
}
/** Its `Store` methods, as that interface documents them, and `connect()`/`ping()`. */
export interface MemoryStore extends StoreLifecycle {}

/**
 * The embedded, durable store (npm `lmdb`, an optional dependency), safe for several processes
 * on one machine. Node only: in a browser the constructor throws `Unavailable`.
 */
export class LmdbStore implements Store {
  /**
   * @param options.path database directory (default `DATASTORE_PATH`, else `./.datastore`)
   * @param options.pollMs how often a waiting `queueRead` looks for items other processes added (default 2000)
   * @param options.sweepMs least time between two background sweeps by this store (default 60000; 0: none)
   */
  constructor(options?: { path?: string; pollMs?: number; sweepMs?: number });
  /** The database directory (absolute). */
  readonly path: string;
  /**
   * Deletes expired lock entries, expired queue items and tombstones removed 30 days ago, of the
   * next 5,000 entries of each database (at most 500 of each a call); resolves with how many went.
   */
  sweep(): Promise<{ locks: number; items: number; tombstones: number }>;
  /** Write transactions (and closes) handed to lmdb's threads and not finished (see `Store`). */
  unfinished(): number;
}
/** Its `Store` methods, as that interface documents them, and `connect()`/`ping()`. */
export interface LmdbStore extends StoreLifecycle {}

/**
 * The store for many machines (Redis 5+ or Redis Cluster; npm `redis` v4+ for `{ url }`). Node
 * only: in a browser the constructor throws `Unavailable`.
 */
export class RedisStore implements Store {
  /**
   * Exactly one of `url` (the store makes, and closes, its own node-redis client) or `client`
   * (yours, never closed by the store): a connected node-redis v4+ client or cluster
   * (`createClient`, `createCluster`), or an ioredis client or cluster (`new Redis()`,
   * `new Redis.Cluster()`).
   * @param options.prefix starts every key (default `"dsm"`)
   * @param options.pollMs how often a waiting `queueRead` looks for items other servers added (default 2000)
   */
  constructor(
    options:
      | { url: string; client?: never; prefix?: string; pollMs?: number }
      | { client: object; url?: never; prefix?: string; pollMs?: number },
  );
  /** Errors and reconnects of the store's own client (`{ url }`); a module with a logger adds itself. */
  observe(listener: StoreListener): () => void;
  /** `Store.lockAcquireAndGet`: one script takes the lock and reads the record. */
  lockAcquireAndGet: NonNullable<Store["lockAcquireAndGet"]>;
}
/** Its `Store` methods, as that interface documents them, and `connect()`/`ping()`. */
export interface RedisStore extends StoreLifecycle {}

/**
 * The durable store for many machines: PostgreSQL 12+ (and Postgres-compatible engines), through
 * npm `pg` (node-postgres, an optional peer; needed for `{ connectionString }`). Every time it
 * uses is the database server's. Node only: in a browser the constructor throws `Unavailable`.
 */
export class PostgresStore implements Store {
  /**
   * Exactly one of `connectionString` (the store makes, and ends, its own `pg.Pool` of
   * `poolSize` connections, default 10) or `pool` (a `pg.Pool` you own, with an `error`
   * listener; never ended by the store).
   * @param options.prefix starts every table name (default `"dsm"`: `dsm_data`, `dsm_locks`,
   *   `dsm_queue`, `dsm_schema`): a lower-case SQL name
   * @param options.pollMs how often a waiting `queueRead` looks for items other servers added (default 2000)
   * @param options.sweepMs least time between two background sweeps by this store (default 60000; 0: none)
   */
  constructor(
    options:
      | {
          connectionString: string;
          pool?: never;
          poolSize?: number;
          prefix?: string;
          pollMs?: number;
          sweepMs?: number;
        }
      | { pool: object; connectionString?: never; prefix?: string; pollMs?: number; sweepMs?: number },
  );
  /**
   * Creates the tables, or brings them to this package's schema version, and resolves with the
   * version. Optional: the first command does the same.
   */
  migrate(): Promise<number>;
  /**
   * Deletes expired lock rows, expired queue items and tombstones older than 30 days (at most 500
   * of each a call, skipping rows another transaction holds); resolves with how many went.
   */
  sweep(): Promise<{ locks: number; items: number; tombstones: number }>;
  /** Errors of the store's own pool's idle connections; a module with a logger adds itself. */
  observe(listener: StoreListener): () => void;
}
/** Its `Store` methods, as that interface documents them, and `connect()`/`ping()`. */
export interface PostgresStore extends StoreLifecycle {}

// ---- the module ------------------------------------------------------------------------------

export * from "./module.js";
import type { DataStoreModule as Module, Logger, ModuleEvent, ShutdownContext, Signal as SignalOf } from "./module.js";

/** `DataStoreModule.configure`'s options; anything else throws a `TypeError`. */
export interface DefaultModuleOptions {
  /** The LMDB directory (default `DATASTORE_PATH`, else `./.datastore`). */
  path?: string;
  /**
   * Close every session on SIGINT/SIGTERM, run `onShutdown`, then exit (130 or 143, at the
   * latest 30 s after the signal). Default true. `false` leaves signals to the application,
   * which then calls `BindToClose()` in its own shutdown.
   */
  handleSignals?: boolean;
  /** The application's clean-up, run after the sessions closed and before the exit. */
  onShutdown?: (context: ShutdownContext) => void | Promise<void>;
  logger?: Logger;
  onEvent?: (event: ModuleEvent) => void;
}

/** The default module's shape: a module, and `configure` for before its first use. */
export interface DefaultModule extends Module {
  /**
   * Sets options before the module is made (at the first `new`, `hidden`, `find`, `BindToClose`
   * or `stats`); later calls merge into earlier ones. Throws an `Error` once the module exists.
   */
  configure(options: DefaultModuleOptions): void;
}

/**
 * The default module: one "server" on the embedded store (`LmdbStore` at `DATASTORE_PATH` or
 * `./.datastore`), created on first use, with bind-to-close on SIGINT/SIGTERM (see
 * `configure`). Node only; in a browser use `createModule({ store: new MemoryStore() })`.
 */
declare const DataStoreModule: DefaultModule;
export default DataStoreModule;

/**
 * The signals' class. `Signal.onError` receives the failures of handlers of modules that have
 * no `logger` or `onEvent` (default: `console.error`); replace it to send them elsewhere.
 */
export declare const Signal: {
  onError: (error: unknown) => void;
};
/** A session's signal (as module.d.ts declares it). */
export type Signal<Args extends unknown[]> = SignalOf<Args>;
