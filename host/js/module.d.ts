/**
 * The module API: the original DataStore Module's names, with `await` added. Code written for
 * the original's roblox-ts typings ports by awaiting the methods.
 *
 * Misuse, one contract: an argument of the wrong *type* throws a `TypeError` at once, where the
 * original raises (a method called on something that is not a DataStore, Queue's expiration or
 * priority not nil or a number, Remove's id not a string, a property set to the wrong type; a
 * number out of range throws a `RangeError`). A *value* that cannot be stored (NaN, ±Infinity,
 * a function, a cycle, ...) as Open's or Read's template or as Queue's value throws nothing: the
 * call answers `["Error", message]`, the message naming the path (`template.a[1]: a function
 * cannot be stored`). Every returned promise resolves (none rejects), whatever the store does:
 * a store call that throws, rejects, hangs or answers the wrong shape is a failed try, and the
 * call answers `"Error"` after its tries (3, each within 15 s for data and 10 s for locks and
 * queues).
 */

/** The `Response` enum: the first element of every method's result. */
export declare const Response: Readonly<{
  Success: "Success";
  Saved: "Saved";
  Locked: "Locked";
  State: "State";
  Error: "Error";
}>;
export type Response = (typeof Response)[keyof typeof Response];

/** `State`: `true` open, `false` closed, `null` destroyed. */
export type SessionState = boolean | null;

/** Pending states reported in a `"State"` response. */
export type StateName = "Open" | "Closed" | "Closing" | "Destroyed" | "Destroying";

export type OpenResult =
  | [response: "Success", data: undefined]
  | [response: "Locked", uniqueIdOfTheHolder: string]
  | [response: "State", state: "Destroying" | "Destroyed"]
  | [response: "Error", message: string];
export type ReadResult =
  | [response: "Success", data: undefined]
  | [response: "State", state: "Open" | "Destroyed"]
  | [response: "Error", message: string];
export type SaveResult<T> =
  | [response: "Saved", value: T]
  | [response: "State", state: "Closed" | "Closing" | "Destroyed" | "Destroying"]
  | [response: "Error", message: string];
/** `Close()`/`Destroy()`: "Saved" when the save-on-close saved, "Error" when it failed. */
export type CloseResult<T> =
  [response: "Success", data: undefined] | [response: "Saved", value: T] | [response: "Error", message: string];
export type QueueResult = [response: "Success", data: undefined] | [response: "Error", message: string];

export interface Connection {
  /** Whether the connection is still attached. */
  readonly Connected: boolean;
  /** The signal, or `undefined` once disconnected. */
  readonly Signal: Signal<any[]> | undefined;
  Disconnect(): void;
}

/**
 * An event: handlers run synchronously, in connection order. A handler that throws, or an async
 * one whose promise rejects, is reported (to the module's `logger`/`onEvent` as a
 * `"handler.failed"` event when it has them, else to `Signal.onError`, by default
 * `console.error`) and affects nothing else (the original runs each handler in its own thread).
 */
export interface Signal<Args extends unknown[]> {
  /** Connections attached, pending `Wait()`s included. */
  readonly Connections: number;
  Connect(handler: (...args: Args) => void): Connection;
  Once(handler: (...args: Args) => void): Connection;
  /** Resolves with the arguments of the next firing. */
  Wait(): Promise<Args>;
  DisconnectAll(): void;
}

/**
 * A session: one `name/scope/key`, what `new`, `hidden` and `find` return. `T` is the value's
 * type; `Fields` the custom fields the application keeps on the session, as the original lets
 * it (`ds.Leaderstats = folder`): declare them, optional until set, and any other name is a type
 * error, so a typo such as `ds.Vaule` or `ds.SaveIntervall = 5` does not compile.
 *
 * ```ts
 * const ds = module.new<PlayerData, { Leaderstats?: Folder }>("Player", userId);
 * ds.Leaderstats = folder;
 * ```
 */
export type DataStore<T = unknown, Fields extends CustomFields<Fields> = {}> = DataStoreMembers<T, Fields> & Fields;

/**
 * Custom fields: any names but the session's own (a method or signal cannot be assigned, and a
 * property belongs to the session). A field named like one is typed `never`, so `Fields` with it
 * is refused.
 */
export type CustomFields<Fields> = {
  [Name in keyof Fields]: Name extends keyof DataStoreMembers ? never : Fields[Name];
};

/** What every session has: the original's properties, signals and methods. */
export interface DataStoreMembers<T = unknown, Fields extends CustomFields<Fields> = {}> {
  /** The live value: mutate it directly (`ds.Value.Coins += 1`). */
  Value: T | undefined;
  /** Key metadata; `Metadata.Compress = { Level, Decimals, Safety }` turns compression on. */
  Metadata: Record<string, unknown>;
  UserIds: number[];
  /** Seconds between auto-saves: 0 (off) or 10..1000. Default 30. */
  SaveInterval: number;
  /** Minimum seconds between saves: 0..10. Default 0. */
  SaveDelay: number;
  /** Seconds between lock refreshes: 10..1000. Default 60. */
  LockInterval: number;
  /** Failed refreshes before the session closes: an integer 1..100. Default 5. */
  LockAttempts: number;
  /** Save when closed or destroyed. Default true. */
  SaveOnClose: boolean;

  /** `"name/scope/key"`. */
  readonly Id: string;
  /** This session's lock owner id (upper-case 8-4-4-4-12). */
  readonly UniqueId: string;
  /** The key as passed (a number stays a number). */
  readonly Key: string | number;
  readonly State: SessionState;
  readonly Hidden: boolean;
  readonly AttemptsRemaining: number;
  /** Milliseconds since the epoch, from the last load. */
  readonly CreatedTime: number;
  readonly UpdatedTime: number;
  readonly Version: string;
  /** The original's compression text of the last compressed save, load or `Usage()`. */
  readonly CompressedValue: string;

  readonly StateChanged: Signal<[state: SessionState, dataStore: DataStore<T, Fields>]>;
  readonly Saving: Signal<[value: T | undefined, dataStore: DataStore<T, Fields>]>;
  readonly Saved: Signal<[response: "Saved" | "Error", responseData: unknown, dataStore: DataStore<T, Fields>]>;
  readonly AttemptsChanged: Signal<[attemptsRemaining: number, dataStore: DataStore<T, Fields>]>;
  readonly ProcessQueue: Signal<[id: string, values: unknown[], dataStore: DataStore<T, Fields>]>;

  /**
   * Locks the key and loads it; `template` fills what the value lacks. A template that cannot
   * be stored answers `["Error", message]`.
   */
  Open(template?: T): Promise<OpenResult>;
  /** Loads the value without locking. A template that cannot be stored answers `["Error", message]`. */
  Read(template?: T): Promise<ReadResult>;
  Save(): Promise<SaveResult<T | undefined>>;
  Close(): Promise<CloseResult<T | undefined>>;
  Destroy(): Promise<CloseResult<T | undefined>>;
  /**
   * Sends `value` to the session's owner (its `ProcessQueue`). Expiration in seconds (default 7
   * days, at most 3,888,000). Throws a `TypeError` if `expiration` or `priority` is neither
   * undefined/null nor a number; a value that cannot be stored (or none), a NaN or out-of-range
   * expiration and a non-finite priority answer `["Error", message]`.
   */
  Queue(value: unknown, expiration?: number | null, priority?: number | null): Promise<QueueResult>;
  /** Acknowledges a `ProcessQueue` batch by its id. Throws a `TypeError` if `id` is not a string. */
  Remove(id: string): Promise<QueueResult>;
  /** A deep copy of `Value`. Synchronous: throws an `Error` naming the path if `Value` cannot be stored. */
  Clone(): T | undefined;
  /**
   * Fills what `Value` lacks from `template`, in place, reading only the template's keys of
   * `Value` (as the original does). Throws like `Clone` if `template` cannot be stored.
   */
  Reconcile(template: T): void;
  /** `[characters, fraction of the 4 MB limit]`. Throws like `Clone` for what cannot be stored. */
  Usage(): [characters: number, fraction: number];
}

/** One server's worth of sessions. */
export interface DataStoreModule {
  "new"<T = unknown, Fields extends CustomFields<Fields> = {}>(
    name: string,
    key: string | number,
  ): DataStore<T, Fields>;
  "new"<T = unknown, Fields extends CustomFields<Fields> = {}>(
    name: string,
    scope: string,
    key: string | number,
  ): DataStore<T, Fields>;
  hidden<T = unknown, Fields extends CustomFields<Fields> = {}>(
    name: string,
    key: string | number,
  ): DataStore<T, Fields>;
  hidden<T = unknown, Fields extends CustomFields<Fields> = {}>(
    name: string,
    scope: string,
    key: string | number,
  ): DataStore<T, Fields>;
  find<T = unknown, Fields extends CustomFields<Fields> = {}>(
    name: string,
    key: string | number,
  ): DataStore<T, Fields> | undefined;
  find<T = unknown, Fields extends CustomFields<Fields> = {}>(
    name: string,
    scope: string,
    key: string | number,
  ): DataStore<T, Fields> | undefined;
  readonly Response: typeof Response;
  /**
   * Saves, unlocks and destroys every session, within 25 s (what is not done by then answers
   * `"Error"`; its lock expires on its own). Every call resolves, also one made while another
   * runs or after (it covers sessions opened since), with the report of the shutdown so far.
   */
  BindToClose(): Promise<ShutdownReport>;
  /** The sessions this module holds and has not destroyed, open or not. */
  sessions(): SessionInfo[];
  /** Counters since the module was made (a fresh object each call). */
  stats(): ModuleStats;
}

/** One entry of `sessions()`. */
export interface SessionInfo {
  /** `"name/scope/key"`. */
  id: string;
  name: string;
  scope: string;
  /** As passed (a number stays a number). */
  key: string | number;
  /** `"open"` while the session holds its lock (`State === true`), else `"closed"`. */
  state: "open" | "closed";
  hidden: boolean;
  /** The session's lock owner id. */
  uniqueId: string;
}

/** Calls, failures and wall-clock milliseconds of one kind of store command. */
export interface CommandLatency {
  count: number;
  failures: number;
  totalMs: number;
  maxMs: number;
}

/** `stats()`: what the module has seen since it was made. */
export interface ModuleStats {
  /** Sessions held and not destroyed. */
  sessions: number;
  /** Of those, the ones open (holding their lock). */
  open: number;
  /** Saves that wrote the store. */
  saves: number;
  /** `Saved` events with `"Error"` (each after its tries). */
  saveFailures: number;
  /** Saves answered without a write: nothing changed since the last one. */
  savesSkipped: number;
  /** Data writes the store refused because the session no longer held the lock. */
  fenced: number;
  storeCalls: number;
  storeFailures: number;
  /** Store calls sent again for the same target after its last call failed. */
  retries: number;
  /** Lock refreshes that found the lease lapsed or the lock taken (the session then closes). */
  locksLost: number;
  /** Queue items handed to `ProcessQueue` handlers. */
  queueItemsDelivered: number;
  /** Signal handlers that threw. */
  handlerErrors: number;
  /** Per store command kind (`DataGet`, `DataSet`, `DataRemove`, `LockAcquire`, `LockAcquireAndGet`, `LockRelease`, `QueueAdd`, `QueueRead`, `QueueRemove`). */
  latency: Partial<Record<StoreCommand, CommandLatency>>;
}

/** `LockAcquireAndGet` is an `Open`'s lock and load in one call, on a store that offers it. */
export type StoreCommand =
  | "DataGet"
  | "DataSet"
  | "DataRemove"
  | "LockAcquire"
  | "LockAcquireAndGet"
  | "LockRelease"
  | "QueueAdd"
  | "QueueRead"
  | "QueueRemove";

/**
 * A pino-shaped logger: each level called as `(object, message)`. pino, and anything with these
 * four methods (a wrapper over `console`, winston through a shim), fits.
 */
export interface Logger {
  debug(object: object, message: string): void;
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

/**
 * What a module reports, to `onEvent` and (at the level in brackets) to `logger`. Every event
 * has `type` and `time` (ms since the epoch). The module only watches what it carries out: a
 * "retry" is a store call for the same target after that target's last call failed.
 */
export type ModuleEvent = { time: number } & (
  | {
      /** [warn] A store call failed (each try). */
      type: "store.failed";
      command: StoreCommand;
      /** `"DataSet Player/global/1"`: the command and what it acts on. */
      target: string;
      error: string;
      /** The `StoreError` kind, when it was one. */
      kind?: import("./index.js").StoreErrorKind;
      retryable?: boolean;
      /** 1 for the first try. */
      attempt: number;
    }
  | { /** [info] */ type: "store.retried"; command: StoreCommand; target: string; attempt: number }
  | {
      /** [warn] The store's own client reported an error outside any call (RedisStore, PostgresStore). */
      type: "store.clientError";
      store: string;
      url?: string;
      error: string;
    }
  | {
      /** [info] The store's own client connected, is reconnecting, or ended (RedisStore). */
      type: "store.connection";
      store: string;
      url?: string;
      state: "ready" | "reconnecting" | "end";
    }
  | {
      /** [warn] A lock refresh found the lease lapsed, or another holder: the session closes. */
      type: "lock.lost";
      /** The lock's map: the session's `"name/scope/key"`. */
      id: string;
      reason: "lapsed" | "taken";
      holder?: string;
    }
  | { /** [debug] */ type: "save.saved"; id: string }
  | { /** [debug] Nothing new to write. */ type: "save.skipped"; id: string }
  | {
      /** [error] A data write refused: the session no longer holds the lock (another server may). */
      type: "save.fenced";
      id: string;
      command: StoreCommand;
      error: string;
    }
  | { /** [warn] A save answered `"Error"` after its tries. */ type: "save.failed"; id: string; error: string }
  | { /** [debug] */ type: "queue.delivered"; id: string; batch: string; count: number }
  | {
      /** [error] A signal handler threw. */
      type: "handler.failed";
      id: string;
      signal: "StateChanged" | "Saving" | "Saved" | "AttemptsChanged" | "ProcessQueue";
      error: string;
    }
  | { /** [info] SIGINT/SIGTERM reached a `bindToClose` module. */ type: "shutdown.signal"; signal: string }
  | { /** [info] The first `BindToClose` of a shutdown. */ type: "shutdown.started"; sessions: number; open: number }
  | {
      /** [info] A session closed during shutdown. */ type: "shutdown.progress";
      id: string;
      closed: number;
      remaining: number;
    }
  | ({
      /** [info] Shutdown finished, with its report; `ms` on the module's clock. */ type: "shutdown.done";
      ms: number;
    } & ShutdownReport)
  | { /** [error] */ type: "shutdown.hookFailed"; signal: string; message: string; error: string }
  | {
      /**
       * [info] The process exits now: with `code`, or, when `unfinished` store operations are
       * still in native threads that Node's exit would wait for (an LMDB write waiting for a
       * stopped process's write lock), by the signal itself (or SIGKILL).
       */
      type: "shutdown.exit";
      signal: string;
      code: number;
      unfinished: number;
    }
  | { /** [warn] The clock or its timers misbehaved (once). */ type: "clock.broken"; message: string }
  | { /** [error] */ type: "driver.error"; command?: StoreCommand; message: string; error: string }
);

/** What the application's shutdown hook is given. */
export interface ShutdownContext {
  signal: "SIGINT" | "SIGTERM";
  /** This module's `BindToClose` report. */
  report: ShutdownReport;
}

/** What `BindToClose` did: sessions it closed, how many of them saved, and why the others did not. */
export interface ShutdownReport {
  closed: number;
  saved: number;
  /** Each session whose save or unlock failed: its `Id` and the message. */
  failed: { id: string; error: string }[];
}

/** `createModule`'s options; anything else throws a `TypeError` naming the field. */
export interface ModuleOptions {
  store: import("./index.js").Store;
  /**
   * Real time by default; a `ManualClock` in tests (share it with a `MemoryStore`). An object
   * with `now()`; with `setTimeout` and `clearTimeout` (both or neither) the module's timers run
   * on them, otherwise on the global timers. A reading that is not a finite number, throws, or
   * goes back counts as no time passing (the module warns once): calls still end at their
   * deadlines, which the module's timers measure.
   */
  clock?: import("./index.js").Clock;
  /**
   * Register bind-to-close on SIGINT/SIGTERM (Node). Default false. On the signal every module
   * made with it closes (as `BindToClose`, also after the application's own), then the process
   * exits with 130 (SIGINT) or 143 (SIGTERM), at the latest 30 s after the signal.
   */
  bindToClose?: boolean;
  /** Seeds retry jitter (for reproducible tests): a finite number. */
  seed?: number;
  /** Receives every event at its level (see `ModuleEvent`), as `logger.warn(event, message)`. */
  logger?: Logger;
  /** Receives every event. A hook or logger that throws is reported once, then ignored. */
  onEvent?: (event: ModuleEvent) => void;
  /**
   * With `bindToClose`: the application's own clean-up, run after the signal's `BindToClose`
   * (every session saved and unlocked) and before the process exits; still bounded by the 30 s
   * after the signal. A hook that throws or rejects is reported (`"shutdown.hookFailed"`).
   */
  onShutdown?: (context: ShutdownContext) => void | Promise<void>;
}

/**
 * An independent module: one "server". Two modules on one store behave like two servers.
 * Throws a `TypeError` naming the field for options it cannot use.
 */
export declare function createModule(options: ModuleOptions): DataStoreModule;
