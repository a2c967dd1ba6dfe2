/**
 * The one error type every store rejects with, so the driver decides retries from `kind` and
 * never from message text.
 *
 * Kinds:
 * - `Transient`: the service or connection failed; retrying may work. A failed write may still
 *   have been applied (an ambiguous write).
 * - `Throttled`: over a budget or rate; retrying later may work.
 * - `InvalidRequest`: the request can never succeed as sent (bad argument, over a limit).
 * - `Fenced`: a fenced data write whose fence does not hold the key's lock; never retry.
 * - `Conflict`: a compare-and-swap gave up under contention; retrying may work.
 * - `OverQuota`: out of memory or storage quota.
 * - `ShuttingDown`: the (emulated) server is shutting down.
 * - `Closed`: the store was closed.
 * - `Unavailable`: the store cannot run here (a missing npm package, a client that is not
 *   connected, a browser).
 */

const RETRYABLE = new Set(["Transient", "Throttled", "Conflict", "OverQuota"]);

export class StoreError extends Error {
  /**
   * @param {string} kind
   * @param {string} message
   * @param {{ code?: number, cause?: unknown }} [options] `code`: the Roblox DataStore error
   *   code (MemoryStore only); `cause`: the underlying error
   */
  constructor(kind, message, options = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "StoreError";
    this.kind = kind;
    if (options.code !== undefined) this.code = options.code;
  }

  /** Whether sending the same request again may succeed. */
  get retryable() {
    return RETRYABLE.has(this.kind);
  }
}
