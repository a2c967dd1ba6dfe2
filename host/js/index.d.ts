/**
 * datastore-module: session-locked player data on a Rust/wasm core, with the same names as
 * Suphi's DataStore Module (Luau) so roblox-ts code ports with `await` added.
 */

/** Settings of the original's compression format (`Metadata.Compress`). */
export interface CompressOptions {
  /** `2` (the default) writes arrays compactly; any other value writes every table as pairs. */
  Level?: number;
  /** Decimal places kept for non-integer numbers (the scale is `10 ^ Decimals`). Default 3. */
  Decimals?: number;
  /** `true` (the default) replaces DEL (U+007F) in strings with a space; otherwise such strings are rejected. */
  Safety?: boolean;
}

/**
 * Encodes a value in the original module's compression text format: byte for byte what
 * Roblox servers running the original write. Throws an `Error` naming the path of any value a
 * DataStore cannot hold (NaN, ±Infinity, functions, symbols, BigInt, cycles, holes or
 * `null`/`undefined` inside arrays, unpaired surrogates, class instances).
 */
export function compress(value: unknown, options?: CompressOptions): string;

/**
 * Decodes the original's compression text. A table whose keys are exactly 1..n becomes an
 * array; other tables become objects (number keys turn into their Luau `tostring` text); empty
 * input gives `undefined`. Throws an `Error` with a clear message on corrupt input; never traps.
 */
export function decompress(text: string, options?: Pick<CompressOptions, "Decimals">): unknown;

export * from "./module";
import type { Clock, DataStoreModule as Module } from "./module";

/**
 * The default module: one "server" on the embedded store (`LmdbStore` at `DATASTORE_PATH` or
 * `./.datastore`), created on first use, with bind-to-close on SIGINT/SIGTERM. Node only.
 */
declare const DataStoreModule: Module;
export default DataStoreModule;

/** Key info and value of a stored key; every field that holds data is JSON text. */
export interface StoredEntry {
  value: string;
  createdTime: number;
  updatedTime: number;
  version: string;
  userIds: string;
  metadata: string;
}

/**
 * What a module needs from storage (see host/js/stores/README.md). Values, metadata and user
 * ids travel as JSON text, so no store parses user data.
 */
export interface Store {
  /** Whether data writes are fenced by the lock owner (every built-in store: true). */
  readonly fencing?: boolean;
  dataGet(name: string, scope: string, key: string): Promise<StoredEntry | undefined>;
  dataSet(name: string, scope: string, key: string, value: string, userIds: string, metadata: string, fence: string | null): Promise<string>;
  dataRemove(name: string, scope: string, key: string, fence: string | null): Promise<void>;
  lockAcquire(map: string, owner: string, ttlSeconds: number): Promise<{ ok: true } | { ok: false; holder: string }>;
  lockRelease(map: string, owner: string): Promise<void>;
  queueAdd(queue: string, value: string, expirationSeconds: number, priority: number): Promise<void>;
  queueRead(queue: string, count: number, allOrNothing: boolean, waitSeconds: number, invisibilitySeconds: number): Promise<{ values: string[]; readId: string } | undefined>;
  queueRemove(queue: string, readId: string): Promise<void>;
  close(): Promise<void>;
}

/** A store's failure: `kind` is "Transient", "Throttled", "InvalidRequest", "Fenced", … */
export declare class StoreError extends Error {
  readonly kind: string;
}

/** Probabilities (0..1) and latencies (ms) of injected faults, per operation or for all. */
export interface FaultOptions {
  error?: number;
  ambiguous?: number;
  throttle?: number;
  latency?: [min: number, max: number] | number;
  [option: string]: unknown;
}

/** Roblox's DataStore and MemoryStore, emulated in memory (the Rust emulator, in wasm). */
export declare class MemoryStore implements Store {
  constructor(options?: { clock?: Clock; faults?: FaultOptions; seed?: number });
  dataGet: Store["dataGet"];
  dataSet: Store["dataSet"];
  dataRemove: Store["dataRemove"];
  lockAcquire: Store["lockAcquire"];
  lockRelease: Store["lockRelease"];
  queueAdd: Store["queueAdd"];
  queueRead: Store["queueRead"];
  queueRemove: Store["queueRemove"];
  close: Store["close"];
}

/** The embedded, durable store for one machine (several processes may share a path). Node only. */
export declare class LmdbStore extends MemoryStore {
  constructor(options?: { path?: string });
}

/** Redis, for many machines; every key of one session in one hash slot. Node only. */
export declare class RedisStore extends MemoryStore {
  constructor(options: { url?: string; client?: unknown });
}

/** A clock that moves only when told to: `advance` runs due timers in order and settles. */
export declare class ManualClock implements Clock {
  constructor(startMs?: number);
  now(): number;
  setTimeout(fn: () => void, ms: number): number;
  clearTimeout(handle: unknown): void;
  advance(ms: number): Promise<void>;
}

/** The machine's clock and timers. */
export declare const realClock: Clock;
