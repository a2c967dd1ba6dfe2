// Typed usage of the package, checked by `make test-types` (tsc -p tests/types) against
// pkg/index.d.ts. It is never run: it must type-check, and every `@ts-expect-error` line must be
// a type error (tsc reports an unused one), so each rule below can fail.
import DataStoreModule, {
  compress,
  createModule,
  decompress,
  LmdbStore,
  ManualClock,
  MemoryStore,
  PostgresStore,
  realClock,
  RedisStore,
  Response,
  Signal as Signals,
  StoreError,
  type CloseResult,
  type Clock,
  type Connection,
  type DataStore,
  type DataStoreModule as Module,
  type Fence,
  type Logger,
  type ModuleEvent,
  type ModuleStats,
  type OpenResult,
  type SaveResult,
  type SessionState,
  type Signal,
  type Store,
  type StoreErrorKind,
} from "datastore-module";

/** Exactly `B` (a compile-time assertion). */
type Equals<A, B> = (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false;
function expectType<T>(_value: T): void {}
function assertType<A, B>(_proof: Equals<A, B>): void {}

interface PlayerData {
  Coins: number;
  Items: string[];
  Settings: { Music: boolean };
}
const template: PlayerData = { Coins: 0, Items: [], Settings: { Music: true } };

async function modules(): Promise<void> {
  // createModule: a store is required; clock, bindToClose and seed are optional.
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const store = new MemoryStore({
    clock,
    faults: { transient: 0.01, latencyMs: [20, 80], ops: { dataSet: { ambiguous: 0.1 } } },
  });
  const server: Module = createModule({ store, clock, seed: 7, bindToClose: false });
  createModule({ store: new MemoryStore() });
  // @ts-expect-error a store is required
  createModule({});
  // @ts-expect-error the clock must have now()
  createModule({ store, clock: { setTimeout: () => 0 } });

  // new/hidden/find: (name, key) and (name, scope, key); keys are strings or numbers.
  const a: DataStore<PlayerData> = server.new<PlayerData>("Player", 456056545);
  const b = server.new<PlayerData>("Player", "global", "456056545");
  const c = server.hidden<PlayerData>("Player", "eu", 1);
  server.hidden("Player", "1");
  // @ts-expect-error a key is a string or a number
  server.new("Player", { id: 1 });
  // @ts-expect-error a key is a string or a number
  server.new("Player", "global", true);
  // @ts-expect-error the name is a string
  server.new(5, "key");
  // @ts-expect-error a key is required
  server.new("Player");

  // find may miss: narrow before use.
  const found = server.find<PlayerData>("Player", 456056545);
  assertType<typeof found, DataStore<PlayerData> | undefined>(true);
  // @ts-expect-error possibly undefined
  found.Value;
  if (found !== undefined) expectType<PlayerData | undefined>(found.Value);
  const either = server.find<PlayerData>("Player", "global", "1") ?? server.hidden<PlayerData>("Player", "1");
  expectType<DataStore<PlayerData>>(either);

  expectType<typeof Response>(server.Response);
  await server.BindToClose();
  // The default module (LMDB) has the same shape.
  expectType<Module>(DataStoreModule);
  expectType<DataStore<PlayerData>>(DataStoreModule.new<PlayerData>("Player", 1));

  await sessions(a, clock);
  void b;
  void c;
}

async function sessions(ds: DataStore<PlayerData>, clock: ManualClock): Promise<void> {
  // Open: the result narrows by its response.
  const opened = await ds.Open(template);
  assertType<typeof opened, OpenResult>(true);
  const [response, data] = opened;
  if (response === "Success") {
    assertType<typeof data, undefined>(true);
  } else if (response === "Locked") {
    const holder: string = data;
    void holder;
  } else if (response === "State") {
    assertType<typeof data, "Destroying" | "Destroyed">(true);
  } else {
    assertType<typeof response, "Error">(true);
    const message: string = data;
    void message;
  }
  if (opened[0] === Response.Success) {
    // @ts-expect-error a Success carries no data
    const nothing: string = opened[1];
    void nothing;
  }
  // @ts-expect-error the template has the value's type
  ds.Open("not a template");
  // @ts-expect-error "Opening" is never a response
  if (response === "Opening") void 0;

  // Value is T | undefined: narrow, then use it.
  if (ds.Value !== undefined) ds.Value.Coins += 10;
  // @ts-expect-error possibly undefined
  ds.Value.Coins += 1;
  ds.Value = { Coins: 1, Items: ["Sword"], Settings: { Music: false } };
  // @ts-expect-error Value has the session's type
  ds.Value = { Coins: "many" };

  const saved = await ds.Save();
  assertType<typeof saved, SaveResult<PlayerData | undefined>>(true);
  if (saved[0] === "Saved") expectType<PlayerData | undefined>(saved[1]);
  if (saved[0] === "State") assertType<(typeof saved)[1], "Closed" | "Closing" | "Destroyed" | "Destroying">(true);

  const read = await ds.Read(template);
  if (read[0] === "State") assertType<(typeof read)[1], "Open" | "Destroyed">(true);

  const closed: CloseResult<PlayerData | undefined> = await ds.Close();
  if (closed[0] === "Error") expectType<string>(closed[1]);
  const destroyed = await ds.Destroy();
  assertType<typeof destroyed, CloseResult<PlayerData | undefined>>(true);

  // Queue / Remove
  const queued = await ds.Queue({ Coins: 5 }, 3888000, 1);
  if (queued[0] === "Error") expectType<string>(queued[1]);
  await ds.Queue(5);
  await ds.Remove("read-id");
  // @ts-expect-error the expiration is a number
  ds.Queue(5, "60");
  // @ts-expect-error a read id is a string
  ds.Remove(5);

  // Clone, Reconcile, Usage
  expectType<PlayerData | undefined>(ds.Clone());
  ds.Reconcile(template);
  const [characters, fraction] = ds.Usage();
  expectType<number>(characters + fraction);

  // Writable properties, with their types.
  ds.SaveInterval = 60;
  ds.SaveDelay = 6;
  ds.LockInterval = 10;
  ds.LockAttempts = 1;
  ds.SaveOnClose = false;
  ds.Metadata = { Compress: { Level: 2, Decimals: 3, Safety: true } };
  ds.UserIds = [456056545];
  // @ts-expect-error a number
  ds.SaveInterval = "30";
  // @ts-expect-error a boolean
  ds.SaveOnClose = 1;
  // @ts-expect-error user ids are numbers
  ds.UserIds = ["456056545"];

  // Read-only properties.
  expectType<string>(ds.Id);
  expectType<string>(ds.UniqueId);
  expectType<string | number>(ds.Key);
  expectType<SessionState>(ds.State);
  expectType<boolean>(ds.Hidden);
  expectType<number>(ds.AttemptsRemaining + ds.CreatedTime + ds.UpdatedTime);
  expectType<string>(ds.Version + ds.CompressedValue);
  // @ts-expect-error read-only
  ds.Id = "Player/global/2";
  // @ts-expect-error read-only
  ds.UniqueId = "x";
  // @ts-expect-error read-only
  ds.State = true;
  // @ts-expect-error read-only
  ds.Key = 2;
  // @ts-expect-error read-only
  ds.AttemptsRemaining = 5;
  // @ts-expect-error read-only
  ds.StateChanged = ds.StateChanged;

  // No name but the session's own: a typo does not compile.
  // @ts-expect-error a typo of Value
  ds.Vaule;
  // @ts-expect-error a typo of SaveInterval
  ds.SaveIntervall = 5;
  // @ts-expect-error custom fields are declared (DataStore's second type parameter)
  ds.Leaderstats = { Coins: { Value: 0 } };

  // Signals: handler parameters are typed; Wait resolves with the arguments.
  const connection: Connection = ds.StateChanged.Connect((state, session) => {
    expectType<SessionState>(state);
    expectType<DataStore<PlayerData>>(session);
    if (state === true && session.Value !== undefined) session.Value.Coins += 0;
  });
  expectType<boolean>(connection.Connected);
  connection.Disconnect();
  ds.Saving.Connect((value) => expectType<PlayerData | undefined>(value));
  ds.Saved.Connect((savedResponse, responseData) => {
    assertType<typeof savedResponse, "Saved" | "Error">(true);
    expectType<unknown>(responseData);
  });
  ds.AttemptsChanged.Once((remaining) => expectType<number>(remaining));
  ds.ProcessQueue.Connect(async (id, values, session) => {
    expectType<string>(id);
    expectType<unknown[]>(values);
    await session.Remove(id);
  });
  const [state, session] = await ds.StateChanged.Wait();
  expectType<SessionState>(state);
  expectType<DataStore<PlayerData>>(session);
  expectType<number>(ds.ProcessQueue.Connections);
  ds.Saved.DisconnectAll();
  // @ts-expect-error a StateChanged handler gets a state, not a string
  ds.StateChanged.Connect((s: string) => void s);
  // @ts-expect-error Connections is read-only
  ds.Saving.Connections = 0;
  const signal: Signal<[SessionState, DataStore<PlayerData>]> = ds.StateChanged;
  void signal;

  // Response is a frozen enum of literal types.
  assertType<typeof Response.Locked, "Locked">(true);
  // @ts-expect-error read-only
  Response.Success = "Ok";

  await clock.advance(30_000);
}

interface Leaderstats {
  Coins: { Value: number };
}

function customFields(server: Module): void {
  // The original's Leaderstats example: a custom field, declared, optional until set.
  const ds = server.new<PlayerData, { Leaderstats?: Leaderstats }>("Player", 456056545);
  // @ts-expect-error possibly undefined: nothing sets it before the application does
  ds.Leaderstats.Coins.Value = 1;
  ds.Leaderstats = { Coins: { Value: 0 } };
  if (ds.Value !== undefined) ds.Leaderstats.Coins.Value = ds.Value.Coins;
  // @ts-expect-error the field has its declared type
  ds.Leaderstats = { Coins: 5 };
  // @ts-expect-error still no other names
  ds.Leaderstat = undefined;
  // The signals hand out the same session type, fields included.
  ds.StateChanged.Connect((_state, session) => expectType<Leaderstats | undefined>(session.Leaderstats));
  const same: DataStore<PlayerData, { Leaderstats?: Leaderstats }> = ds;
  const found = server.find<PlayerData, { Leaderstats?: Leaderstats }>("Player", "global", 456056545);
  if (found !== undefined) expectType<Leaderstats | undefined>(found.Leaderstats);
  const hidden = server.hidden<PlayerData, { Rank: string }>("Player", 1);
  expectType<string>(hidden.Rank);
  // @ts-expect-error a custom field cannot take a property's name
  server.new<PlayerData, { Value: string }>("Player", 1);
  // @ts-expect-error nor a method's
  server.hidden<PlayerData, { Open(): void }>("Player", 1);
  // @ts-expect-error nor a signal's
  const shadowed: DataStore<PlayerData, { Saved: boolean }> | undefined = undefined;
  void same;
  void shadowed;
}

async function storesAndTime(): Promise<void> {
  // ManualClock and the real clock.
  const clock = new ManualClock();
  const now: number = clock.now();
  const id = clock.setTimeout(() => {}, 1000);
  clock.clearTimeout(id);
  expectType<number>(clock.pendingTimers + now);
  await clock.advance(1000);
  // @ts-expect-error milliseconds are a number
  await clock.advance("1000");
  const clocks: Clock[] = [clock, realClock, { now: () => 0 }];
  void clocks;

  // Stores: one interface.
  const stores: Store[] = [
    new MemoryStore({ clock, seed: 1 }),
    new LmdbStore({ path: "/tmp/datastore" }),
    new RedisStore({ url: "redis://127.0.0.1:6379", prefix: "game" }),
    new PostgresStore({ connectionString: "postgres://game@db:5432/game", poolSize: 4, sweepMs: 0 }),
    new PostgresStore({ pool: {}, prefix: "game" }),
  ];
  // @ts-expect-error connectionString or pool, not both
  new PostgresStore({ connectionString: "postgres://x", pool: {} });
  // @ts-expect-error url or client, not both
  new RedisStore({ url: "redis://x", client: {} });
  // @ts-expect-error fault probabilities are numbers
  new MemoryStore({ faults: { transient: "often" } });
  const memory = new MemoryStore({ clock });
  memory.setFaults({ outages: [{ startMs: 0, endMs: 1000, ops: ["dataGet", "mapUpdate"] }] });
  memory.setFaults(null);
  // @ts-expect-error not an operation kind
  memory.setFaults({ ops: { lock: { transient: 1 } } });

  const entry = await stores[0]!.dataGet("Player", "global", "1");
  if (entry !== undefined) expectType<string>(entry.value + entry.version + entry.metadata + entry.userIds);
  const lock = await memory.lockAcquire("Player/global/1", "OWNER", 330, 2 ** 32, false);
  if (!lock.ok && "holder" in lock) expectType<string>(lock.holder);
  const refresh = await memory.lockAcquire("Player/global/1", "OWNER", 330, 2 ** 32 + 1, true, 2 ** 32);
  if (!refresh.ok && "lapsed" in refresh) expectType<true>(refresh.lapsed);
  // @ts-expect-error the token is required
  await memory.lockAcquire("Player/global/1", "OWNER", 330);
  await memory.lockRelease("Player/global/1", "OWNER", 2 ** 32);
  const fence: Fence = { owner: "OWNER", token: 2 ** 32, seq: 1 };
  await memory.dataRemove("Player", "global", "1", fence).catch(() => undefined);
  // @ts-expect-error a fence is an object now, not an owner id
  await memory.dataRemove("Player", "global", "1", "OWNER").catch(() => undefined);
  const batch = await memory.queueRead("Player/global/1", 100, false, 30, 30);
  if (batch !== undefined) expectType<string[]>(batch.values);
  await Promise.all(stores.map((s) => s.close()));

  try {
    await memory.dataSet("Player", "global", "1", "1", "[]", "{}", null);
  } catch (e) {
    if (e instanceof StoreError) {
      const kind: StoreErrorKind = e.kind;
      expectType<boolean>(e.retryable);
      expectType<number | undefined>(e.code);
      void kind;
    }
  }
}

function codec(): void {
  const text: string = compress({ Coins: 10, Items: ["Sword", "Shield"] }, { Level: 2, Decimals: 3, Safety: true });
  compress([1, 2, 3]);
  const value: unknown = decompress(text, { Decimals: 3 });
  void value;
  // @ts-expect-error Level is a number
  compress(1, { Level: "2" });
  // @ts-expect-error decompress takes text
  decompress(42);
  // @ts-expect-error only Decimals matters when decoding
  decompress(text, { Level: 2 });
  // @ts-expect-error unknown until narrowed
  decompress(text).Coins;
}

async function operations(store: RedisStore, pg: PostgresStore): Promise<void> {
  // Every built-in store connects, pings and closes; a Store of your own need not.
  await store.connect();
  const ms: number = await store.ping();
  await pg.connect();
  expectType<number>(await pg.ping());
  expectType<number>((await new MemoryStore().ping()) + (await new LmdbStore().ping()) + ms);
  const custom: Store = new MemoryStore();
  // @ts-expect-error optional on a Store: narrow first
  await custom.connect();
  if (custom.connect) await custom.connect();
  const stop = store.observe((type, fields) => {
    assertType<typeof type, "store.clientError" | "store.connection">(true);
    expectType<string>(fields.store);
  });
  stop();

  // Observers: a pino-shaped logger and a typed event stream.
  const logger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
  const module = createModule({
    store,
    logger,
    bindToClose: true,
    onShutdown: async ({ signal, report }) => {
      expectType<"SIGINT" | "SIGTERM">(signal);
      expectType<number>(report.saved);
    },
    onEvent: (event: ModuleEvent) => {
      if (event.type === "store.failed") expectType<number>(event.attempt);
      if (event.type === "lock.lost") assertType<typeof event.reason, "lapsed" | "taken">(true);
      if (event.type === "shutdown.done") expectType<{ id: string; error: string }[]>(event.failed);
      // @ts-expect-error not an event type
      if (event.type === "store.retry") void event;
    },
  });
  // @ts-expect-error a logger has all four levels
  createModule({ store, logger: { info() {} } });
  const stats: ModuleStats = module.stats();
  expectType<number>(stats.retries + stats.saves + stats.locksLost + (stats.latency.DataSet?.maxMs ?? 0));
  // @ts-expect-error not a command kind
  stats.latency.Save;
  for (const s of module.sessions()) {
    expectType<string>(s.name + s.scope + s.id + s.uniqueId);
    assertType<typeof s.state, "open" | "closed">(true);
  }

  // The default export: configure before its first use.
  DataStoreModule.configure({ path: "./data", handleSignals: false, onShutdown: () => {}, logger });
  // @ts-expect-error handleSignals is a boolean
  DataStoreModule.configure({ handleSignals: "no" });
  // @ts-expect-error not an option
  DataStoreModule.configure({ store });
  expectType<ModuleStats>(DataStoreModule.stats());
  Signals.onError = (error: unknown) => void error;
}

void modules;
void operations;
void customFields;
void storesAndTime;
void codec;
