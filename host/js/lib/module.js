/**
 * The JS host of the session core: `createModule`, DataStore session objects, and the driver
 * loop that carries out the core's storage commands and fires its events.
 *
 * Nothing here decides protocol: the core (src/session, through src/js/module.rs) says which
 * command to run, which signal to fire, which promise to resolve and when the next timer is
 * due. This file converts values (lib/value.js), keeps the live `Value`/`Metadata`/`UserIds`
 * objects users mutate, and runs the loop.
 *
 * What comes from outside cannot stop the loop (issue 11): a store call that throws, rejects
 * with anything, never settles or resolves with the wrong shape is that command's failure; a
 * clock that gives NaN or goes back is read as standing still; signal handlers are the
 * Signal's to contain. Misuse has one contract: wrong argument *types* throw a `TypeError`
 * where the original raises, values that cannot be stored answer `"Error"`.
 */
import { checkClock, describe } from "./clock.js";
import { Observer, checkObservers, errorText } from "./observe.js";
import { Signal } from "./signal.js";
import { bytes, bytesOf } from "./utf8.js";
import { isPlainObject, MAX_DEPTH, step, toJson } from "./value.js";

export const Response = Object.freeze({
  Success: "Success",
  Saved: "Saved",
  Locked: "Locked",
  State: "State",
  Error: "Error",
});

const SIGNALS = ["StateChanged", "Saving", "Saved", "AttemptsChanged", "ProcessQueue"];
const METHODS = ["Open", "Read", "Save", "Close", "Destroy", "Queue", "Remove", "Clone", "Reconcile", "Usage"];
/** Properties whose values the core keeps (read through it, assigned through it). */
const CORE_PROPERTIES = [
  "Id",
  "UniqueId",
  "Hidden",
  "State",
  "SaveInterval",
  "SaveDelay",
  "LockInterval",
  "LockAttempts",
  "SaveOnClose",
  "AttemptsRemaining",
  "CreatedTime",
  "UpdatedTime",
  "Version",
  "CompressedValue",
];

/** The core's name for a JS value's kind, for property validation. */
function kindOf(v) {
  if (v === undefined || v === null) return "nil";
  if (Array.isArray(v)) return "table";
  switch (typeof v) {
    case "boolean":
    case "number":
    case "string":
      return typeof v;
    case "object":
      return "table";
    default:
      return "other";
  }
}

/**
 * The constructors' arguments as the core reads them: a JSON object from position to what the
 * caller passed (`{"1": name, "3": key}`; nil ones left out, extra ones dropped as Luau drops
 * them). What they mean (the two-argument form, the Id, and Luau's "attempt to concatenate …"
 * for bad types) is the core's decision; only values JSON cannot carry (NaN, functions, …) are
 * refused here.
 */
function argsJson(args) {
  const fields = [];
  for (let i = 0; i < Math.min(args.length, 3); i++) {
    if (args[i] === undefined || args[i] === null) continue;
    try {
      fields.push(`"${i + 1}":${toJson(args[i], `argument ${i + 1}`)}`);
    } catch (e) {
      throw new TypeError(e.message);
    }
  }
  return `{${fields.join(",")}}`;
}

/** @param {any} wasm the wasm-bindgen exports */
export function bindModule(wasm, realClock) {
  /**
   * An independent module: one "server". Two modules on one store behave like two Roblox
   * servers (separate UniqueIds; they lock each other out and queue to each other).
   */
  function createModule(options) {
    const { store, clock = realClock, bindToClose = false, seed, logger, onEvent, onShutdown } = checkOptions(options);
    const module = new ModuleHost(wasm, store, clock, seed, new Observer(logger, onEvent));
    module.onShutdown = onShutdown;
    if (bindToClose) closeOnSignals(module);
    return module.api;
  }
  return createModule;
}

/** The store methods the driver calls. */
const STORE_METHODS = [
  "dataGet",
  "dataSet",
  "dataRemove",
  "lockAcquire",
  "lockRelease",
  "queueAdd",
  "queueRead",
  "queueRemove",
];

/** `createModule`'s options, refused at construction with a `TypeError` naming the field. */
function checkOptions(options) {
  if (options === null || typeof options !== "object") {
    throw new TypeError(`createModule: options must be an object with a store, got ${describe(options)}`);
  }
  const { store, clock, bindToClose, seed, onShutdown } = options;
  if (store === null || typeof store !== "object") {
    throw new TypeError(
      `createModule: options.store must be a store (MemoryStore, LmdbStore, RedisStore), got ${describe(store)}`,
    );
  }
  const missing = STORE_METHODS.filter((name) => typeof store[name] !== "function");
  if (missing.length > 0) {
    throw new TypeError(`createModule: options.store is not a store: it has no ${missing.join(", ")} method`);
  }
  if (clock !== undefined) checkClock(clock, "createModule: options.clock");
  if (bindToClose !== undefined && typeof bindToClose !== "boolean") {
    throw new TypeError(`createModule: options.bindToClose must be a boolean, got ${describe(bindToClose)}`);
  }
  if (seed !== undefined && !(typeof seed === "number" && Number.isFinite(seed))) {
    throw new TypeError(`createModule: options.seed must be a finite number, got ${describe(seed)}`);
  }
  checkObservers("createModule: options", options);
  if (onShutdown !== undefined && typeof onShutdown !== "function") {
    throw new TypeError(`createModule: options.onShutdown must be a function, got ${describe(onShutdown)}`);
  }
  return options;
}

/**
 * SIGINT/SIGTERM: every module made with `bindToClose: true` saves, unlocks and destroys its
 * sessions, then runs its `onShutdown` hook (the application's own clean-up: close servers and
 * clients once no session needs them), then the process exits with the usual code. One handler
 * for all of them, so the first module done does not end the process under the others; the
 * exit comes even if the application called `BindToClose` itself before, and at the latest
 * `HARD_STOP_MS` after the signal (the core finishes within 25 s, D18), whatever a hook does. A
 * second signal kills at once (Node's default). Store work still in native threads gets
 * `EXIT_DRAIN_MS` to finish; work that does not is dropped by ending the process by the signal
 * itself, since Node's exit would wait for it (`endBySignal`).
 */
// Shared by every copy of this file in the process (the ESM and the CommonJS entry each load
// one), so that one handler waits for all of them.
// Each entry is `{ deref() }`: a `WeakRef` to a module without an `onShutdown` hook (one the
// application dropped has nothing to close: open sessions keep a module alive through its
// timers), the module itself for one with a hook, which the application asked to have run.
const closeOnSignal = (globalThis[Symbol.for("datastore-module.closeOnSignal")] ??= new Set());
const HARD_STOP_MS = 30_000;
/** How long the exit waits for store work no session awaits any more (within `HARD_STOP_MS`). */
const EXIT_DRAIN_MS = 2_000;

function closeOnSignals(host) {
  if (typeof process !== "object" || typeof process.once !== "function") return;
  if (!closeOnSignal.handling) {
    closeOnSignal.handling = true;
    handleSignals();
  }
  for (const entry of closeOnSignal) if (entry.deref() === undefined) closeOnSignal.delete(entry);
  closeOnSignal.add(host.onShutdown === undefined ? new WeakRef(host) : strongRef(host));
}

/** A `WeakRef`'s shape for a module kept for good (a closure of its own: one made next to the
 * signal handlers would keep the first module in their scope). */
function strongRef(host) {
  return { deref: () => host };
}

function handleSignals() {
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ]) {
    process.once(signal, async () => {
      const modules = [...closeOnSignal].map((entry) => entry.deref()).filter((module) => module !== undefined);
      const hardStop = Date.now() + HARD_STOP_MS;
      let exiting = false;
      const exit = async () => {
        if (exiting) return;
        exiting = true;
        const unfinished = await storesSettled(modules, Math.min(hardStop, Date.now() + EXIT_DRAIN_MS));
        for (const module of modules) module.obs.emit("shutdown.exit", { signal, code, unfinished });
        if (unfinished === 0) process.exit(code);
        endBySignal(signal);
      };
      globalThis.setTimeout(exit, HARD_STOP_MS).unref?.();
      for (const module of modules) module.obs.emit("shutdown.signal", { signal });
      const reports = await Promise.allSettled(modules.map(async (module) => module.bindToClose()));
      await Promise.allSettled(
        modules.map(async (module, i) => {
          if (module.onShutdown === undefined) return;
          try {
            await module.onShutdown({ signal, report: reports[i].value });
          } catch (e) {
            module.obs.error("shutdown.hookFailed", { signal }, "the onShutdown hook threw", e);
          }
        }),
      );
      exit();
    });
  }
}

/**
 * Waits until the modules' stores have nothing left in threads that Node's exit would wait for
 * (`unfinished()`, LmdbStore's write transactions), or until `until` (ms since the epoch);
 * resolves with how many are left.
 */
async function storesSettled(modules, until) {
  const stores = new Set(modules.map((module) => module.store));
  const count = () => {
    let n = 0;
    for (const store of stores) {
      try {
        const left = typeof store.unfinished === "function" ? store.unfinished() : 0;
        if (typeof left === "number" && left > 0) n += left;
      } catch {
        // A store of the application's whose count throws has nothing Node waits for that we know of.
      }
    }
    return n;
  };
  while (count() > 0 && Date.now() < until) await new Promise((resolve) => globalThis.setTimeout(resolve, 20));
  return count();
}

/**
 * Ends the process by `signal` without Node's exit, which joins libuv's threads: a write
 * transaction waiting for the LMDB write lock of a process stopped inside one (SIGSTOP, a
 * debugger) never returns, and `process.exit` would wait for it forever. LMDB drops the
 * unfinished transaction, as after a crash. With no listener left, the signal's default action
 * ends the process with the same status `process.exit(code)` would have given (128 + n); a
 * listener of the application's would catch it, and then SIGKILL does.
 */
function endBySignal(signal) {
  const kill = (how) => {
    try {
      process.kill(process.pid, how);
    } catch {
      // No such signal on this platform: the SIGKILL below.
    }
  };
  kill(process.listenerCount(signal) === 0 ? signal : "SIGKILL");
  globalThis.setTimeout(() => kill("SIGKILL"), 1000);
}

/** A store listener that reaches the module's observer and nothing else of the module (a closure
 * made in the constructor would hold the whole module through its scope). */
function relay(obs) {
  return (type, fields) => obs.emit(type, fields);
}

/** Removes the store listener of a module that has been garbage-collected. */
const unobserve = new FinalizationRegistry((stop) => {
  try {
    stop();
  } catch {
    // The store's own failure; nothing is left to tell.
  }
});

class ModuleHost {
  constructor(wasm, store, clock, seed, obs) {
    this.wasm = wasm;
    /** events and counters (lib/observe.js): what the driver sees, never a decision */
    this.obs = obs;
    /** `${kind} ${target}` → tries made so far, for targets whose last call failed (retries) */
    this.failing = new Map();
    /** QueueRead command id → the AbortController of its long poll (until it settles) */
    this.reads = new Map();
    /** sessions whose State is true */
    this.opened = new Set();
    /** the shutdown in progress: when it started and how many sessions it has closed */
    this.shutdown = undefined;
    /** the application's hook, run after a signal's shutdown (closeOnSignals) */
    this.onShutdown = undefined;
    this.store = store;
    this.clock = clock;
    // A clock without timers runs on the global ones (Clock in index.d.ts).
    this.timers = typeof clock.setTimeout === "function" ? clock : globalThis;
    /** The time handed to the core: the clock's, never NaN and never going back (`now`). */
    this.time = 0;
    this.lastReading = -Infinity;
    this.clockWarned = false;
    // Every JS store fences data writes (lock owner, acquisition and write sequence, D22); a
    // store may say otherwise. A store with `lockAcquireAndGet` reads a session's data in the
    // request that takes its lock (the core uses it only with the fence).
    this.core = new wasm.WasmModule(
      seed ?? Math.floor(Math.random() * 2 ** 52),
      store.fencing !== false,
      typeof store.lockAcquireAndGet === "function",
    );
    /** session id → DataStore */
    this.sessions = new Map();
    /** call id → resolve */
    this.calls = new Map();
    this.closing = [];
    /** destroyed sessions the core has not forgotten yet */
    this.retired = new Set();
    /** stand-in sessions (see `courier`) the core has not forgotten yet */
    this.couriers = new Set();
    /** the armed wake-up: the clock's timer and, for one already due, the next event-loop turn */
    this.timer = undefined;
    this.turn = undefined;
    this.timerAt = undefined;
    this.pumpQueued = false;
    const host = this;
    this.api = Object.freeze({
      Response,
      new: (...args) => host.open(false, argsJson(args)),
      hidden: (...args) => host.open(true, argsJson(args)),
      find: (...args) => host.find(argsJson(args)),
      BindToClose: () => host.bindToClose(),
      sessions: () => host.list(),
      stats: () => host.obs.snapshot(host.sessions.size - host.retired.size, host.opened.size),
    });
    // A store that reports on its own (a client's connection errors) tells the module's observers.
    if (obs.on && typeof store.observe === "function") {
      try {
        const stop = store.observe(relay(obs));
        // The store outlives a module the application drops: the listener then goes too.
        if (typeof stop === "function") unobserve.register(this, stop);
      } catch (e) {
        obs.error("driver.error", {}, "store.observe threw", e);
      }
    }
  }

  /**
   * The sessions this module holds and has not destroyed: `Id`, its name, scope and key (the
   * name and scope as the core wrote them into `Id`: a number the way Luau prints it), whether
   * it is open, hidden, and its UniqueId.
   */
  list() {
    const out = [];
    for (const [sid, ds] of this.sessions) {
      if (this.retired.has(sid)) continue;
      out.push({
        id: this.core.property(sid, "Id"),
        name: this.core.property(sid, "Name"),
        scope: this.core.property(sid, "Scope"),
        key: this.core.property(sid, "Key"),
        state: this.core.property(sid, "State") === true ? "open" : "closed",
        hidden: this.core.property(sid, "Hidden"),
        uniqueId: this.core.property(sid, "UniqueId"),
      });
    }
    return out;
  }

  /**
   * The time for the core. A reading that is not a number, throws, is past
   * `Number.MAX_SAFE_INTEGER` (where milliseconds no longer add up), or is earlier than the
   * last good one (a broken clock) counts as no time passing: the last good time stands, and the
   * module warns once. A timer that fired says its time has come whatever the clock reads, so
   * the core's deadlines still end even on a clock that stands still.
   */
  now() {
    let reading;
    try {
      reading = this.clock.now();
    } catch (e) {
      reading = e;
    }
    if (
      typeof reading === "number" &&
      Number.isFinite(reading) &&
      reading <= Number.MAX_SAFE_INTEGER &&
      reading >= this.lastReading
    ) {
      this.lastReading = reading;
      if (reading > this.time) this.time = reading;
    } else if (!this.clockWarned) {
      this.clockWarned = true;
      const what = reading instanceof Error ? `threw ${reading.message}` : `gave ${describe(reading)}`;
      const why =
        typeof reading !== "number" || Number.isNaN(reading)
          ? ""
          : reading > Number.MAX_SAFE_INTEGER
            ? ", past Number.MAX_SAFE_INTEGER"
            : `, earlier than ${this.lastReading}`;
      this.obs.warn("clock.broken", {}, `clock.now() ${what}${why}; the module keeps its last good time (warned once)`);
    }
    return this.time;
  }

  open(hidden, args) {
    const sid = this.openCore(hidden, args);
    let ds = this.sessions.get(sid);
    if (ds === undefined) {
      ds = new DataStore(this, sid, args);
      this.sessions.set(sid, ds);
    }
    return ds;
  }

  openCore(hidden, args) {
    return this.core.openSession(this.now(), bytes(args), hidden, random16());
  }

  /**
   * Runs `use(sid)` with a core session that can act for `ds`: its own while the core still
   * knows it, else a courier. The core forgets a destroyed session once it is idle (to free
   * it), but the JS object lives on as long as the user holds it, and Queue, Remove, Usage and
   * property checks must keep working on it (they do not look at the state).
   */
  onCore(ds, use) {
    return this.sessions.get(ds._sid) === ds ? use(ds._sid) : this.courier(ds, use);
  }

  /**
   * A courier: a fresh hidden core session for the same name/scope/key, used once and then
   * destroyed (a closed session's Destroy does no I/O) and forgotten when idle. What the
   * couriered calls do depends only on the key (the queue, the property rules, the codec),
   * never on which session of the key runs them. A courier fires no signals: its events have
   * no DataStore, and its calls resolve through `calls`.
   */
  courier(ds, use) {
    const sid = this.openCore(true, ds._args);
    try {
      return use(sid);
    } finally {
      this.core.call(this.now(), sid, "Destroy", NO_BYTES, undefined, undefined, "");
      this.couriers.add(sid);
      this.schedule();
    }
  }

  find(args) {
    const sid = this.core.find(bytes(args));
    return sid === undefined ? undefined : this.sessions.get(sid);
  }

  /**
   * Every call resolves, with the report of the next `BindToCloseDone` (each call's own copy);
   * the core answers a call made while one runs, or after, with another such event (D18).
   */
  bindToClose() {
    if (this.shutdown === undefined) {
      this.shutdown = { started: this.now(), closed: 0 };
      this.obs.emit("shutdown.started", { sessions: this.sessions.size - this.retired.size, open: this.opened.size });
    }
    return new Promise((resolve) => {
      this.closing.push(resolve);
      this.core.bindToClose(this.now());
      this.schedule();
    });
  }

  /** A call into the core; answers at once or when its CallDone event arrives. `arg` is JSON
   * text (a template or a queued value), or undefined for none. */
  call(ds, kind, arg, expiration, priority, text = "") {
    if (this.sessions.get(ds._sid) !== ds) return this.callForgotten(ds, kind, arg, expiration, priority, text);
    return this.callAs(ds._sid, ds, kind, arg, expiration, priority, text);
  }

  /**
   * A method of a destroyed session the core has forgotten. Destroyed is final, so Open, Read
   * and Save answer what the core answers every destroyed session (`"State", "Destroyed"`, D6
   * for Read) and Close and Destroy `"Success"`; Queue and Remove go out through a courier.
   */
  callForgotten(ds, kind, arg, expiration, priority, text) {
    switch (kind) {
      case "Open":
      case "Read":
      case "Save":
        return Promise.resolve([Response.State, "Destroyed"]);
      case "Close":
      case "Destroy":
        return Promise.resolve([Response.Success, undefined]);
      default:
        return this.courier(ds, (sid) => this.callAs(sid, ds, kind, arg, expiration, priority, text));
    }
  }

  callAs(sid, ds, kind, arg, expiration, priority, text) {
    // The clock first: reading it may run the caller's code (a clock, or an observer told it is
    // broken), which may call the module and so refill the shared buffer `bytes` writes.
    const now = this.now();
    const json = arg === undefined ? NO_BYTES : bytes(arg);
    const out = JSON.parse(this.core.call(now, sid, kind, json, expiration, priority, text));
    this.schedule();
    if (out.pending !== undefined) {
      return new Promise((resolve) => this.calls.set(out.pending, { ds, resolve }));
    }
    if (out.reconcile !== undefined) {
      // Open(template) on an open session fills the live value in place, which a frozen value,
      // a throwing getter or a revoked Proxy refuses: where the original raises out of Open,
      // this answers "Error" (no promise of ours rejects). The session stays open.
      try {
        ds._reconcile(out.reconcile);
      } catch (e) {
        return Promise.resolve([Response.Error, `Value: the template cannot be filled in: ${errorText(e)}`]);
      }
    }
    return Promise.resolve([out.response, ds._data(out)]);
  }

  /** Runs the driver loop at the end of this turn, so calls made together batch as they do
   * in the original (its task workers start deferred). */
  schedule() {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    queueMicrotask(() => this.pump());
  }

  /** The driver loop: drain events and commands until both are empty, then arm the timer. */
  pump() {
    this.pumpQueued = false;
    for (let busy = true; busy;) {
      busy = false;
      for (let events; (events = this.core.pollEvents()) !== undefined; busy = true) {
        for (const e of JSON.parse(events)) this.event(e);
      }
      for (let c; (c = this.core.pollCommand()) !== undefined; busy = true) this.execute(commandOf(c));
    }
    if (this.retired.size > 0 || this.couriers.size > 0) this.release();
    this.arm();
  }

  /**
   * One wake-up at the core's next deadline. A deadline already due runs at the next turn of the
   * event loop, or earlier if the clock gets there first (a ManualClock's `advance` in progress):
   * it needs no time to pass, and it must not run inside this turn, where a handler that saves
   * on every save could spin. A wake-up already armed no later than the next deadline stays:
   * firing early finds nothing due and arms again, where re-arming whenever the deadline moved
   * (every command sent or answered moves it) cost a timer pair per store call.
   */
  arm() {
    const at = this.core.pollTimeout();
    if (at === this.timerAt || (at !== undefined && this.timerAt !== undefined && this.timerAt <= at)) return;
    this.disarm();
    if (at === undefined) return;
    this.timerAt = at;
    const delay = at - this.now();
    const ms = delay > 0 ? Math.min(delay, MAX_DELAY_MS) : 0;
    const fire = () => {
      this.disarm();
      if (ms === delay || !(delay > 0)) this.time = Math.max(this.time, at);
      this.core.handleTimeout(this.now());
      this.pump();
    };
    try {
      this.timer = this.timers.setTimeout(fire, ms);
    } catch (e) {
      // A clock whose timers fail: the global ones stand in from now on.
      this.obs.warn("clock.broken", {}, `clock.setTimeout threw (${failureText(e, "")}); using the global timers`);
      this.timers = globalThis;
      this.timer = globalThis.setTimeout(fire, ms);
    }
    if (!(delay > 0)) this.turn = nextTurn(fire);
  }

  disarm() {
    try {
      if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    } catch {
      // The timer may still fire: `fire` then finds nothing due, or runs what is due.
    }
    this.turn?.();
    this.timer = this.turn = this.timerAt = undefined;
  }

  event(e) {
    if (e.kind === "BindToCloseDone") {
      const failed = e.failed.map(({ id, error }) => ({ id, error }));
      if (this.shutdown !== undefined) {
        const ms = this.now() - this.shutdown.started;
        this.shutdown = undefined;
        this.obs.emit("shutdown.done", { closed: e.closed, saved: e.saved, failed, ms });
      }
      for (const resolve of this.closing.splice(0)) {
        resolve({ closed: e.closed, saved: e.saved, failed: failed.map(({ id, error }) => ({ id, error })) });
      }
      return;
    }
    if (e.kind === "ReadUnwanted") {
      // The session closed or nobody listens: a long poll left running would take items the
      // next holder should get, hidden from it for 30 s.
      this.reads.get(e.command)?.abort();
      return;
    }
    if (e.kind === "CallDone") {
      // The caller's DataStore, also when a courier made the call.
      const call = this.calls.get(e.call);
      if (call === undefined) return; // a courier's own Destroy
      this.calls.delete(e.call);
      call.resolve([e.response, call.ds._data(e)]);
      return;
    }
    const ds = this.sessions.get(e.session);
    if (ds === undefined) return;
    switch (e.kind) {
      case "Loaded":
        ds._install(e.value, e.metadata, e.userIds);
        break;
      case "MetadataReset":
        ds._install(ds._value, {}, []);
        break;
      case "StateChanged":
        if (e.state === true) this.opened.add(e.session);
        else this.opened.delete(e.session);
        ds._fire("StateChanged", e.state, ds);
        if (e.state === null) {
          this.retire(e.session, ds);
          if (this.shutdown !== undefined) {
            this.obs.emit("shutdown.progress", {
              id: ds.Id,
              closed: ++this.shutdown.closed,
              remaining: this.sessions.size - this.retired.size,
            });
          }
        }
        break;
      case "Saving":
        ds._fire("Saving", ds._value, ds);
        ds._snapshot();
        break;
      case "Saved":
        this.saved(ds, e);
        ds._fire("Saved", e.response, ds._data(e), ds);
        break;
      case "AttemptsChanged":
        ds._fire("AttemptsChanged", e.remaining, ds);
        break;
      case "ProcessQueue":
        this.obs.counts.queueItemsDelivered += e.values.length;
        if (this.obs.on) this.obs.emit("queue.delivered", { id: ds.Id, batch: e.id, count: e.values.length });
        ds._fire("ProcessQueue", e.id, e.values, ds);
        break;
      case "DisconnectAll":
        ds._disconnectAll();
        break;
    }
  }

  /**
   * Counts a `Saved` event: saved (its data write landed: the core's `wrote`), skipped (the
   * core answered without a write: nothing new), or failed.
   */
  saved(ds, e) {
    const obs = this.obs;
    if (e.response === Response.Saved) {
      if (e.wrote === true) obs.counts.saves++;
      else obs.counts.savesSkipped++;
      if (obs.on) obs.emit(e.wrote === true ? "save.saved" : "save.skipped", { id: ds.Id });
    } else {
      obs.counts.saveFailures++;
      if (obs.on) obs.emit("save.failed", { id: ds.Id, error: e.text });
    }
  }

  /** A signal handler threw: the module's observers hear of it, or else `Signal.onError`. */
  handlerFailed(ds, signal, error) {
    this.obs.counts.handlerErrors++;
    if (this.obs.on) this.obs.emit("handler.failed", { id: ds.Id, signal, error: errorText(error) });
    else Signal.onError(error);
  }

  /** A destroyed session keeps its last properties for whoever still holds it; the core
   * forgets it once its last command is done (tried again after every loop run). */
  retire(sid, ds) {
    ds._freeze();
    this.retired.add(sid);
  }

  release() {
    for (const sid of this.retired) {
      if (this.core.release(sid)) {
        this.retired.delete(sid);
        this.sessions.delete(sid);
      }
    }
    for (const sid of this.couriers) {
      if (this.core.release(sid)) this.couriers.delete(sid);
    }
  }

  /**
   * Carries out one storage command and hands the result back. Whatever the store does (throws,
   * rejects with any value, resolves with the wrong shape) ends as exactly one completion; one
   * that never settles is failed by the core at the command's deadline, and its late answer is
   * ignored (the core no longer knows the id).
   */
  execute(c) {
    const command = COMMANDS[c.kind];
    c.started = performance.now();
    if (this.failing.size > 0) {
      const tries = this.failing.get(targetOf(c));
      if (tries !== undefined) {
        c.attempt = tries + 1;
        this.obs.counts.retries++;
        this.obs.emit("store.retried", { command: c.kind, target: targetOf(c), attempt: c.attempt });
      }
    }
    if (c.kind === "QueueRead") {
      // Ended early when the core says it is no longer wanted (`ReadUnwanted`).
      const controller = new AbortController();
      this.reads.set(c.id, controller);
      c.signal = controller.signal;
    }
    let work;
    try {
      work = Promise.resolve(command.run(this.store, c));
    } catch (error) {
      work = Promise.reject(command === undefined ? new Error(`unknown command ${c.kind}`) : error);
    }
    // One reaction per command (no promise chain), whichever way the store's promise settles.
    try {
      work.then(
        (result) => this.settle(c, command, result, false),
        (error) => this.settle(c, command, error, true),
      );
    } catch (error) {
      // A native promise the store gave its own `then`, which threw: `Promise.resolve` hands
      // that promise back as it is, so its `then` runs here. The try failed; settle it next.
      queueMicrotask(() => this.settle(c, command, error, true));
    }
  }

  /** Hands a command's result (or, when `failed`, what it failed with) to the core, then runs
   * the loop. */
  settle(c, command, result, failed) {
    if (c.signal !== undefined) this.reads.delete(c.id);
    try {
      this.observe(c, result, failed);
      if (failed) {
        // D19: a StoreError says whether to retry; for anything else the core reads the message.
        // A fenced refusal reads "Fenced: …" (as every built-in store words it), so that the
        // session checks its lock at once (`wire::is_fenced`) whatever a store of your own says.
        let message = failureText(result, `store.${command?.method} failed with`);
        if (storeErrorKind(result) === "Fenced" && !message.startsWith("Fenced:")) message = `Fenced: ${message}`;
        return this.completeError(c, message, retryable(result));
      }
      let complete;
      try {
        complete = command.read(result);
      } catch (e) {
        // A store that answers nonsense may answer sense next time.
        const what = e instanceof BadResult ? e.message : failureText(e, "a result whose reading threw");
        return this.completeError(c, `store.${command.method} resolved with ${what}`, true);
      }
      try {
        complete(this.core, this.now(), c.id);
      } catch (e) {
        this.completeError(c, failureText(e, `store.${command.method} gave a result the core refused:`), true);
      }
    } catch (e) {
      this.obs.error("driver.error", { command: c.kind }, "a store result could not be handed to the core", e);
    } finally {
      this.schedule();
    }
  }

  completeError(c, message, retryable) {
    this.core.completeError(this.now(), c.id, message, retryable);
  }

  /**
   * What a finished store call tells the operator: its latency, a failure (remembered, so the
   * next call for the same target counts as a retry), a fenced write, a refresh that found the
   * lock lapsed or taken. A result of the wrong shape counts as a success here; the core is
   * told it failed.
   */
  observe(c, result, failed) {
    const obs = this.obs;
    obs.call(c.kind, performance.now() - c.started, failed);
    if (failed) {
      const error = failureText(result, `store.${COMMANDS[c.kind]?.method} failed with`);
      const again = retryable(result);
      const kind = storeErrorKind(result);
      const target = targetOf(c);
      if (again !== false) {
        this.failing.delete(target); // set again below: the newest failure comes last
        this.failing.set(target, c.attempt ?? 1);
        // A target that fails for good and is never tried again (its session gone) must not
        // stay forever: past 10,000 the oldest failure goes, and the tries of the live stay.
        if (this.failing.size > 10_000) this.failing.delete(this.failing.keys().next().value);
      } else {
        this.failing.delete(target);
      }
      if (obs.on)
        obs.emit("store.failed", { command: c.kind, target, error, kind, retryable: again, attempt: c.attempt ?? 1 });
      if (kind === "Fenced") {
        obs.counts.fenced++;
        obs.emit("save.fenced", { id: `${c.name}/${c.scope}/${c.key}`, command: c.kind, error });
      }
      return;
    }
    if (this.failing.size > 0) this.failing.delete(targetOf(c));
    if (c.kind === "LockAcquire" && c.renew && lostLock(result)) {
      obs.counts.locksLost++;
      const holder = lostLock(result) === "taken" ? result.holder : undefined;
      obs.emit("lock.lost", { id: c.map, reason: lostLock(result), holder });
    }
  }
}

/** What a store call acts on, with its kind: the key for retries. */
function targetOf(c) {
  switch (c.kind) {
    case "DataGet":
    case "DataSet":
    case "DataRemove":
      return `${c.kind} ${c.name}/${c.scope}/${c.key}`;
    case "LockAcquire":
    case "LockAcquireAndGet":
    case "LockRelease":
      return `${c.kind} ${c.map}`;
    default:
      return `${c.kind} ${c.queue}`;
  }
}

/** A refresh's answer that ends the lease: "lapsed", "taken" (another holder), or undefined. */
function lostLock(result) {
  try {
    if (result === null || typeof result !== "object" || result.ok !== false) return undefined;
    if (result.lapsed === true) return "lapsed";
    return typeof result.holder === "string" ? "taken" : undefined;
  } catch {
    return undefined;
  }
}

/** A StoreError's kind, or undefined. */
function storeErrorKind(error) {
  try {
    return typeof error?.kind === "string" ? error.kind : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Random bytes for UniqueIds, drawn 4 KiB at a time: `getRandomValues` costs microseconds a
 * call, so one per 256 opens instead of one per open. Every byte is handed out once.
 */
const RANDOM_POOL = new Uint8Array(4096);
let randomUsed = RANDOM_POOL.length;

/** 16 fresh random bytes (a view of the pool, read by the core at once). */
function random16() {
  if (randomUsed === RANDOM_POOL.length) {
    globalThis.crypto.getRandomValues(RANDOM_POOL);
    randomUsed = 0;
  }
  randomUsed += 16;
  return RANDOM_POOL.subarray(randomUsed - 16, randomUsed);
}

/** No text: what the core reads as nil. */
const NO_BYTES = new Uint8Array(0);
/** Byte lengths of the texts of one call (`bytesOf`), reused. */
const LENGTHS = [0, 0, 0];

/**
 * A command from `pollCommand`: its JSON, then the JSON texts it carries for the store, each
 * after a newline (src/js/module.rs), which go in as they are (no escaping either way).
 */
function commandOf(text) {
  const end = text.indexOf("\n");
  if (end < 0) return JSON.parse(text);
  const c = JSON.parse(text.slice(0, end));
  const next = text.indexOf("\n", end + 1);
  if (next < 0) {
    c.value = text.slice(end + 1);
    return c;
  }
  const last = text.indexOf("\n", next + 1);
  c.value = text.slice(end + 1, next);
  c.userIds = text.slice(next + 1, last);
  c.metadata = text.slice(last + 1);
  return c;
}

/**
 * What the core's patch for a template reads of a value (behaviour.md §10.1): along the
 * template's objects, each of its keys that the value has as an own property (not undefined or
 * null, which are absent keys), as an object where both hold a table and as `true` where not.
 * The patch made from it is the one the whole value gives, and the rest of the value (most of a
 * player's record) is neither walked nor copied: Reconcile reads only the template's keys, as
 * the original's does. An array's elements are number keys, which a template never fills in.
 * Past the core's nesting limit the value itself goes, for the core's refusal.
 */
function templateShape(value, template, depth) {
  if (!isTable(value) || !isTable(template)) return value === undefined || value === null ? undefined : true;
  if (depth > MAX_DEPTH) return value;
  // No prototype: a "__proto__" key is an own property like any other.
  const shape = Object.create(null);
  if (Array.isArray(template)) return shape;
  for (const key of Object.keys(template)) {
    const have = Array.isArray(value) || !Object.hasOwn(value, key) ? undefined : value[key];
    if (have === undefined || have === null) continue;
    shape[key] = isTable(have) && isTable(template[key]) ? templateShape(have, template[key], depth + 1) : true;
  }
  return shape;
}

/** Whether `key` is the text of an element's Luau key (`"1"` for index 0) of `array`. */
function elementKey(array, key) {
  if (!/^[1-9][0-9]*$/.test(key)) return false;
  const item = array[Number(key) - 1];
  return item !== undefined && item !== null;
}

/** An array as the object a load gives a table with number keys: element i at `${i + 1}`
 * (a hole, nil in Luau, is no key), then any named properties. */
function tableOfArray(array) {
  const table = {};
  array.forEach((item, i) => {
    if (item !== undefined && item !== null) table[i + 1] = item;
  });
  for (const key of Object.keys(array)) {
    if (!/^(0|[1-9][0-9]*)$/.test(key)) defineData(table, key, array[key]);
  }
  return table;
}

/** Sets `table[key]` as data: a `"__proto__"` key is an own property, not the prototype. */
function defineData(table, key, value) {
  Object.defineProperty(table, key, { value, writable: true, enumerable: true, configurable: true });
}

/** An array or a plain object (the walk's `isPlainObject`): what the core reads as a table. */
function isTable(v) {
  return typeof v === "object" && v !== null && (Array.isArray(v) || isPlainObject(v));
}

/** Node's setTimeout takes at most 2^31 - 1 ms (more fires at once). */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** Runs `fn` at the next turn of the event loop; gives the function that cancels it. */
const nextTurn =
  typeof setImmediate === "function"
    ? (fn) => {
        const id = setImmediate(fn);
        return () => clearImmediate(id);
      }
    : (fn) => {
        const id = globalThis.setTimeout(fn, 0);
        return () => globalThis.clearTimeout(id);
      };

/** Twice the 4,194,304 bytes a DataStore value holds, as the core takes it (`wire.rs`). */
const MAX_LOADED_VALUE_UNITS = 8_388_608;

/** A store result of the wrong shape; its message says what is wrong. */
class BadResult extends Error {}

/**
 * Each storage command: how to run it on the store, and how to read its result. `read` takes
 * each field once (a getter cannot change its answer between the check and the use), throws a
 * BadResult if the result is not what the Store interface promises, and gives the completion.
 * A number where the core takes a string would otherwise reach wasm-bindgen, which traps.
 */
const COMMANDS = {
  DataGet: {
    method: "dataGet",
    run: (s, c) => s.dataGet(c.name, c.scope, c.key),
    read: (r) => gotWith(r, false),
  },
  DataSet: {
    method: "dataSet",
    run: (s, c) => s.dataSet(c.name, c.scope, c.key, c.value, c.userIds, c.metadata, c.fence ?? null),
    read(version) {
      if (typeof version !== "string") throw new BadResult(`${describe(version)} where a version string belongs`);
      return (core, now, id) => core.completeWritten(now, id, version);
    },
  },
  DataRemove: {
    method: "dataRemove",
    run: (s, c) => s.dataRemove(c.name, c.scope, c.key, c.fence ?? null),
    read: () => done,
  },
  LockAcquire: {
    method: "lockAcquire",
    run: (s, c) => s.lockAcquire(c.map, c.owner, c.ttl, c.token, c.renew, c.held ?? null),
    read(r) {
      const { ok, lapsed, holder } = fields(r, "a lock result", { ok: "boolean" }, ["lapsed", "holder"]);
      if (ok) return (core, now, id) => core.completeAcquired(now, id);
      if (lapsed === true) return (core, now, id) => core.completeLapsed(now, id);
      if (typeof holder === "string") return (core, now, id) => core.completeLocked(now, id, holder);
      throw new BadResult("a lock result that is not ok and has neither a holder string nor lapsed: true");
    },
  },
  LockAcquireAndGet: {
    method: "lockAcquireAndGet",
    run: (s, c) => s.lockAcquireAndGet(c.map, c.owner, c.ttl, c.token, c.name, c.scope, c.key),
    read(r) {
      const { ok, holder, entry } = fields(r, "a lock result", { ok: "boolean" }, ["holder", "entry"]);
      if (ok) {
        // The lock is written: a read the core cannot have is a failed read of a held lock, which
        // the core settles (and, giving up, releases), never a failed command that leaves it held.
        try {
          // An entry left out is not a missing key: a session must never open empty by mistake.
          if (!("entry" in r)) throw new BadResult("a lock result with ok true and no entry");
          return gotWith(entry, true);
        } catch (e) {
          const what = e instanceof BadResult ? e.message : failureText(e, "an entry whose reading threw");
          const message = `store.lockAcquireAndGet resolved with ${what}`;
          return (core, now, id) => core.completeError(now, id, message, true, true);
        }
      }
      if (typeof holder === "string") return (core, now, id) => core.completeLocked(now, id, holder);
      throw new BadResult("a lock result that is not ok and has no holder string");
    },
  },
  LockRelease: {
    method: "lockRelease",
    run: (s, c) => s.lockRelease(c.map, c.owner, c.token),
    read: () => done,
  },
  QueueAdd: {
    method: "queueAdd",
    run: (s, c) => s.queueAdd(c.queue, c.value, c.expiration, c.priority),
    read: () => done,
  },
  QueueRead: {
    method: "queueRead",
    run: (s, c) => s.queueRead(c.queue, c.count, c.allOrNothing, c.wait, 30, c.signal),
    read(r) {
      if (r === undefined || r === null) return (core, now, id) => core.completeRead(now, id, bytes("[]"), undefined);
      const { values, readId } = fields(r, "a queue read", { values: "strings", readId: "string" });
      if (!values.every((v) => v.isWellFormed()))
        throw new BadResult("a queue read whose values have an unpaired surrogate");
      return (core, now, id) => core.completeRead(now, id, bytes(JSON.stringify(values)), readId);
    },
  },
  QueueRemove: {
    method: "queueRemove",
    run: (s, c) => s.queueRemove(c.queue, c.readId),
    read: () => done,
  },
};

/**
 * The completion that hands the core a read's entry (`undefined` or `null`: the key is
 * missing); `acquired` for the read of a `lockAcquireAndGet` that took the lock.
 */
function gotWith(r, acquired) {
  if (r === undefined || r === null) {
    return (core, now, id) => core.completeGot(now, id, acquired, false, NO_BYTES, 0, 0, "", 0, 0);
  }
  const entry = fields(r, "an entry", {
    value: "string",
    version: "string",
    createdTime: "number",
    updatedTime: "number",
    userIds: "array",
    metadata: "object",
  });
  // The core refuses a value longer than any record (in bytes); one this long in UTF-16 units
  // is longer still, and is refused before it is copied into wasm memory, which never shrinks.
  if (entry.value.length > MAX_LOADED_VALUE_UNITS) {
    throw new BadResult(`an entry whose value is ${entry.value.length} characters long, more than any record holds`);
  }
  for (const name of ["value", "userIds", "metadata"]) {
    // UTF-8 has no unpaired surrogate: the copy into wasm would hold U+FFFD instead, and the
    // session would open with a value other than the one stored (and save it so).
    if (!entry[name].isWellFormed()) throw new BadResult(`an entry whose ${name} has an unpaired surrogate`);
  }
  return (core, now, id) => {
    const texts = bytesOf([entry.value, entry.userIds, entry.metadata], LENGTHS);
    const [valueLength, userIdsLength] = LENGTHS;
    const { version, createdTime, updatedTime } = entry;
    core.completeGot(now, id, acquired, true, texts, valueLength, userIdsLength, version, createdTime, updatedTime);
  };
}

/** The completion of a command whose result carries nothing. */
const done = (core, now, id) => core.completeDone(now, id);

/**
 * The named fields of a store result, each read once and checked: `string`, `number` (finite),
 * `boolean`, `strings` (an array of strings), and `array`/`object` (JSON text of one). `extra`
 * fields are read without a check.
 */
function fields(r, what, kinds, extra = []) {
  if (r === null || typeof r !== "object") throw new BadResult(`${describe(r)} where ${what} belongs`);
  const out = {};
  for (const name in kinds) {
    const kind = kinds[name];
    const v = (out[name] = r[name]);
    if (!FIELD_CHECKS[kind](v)) {
      throw new BadResult(`${what} whose ${name} is ${describe(v)}, not ${FIELD_NAMES[kind]}`);
    }
  }
  for (const name of extra) out[name] = r[name];
  return out;
}

const FIELD_CHECKS = {
  string: (v) => typeof v === "string",
  number: (v) => typeof v === "number" && Number.isFinite(v),
  boolean: (v) => typeof v === "boolean",
  strings: (v) => Array.isArray(v) && v.every((item) => typeof item === "string"),
  // JSON text: the core parses it; here only what it starts with (the store's contract).
  array: (v) => typeof v === "string" && /^\s*\[/.test(v),
  object: (v) => typeof v === "string" && /^\s*\{/.test(v),
};
const FIELD_NAMES = {
  string: "a string",
  number: "a finite number",
  boolean: "a boolean",
  strings: "an array of strings",
  array: "a JSON array (text)",
  object: "a JSON object (text)",
};

/**
 * What a failure says, whatever was thrown: an error's message, a string as it is, else
 * `${what} ${description}` (`store.dataGet failed with undefined`). Never throws (a message
 * getter or a `toString` may).
 */
function failureText(error, what) {
  try {
    const message = typeof error === "object" && error !== null ? error.message : error;
    if (typeof message === "string" && message !== "") return message;
  } catch {
    return `${what} an error whose message cannot be read`;
  }
  return `${what} ${describe(error)}`;
}

/** A StoreError's word on retrying (D19); undefined lets the core read the message. */
function retryable(error) {
  try {
    return typeof error?.retryable === "boolean" ? error.retryable : undefined;
  } catch {
    return undefined;
  }
}

const READONLY = "Attempt to modify a readonly value";

/** A session's `Metadata` or `UserIds` not made yet: an empty table nobody holds. */
const UNMADE = Symbol("unmade");

function isEmptyObject(o) {
  for (const _ in o) return false;
  return true;
}

/**
 * A session: what `new`, `hidden` and `find` return. Its state is in private fields (the
 * object has no own properties a user could see or shadow), and each signal is made the first
 * time it is read: a server holds one of these per player, most of whose signals nobody
 * connects (issue 12). A signal never made has no handlers, so firing it is skipped.
 */
class DataStore {
  #host;
  #sid;
  /** the constructor's arguments as the core reads them (for a courier) */
  #args;
  /** once destroyed: the core properties (and `Key`) as they were */
  #frozen;
  #value = undefined;
  /** `Metadata` and `UserIds`; UNMADE until read (most stay empty and unread) */
  #metadata = UNMADE;
  #userIds = UNMADE;
  /** signal name → Signal, for the signals read so far */
  #signals = undefined;

  constructor(host, sid, args) {
    this.#host = host;
    this.#sid = sid;
    this.#args = args;
  }

  /** @internal the core's id of this session */
  get _sid() {
    return this.#sid;
  }

  /** @internal the constructor's arguments as the core reads them (for a courier) */
  get _args() {
    return this.#args;
  }

  /** @internal */
  get _value() {
    return this.#value;
  }
  set _value(v) {
    this.#value = v;
  }

  /** @internal the signal `name`, made now if it was never read */
  _signal(name) {
    const signals = (this.#signals ??= {});
    let signal = signals[name];
    if (signal === undefined) {
      const host = this.#host;
      const sid = this.#sid;
      // A handler that throws is counted, and told to the module's observers if it has any.
      const onError = (error) => host.handlerFailed(this, name, error);
      signal = signals[name] =
        name === "ProcessQueue"
          ? new Signal((n) => {
              host.core.setProcessQueueConnections(host.now(), sid, n);
              host.schedule();
            }, onError)
          : new Signal(undefined, onError);
    }
    return signal;
  }

  /** @internal fires the signal `name` if it was ever read (else nothing is connected) */
  _fire(name, ...args) {
    this.#signals?.[name]?.Fire(...args);
  }

  /** @internal disconnects every handler of every signal */
  _disconnectAll() {
    if (this.#signals === undefined) return;
    for (const name of SIGNALS) this.#signals[name]?.DisconnectAll();
  }

  get Key() {
    return this.#frozen ? this.#frozen.Key : this.#host.core.property(this.#sid, "Key");
  }
  set Key(_) {
    throw new TypeError(READONLY);
  }

  get Value() {
    return this.#value;
  }
  set Value(v) {
    this.#value = v;
  }

  get Metadata() {
    if (this.#metadata === UNMADE) this.#metadata = {};
    return this.#metadata;
  }
  set Metadata(v) {
    this.#set("Metadata", v);
    this.#metadata = v;
  }

  get UserIds() {
    if (this.#userIds === UNMADE) this.#userIds = [];
    return this.#userIds;
  }
  set UserIds(v) {
    this.#set("UserIds", v);
    this.#userIds = v;
  }

  Open(template) {
    check(this, "Open");
    const json = jsonOrError(template, "template");
    return typeof json === "string" ? this.#host.call(this, "Open", json) : json;
  }
  Read(template) {
    check(this, "Read");
    const json = jsonOrError(template, "template");
    return typeof json === "string" ? this.#host.call(this, "Read", json) : json;
  }
  Save() {
    check(this, "Save");
    return this.#host.call(this, "Save");
  }
  Close() {
    check(this, "Close");
    return this.#host.call(this, "Close");
  }
  Destroy() {
    check(this, "Destroy");
    return this.#host.call(this, "Destroy");
  }
  Queue(value, expiration, priority) {
    check(this, "Queue");
    for (const v of [expiration, priority]) {
      if (v !== undefined && v !== null && typeof v !== "number") {
        throw new TypeError("Attempt to Queue failed: Passed value is not nil or number");
      }
    }
    const json = jsonOrError(value, "value");
    if (typeof json !== "string") return json;
    return this.#host.call(this, "Queue", json, expiration ?? undefined, priority ?? undefined);
  }
  Remove(id) {
    check(this, "Remove");
    if (typeof id !== "string") throw new TypeError("Attempt to RemoveQueue failed: Passed value is not a string");
    return this.#host.call(this, "Remove", undefined, undefined, undefined, id);
  }

  /** @internal whether `value` is a DataStore made by this file (the original's check of `self`) */
  static _is(value) {
    return typeof value === "object" && value !== null && #host in value;
  }

  /** A deep copy of `Value`. */
  Clone() {
    check(this, "Clone");
    return this.#value === undefined ? undefined : JSON.parse(toJson(this.#value, "Value"));
  }

  /** Fills what `Value` lacks from `template`, in place (nothing present is overwritten). */
  Reconcile(template) {
    check(this, "Reconcile");
    // What it inserts are copies: the core's patch comes back as new objects.
    this._reconcile(template);
  }

  /** `[characters, fraction of the 4 MB limit]`, as the original counts them. */
  Usage() {
    check(this, "Usage");
    const host = this.#host;
    const value = toJson(this.#value, "Value");
    const metadata = this.#metadata === UNMADE ? "{}" : toJson(this.#metadata, "Metadata");
    const [n, fraction] = host.onCore(this, (sid) => {
      const usage = host.core.usage(sid, bytesOf([value, metadata], LENGTHS), LENGTHS[0]);
      // Its side effect on CompressedValue (§10.3) shows on a destroyed session too.
      const compressed = host.core.property(sid, "CompressedValue");
      if (this.#frozen && compressed !== "") this.#frozen.CompressedValue = compressed;
      return usage;
    });
    return [n, fraction];
  }

  /**
   * @internal Fills the live value in place. Keys are data: a `"__proto__"` or `"constructor"`
   * key in the template becomes an own property, never the object's prototype.
   */
  _reconcile(template) {
    // toJson, not JSON.stringify: it keeps -0.
    const shape = toJson(templateShape(this.#value, template, 0), "Value");
    const texts = bytesOf([shape, toJson(template, "template")], LENGTHS);
    const patch = JSON.parse(this.#host.wasm.templatePatch(texts, LENGTHS[0]));
    if (patch.replace !== undefined) {
      this.#value = patch.replace;
      return;
    }
    // A template key that lands on an array makes it a table keyed by numbers and strings (a
    // mixed table in Luau), which JS holds as an object keyed by text, as a load gives it: the
    // element at index i becomes the key `${i + 1}`. A template key that is one of those texts
    // would overwrite an element, and a JS object cannot hold both: refused before anything
    // changes, as a load refuses such a value.
    for (const { path } of patch.inserts) {
      const { target } = this.#insertTarget(path);
      const key = path[path.length - 1];
      if (Array.isArray(target) && elementKey(target, key)) {
        const at = path.slice(0, -1).map(step).join("");
        throw new Error(
          `Value${at}: the template's key ${JSON.stringify(key)} would take the place of the array's element [${key - 1}], which is key ${key} in Luau and ${JSON.stringify(key)} in JSON; a JS object cannot hold both`,
        );
      }
    }
    for (const { path, value } of patch.inserts) {
      let { parent, target } = this.#insertTarget(path);
      if (target === undefined) continue;
      if (Array.isArray(target)) {
        target = tableOfArray(target);
        if (parent === undefined) this.#value = target;
        else defineData(parent, path[path.length - 2], target);
      }
      defineData(target, path[path.length - 1], value);
    }
  }

  /**
   * The table an insert of the core's patch goes into, and the table holding that one (none for
   * the value itself); no table where the path no longer leads to one (a getter in the template
   * changed the value while the patch was made), and the insert is skipped, as the core's
   * `apply_patch` skips it.
   */
  #insertTarget(path) {
    let parent;
    let target = this.#value;
    for (let i = 0; i < path.length - 1; i++) {
      if (!isTable(target)) return {};
      parent = target;
      target = Object.hasOwn(target, path[i]) ? target[path[i]] : undefined;
    }
    return isTable(target) ? { parent, target } : {};
  }

  /** @internal the second element of a reply: the live Value, a text, or undefined */
  _data(reply) {
    return reply.value ? this.#value : reply.text;
  }

  /** @internal */
  _install(value, metadata, userIds) {
    this.#value = value ?? undefined;
    // Fresh empty tables (from the event's JSON, or none) that nobody holds yet: made on first read.
    this.#metadata = metadata === undefined || metadata === null || isEmptyObject(metadata) ? UNMADE : metadata;
    this.#userIds = userIds === undefined || userIds === null || userIds.length === 0 ? UNMADE : userIds;
  }

  /** @internal hands the core the live values right after the Saving handlers ran */
  _snapshot() {
    const host = this.#host;
    let value, metadata, userIds, error;
    try {
      value = toJson(this.#value, "Value");
      metadata = this.#metadata === UNMADE ? "{}" : toJson(this.#metadata, "Metadata");
      userIds = this.#userIds === UNMADE ? "[]" : toJson(this.#userIds, "UserIds");
    } catch (e) {
      // A getter or Proxy in the value may throw anything.
      error = failureText(e, "Value: reading it threw");
    }
    // The clock before the shared buffer is filled (see `callAs`).
    const now = host.now();
    const texts = bytesOf([value ?? "null", metadata ?? "{}", userIds ?? "[]"], LENGTHS);
    host.core.provideSnapshot(now, this.#sid, texts, LENGTHS[0], LENGTHS[1], error);
  }

  /** @internal keeps the last core properties once the core forgets a destroyed session */
  _freeze() {
    const host = this.#host;
    this.#frozen = Object.fromEntries(CORE_PROPERTIES.map((p) => [p, host.core.property(this.#sid, p)]));
    this.#frozen.Key = host.core.property(this.#sid, "Key");
  }

  /** @internal */
  _get(name) {
    return this.#frozen ? this.#frozen[name] : this.#host.core.property(this.#sid, name);
  }

  #set(name, v) {
    const host = this.#host;
    return host.onCore(this, (sid) =>
      host.core.setProperty(host.now(), sid, name, kindOf(v), typeof v === "number" ? v : 0, v === true),
    );
  }

  /** @internal */
  _assign(name, v) {
    this.#set(name, v);
    // A destroyed session keeps what it is given, checked by the same rules, as the original
    // does; a read-only property stays read-only (the check above throws).
    if (this.#frozen) this.#frozen[name] = v;
    else this.#host.schedule();
  }

  toString() {
    return "DataStore";
  }
}

/** The original's check of `self`: a method called on anything but a DataStore throws. */
function check(self, method) {
  if (!DataStore._is(self)) throw new TypeError(`Attempt to ${method} failed: Passed value is not a DataStore`);
}

/**
 * A template or queued value as JSON text, or, when it cannot be stored, the answer to give
 * instead: `["Error", message naming the path]`, as the core answers values it refuses.
 */
function jsonOrError(value, root) {
  try {
    return toJson(value, root);
  } catch (e) {
    return Promise.resolve([Response.Error, failureText(e, `${root}: reading it threw`)]);
  }
}

// Core-owned properties: read through the core, assigned through its validation (which also
// refuses the read-only ones with the original's message).
for (const name of CORE_PROPERTIES) {
  Object.defineProperty(DataStore.prototype, name, {
    get() {
      return this._get(name);
    },
    set(v) {
      this._assign(name, v);
    },
  });
}

// Signals are read-only, and (D12) no method or signal can be shadowed by a custom field.
for (const name of SIGNALS) {
  Object.defineProperty(DataStore.prototype, name, {
    get() {
      return this._signal(name);
    },
    set() {
      throw new TypeError(READONLY);
    },
  });
}
for (const name of METHODS) {
  const method = DataStore.prototype[name];
  Object.defineProperty(DataStore.prototype, name, {
    get() {
      return method;
    },
    set() {
      throw new TypeError(READONLY);
    },
  });
}
