/**
 * The JS host of the session core: `createModule`, DataStore session objects, and the driver
 * loop that carries out the core's storage commands and fires its events.
 *
 * Nothing here decides protocol: the core (src/session, through src/js/module.rs) says which
 * command to run, which signal to fire, which promise to resolve and when the next timer is
 * due. This file converts values (lib/value.js), keeps the live `Value`/`Metadata`/`UserIds`
 * objects users mutate, and runs the loop.
 */
import { Signal } from "./signal.js";
import { toJson } from "./value.js";

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
  function createModule({ store, clock = realClock, bindToClose = false, seed } = {}) {
    if (!store || typeof store.dataGet !== "function") {
      throw new TypeError("createModule: `store` must be a store (MemoryStore, LmdbStore, RedisStore)");
    }
    const module = new ModuleHost(wasm, store, clock, seed);
    if (bindToClose) module._bindSignals();
    return module.api;
  }
  return createModule;
}

class ModuleHost {
  constructor(wasm, store, clock, seed) {
    this.wasm = wasm;
    this.store = store;
    this.clock = clock;
    // Every JS store fences data writes (lock owner, acquisition and write sequence, D22); a
    // store may say otherwise.
    this.core = new wasm.WasmModule(seed ?? Math.floor(Math.random() * 2 ** 52), store.fencing !== false);
    /** session id → DataStore */
    this.sessions = new Map();
    /** call id → resolve */
    this.calls = new Map();
    this.closing = [];
    /** destroyed sessions the core has not forgotten yet */
    this.retired = new Set();
    /** stand-in sessions (see `courier`) the core has not forgotten yet */
    this.couriers = new Set();
    this.timer = undefined;
    this.timerAt = undefined;
    this.pumpQueued = false;
    const host = this;
    this.api = Object.freeze({
      Response,
      new: (...args) => host.open(false, argsJson(args)),
      hidden: (...args) => host.open(true, argsJson(args)),
      find: (...args) => host.find(argsJson(args)),
      BindToClose: () => host.bindToClose(),
    });
  }

  now() {
    return this.clock.now();
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
    const random = new Uint8Array(16);
    globalThis.crypto.getRandomValues(random);
    return this.core.openSession(this.now(), args, hidden, random);
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
      this.core.call(this.now(), sid, "Destroy", "null", undefined, undefined, "");
      this.couriers.add(sid);
      this.schedule();
    }
  }

  find(args) {
    const sid = this.core.find(args);
    return sid === undefined ? undefined : this.sessions.get(sid);
  }

  bindToClose() {
    return new Promise((resolve) => {
      this.closing.push(resolve);
      this.core.bindToClose(this.now());
      this.schedule();
    });
  }

  /** SIGINT/SIGTERM: save, unlock and destroy every session, then exit with the usual code. */
  _bindSignals() {
    if (typeof process !== "object" || typeof process.once !== "function") return;
    for (const [signal, code] of [
      ["SIGINT", 130],
      ["SIGTERM", 143],
    ]) {
      process.once(signal, () => {
        this.bindToClose().then(
          () => process.exit(code),
          () => process.exit(code),
        );
      });
    }
  }

  /** A call into the core; answers at once or when its CallDone event arrives. */
  call(ds, kind, arg = "null", expiration, priority, text = "") {
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
    const out = JSON.parse(this.core.call(this.now(), sid, kind, arg, expiration, priority, text));
    this.schedule();
    if (out.pending !== undefined) {
      return new Promise((resolve) => this.calls.set(out.pending, { ds, resolve }));
    }
    if (out.reconcile !== undefined) ds._reconcile(out.reconcile);
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
      for (let e; (e = this.core.pollEvent()) !== undefined; busy = true) this.event(JSON.parse(e));
      for (let c; (c = this.core.pollCommand()) !== undefined; busy = true) this.execute(JSON.parse(c));
    }
    if (this.retired.size > 0 || this.couriers.size > 0) this.release();
    this.arm();
  }

  arm() {
    const at = this.core.pollTimeout();
    if (at === this.timerAt) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = at;
    if (at === undefined) return;
    this.timer = this.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = undefined;
        this.core.handleTimeout(this.now());
        this.pump();
      },
      Math.max(0, at - this.now()),
    );
  }

  event(e) {
    if (e.kind === "BindToCloseDone") {
      for (const resolve of this.closing.splice(0)) resolve();
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
        ds.StateChanged.Fire(e.state, ds);
        if (e.state === null) this.retire(e.session, ds);
        break;
      case "Saving":
        ds.Saving.Fire(ds._value, ds);
        ds._snapshot();
        break;
      case "Saved":
        ds.Saved.Fire(e.response, ds._data(e), ds);
        break;
      case "AttemptsChanged":
        ds.AttemptsChanged.Fire(e.remaining, ds);
        break;
      case "ProcessQueue":
        ds.ProcessQueue.Fire(e.id, e.values, ds);
        break;
      case "DisconnectAll":
        for (const name of SIGNALS) ds[name].DisconnectAll();
        break;
    }
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

  /** Carries out one storage command and hands the result back. */
  execute(c) {
    const core = this.core;
    const s = this.store;
    let work;
    switch (c.kind) {
      case "DataGet":
        work = s
          .dataGet(c.name, c.scope, c.key)
          .then((r) =>
            r === undefined
              ? core.completeGot(this.now(), c.id, undefined, "", 0, 0, "[]", "{}")
              : core.completeGot(
                  this.now(),
                  c.id,
                  r.value,
                  r.version,
                  r.createdTime,
                  r.updatedTime,
                  r.userIds,
                  r.metadata,
                ),
          );
        break;
      case "DataSet":
        work = s
          .dataSet(c.name, c.scope, c.key, c.value, c.userIds, c.metadata, c.fence ?? null)
          .then((version) => core.completeWritten(this.now(), c.id, version));
        break;
      case "DataRemove":
        work = s.dataRemove(c.name, c.scope, c.key, c.fence ?? null).then(() => core.completeDone(this.now(), c.id));
        break;
      case "LockAcquire":
        work = s
          .lockAcquire(c.map, c.owner, c.ttl, c.token, c.renew, c.held ?? null)
          .then((r) =>
            r.ok
              ? core.completeAcquired(this.now(), c.id)
              : r.lapsed
                ? core.completeLapsed(this.now(), c.id)
                : core.completeLocked(this.now(), c.id, r.holder),
          );
        break;
      case "LockRelease":
        work = s.lockRelease(c.map, c.owner, c.token).then(() => core.completeDone(this.now(), c.id));
        break;
      case "QueueAdd":
        work = s.queueAdd(c.queue, c.value, c.expiration, c.priority).then(() => core.completeDone(this.now(), c.id));
        break;
      case "QueueRead":
        work = s
          .queueRead(c.queue, c.count, c.allOrNothing, c.wait, 30)
          .then((r) => core.completeRead(this.now(), c.id, JSON.stringify(r?.values ?? []), r?.readId));
        break;
      case "QueueRemove":
        work = s.queueRemove(c.queue, c.readId).then(() => core.completeDone(this.now(), c.id));
        break;
      default:
        work = Promise.reject(new Error(`unknown command ${c.kind}`));
    }
    work
      // D19: a StoreError says whether to retry; anything else, the core reads the message.
      .catch((error) =>
        core.completeError(
          this.now(),
          c.id,
          String(error?.message ?? error),
          typeof error?.retryable === "boolean" ? error.retryable : undefined,
        ),
      )
      .finally(() => this.schedule());
  }
}

const READONLY = "Attempt to modify a readonly value";

/** A session: what `new`, `hidden` and `find` return. */
class DataStore {
  #host;
  #key;
  #frozen;

  constructor(host, sid, args) {
    this.#host = host;
    this.#key = host.core.property(sid, "Key");
    Object.defineProperty(this, "_sid", { value: sid });
    Object.defineProperty(this, "_args", { value: args });
    Object.defineProperty(this, "_value", { value: undefined, writable: true });
    Object.defineProperty(this, "_metadata", { value: {}, writable: true });
    Object.defineProperty(this, "_userIds", { value: [], writable: true });
    for (const name of SIGNALS) {
      const signal =
        name === "ProcessQueue"
          ? new Signal((n) => {
              host.core.setProcessQueueConnections(host.now(), sid, n);
              host.schedule();
            })
          : new Signal();
      Object.defineProperty(this, `_${name}`, { value: signal });
    }
  }

  get Key() {
    return this.#key;
  }
  set Key(_) {
    throw new TypeError(READONLY);
  }

  get Value() {
    return this._value;
  }
  set Value(v) {
    this._value = v;
  }

  get Metadata() {
    return this._metadata;
  }
  set Metadata(v) {
    this.#set("Metadata", v);
    this._metadata = v;
  }

  get UserIds() {
    return this._userIds;
  }
  set UserIds(v) {
    this.#set("UserIds", v);
    this._userIds = v;
  }

  Open(template) {
    return this.#host.call(this, "Open", toJson(template, "template"));
  }
  Read(template) {
    return this.#host.call(this, "Read", toJson(template, "template"));
  }
  Save() {
    return this.#host.call(this, "Save");
  }
  Close() {
    return this.#host.call(this, "Close");
  }
  Destroy() {
    return this.#host.call(this, "Destroy");
  }
  Queue(value, expiration, priority) {
    for (const v of [expiration, priority]) {
      if (v !== undefined && v !== null && typeof v !== "number") {
        throw new TypeError("Attempt to Queue failed: Passed value is not nil or number");
      }
    }
    let json;
    try {
      json = toJson(value, "value");
    } catch (e) {
      return Promise.resolve([Response.Error, e.message]);
    }
    return this.#host.call(this, "Queue", json, expiration ?? undefined, priority ?? undefined);
  }
  Remove(id) {
    if (typeof id !== "string") throw new TypeError("Attempt to RemoveQueue failed: Passed value is not a string");
    return this.#host.call(this, "Remove", "null", undefined, undefined, id);
  }

  /** A deep copy of `Value`. */
  Clone() {
    return this._value === undefined ? undefined : JSON.parse(toJson(this._value, "Value"));
  }

  /** Fills what `Value` lacks from `template`, in place (nothing present is overwritten). */
  Reconcile(template) {
    // What it inserts are copies: the core's patch comes back as new objects.
    this._reconcile(template);
  }

  /** `[characters, fraction of the 4 MB limit]`, as the original counts them. */
  Usage() {
    const host = this.#host;
    const value = toJson(this._value, "Value");
    const metadata = toJson(this._metadata, "Metadata");
    const [n, fraction] = host.onCore(this, (sid) => {
      const usage = host.core.usage(sid, value, metadata);
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
    const patch = JSON.parse(this.#host.wasm.templatePatch(toJson(this._value, "Value"), toJson(template, "template")));
    if (patch.replace !== undefined) {
      this._value = patch.replace;
      return;
    }
    for (const { path, value } of patch.inserts) {
      let target = this._value;
      // Every step but the last is an own property of the live value (the core read it there).
      for (let i = 0; i < path.length - 1; i++) target = target[path[i]];
      Object.defineProperty(target, path[path.length - 1], {
        value,
        writable: true,
        enumerable: true,
        configurable: true,
      });
    }
  }

  /** @internal the second element of a reply: the live Value, a text, or undefined */
  _data(reply) {
    return reply.value ? this._value : reply.text;
  }

  /** @internal */
  _install(value, metadata, userIds) {
    this._value = value ?? undefined;
    this._metadata = metadata ?? {};
    this._userIds = userIds ?? [];
  }

  /** @internal hands the core the live values right after the Saving handlers ran */
  _snapshot() {
    const host = this.#host;
    let value, metadata, userIds, error;
    try {
      value = toJson(this._value, "Value");
      metadata = toJson(this._metadata, "Metadata");
      userIds = toJson(this._userIds, "UserIds");
    } catch (e) {
      error = e.message;
    }
    host.core.provideSnapshot(host.now(), this._sid, value ?? "null", metadata ?? "{}", userIds ?? "[]", error);
  }

  /** @internal keeps the last core properties once the core forgets a destroyed session */
  _freeze() {
    const host = this.#host;
    this.#frozen = Object.fromEntries(CORE_PROPERTIES.map((p) => [p, host.core.property(this._sid, p)]));
  }

  /** @internal */
  _get(name) {
    return this.#frozen ? this.#frozen[name] : this.#host.core.property(this._sid, name);
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
      return this[`_${name}`];
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
