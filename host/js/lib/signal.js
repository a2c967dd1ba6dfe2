/**
 * Signal and Connection: the original's event objects, in JS.
 *
 * Handlers run synchronously, in connection order, with the fired arguments (then any bound
 * extras). A handler that throws, or an async one whose promise rejects, is reported (to the
 * module's `logger`/`onEvent` when it has them, else to `Signal.onError`, default
 * `console.error`) and the others still run: one bad handler never
 * breaks the module, as in the original, where each handler runs in its own thread. `Wait()` is
 * a once-only connection whose promise resolves with the fired arguments. The connection count
 * drives the core's queue-reading loop, so a signal can tell its owner when it changes
 * (`onCount`).
 */

const READONLY = "Attempt to modify a readonly value";

/** Hands a handler's failure to the signal's reporter (else `Signal.onError`), which may not
 * throw either. */
function report(error, onError) {
  try {
    (onError ?? Signal.onError)(error);
  } catch {
    // Nowhere left to report it; the module carries on.
  }
}

export class Connection {
  #signal;
  #handler;
  #once;
  /** @internal links of the signal's list; a removed connection keeps `_next` so a firing walk
   * that stands on it still reaches the rest */
  _prev = undefined;
  _next = undefined;

  /** @internal */
  constructor(signal, handler, once) {
    this.#signal = signal;
    this.#handler = handler;
    this.#once = once;
  }

  /** Whether the connection is still attached. */
  get Connected() {
    return this.#signal !== undefined;
  }
  set Connected(_) {
    throw new TypeError(READONLY);
  }

  /** The signal it is attached to, or `undefined` once disconnected. */
  get Signal() {
    return this.#signal;
  }
  set Signal(_) {
    throw new TypeError(READONLY);
  }

  Disconnect() {
    if (!(typeof this === "object" && this !== null && #once in this)) {
      throw new TypeError("Attempt to Disconnect failed: Passed value is not a Connection");
    }
    const signal = this.#signal;
    if (signal === undefined) return;
    this.#signal = undefined;
    // A connection the application still holds keeps the ones after it reachable (`_next`),
    // but not their handlers.
    this.#handler = undefined;
    signal._unlink(this);
  }

  /** @internal gives what the handler returned */
  _call(args) {
    const handler = this.#handler;
    if (this.#once) this.Disconnect();
    return handler(...args);
  }
}

/** The original's check of a signal method's `self` (behaviour.md §13: every method but Fire
 * says "Connect"; Fire a lower-case "connect"). */
function check(self, method) {
  if (!Signal._is(self)) throw new TypeError(`Attempt to ${method} failed: Passed value is not a Signal`);
}

export class Signal {
  /** Where a throwing handler is reported. */
  static onError = (error) => console.error("DataStoreModule: a signal handler threw:", error);

  #head = undefined;
  #tail = undefined;
  #count = 0;
  #onCount;
  #onError;

  /**
   * @param {(count: number) => void} [onCount] told whenever the connection count changes
   * @param {(error: unknown) => void} [onError] where a throwing handler is reported (default
   *   `Signal.onError`; a module's signals report to the module)
   */
  constructor(onCount, onError) {
    this.#onCount = onCount;
    this.#onError = onError;
  }

  /** @internal whether `value` is a Signal made by this file */
  static _is(value) {
    return typeof value === "object" && value !== null && #count in value;
  }

  /** How many connections (including pending `Wait()`s) are attached. */
  get Connections() {
    return this.#count;
  }
  set Connections(_) {
    throw new TypeError(READONLY);
  }

  /** @param {(...args: any[]) => void} handler */
  Connect(handler, ...extra) {
    check(this, "Connect");
    return this.#add(handler, extra, false);
  }

  /** Like `Connect`, but disconnects after the first firing. */
  Once(handler, ...extra) {
    check(this, "Connect");
    return this.#add(handler, extra, true);
  }

  /** Resolves with the arguments of the next firing (then any `extra`). */
  Wait(...extra) {
    check(this, "Connect");
    return new Promise((resolve) => {
      this.#add((...args) => resolve(args), extra, true);
    });
  }

  DisconnectAll() {
    check(this, "Connect");
    if (this.#count === 0) return;
    for (let c = this.#head; c !== undefined; c = c._next) c.Disconnect();
  }

  /** Runs every handler now, in connection order. Connections made during a firing are
   * reached by it too, and removing one during a firing does not break the walk. */
  Fire(...args) {
    check(this, "connect");
    for (let c = this.#head; c !== undefined; c = c._next) {
      if (!c.Connected) continue;
      try {
        const result = c._call(args);
        if (typeof result?.then === "function") result.then(undefined, (error) => report(error, this.#onError));
      } catch (error) {
        report(error, this.#onError);
      }
    }
  }

  #add(handler, extra, once) {
    if (typeof handler !== "function") {
      throw new TypeError("Attempt to Connect failed: Passed value is not a function");
    }
    const bound = extra.length === 0 ? handler : (...args) => handler(...args, ...extra);
    const connection = new Connection(this, bound, once);
    connection._prev = this.#tail;
    if (this.#tail === undefined) this.#head = connection;
    else this.#tail._next = connection;
    this.#tail = connection;
    this.#count++;
    this.#onCount?.(this.#count);
    return connection;
  }

  /** @internal */
  _unlink(connection) {
    const { _prev: prev, _next: next } = connection;
    if (prev === undefined) this.#head = next;
    else prev._next = next;
    if (next === undefined) this.#tail = prev;
    else next._prev = prev;
    connection._prev = undefined;
    this.#count--;
    this.#onCount?.(this.#count);
  }
}
