/**
 * LmdbStore: the embedded, durable store (npm `lmdb`), for one machine.
 *
 * Several processes may open the same path at once: LMDB serialises writers across processes,
 * and every command that reads-then-writes runs in one write transaction, so a lock's
 * compare-and-set, a fenced data write (the lock is checked inside the write's transaction) and
 * a queue read are atomic. The lock table and the fence are src/fence.rs's (D22), carried out
 * by `lockDecision` and `fenceRefusal` (common.js). TTLs, invisibility and expiry use the
 * machine's clock (`Date.now()`), which every process on the machine shares. A commit resolves
 * once it is on disk.
 *
 * Layout: one LMDB environment (a directory) with four named databases. Keys are JSON text
 * (never raw user strings, which LMDB keys could not hold with a NUL inside):
 *
 * | database | key | value |
 * |---|---|---|
 * | `data`   | `JSON.stringify([name, scope, key])` | `{ value, createdTime, updatedTime, writes, userIds, metadata, mark }`; after a remove `value` is null (a tombstone that keeps the write count and the mark). `mark`: the last fenced write applied, `{ owner, token, seq }`, or null |
 * | `locks`  | `JSON.stringify(map)` | `{ owner, token, expiresAt }` (token: the acquisition token, the entry's sort key elsewhere; expiresAt in ms) |
 * | `queues` | `[JSON.stringify(queue), -priority, seq]` (ordered: higher priority first, then FIFO) | `{ value, expiresAt, invisibleUntil, readId }` |
 * | `meta`   | `["seq", JSON.stringify(queue)]` | the queue's next sequence number |
 *
 * `value`, `userIds`, `metadata` and queue values are the JSON text the caller gave, stored as
 * strings and handed back as they are. A queue read scans its queue in order, dropping expired
 * items; a queue that empties loses its sequence counter too. A tombstone also has `removedAt`
 * (ms).
 *
 * Expired lock entries, expired queue items and tombstones removed 30 days ago are deleted by
 * `sweep()`, which the store also runs itself, in the background, at most once every `sweepMs`:
 * it looks at up to `SWEEP_SCAN` entries of each database in a read snapshot (going on from where
 * the last sweep stopped, so a large database is covered over several sweeps), then deletes
 * what it found, checked again, in one short write transaction; again at once while it finds
 * full batches, for a while (`Sweeps`, common.js). Without it, keys nobody touches again (gifts to a
 * player who never returns, a crashed server's locks, removed keys) stayed for good.
 *
 * `lmdb` is loaded when the store is first used, so importing the package never needs it.
 */
import { dirname, resolve as resolvePath } from "node:path";
import { StoreError } from "./errors.js";
import {
  checkArgs,
  POLL_MS,
  QueuePolls,
  Sweeps,
  SWEEP_BATCH,
  attributesOf,
  checkDataValue,
  checkMemoryValue,
  checkNames,
  checkPriority,
  checkRead,
  closedError,
  expirationMs,
  fenceRefusal,
  fencedError,
  lockDecision,
  loadOptional,
  timed,
  versionId,
  withTimeout,
} from "./common.js";

const FENCED = Symbol("fenced");

/** Entries of each database one sweep looks at (of which it deletes at most `SWEEP_BATCH`). */
const SWEEP_SCAN = 5_000;
/** Tombstones are kept this long after their remove, as Roblox keeps versions (and the fence
 * mark with them, as RedisStore and PostgresStore do). */
const TOMBSTONE_MS = 30 * 86_400_000;
/** No tombstone is larger (its fields, and a fence mark with a 36-character owner). */
const TOMBSTONE_BYTES = 1024;

/** What a sweep deletes, per database: whether an entry (its value) is due at `now`. */
const SWEPT = {
  locks: (lock, now) => lock.expiresAt <= now,
  queues: (item, now) => item.expiresAt <= now,
  data: (record, now) =>
    (record.value === null || record.value === undefined) &&
    (record.removedAt ?? record.updatedTime) <= now - TOMBSTONE_MS,
};

/**
 * Creates `path` and its missing parents one at a time. lmdb would call Node's recursive
 * `mkdirSync`, which never returns where the kernel answers ENOENT for a parent that exists
 * (under /proc); a plain `mkdirSync` there throws that ENOENT instead.
 */
function makeDirectory(fs, path) {
  const parent = dirname(path);
  if (parent !== path && fs.statSync(parent, { throwIfNoEntry: false }) === undefined) makeDirectory(fs, parent);
  try {
    fs.mkdirSync(path);
  } catch (e) {
    if (e?.code !== "EEXIST") throw e; // another process made it first
  }
}

/** Lifts anything LMDB throws into a Transient StoreError. */
function lifted(e) {
  if (e instanceof StoreError) return e;
  return new StoreError("Transient", `LMDB: ${e?.message ?? e}`, { cause: e });
}

/**
 * A commit that failed (a full disk, an I/O error): lmdb-js rejects the transaction with "Commit
 * failed (see commitError for details)" and keeps the reason in `commitError`, a promise of its
 * own that it rejects at once; unawaited, that promise was an unhandled rejection too.
 */
async function commitFailure(e) {
  const rejected = e.commitError.then(
    () => undefined,
    (why) => why,
  );
  const reason = await withTimeout(rejected, 1000, "").catch(() => undefined);
  const why = reason?.message ?? String(reason ?? "no reason given");
  return new StoreError("Transient", `LMDB: the write did not commit (${why}); nothing of it was written`, {
    cause: reason ?? e,
  });
}

export class LmdbStore {
  #path;
  #opening;
  #env;
  #dbs;
  #polls;
  #closed = false;
  /** Write transactions and closes handed to lmdb and not finished (`unfinished()`). */
  #unfinished = 0;
  #sweeps;
  /** Where each database's next sweep starts looking (the last key looked at). */
  #sweptTo = { locks: undefined, queues: undefined, data: undefined };

  /**
   * @param {{ path?: string, pollMs?: number, sweepMs?: number }} [options] `path`: the
   *   database directory (default `DATASTORE_PATH`, else `./.datastore`); `pollMs`: how often a
   *   waiting `queueRead` looks for items another process added (default 2000, Roblox's
   *   cadence; items added through this store wake it at once); `sweepMs`: the least time
   *   between two background sweeps by this store (default 60000; 0 turns them off)
   */
  constructor({ path, pollMs = POLL_MS, sweepMs = 60_000 } = {}) {
    const chosen = path ?? globalThis.process?.env?.DATASTORE_PATH ?? "./.datastore";
    if (typeof chosen !== "string" || chosen === "") {
      throw new TypeError("LmdbStore: path must be a non-empty string");
    }
    this.#sweeps = new Sweeps({
      store: "LmdbStore",
      everyMs: sweepMs,
      sweep: () => this.sweep(),
      closed: () => this.#closed,
    });
    this.#polls = new QueuePolls({ store: "LmdbStore", intervalMs: pollMs, closed: () => this.#closed });
    this.#path = resolvePath(chosen);
  }

  /** The database directory (absolute). */
  get path() {
    return this.#path;
  }

  /**
   * Opens the database now, instead of at the first command. Rejects with a `StoreError` naming
   * the path: `Unavailable` when npm `lmdb` is missing, `Transient` when the directory cannot
   * be made or opened (permissions, a file in the way, a full disk). Optional; again after a
   * failure tries again.
   */
  async connect() {
    if (this.#closed) throw closedError("LmdbStore");
    try {
      await this.#open();
    } catch (e) {
      if (e instanceof StoreError && e.kind === "Unavailable") throw e;
      throw new StoreError("Transient", `LmdbStore: cannot open ${this.#path}: ${e?.message ?? e}`, { cause: e });
    }
  }

  /** One read of the database; resolves with its milliseconds. */
  async ping() {
    return timed(() => this.#read((dbs) => dbs.meta.get("ping")));
  }

  /** Opens the environment on first use (again after a failure). */
  #open() {
    this.#opening ??= (async () => {
      const { open } = await loadOptional(() => import("lmdb"), "lmdb", "LmdbStore");
      try {
        // lmdb takes the path as a directory it may create: something else there (a file, a
        // device such as /dev/null) crashed the process inside the native module.
        const fs = await import("node:fs");
        const there = fs.statSync(this.#path, { throwIfNoEntry: false });
        if (there !== undefined && !there.isDirectory()) {
          throw new Error(`${this.#path} is not a directory (a file or a device is in the way)`);
        }
        if (there === undefined) makeDirectory(fs, this.#path);
        // Always a directory: lmdb takes a path whose name has a dot ("players.db") for a file.
        // Every write is its own `transaction`, so lmdb's batching of the writes of one event
        // turn adds nothing, and its batch made a commit promise no caller can reach: when a
        // commit failed (a full disk), that promise's rejection went unhandled and ended the
        // process.
        const env = open({ path: this.#path, maxDbs: 8, noSubdir: false, eventTurnBatching: false });
        this.#dbs = {
          data: env.openDB({ name: "data" }),
          locks: env.openDB({ name: "locks" }),
          queues: env.openDB({ name: "queues" }),
          meta: env.openDB({ name: "meta" }),
        };
        this.#env = env;
      } catch (e) {
        this.#opening = undefined;
        throw lifted(e);
      }
      return this.#dbs;
    })();
    return this.#opening;
  }

  /** Runs `body(dbs)` in one write transaction; its return value is the result. */
  async #write(body) {
    if (this.#closed) throw closedError("LmdbStore");
    const dbs = await this.#open();
    if (this.#closed) throw closedError("LmdbStore");
    let result;
    this.#unfinished += 1;
    try {
      // The callback must not throw: in an LMDB batch that could still commit earlier writes.
      result = await this.#env.transaction(() => body(dbs, Date.now()));
    } catch (e) {
      throw e?.commitError instanceof Promise ? await commitFailure(e) : lifted(e);
    } finally {
      this.#unfinished -= 1;
    }
    this.#sweeps.maybe();
    return result;
  }

  /**
   * Deletes expired lock entries, expired queue items (and the counter of a queue they leave
   * empty) and tombstones removed 30 days ago: of the next `SWEEP_SCAN` entries of each
   * database, at most 500 each. Resolves with how many of each went. The store runs it in the
   * background (see `sweepMs`); calling it yourself is optional.
   * @returns {Promise<{ locks: number, items: number, tombstones: number }>}
   */
  async sweep() {
    const found = await this.#read((dbs) => {
      const now = Date.now();
      return {
        locks: this.#due(dbs, "locks", now),
        queues: this.#due(dbs, "queues", now),
        data: this.#due(dbs, "data", now),
      };
    });
    const deleted = await this.#write((dbs, now) => {
      const count = {};
      for (const name of ["locks", "queues", "data"]) {
        count[name] = 0;
        for (const key of found[name]) {
          const value = dbs[name].get(key);
          if (value === undefined || !SWEPT[name](value, now)) continue;
          dbs[name].remove(key);
          count[name]++;
        }
      }
      for (const q of new Set(found.queues.map(([q]) => q))) {
        if (dbs.queues.getRange({ start: [q], end: [q, Infinity], limit: 1 }).asArray.length === 0) {
          dbs.meta.remove(["seq", q]);
        }
      }
      return count;
    });
    return { locks: deleted.locks, items: deleted.queues, tombstones: deleted.data };
  }

  /** In a read snapshot: up to 500 keys of `name` due for deletion, among the next
   * `SWEEP_SCAN` entries after where the last look stopped (from the start once at the end). */
  #due(dbs, name, now) {
    const from = this.#sweptTo[name];
    const keys = [];
    let looked = 0;
    let last;
    const db = dbs[name];
    for (const key of db.getRange(from === undefined ? { values: false } : { start: from, values: false })) {
      if (looked === 0 && from !== undefined && JSON.stringify(key) === JSON.stringify(from)) continue;
      last = key;
      // A record is read only when it is small enough to be a tombstone: data values run to 4 MB.
      const small = name !== "data" || (db.getBinaryFast(key)?.length ?? Infinity) <= TOMBSTONE_BYTES;
      const value = small ? db.get(key) : undefined;
      if (value !== undefined && SWEPT[name](value, now)) keys.push(key);
      if (++looked >= SWEEP_SCAN || keys.length >= SWEEP_BATCH) break;
    }
    this.#sweptTo[name] = looked >= SWEEP_SCAN || keys.length >= SWEEP_BATCH ? last : undefined;
    return keys;
  }

  async #read(body) {
    if (this.#closed) throw closedError("LmdbStore");
    const dbs = await this.#open();
    if (this.#closed) throw closedError("LmdbStore");
    try {
      // lmdb-js reuses a read snapshot until a later event turn; a read must see every write
      // committed before it was sent, by this process or another (a server loading a key that
      // another just saved and unlocked), so take a fresh snapshot.
      this.#env.resetReadTxn();
      return body(dbs);
    } catch (e) {
      throw lifted(e);
    }
  }

  // ---- data -----------------------------------------------------------------------------------

  async dataGet(name, scope, key) {
    checkArgs("dataGet", [name, scope, key]);
    checkNames(name, scope, key);
    const record = await this.#read((dbs) => dbs.data.get(JSON.stringify([name, scope, key])));
    if (!record || record.value === null || record.value === undefined) return undefined;
    return {
      value: record.value,
      createdTime: record.createdTime,
      updatedTime: record.updatedTime,
      version: versionId(record.createdTime, record.writes, record.updatedTime),
      userIds: record.userIds,
      metadata: record.metadata,
    };
  }

  async dataSet(name, scope, key, value, userIds, metadata, fence = null) {
    checkArgs("dataSet", [name, scope, key, value, userIds, metadata, fence]);
    checkNames(name, scope, key);
    checkDataValue(value);
    [userIds, metadata] = attributesOf(userIds, metadata);
    const result = await this.#write((dbs, now) => {
      const id = JSON.stringify([name, scope, key]);
      const old = dbs.data.get(id);
      const refusal = fenced(dbs, now, name, scope, key, fence, old);
      if (refusal) return refusal;
      const live = old && old.value !== null && old.value !== undefined;
      const record = {
        value,
        createdTime: live ? old.createdTime : now,
        updatedTime: now,
        writes: (old?.writes ?? 0) + 1,
        userIds,
        metadata,
        mark: fence ?? old?.mark ?? null,
      };
      dbs.data.put(id, record);
      return versionId(record.createdTime, record.writes, record.updatedTime);
    });
    return unlessFenced(result);
  }

  async dataRemove(name, scope, key, fence = null) {
    checkArgs("dataRemove", [name, scope, key, fence]);
    checkNames(name, scope, key);
    unlessFenced(
      await this.#write((dbs, now) => {
        const id = JSON.stringify([name, scope, key]);
        const old = dbs.data.get(id);
        const refusal = fenced(dbs, now, name, scope, key, fence, old);
        if (refusal) return refusal;
        if (!old || old.value === null || old.value === undefined) {
          // Nothing to remove, but a fenced remove that went through is the key's mark.
          if (fence) dbs.data.put(id, { ...(old ?? TOMBSTONE), mark: fence, removedAt: now });
          return undefined;
        }
        dbs.data.put(id, {
          value: null,
          createdTime: old.createdTime,
          updatedTime: now,
          writes: old.writes + 1,
          userIds: "[]",
          metadata: "{}",
          mark: fence ?? old.mark ?? null,
          removedAt: now,
        });
        return undefined;
      }),
    );
  }

  // ---- locks ----------------------------------------------------------------------------------

  async lockAcquire(map, owner, ttlSeconds, token, renew, held = null) {
    checkArgs("lockAcquire", [map, owner, ttlSeconds, token, renew, held]);
    const ttl = expirationMs(ttlSeconds);
    return this.#write((dbs, now) => {
      const id = JSON.stringify(map);
      const lock = liveLock(dbs, now, id);
      switch (lockDecision(renew ? "renew" : "acquire", owner, token, held, lock)) {
        case "locked":
          return { ok: false, holder: lock.owner };
        case "lapsed":
          return { ok: false, lapsed: true };
        default:
          if (ttl > 0) dbs.locks.put(id, { owner, token, expiresAt: now + ttl });
          else if (dbs.locks.get(id)) dbs.locks.remove(id);
          return { ok: true };
      }
    });
  }

  async lockRelease(map, owner, token) {
    checkArgs("lockRelease", [map, owner, token]);
    await this.#write((dbs, now) => {
      const id = JSON.stringify(map);
      const lock = liveLock(dbs, now, id);
      // An expired entry goes too: it is as good as gone.
      if (!lock ? dbs.locks.get(id) : lockDecision("release", owner, token, null, lock) === "write") {
        dbs.locks.remove(id);
      }
    });
  }

  // ---- queues ---------------------------------------------------------------------------------

  async queueAdd(queue, value, expirationSeconds, priority = 0) {
    checkArgs("queueAdd", [queue, value, expirationSeconds, priority]);
    const ttl = expirationMs(expirationSeconds);
    checkPriority(priority);
    checkMemoryValue(value);
    if (ttl === 0) {
      // Expires as it arrives: accepted, never seen (as Roblox, and the emulator).
      if (this.#closed) throw closedError("LmdbStore");
      return;
    }
    await this.#write((dbs, now) => {
      const q = JSON.stringify(queue);
      const seqKey = ["seq", q];
      const seq = dbs.meta.get(seqKey) ?? 0;
      dbs.meta.put(seqKey, seq + 1);
      const rank = priority === 0 ? 0 : -priority; // -0 and 0 are one priority
      dbs.queues.put([q, rank, seq], { value, expiresAt: now + ttl, invisibleUntil: 0, readId: null });
    });
    this.#polls.wake(queue);
  }

  async queueRead(queue, count, allOrNothing, waitSeconds, invisibilitySeconds, signal) {
    checkArgs("queueRead", [queue, count, allOrNothing, waitSeconds, invisibilitySeconds, signal]);
    const invisibleMs = checkRead(count, invisibilitySeconds);
    return this.#polls.read(queue, waitSeconds, () => this.#readOnce(queue, count, allOrNothing, invisibleMs), signal);
  }

  #readOnce(queue, count, allOrNothing, invisibleMs) {
    return this.#write((dbs, now) => {
      const q = JSON.stringify(queue);
      const picked = [];
      let remaining = 0;
      for (const { key, value: item } of dbs.queues.getRange({ start: [q], end: [q, Infinity] }).asArray) {
        if (item.expiresAt <= now) {
          dbs.queues.remove(key);
          continue;
        }
        remaining++;
        if (picked.length < count && now >= item.invisibleUntil) picked.push({ key, item });
      }
      if (remaining === 0) dbs.meta.remove(["seq", q]);
      if (picked.length === 0 || (allOrNothing && picked.length < count)) return undefined;
      const readId = crypto.randomUUID().toUpperCase();
      const invisibleUntil = now + invisibleMs;
      for (const { key, item } of picked) dbs.queues.put(key, { ...item, invisibleUntil, readId });
      return { values: picked.map(({ item }) => item.value), readId };
    });
  }

  async queueRemove(queue, readId) {
    checkArgs("queueRemove", [queue, readId]);
    await this.#write((dbs, now) => {
      const q = JSON.stringify(queue);
      let remaining = 0;
      for (const { key, value: item } of dbs.queues.getRange({ start: [q], end: [q, Infinity] }).asArray) {
        // Only while the read's items are still hidden: after the timeout they are back.
        if (item.expiresAt <= now || (item.readId === readId && now < item.invisibleUntil)) {
          dbs.queues.remove(key);
        } else {
          remaining++;
        }
      }
      if (remaining === 0) dbs.meta.remove(["seq", q]);
    });
  }

  /** Ends pending long polls (they resolve `undefined`) and closes this handle on the database. */
  async close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#polls.cancelAll();
    const opening = this.#opening;
    if (!opening) return;
    try {
      await opening;
    } catch {
      return;
    }
    this.#unfinished += 1;
    try {
      await this.#env.close();
    } catch (e) {
      throw lifted(e);
    } finally {
      this.#unfinished -= 1;
    }
  }

  /**
   * How many write transactions (and closes) this store has handed to lmdb and not seen finish.
   * They run in libuv's threads, which Node's exit waits for: one waiting for the write lock of
   * a process stopped inside a transaction (SIGSTOP, a debugger) would hold the exit forever, so
   * a module's signal handling ends the process by the signal instead while any are left.
   */
  unfinished() {
    return this.#unfinished;
  }
}

/** The record a fenced remove of a key never written leaves: no value, only the mark. */
const TOMBSTONE = { value: null, createdTime: 0, updatedTime: 0, writes: 0, userIds: "[]", metadata: "{}" };

/** Inside a write transaction: the lock entry `{ owner, token, expiresAt }` if live. */
function liveLock(dbs, now, id) {
  const lock = dbs.locks.get(id);
  return lock && lock.expiresAt > now ? lock : undefined;
}

/** Inside a write transaction: the refusal of a fenced write that may not go ahead, or null. */
function fenced(dbs, now, name, scope, key, fence, record) {
  if (fence === null || fence === undefined) return null;
  const lock = liveLock(dbs, now, JSON.stringify(`${name}/${scope}/${key}`));
  const reason = fenceRefusal(fence, lock, record?.mark ?? undefined);
  return reason === null ? null : { [FENCED]: fencedError(name, scope, key, fence, reason) };
}

/** The result of a write transaction, or the Fenced rejection it decided on. */
function unlessFenced(result) {
  if (result && typeof result === "object" && FENCED in result) throw result[FENCED];
  return result;
}
