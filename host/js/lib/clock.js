/**
 * Clocks: where a module and its store read the time and set their timers.
 *
 * A clock has `now()` (milliseconds; Unix time for `realClock`) and may have
 * `setTimeout(fn, ms)` / `clearTimeout(id)`. Code that waits on a clock uses those when the clock
 * has them and the global timers otherwise (see `sleep`).
 *
 * `checkClock` is how `createModule` and `MemoryStore` refuse anything else.
 *
 * `ManualClock` is the test clock: time moves only when `advance(ms)` is called, which runs every
 * timer that falls due on the way, in time order, letting the work each one starts settle
 * before the next. Give the same ManualClock to a module and to a `MemoryStore`, and hours of
 * auto-saves, lock refreshes and lock expiry run in milliseconds.
 */

/**
 * The machine's time as the core needs it: it never goes back, and never runs slower than time
 * passes. `Date.now()` steps when NTP or an administrator sets the clock; a step back made every
 * lease look longer than it was, so a write could land after its lock entry expired (a
 * simulation soak's finding: the core takes a monotonic clock). Elapsed time comes from the
 * monotonic clock (`performance.now()`), and a jump of the wall clock ahead of it (a step
 * forward, or a suspend, which the monotonic clock does not count) is followed: a lease then
 * looks shorter than it is, never longer. `wall` and `mono` are for tests.
 */
export function steadyNow(wall = () => Date.now(), mono = () => performance.timeOrigin + performance.now()) {
  let ahead = wall() - mono();
  return () => {
    const m = mono();
    const gap = wall() - m;
    if (gap > ahead) ahead = gap;
    return m + ahead;
  };
}

/** The machine's clock (Unix time in milliseconds, kept steady: `steadyNow`) and the global timers. */
export const realClock = Object.freeze({
  now: steadyNow(),
  setTimeout: (fn, ms, ...args) => globalThis.setTimeout(fn, ms, ...args),
  clearTimeout: (id) => globalThis.clearTimeout(id),
});

/**
 * Refuses, with a `TypeError` naming `where`, what cannot serve as a clock: anything without a
 * `now()` method, and `setTimeout`/`clearTimeout` that are not functions or not both present
 * (one without the other could not cancel what it arms). A clock without either uses the global
 * timers.
 */
export function checkClock(clock, where) {
  if (clock === null || (typeof clock !== "object" && typeof clock !== "function")) {
    throw new TypeError(`${where} must be an object with a now() method (milliseconds), got ${describe(clock)}`);
  }
  if (typeof clock.now !== "function") {
    throw new TypeError(`${where} must have a now() method (milliseconds)`);
  }
  for (const name of ["setTimeout", "clearTimeout"]) {
    if (clock[name] !== undefined && typeof clock[name] !== "function") {
      throw new TypeError(`${where}.${name} must be a function when present, got ${describe(clock[name])}`);
    }
  }
  if ((clock.setTimeout === undefined) !== (clock.clearTimeout === undefined)) {
    throw new TypeError(`${where} must have both setTimeout and clearTimeout, or neither (then the global timers run)`);
  }
}

/** How an error message names a value it refuses. */
export function describe(value) {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return "an array";
  if (typeof value === "number" || typeof value === "boolean") return `${typeof value} ${value}`;
  return /^[aeiou]/.test(typeof value) ? `an ${typeof value}` : `a ${typeof value}`;
}

/** One turn of the real event loop: every queued promise reaction runs before it ends. */
const macrotask =
  typeof setImmediate === "function"
    ? () => new Promise((resolve) => setImmediate(resolve))
    : () => new Promise((resolve) => globalThis.setTimeout(resolve, 0));

/** A clock that moves only when told to. */
export class ManualClock {
  #now;
  #timers = new Map(); // id -> { at, id, fn, args }
  #lastId = 0;
  #queue = Promise.resolve();

  /**
   * @param {number} [startMs] the time `now()` gives before any `advance` (default 0), at most
   * `Number.MAX_SAFE_INTEGER` in size: past it a timer's `now() + ms` can round back to `now()`,
   * and a timer that arms the next one would run forever in one `advance`
   */
  constructor(startMs = 0) {
    if (typeof startMs !== "number" || !Number.isFinite(startMs)) {
      throw new TypeError(`ManualClock: startMs must be a finite number, got ${String(startMs)}`);
    }
    if (Math.abs(startMs) > Number.MAX_SAFE_INTEGER) {
      throw new RangeError(`ManualClock: startMs must be at most Number.MAX_SAFE_INTEGER in size, got ${startMs}`);
    }
    this.#now = startMs;
  }

  /** The current time in milliseconds. */
  now() {
    return this.#now;
  }

  /** Runs `fn(...args)` when the clock reaches `now() + ms` (at once on the next `advance` if `ms` ≤ 0). */
  setTimeout(fn, ms = 0, ...args) {
    if (typeof fn !== "function") throw new TypeError("ManualClock.setTimeout: fn must be a function");
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    const id = ++this.#lastId;
    this.#timers.set(id, { at: this.#now + delay, id, fn, args });
    return id;
  }

  clearTimeout(id) {
    this.#timers.delete(id);
  }

  /** Timers set and not yet run or cleared. */
  get pendingTimers() {
    return this.#timers.size;
  }

  /**
   * Moves the time forward by `ms`, running every timer due on the way in time order (ties in
   * the order they were set). After each timer, and before returning, the promise reactions it
   * started run, so the work it triggers settles. Calls made while one is running wait their
   * turn. A timer that throws rejects the returned promise (and the clock stays where that timer
   * fired).
   * @param {number} ms
   * @returns {Promise<void>}
   */
  advance(ms) {
    if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
      return Promise.reject(new RangeError(`ManualClock.advance: ms must be a finite number ≥ 0, got ${String(ms)}`));
    }
    const run = this.#queue.then(() => {
      if (this.#now + ms > Number.MAX_SAFE_INTEGER) {
        throw new RangeError(`ManualClock.advance: ${this.#now} + ${ms} passes Number.MAX_SAFE_INTEGER`);
      }
      return this.#advance(ms);
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  async #advance(ms) {
    const target = this.#now + ms;
    await macrotask();
    for (;;) {
      let next;
      for (const timer of this.#timers.values()) {
        if (timer.at <= target && (!next || timer.at < next.at)) next = timer; // Map order breaks ties
      }
      if (!next) break;
      this.#timers.delete(next.id);
      if (next.at > this.#now) this.#now = next.at;
      next.fn(...next.args);
      await macrotask();
    }
    this.#now = target;
    await macrotask();
  }
}

/**
 * Resolves after `ms` on `clock`: its own timers when it has them, the global ones otherwise.
 * 0 or less resolves without a timer.
 * @param {{ now(): number, setTimeout?: Function }} clock
 * @param {number} ms
 */
export function sleep(clock, ms) {
  if (!(ms > 0)) return Promise.resolve();
  return new Promise((resolve) => {
    if (typeof clock?.setTimeout === "function") clock.setTimeout(resolve, ms);
    else globalThis.setTimeout(resolve, ms);
  });
}
