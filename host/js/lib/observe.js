/**
 * What a module tells its operator: structured events (to `onEvent` and to a pino-shaped
 * `logger`) and counters (`stats()`).
 *
 * The core decides every retry, lapse and save; the driver (module.js) only watches what it
 * already carries out and reports it here: a store call that failed, a command sent again for
 * the same target after a failure (a retry), a refresh answered "lapsed" or with another
 * holder (a lost lock), a `Saved` event with or without a data write before it, a queue
 * batch handed to `ProcessQueue`, a shutdown's sessions closing. Nothing here feeds back into
 * the core.
 *
 * Observers cannot break the module: an `onEvent` or logger method that throws is reported once
 * (to the logger's `error`, else `console.error`) and then ignored.
 */
import { describe } from "./clock.js";

/** Each event type's log level and message. */
export const EVENTS = Object.freeze({
  "store.failed": ["warn", "store call failed"],
  "store.retried": ["info", "store call sent again after a failure"],
  "store.clientError": ["warn", "store client error"],
  "store.connection": ["info", "store connection changed"],
  "lock.lost": ["warn", "session lock lost"],
  "save.saved": ["debug", "session saved"],
  "save.skipped": ["debug", "save skipped: nothing new to write"],
  "save.fenced": ["error", "save refused: the session no longer holds the lock"],
  "save.failed": ["warn", "save failed"],
  "queue.delivered": ["debug", "queue batch delivered to ProcessQueue"],
  "handler.failed": ["error", "a signal handler threw"],
  "shutdown.signal": ["info", "shutdown signal received"],
  "shutdown.started": ["info", "shutdown started"],
  "shutdown.progress": ["info", "shutdown: session closed"],
  "shutdown.done": ["info", "shutdown done"],
  "shutdown.hookFailed": ["error", "the application's shutdown hook failed"],
  "shutdown.exit": ["info", "exiting after shutdown"],
  "clock.broken": ["warn", "clock reading refused"],
  "driver.error": ["error", "driver error"],
});

const LEVELS = ["debug", "info", "warn", "error"];

/** `createModule`'s `logger` and `onEvent`, refused with a `TypeError` naming the field. */
export function checkObservers(where, { logger, onEvent }) {
  if (logger !== undefined) {
    if (logger === null || typeof logger !== "object") {
      throw new TypeError(
        `${where}.logger must be an object with debug, info, warn and error methods, got ${describe(logger)}`,
      );
    }
    const missing = LEVELS.filter((level) => typeof logger[level] !== "function");
    if (missing.length > 0) throw new TypeError(`${where}.logger has no ${missing.join(", ")} method`);
  }
  if (onEvent !== undefined && typeof onEvent !== "function") {
    throw new TypeError(`${where}.onEvent must be a function, got ${describe(onEvent)}`);
  }
}

/** Per command kind: calls, failed calls, and wall-clock milliseconds (total and longest). */
function latency() {
  return { count: 0, failures: 0, totalMs: 0, maxMs: 0 };
}

export class Observer {
  constructor(logger, onEvent) {
    this.logger = logger;
    this.onEvent = onEvent;
    /** whether anyone listens: events are built only then; counters always run */
    this.on = logger !== undefined || onEvent !== undefined;
    this.broken = false;
    this.counts = {
      saves: 0,
      saveFailures: 0,
      savesSkipped: 0,
      fenced: 0,
      storeCalls: 0,
      storeFailures: 0,
      retries: 0,
      locksLost: 0,
      queueItemsDelivered: 0,
      handlerErrors: 0,
    };
    /** command kind → latency() */
    this.latency = {};
  }

  /** One store call done, `failed` or not, after `ms`. */
  call(kind, ms, failed) {
    const l = (this.latency[kind] ??= latency());
    l.count++;
    l.totalMs += ms;
    if (ms > l.maxMs) l.maxMs = ms;
    this.counts.storeCalls++;
    if (failed) {
      l.failures++;
      this.counts.storeFailures++;
    }
  }

  /** Tells the observers, if any, of event `type` with its `fields`. */
  emit(type, fields) {
    if (!this.on) return;
    const event = { type, time: Date.now(), ...fields };
    const [level, message] = EVENTS[type] ?? ["info", type];
    try {
      this.#settle("onEvent", this.onEvent?.(event));
    } catch (e) {
      this.#broke("onEvent", e);
    }
    if (this.logger === undefined) return;
    try {
      this.#settle(`logger.${level}`, this.logger[level](event, `DataStoreModule: ${message}`));
    } catch (e) {
      this.#broke(`logger.${level}`, e);
    }
  }

  /** An async observer's rejection is reported as its throw would be, never left unhandled
   * (which ends a Node process). */
  #settle(what, result) {
    if (typeof result?.then === "function") result.then(undefined, (e) => this.#broke(what, e));
  }

  /** A warning that goes to the logger when there is one, else to the console. */
  warn(type, fields, text) {
    if (this.on) this.emit(type, { ...fields, message: text });
    else console.warn(`DataStoreModule: ${text}`);
  }

  /** An error, likewise. */
  error(type, fields, text, cause) {
    if (this.on) this.emit(type, { ...fields, message: text, error: errorText(cause) });
    else console.error(`DataStoreModule: ${text}`, cause);
  }

  #broke(what, e) {
    if (this.broken) return;
    this.broken = true;
    const text = `DataStoreModule: ${what} threw (reported once; events go on): ${errorText(e)}`;
    try {
      if (what !== "logger.error" && this.logger !== undefined) this.logger.error({ type: "observer.failed" }, text);
      else console.error(text);
    } catch {
      console.error(text);
    }
  }

  snapshot(sessions, open) {
    const latencyCopy = {};
    for (const kind in this.latency) latencyCopy[kind] = { ...this.latency[kind] };
    return { sessions, open, ...this.counts, latency: latencyCopy };
  }
}

/** What a thrown value says, never throwing itself. */
export function errorText(e) {
  try {
    if (typeof e === "object" && e !== null && typeof e.message === "string") return e.message;
    return String(e);
  } catch {
    return "an error that cannot be read";
  }
}
