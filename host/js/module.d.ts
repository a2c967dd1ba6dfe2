/**
 * The module API: the original DataStore Module's names, with `await` added. Code written for
 * the original's roblox-ts typings ports by awaiting the methods.
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
/** `Close()`/`Destroy()`: "Saved" when the save-on-close saved, "Error" when it failed (D3). */
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

/** An event: handlers run synchronously, in connection order. */
export interface Signal<Args extends unknown[]> {
  /** Connections attached, pending `Wait()`s included. */
  readonly Connections: number;
  Connect(handler: (...args: Args) => void): Connection;
  Once(handler: (...args: Args) => void): Connection;
  /** Resolves with the arguments of the next firing. */
  Wait(): Promise<Args>;
  DisconnectAll(): void;
}

/** A session: one `name/scope/key`, what `new`, `hidden` and `find` return. */
export interface DataStore<T = unknown> {
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

  readonly StateChanged: Signal<[state: SessionState, dataStore: DataStore<T>]>;
  readonly Saving: Signal<[value: T | undefined, dataStore: DataStore<T>]>;
  readonly Saved: Signal<[response: "Saved" | "Error", responseData: unknown, dataStore: DataStore<T>]>;
  readonly AttemptsChanged: Signal<[attemptsRemaining: number, dataStore: DataStore<T>]>;
  readonly ProcessQueue: Signal<[id: string, values: unknown[], dataStore: DataStore<T>]>;

  /** Locks the key and loads it; `template` fills what the value lacks. */
  Open(template?: T): Promise<OpenResult>;
  /** Loads the value without locking. */
  Read(template?: T): Promise<ReadResult>;
  Save(): Promise<SaveResult<T | undefined>>;
  Close(): Promise<CloseResult<T | undefined>>;
  Destroy(): Promise<CloseResult<T | undefined>>;
  /** Sends `value` to the session's owner (its `ProcessQueue`). Expiration in seconds (default 7 days). */
  Queue(value: unknown, expiration?: number, priority?: number): Promise<QueueResult>;
  /** Acknowledges a `ProcessQueue` batch by its id. */
  Remove(id: string): Promise<QueueResult>;
  /** A deep copy of `Value`. */
  Clone(): T | undefined;
  /** Fills what `Value` lacks from `template`, in place. */
  Reconcile(template: T): void;
  /** `[characters, fraction of the 4 MB limit]`. */
  Usage(): [characters: number, fraction: number];

  /** Custom fields (`ds.Leaderstats = folder`). */
  [field: string]: unknown;
}

/** One server's worth of sessions. */
export interface DataStoreModule {
  "new"<T = unknown>(name: string, key: string | number): DataStore<T>;
  "new"<T = unknown>(name: string, scope: string, key: string | number): DataStore<T>;
  hidden<T = unknown>(name: string, key: string | number): DataStore<T>;
  hidden<T = unknown>(name: string, scope: string, key: string | number): DataStore<T>;
  find<T = unknown>(name: string, key: string | number): DataStore<T> | undefined;
  find<T = unknown>(name: string, scope: string, key: string | number): DataStore<T> | undefined;
  readonly Response: typeof Response;
  /** Saves, unlocks and destroys every session; resolves when all are destroyed. */
  BindToClose(): Promise<void>;
}

export interface ModuleOptions {
  store: import("./index.js").Store;
  /** Real time by default; a `ManualClock` in tests (share it with a `MemoryStore`). */
  clock?: import("./index.js").Clock;
  /** Register bind-to-close on SIGINT/SIGTERM (Node). Default false. */
  bindToClose?: boolean;
  /** Seeds retry jitter (for reproducible tests). */
  seed?: number;
}

/** An independent module: one "server". Two modules on one store behave like two servers. */
export declare function createModule(options: ModuleOptions): DataStoreModule;
