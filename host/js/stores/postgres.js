/**
 * PostgresStore: durable player data on many machines (npm `pg`, node-postgres; PostgreSQL 12 or
 * later, and Postgres-compatible engines: see "Portability" in README.md).
 *
 * Every command is one SQL statement, so one transaction: a lock command is a conditional
 * upsert or update of the lock's row, a fenced data write reads the lock's row `FOR SHARE` and
 * upserts the record with the mark check in `ON CONFLICT … WHERE`, in one statement, so the
 * lock cannot change hands between the check and the write (a takeover must update the lock's
 * row, and waits for the write to commit). Under READ COMMITTED a row lock always sees the row's
 * latest version and re-evaluates the conditions on it, with a fresh `clock_timestamp()`. All
 * time is the server's: lock and item expiry are `timestamptz` compared with
 * `clock_timestamp()`, record times are the server's milliseconds. No client clock is read.
 *
 * A statement that does not write says only "not applied", not why; the store then reads the
 * row and answers from what it finds (the holder, a lapsed lease, the fence's refusal). If the
 * row changed in between so that the command would now apply, it runs again (a few times at
 * most): a command that was not applied may always be tried again.
 *
 * Tables (`dsm` is the `prefix` option; README.md documents every column):
 *
 * | table | key | what |
 * |---|---|---|
 * | `dsm_schema` | `id` (always 1) | the schema version this database is at |
 * | `dsm_data` | `(name, scope, key)` | a DataStore record: value (NULL: removed, a tombstone that keeps the write count and the mark), times, write count, user ids, metadata, the mark |
 * | `dsm_locks` | `map` | a lock entry: owner, token, `expires_at` (server time); an expired row counts as absent |
 * | `dsm_queue` | `(queue, id)` | a queue item: priority, value, `expires_at`, `invisible_until`, `read_id` |
 *
 * The schema is made on first use, or by `migrate()`; `dsm_schema` says which version a
 * database is at, and a newer package adds the steps after it. Expired lock rows, expired queue
 * items and tombstones older than 30 days are deleted by `sweep()`, which the store also runs
 * itself, in the background, at most once every `sweepMs`: a few short statements of at most
 * `SWEEP_BATCH` rows each, skipping rows that another transaction has locked, so it never waits
 * on a session's row nor holds many; repeated while they find full batches, for a while
 * (`Sweeps`, common.js).
 *
 * `pg` is loaded only for `{ connectionString }`; with `{ pool }` the store uses the given pool
 * (a `pg.Pool`) and leaves ending it to its owner.
 *
 * Lifecycle: `connect()` reaches the server and brings the schema up to date, rejecting with a
 * message naming the server when it cannot; `ping()` measures a `SELECT 1`; `close()` ends the
 * store's own pool. Errors of the store's own pool's idle connections go to `observe` listeners
 * (a module with a logger), never to the console.
 */
import { StoreError } from "./errors.js";
import {
  ACQUISITION,
  POLL_MS,
  QueuePolls,
  Sweeps,
  SWEEP_BATCH,
  acquisition,
  checkArgs,
  attributesOf,
  checkDataValue,
  checkMemoryValue,
  checkNames,
  checkPriority,
  checkRead,
  closedError,
  CONNECT_TIMEOUT_MS,
  expirationMs,
  fenceRefusal,
  fencedError,
  Listeners,
  lockDecision,
  loadOptional,
  redact,
  timed,
  versionId,
  withTimeout,
} from "./common.js";

/** The schema version this store writes and reads (one more for each step in `MIGRATIONS`). */
export const SCHEMA_VERSION = 1;

/** How long a tombstone (and its mark) is kept after its remove, as RedisStore keeps them. */
const TOMBSTONE_MS = 30 * 24 * 3600 * 1000;

/** Times a command whose row changed under it (see the module doc) runs again, at most. */
const RERUNS = 5;

/** The server's time in whole milliseconds since the epoch. */
const NOW_MS = "floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/** `ms` milliseconds from the server's now, as a timestamptz. */
const after = (ms) => `clock_timestamp() + ${ms}::float8 * interval '1 millisecond'`;

/**
 * The schema, step by step: `MIGRATIONS[i]` takes a database from version i to i + 1. Plain SQL
 * that CockroachDB and YugabyteDB also run (identity columns, partial indexes, `IF NOT EXISTS`).
 * Never edit a step that has shipped: add one.
 */
const MIGRATIONS = [
  (p) => [
    `CREATE TABLE IF NOT EXISTS ${p}_data (
      name text NOT NULL,
      scope text NOT NULL,
      key text NOT NULL,
      value text,
      created_ms bigint NOT NULL,
      updated_ms bigint NOT NULL,
      writes bigint NOT NULL,
      user_ids text NOT NULL,
      metadata text NOT NULL,
      mark_owner text,
      mark_token bigint,
      mark_seq bigint,
      PRIMARY KEY (name, scope, key)
    )`,
    `CREATE INDEX IF NOT EXISTS ${p}_data_tombstones ON ${p}_data (updated_ms) WHERE value IS NULL`,
    `CREATE TABLE IF NOT EXISTS ${p}_locks (
      map text PRIMARY KEY,
      owner text NOT NULL,
      token bigint NOT NULL,
      expires_at timestamptz NOT NULL
    )`,
    `CREATE INDEX IF NOT EXISTS ${p}_locks_expiry ON ${p}_locks (expires_at)`,
    `CREATE TABLE IF NOT EXISTS ${p}_queue (
      queue text NOT NULL,
      id bigint GENERATED BY DEFAULT AS IDENTITY,
      priority double precision NOT NULL,
      value text NOT NULL,
      expires_at timestamptz NOT NULL,
      invisible_until timestamptz,
      read_id text,
      PRIMARY KEY (queue, id)
    )`,
    `CREATE INDEX IF NOT EXISTS ${p}_queue_order ON ${p}_queue (queue, priority DESC, id)`,
    `CREATE INDEX IF NOT EXISTS ${p}_queue_expiry ON ${p}_queue (expires_at)`,
  ],
];

/** The record columns a data write returns, for its version. */
const WRITTEN = "RETURNING created_ms, updated_ms, writes";

/** The statements, for tables starting with `p`. Parameters are numbered as each caller passes them. */
function statements(p) {
  // A live lock entry of `map` = $10 held by the fence's owner ($7) in its acquisition
  // ([$11, $12)), locked FOR SHARE until the statement's transaction ends: a takeover or a
  // release waits for the write, and a write waits for a takeover in flight and sees its result.
  const heldLock = `held AS (
      SELECT 1 FROM ${p}_locks
      WHERE map = $10 AND expires_at > clock_timestamp() AND owner = $7 AND token >= $11 AND token < $12
      FOR SHARE
    )`;
  // The mark check of src/fence.rs, on the record's latest version (`d`), for the new mark in
  // `excluded`: refused when the last fenced write was of the same owner and acquisition with a
  // seq at least this one's.
  const markAllows = `d.mark_owner IS NULL OR d.mark_owner <> excluded.mark_owner
      OR d.mark_token < $11 OR d.mark_token >= $12 OR d.mark_seq < excluded.mark_seq`;
  const columns = `(name, scope, key, value, created_ms, updated_ms, writes, user_ids, metadata, mark_owner, mark_token, mark_seq)`;
  const setRecord = `value = excluded.value,
      created_ms = CASE WHEN d.value IS NULL THEN excluded.created_ms ELSE d.created_ms END,
      updated_ms = excluded.updated_ms,
      writes = d.writes + 1,
      user_ids = excluded.user_ids,
      metadata = excluded.metadata`;
  const setTombstone = `value = NULL,
      writes = CASE WHEN d.value IS NULL THEN d.writes ELSE d.writes + 1 END,
      updated_ms = excluded.updated_ms,
      user_ids = '[]',
      metadata = '{}'`;
  const setMark = `mark_owner = excluded.mark_owner, mark_token = excluded.mark_token, mark_seq = excluded.mark_seq`;
  return {
    schemaVersion: `SELECT version FROM ${p}_schema WHERE id = 1`,

    dataGet: `SELECT value, created_ms, updated_ms, writes, user_ids, metadata FROM ${p}_data
      WHERE name = $1 AND scope = $2 AND key = $3 AND value IS NOT NULL`,

    // $1-$3 name, scope, key; $4 value; $5 user ids; $6 metadata.
    dataSet: `INSERT INTO ${p}_data AS d ${columns}
      SELECT $1, $2, $3, $4, t.ms, t.ms, 1, $5, $6, NULL, NULL, NULL FROM (SELECT ${NOW_MS} AS ms) t
      ON CONFLICT (name, scope, key) DO UPDATE SET ${setRecord}
      ${WRITTEN}`,

    // As dataSet; $7-$9 the fence's owner, token and seq; $10 the lock map; [$11, $12) the
    // tokens of the fence's acquisition.
    dataSetFenced: `WITH ${heldLock}
      INSERT INTO ${p}_data AS d ${columns}
      SELECT $1, $2, $3, $4, t.ms, t.ms, 1, $5, $6, $7, $8, $9 FROM (SELECT ${NOW_MS} AS ms) t, held
      ON CONFLICT (name, scope, key) DO UPDATE SET ${setRecord}, ${setMark}
      WHERE ${markAllows}
      ${WRITTEN}`,

    // $1-$3 name, scope, key. A missing key or a tombstone: nothing.
    dataRemove: `UPDATE ${p}_data SET value = NULL, writes = writes + 1, updated_ms = ${NOW_MS},
      user_ids = '[]', metadata = '{}'
      WHERE name = $1 AND scope = $2 AND key = $3 AND value IS NOT NULL`,

    // $1-$3 name, scope, key; $7-$12 as dataSetFenced ($4-$6 unused, typed so they can be sent).
    // A key never written gets a tombstone that holds only the mark.
    dataRemoveFenced: `WITH ${heldLock}
      INSERT INTO ${p}_data AS d ${columns}
      SELECT $1, $2, $3, NULL, 0, t.ms, 0, '[]', '{}', $7, $8, $9
      FROM (SELECT ${NOW_MS} AS ms, $4::text AS a, $5::text AS b, $6::text AS c) t, held
      ON CONFLICT (name, scope, key) DO UPDATE SET ${setTombstone}, ${setMark}
      WHERE ${markAllows}
      RETURNING 1`,

    // What a refused fenced write is told: the live lock entry and the key's mark.
    fenceState: `SELECT l.owner, l.token, d.mark_owner, d.mark_token, d.mark_seq
      FROM (SELECT 1) one
      LEFT JOIN ${p}_locks l ON l.map = $1 AND l.expires_at > clock_timestamp()
      LEFT JOIN ${p}_data d ON d.name = $2 AND d.scope = $3 AND d.key = $4`,

    // $1 map, $2 owner, $3 token, $4 ttl ms. The acquire row of the lock table: written when the
    // entry is absent (no row, or expired) or ours with a token up to this one.
    lockAcquire: `INSERT INTO ${p}_locks AS l (map, owner, token, expires_at)
      VALUES ($1, $2, $3, ${after("$4")})
      ON CONFLICT (map) DO UPDATE SET owner = excluded.owner, token = excluded.token, expires_at = ${after("$4")}
      WHERE l.expires_at <= clock_timestamp() OR (l.owner = excluded.owner AND l.token <= excluded.token)
      RETURNING 1`,

    // $1 map, $2 owner, $3 token, $4 ttl ms, $5 held. The renew row: written only when the live
    // entry is ours with a token from held to this one; never re-creates an entry.
    lockRenew: `UPDATE ${p}_locks SET token = $3, expires_at = ${after("$4")}
      WHERE map = $1 AND owner = $2 AND expires_at > clock_timestamp() AND token >= $5 AND token <= $3
      RETURNING 1`,

    // The live entry, when a lock command did not write.
    lockState: `SELECT owner, token FROM ${p}_locks WHERE map = $1 AND expires_at > clock_timestamp()`,

    // $1 map, $2 owner, [$3, $4) the tokens of the release's acquisition. An expired entry goes
    // too: it is as good as gone.
    lockRelease: `DELETE FROM ${p}_locks
      WHERE map = $1 AND (expires_at <= clock_timestamp() OR (owner = $2 AND token >= $3 AND token < $4))`,

    // $1 queue, $2 priority, $3 value, $4 expiration ms.
    queueAdd: `INSERT INTO ${p}_queue (queue, priority, value, expires_at) VALUES ($1, $2, $3, ${after("$4")})`,

    // $1 queue, $2 count, $3 invisibility ms, $4 read id, $5 all or nothing. Takes the first
    // visible items in queue order, skipping those another read has locked this instant, and
    // hides them; with all-or-nothing, none unless there are $2.
    queueRead: `WITH picked AS (
        SELECT queue, id FROM ${p}_queue
        WHERE queue = $1 AND expires_at > clock_timestamp()
          AND (invisible_until IS NULL OR invisible_until <= clock_timestamp())
        ORDER BY priority DESC, id
        LIMIT $2
        FOR UPDATE SKIP LOCKED
      ), counted AS (SELECT count(*) AS n FROM picked)
      UPDATE ${p}_queue AS q SET invisible_until = ${after("$3")}, read_id = $4
      FROM picked, counted
      WHERE q.queue = picked.queue AND q.id = picked.id AND (NOT $5::boolean OR counted.n = $2)
      RETURNING q.value, q.priority, q.id`,

    // $1 queue, $2 read id: that read's items while they are still hidden.
    queueRemove: `DELETE FROM ${p}_queue WHERE queue = $1 AND read_id = $2 AND invisible_until > clock_timestamp()`,

    // The sweeps ($1 the batch size): short, and never waiting on a row another transaction holds.
    sweepLocks: `DELETE FROM ${p}_locks WHERE expires_at <= clock_timestamp() AND map IN (
        SELECT map FROM ${p}_locks WHERE expires_at <= clock_timestamp()
        ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)`,
    sweepQueue: `DELETE FROM ${p}_queue WHERE expires_at <= clock_timestamp() AND (queue, id) IN (
        SELECT queue, id FROM ${p}_queue WHERE expires_at <= clock_timestamp()
        ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)`,
    // $2 the tombstones' lifetime in ms.
    sweepTombstones: `DELETE FROM ${p}_data WHERE value IS NULL AND updated_ms <= ${NOW_MS} - $2::bigint
      AND (name, scope, key) IN (
        SELECT name, scope, key FROM ${p}_data WHERE value IS NULL AND updated_ms <= ${NOW_MS} - $2::bigint
        ORDER BY updated_ms LIMIT $1 FOR UPDATE SKIP LOCKED)`,
  };
}

async function loadPg() {
  const pg = await loadOptional(() => import("pg"), "pg", "PostgresStore with { connectionString }");
  return pg.Pool ? pg : pg.default;
}

/**
 * Postgres errors as StoreErrors: text Postgres cannot hold is InvalidRequest, out of disk or
 * memory OverQuota; a login refused, a pool its owner has ended, a missing database or schema,
 * and tables or rights that do not fit (class 42: another application's table under the prefix,
 * a role that may not write) Unavailable, since no retry helps until the setup changes;
 * everything else (the connection, a serialization failure, a shutdown) Transient.
 */
function lifted(e) {
  if (e instanceof StoreError) return e;
  const code = typeof e?.code === "string" ? e.code : "";
  const message = `Postgres: ${e?.message ?? e}${code ? ` (${code})` : ""}`;
  if (code === "22021" || code === "22P05") return new StoreError("InvalidRequest", message, { cause: e });
  if (code === "53100" || code === "53200") return new StoreError("OverQuota", message, { cause: e });
  // 28000 invalid_authorization_specification, 28P01 invalid_password, 3D000 no such database,
  // 3F000 no such schema, 42xxx syntax error or access rule violation.
  if (
    ["28000", "28P01", "3D000", "3F000"].includes(code) ||
    code.startsWith("42") ||
    /^Cannot use a pool after calling end/.test(String(e?.message))
  ) {
    return new StoreError("Unavailable", message, { cause: e });
  }
  return new StoreError("Transient", message, { cause: e });
}

/**
 * Refuses text Postgres `text` cannot hold: a NUL character, or an unpaired surrogate (which the
 * driver would turn into U+FFFD, so two names would meet in one row).
 */
function checkText(text, what) {
  if (text.includes("\0") || !text.isWellFormed()) {
    throw new StoreError(
      "InvalidRequest",
      `${what} holds a NUL character or an unpaired surrogate, which PostgresStore cannot store`,
    );
  }
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,39}$/;

export class PostgresStore {
  #pool;
  #own;
  #connectionString;
  #poolSize;
  #prefix;
  #sql;
  #connecting;
  /** The pool's connections (to end them when the pool cannot end: `close`). */
  #clients = new Set();
  #migrating;
  #ready = false;
  #sweeps;
  #polls;
  #closed = false;
  #listeners = new Listeners();

  /**
   * @param {{ connectionString?: string, pool?: object, poolSize?: number, prefix?: string,
   *   pollMs?: number, sweepMs?: number }} options
   *   Exactly one of `connectionString` (`postgres://user:pass@host:5432/db`: the store makes,
   *   and ends, its own `pg.Pool` of `poolSize` connections, default 10) and `pool` (a `pg.Pool`
   *   you own; give it an `error` listener, as node-postgres asks). `prefix` starts every table
   *   name (default `dsm`: `dsm_data`, `dsm_locks`, `dsm_queue`, `dsm_schema`). `pollMs`: how
   *   often a waiting `queueRead` looks for items other servers added (default 2000; items added
   *   through this store wake it at once). `sweepMs`: the least time between two background
   *   sweeps by this store (default 60000; 0 turns them off, for a deployment that runs
   *   `sweep()` on its own schedule).
   */
  constructor({ connectionString, pool, poolSize = 10, prefix = "dsm", pollMs = POLL_MS, sweepMs = 60_000 } = {}) {
    if ((connectionString === undefined) === (pool === undefined)) {
      throw new TypeError("PostgresStore: give exactly one of { connectionString } or { pool }");
    }
    if (connectionString !== undefined && typeof connectionString !== "string") {
      throw new TypeError("PostgresStore: connectionString must be a string");
    }
    if (
      pool !== undefined &&
      (typeof pool !== "object" ||
        pool === null ||
        typeof pool.query !== "function" ||
        typeof pool.connect !== "function")
    ) {
      throw new TypeError("PostgresStore: pool must be a pg.Pool (node-postgres)");
    }
    if (!(Number.isInteger(poolSize) && poolSize > 0)) {
      throw new TypeError("PostgresStore: poolSize must be a positive whole number");
    }
    if (typeof prefix !== "string" || !IDENTIFIER.test(prefix)) {
      throw new TypeError(
        "PostgresStore: prefix must be a lower-case SQL name: a letter or _, then letters, digits or _ (40 at most)",
      );
    }
    this.#polls = new QueuePolls({ store: "PostgresStore", intervalMs: pollMs, closed: () => this.#closed });
    this.#connectionString = connectionString;
    this.#pool = pool;
    this.#own = connectionString !== undefined;
    this.#poolSize = poolSize;
    this.#prefix = prefix;
    this.#sql = statements(prefix);
    this.#sweeps = new Sweeps({
      store: "PostgresStore",
      everyMs: sweepMs,
      sweep: () => this.sweep(),
      closed: () => this.#closed,
    });
  }

  /** The pool, made on first use when the store owns it. */
  async #connect() {
    if (!this.#own) return this.#pool;
    this.#connecting ??= (async () => {
      const { Pool } = await loadPg();
      let pool;
      try {
        pool = new Pool({
          connectionString: this.#connectionString,
          max: this.#poolSize,
          // A server that does not answer fails the call; the caller retries on its own schedule.
          connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
          keepAlive: true,
        });
      } catch (e) {
        throw new StoreError("Unavailable", `PostgresStore: cannot use ${this.#where()}: ${e?.message ?? e}`, {
          cause: e,
        });
      }
      // An idle connection that breaks (a server restart) is dropped by the pool and reported
      // here, to listeners; calls that use a broken one fail on their own.
      pool.on("connect", (client) => this.#clients.add(client));
      pool.on("remove", (client) => this.#clients.delete(client));
      pool.on("error", (e) =>
        this.#listeners.tell("store.clientError", {
          store: "PostgresStore",
          url: this.#where(),
          error: String(e?.message ?? e),
        }),
      );
      this.#pool = pool;
      return pool;
    })();
    try {
      return await this.#connecting;
    } catch (e) {
      this.#connecting = undefined;
      throw e;
    }
  }

  /** The connection string with its password hidden. */
  #where() {
    return this.#own ? redact(this.#connectionString) : "the pool passed in";
  }

  /**
   * Adds `listener(type, fields)` for what the store's own pool reports outside any call:
   * `"store.clientError"` (`{ store, error }`, an idle connection that broke). Gives the
   * function that removes it. A module with a `logger` or `onEvent` adds itself. A pool you
   * pass in reports to your own `error` listener.
   */
  observe(listener) {
    return this.#listeners.add(listener);
  }

  /**
   * Reaches the server and brings the schema up to date now, instead of at the first command.
   * Rejects with a `StoreError` naming the server (password hidden): `Unavailable` for a
   * connection string that cannot be used, a missing `pg`, a login refused or a pool passed in
   * that its owner has ended, `Transient` for a server that refuses or does not answer within
   * 10 s. Optional; again after a failure tries again.
   */
  async connect() {
    try {
      await this.#whenReady();
    } catch (e) {
      if (e instanceof StoreError && e.kind === "Closed") throw e;
      if (e instanceof StoreError && e.kind === "Unavailable" && e.message.startsWith("PostgresStore:")) throw e;
      const kind = e instanceof StoreError && e.kind === "Unavailable" ? "Unavailable" : "Transient";
      throw new StoreError(kind, `PostgresStore: cannot connect to ${this.#where()}: ${e?.message ?? e}`, {
        cause: e,
      });
    }
  }

  /** One round trip to the server (`SELECT 1`); resolves with its milliseconds, or rejects
   * `Transient` when the server does not answer within 10 s. */
  async ping() {
    if (this.#closed) throw closedError("PostgresStore");
    const pool = await this.#connect();
    return timed(() =>
      withTimeout(
        pool.query("SELECT 1").catch((e) => {
          throw lifted(e);
        }),
        CONNECT_TIMEOUT_MS,
        `PostgresStore: ${this.#where()} did not answer within ${CONNECT_TIMEOUT_MS / 1000} s`,
      ),
    );
  }

  /** The pool with the schema in place, or a rejection. */
  async #whenReady() {
    if (this.#closed) throw closedError("PostgresStore");
    const pool = await this.#connect();
    if (!this.#ready) {
      this.#migrating ??= this.#migrate(pool, false);
      try {
        await this.#migrating;
      } catch (e) {
        this.#migrating = undefined;
        throw e;
      }
      this.#ready = true;
    }
    if (this.#closed) throw closedError("PostgresStore");
    return pool;
  }

  /**
   * Runs one statement; the rows. A prepared statement per connection (`name`), so each is
   * parsed and planned once.
   */
  async #query(name, values) {
    const pool = this.#ready && !this.#closed ? this.#pool : await this.#whenReady();
    let result;
    try {
      result = await pool.query({ name: `${this.#prefix}_${name}`, text: this.#sql[name], values });
    } catch (e) {
      throw lifted(e);
    }
    this.#sweeps.maybe();
    return result.rows;
  }

  /**
   * Creates the tables, or brings them to SCHEMA_VERSION: one transaction that holds the schema
   * row, so several servers starting at once migrate one after another. On first use (`force`
   * false) a database already at this version costs one read.
   */
  async #migrate(pool, force) {
    const p = this.#prefix;
    if (!force) {
      try {
        const { rows } = await pool.query(this.#sql.schemaVersion);
        if (rows.length === 1 && Number(rows[0].version) === SCHEMA_VERSION) return SCHEMA_VERSION;
      } catch (e) {
        if (e?.code !== "42P01") throw lifted(e); // undefined_table: migrate below
      }
    }
    let client;
    try {
      client = await pool.connect();
    } catch (e) {
      throw lifted(e);
    }
    // The pool watches only its idle clients: a checked-out one whose connection drops (a
    // restart, pg_terminate_backend) emits 'error', which with no listener ends the process,
    // and may do so after the query in flight has rejected, so the listener stays. A client
    // whose migration failed is destroyed, not handed back.
    let failed = false;
    client.on("error", () => (failed = true));
    try {
      try {
        await client.query(`CREATE TABLE IF NOT EXISTS ${p}_schema (id integer PRIMARY KEY, version integer NOT NULL)`);
      } catch (e) {
        // Two servers creating it at once: the later one is told of a duplicate (the table, its
        // row type or its catalog row), once the first has committed; the table is there.
        if (!["23505", "42P07", "42710"].includes(e?.code)) throw e;
      }
      await client.query(`INSERT INTO ${p}_schema (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING`);
      await client.query("BEGIN");
      try {
        const { rows } = await client.query(`SELECT version FROM ${p}_schema WHERE id = 1 FOR UPDATE`);
        const at = Number(rows[0].version);
        if (at > SCHEMA_VERSION) {
          throw new StoreError(
            "Unavailable",
            `PostgresStore: the tables ${p}_* are at schema version ${at}, newer than this package's ${SCHEMA_VERSION}: upgrade datastore-module`,
          );
        }
        for (let v = at; v < SCHEMA_VERSION; v++) {
          for (const sql of MIGRATIONS[v](p)) await client.query(sql);
        }
        if (at < SCHEMA_VERSION)
          await client.query(`UPDATE ${p}_schema SET version = $1 WHERE id = 1`, [SCHEMA_VERSION]);
        await client.query("COMMIT");
      } catch (e) {
        await client.query("ROLLBACK").catch(() => {});
        throw e;
      }
      return SCHEMA_VERSION;
    } catch (e) {
      failed = true;
      throw lifted(e);
    } finally {
      client.release(failed);
    }
  }

  /**
   * Creates the tables, or brings them to this package's schema version, and resolves with that
   * version. Optional: the first command does the same. For deployments that run migrations
   * before starting servers (or grant the servers no DDL rights).
   * @returns {Promise<number>}
   */
  async migrate() {
    if (this.#closed) throw closedError("PostgresStore");
    const pool = await this.#connect();
    const version = await this.#migrate(pool, true);
    this.#ready = true;
    return version;
  }

  /**
   * Deletes expired lock rows, expired queue items and tombstones older than 30 days, at most
   * 500 of each per call, skipping rows another transaction holds. Resolves with how many of
   * each went. The store runs it in the background (see `sweepMs`); a deployment may also run it
   * on its own schedule, from any one process.
   * @returns {Promise<{ locks: number, items: number, tombstones: number }>}
   */
  async sweep() {
    const pool = await this.#whenReady();
    const run = async (name, values) => {
      try {
        const result = await pool.query({ name: `${this.#prefix}_${name}`, text: this.#sql[name], values });
        return result.rowCount ?? 0;
      } catch (e) {
        throw lifted(e);
      }
    };
    return {
      locks: await run("sweepLocks", [SWEEP_BATCH]),
      items: await run("sweepQueue", [SWEEP_BATCH]),
      tombstones: await run("sweepTombstones", [SWEEP_BATCH, TOMBSTONE_MS]),
    };
  }

  // ---- data -----------------------------------------------------------------------------------

  async dataGet(name, scope, key) {
    checkArgs("dataGet", [name, scope, key]);
    checkNames(name, scope, key);
    checkKey(name, scope, key);
    const rows = await this.#query("dataGet", [name, scope, key]);
    if (rows.length === 0) return undefined;
    const row = rows[0];
    const createdTime = Number(row.created_ms);
    const updatedTime = Number(row.updated_ms);
    return {
      value: row.value,
      createdTime,
      updatedTime,
      version: versionId(createdTime, Number(row.writes), updatedTime),
      userIds: row.user_ids,
      metadata: row.metadata,
    };
  }

  async dataSet(name, scope, key, value, userIds, metadata, fence = null) {
    checkArgs("dataSet", [name, scope, key, value, userIds, metadata, fence]);
    checkNames(name, scope, key);
    checkDataValue(value);
    [userIds, metadata] = attributesOf(userIds, metadata);
    checkKey(name, scope, key);
    checkText(value, "value");
    checkText(userIds, "userIds");
    checkText(metadata, "metadata");
    if (fence) checkText(fence.owner, "fence.owner");
    const row = await this.#fenced(name, scope, key, fence, "dataSet", [value, userIds, metadata]);
    return versionId(Number(row.created_ms), Number(row.writes), Number(row.updated_ms));
  }

  async dataRemove(name, scope, key, fence = null) {
    checkArgs("dataRemove", [name, scope, key, fence]);
    checkNames(name, scope, key);
    checkKey(name, scope, key);
    if (fence) checkText(fence.owner, "fence.owner");
    await this.#fenced(name, scope, key, fence, "dataRemove", []);
  }

  /**
   * A data write, unfenced or fenced (`values`: value, user ids and metadata for a set, none for
   * a remove). A fenced write that was not applied reads the lock and the
   * mark and rejects with the reason; should they now allow it (they changed in between), it
   * runs again.
   */
  async #fenced(name, scope, key, fence, statement, values) {
    if (!fence) {
      const rows = await this.#query(statement, [name, scope, key, ...values]);
      return rows[0];
    }
    const acq = acquisition(fence.token);
    const map = `${name}/${scope}/${key}`;
    const args = [
      name,
      scope,
      key,
      ...values,
      ...Array(3 - values.length).fill(null), // a remove sends no value, user ids or metadata
      fence.owner,
      fence.token,
      fence.seq,
      map,
      acq * ACQUISITION,
      (acq + 1) * ACQUISITION,
    ];
    for (let run = 0; ; run++) {
      const rows = await this.#query(`${statement}Fenced`, args);
      if (rows.length > 0) return rows[0];
      const [state] = await this.#query("fenceState", [map, name, scope, key]);
      const lock = state.owner === null ? undefined : { owner: state.owner, token: Number(state.token) };
      const mark =
        state.mark_owner === null
          ? undefined
          : { owner: state.mark_owner, token: Number(state.mark_token), seq: Number(state.mark_seq) };
      const reason = fenceRefusal(fence, lock, mark);
      if (reason !== null) throw fencedError(name, scope, key, fence, reason);
      if (run + 1 >= RERUNS) {
        throw new StoreError(
          "Transient",
          `Postgres: the lock of ${map} kept changing under a fenced write; not applied`,
        );
      }
    }
  }

  // ---- locks ----------------------------------------------------------------------------------

  async lockAcquire(map, owner, ttlSeconds, token, renew, held = null) {
    checkArgs("lockAcquire", [map, owner, ttlSeconds, token, renew, held]);
    const ttl = expirationMs(ttlSeconds);
    checkText(map, "map");
    checkText(owner, "owner");
    const mode = renew ? "renew" : "acquire";
    for (let run = 0; ; run++) {
      const written = renew
        ? await this.#query("lockRenew", [map, owner, token, ttl, held])
        : await this.#query("lockAcquire", [map, owner, token, ttl]);
      if (written.length > 0) return { ok: true };
      // Not written: answer from the entry as it stands now.
      const [row] = await this.#query("lockState", [map]);
      const current = row ? { owner: row.owner, token: Number(row.token) } : undefined;
      switch (lockDecision(mode, owner, token, held, current)) {
        case "locked":
          return { ok: false, holder: current.owner };
        case "lapsed":
          return { ok: false, lapsed: true };
      }
      // The entry changed in between so that the command now writes: run it again.
      if (run + 1 >= RERUNS) {
        throw new StoreError("Transient", `Postgres: the lock ${map} kept changing under ${mode}; not written`);
      }
    }
  }

  async lockRelease(map, owner, token) {
    checkArgs("lockRelease", [map, owner, token]);
    checkText(map, "map");
    checkText(owner, "owner");
    const acq = acquisition(token);
    await this.#query("lockRelease", [map, owner, acq * ACQUISITION, (acq + 1) * ACQUISITION]);
  }

  // ---- queues ---------------------------------------------------------------------------------

  async queueAdd(queue, value, expirationSeconds, priority = 0) {
    checkArgs("queueAdd", [queue, value, expirationSeconds, priority]);
    const ttl = expirationMs(expirationSeconds);
    checkPriority(priority);
    checkMemoryValue(value);
    checkText(queue, "queue");
    checkText(value, "value");
    if (ttl === 0) {
      // Expires as it arrives: accepted, never seen (as Roblox, and the emulator).
      if (this.#closed) throw closedError("PostgresStore");
      return;
    }
    await this.#query("queueAdd", [queue, priority === 0 ? 0 : priority, value, ttl]); // -0 is 0
    this.#polls.wake(queue);
  }

  async queueRead(queue, count, allOrNothing, waitSeconds, invisibilitySeconds, signal) {
    checkArgs("queueRead", [queue, count, allOrNothing, waitSeconds, invisibilitySeconds, signal]);
    const invisibleMs = checkRead(count, invisibilitySeconds);
    checkText(queue, "queue");
    return this.#polls.read(
      queue,
      waitSeconds,
      async () => {
        const readId = crypto.randomUUID().toUpperCase();
        const rows = await this.#query("queueRead", [queue, count, invisibleMs, readId, allOrNothing]);
        if (rows.length === 0) return undefined;
        // RETURNING has no order: put the items back in queue order.
        rows.sort((a, b) => b.priority - a.priority || compareIds(a.id, b.id));
        return { values: rows.map((r) => r.value), readId };
      },
      signal,
    );
  }

  async queueRemove(queue, readId) {
    checkArgs("queueRemove", [queue, readId]);
    checkText(queue, "queue");
    checkText(readId, "readId");
    await this.#query("queueRemove", [queue, readId]);
  }

  /**
   * Ends pending long polls (they resolve `undefined`), waits for a background sweep, and ends
   * the pool if the store made it.
   */
  async close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#polls.cancelAll();
    // A sweep in flight finishes first, but close() does not wait for good on one that cannot
    // (a server that stopped answering, or a pool its owner ended under a query it had queued).
    if (this.#sweeps.running) await withTimeout(this.#sweeps.running, CONNECT_TIMEOUT_MS, "").catch(() => {});
    if (!this.#own || !this.#connecting) return;
    let pool;
    try {
      pool = await this.#connecting;
    } catch {
      return;
    }
    // pool.end() waits for every connection in use: one whose query a server that stopped
    // answering holds, for good. Past the bound each connection is ended (one with a query in
    // flight drops its socket) and the pool gets one more bound.
    const ending = pool.end();
    try {
      await withTimeout(ending, CONNECT_TIMEOUT_MS, CLOSE_LATE);
    } catch (e) {
      if (e?.message !== CLOSE_LATE) throw lifted(e);
      for (const client of this.#clients) client.end().catch(() => {});
      await withTimeout(ending, CONNECT_TIMEOUT_MS, CLOSE_LATE).catch(() => {});
    }
  }
}

const CLOSE_LATE = "PostgresStore: close() waited too long for the server";

function checkKey(name, scope, key) {
  checkText(name, "name");
  checkText(scope, "scope");
  checkText(key, "key");
}

/** Compares two bigint ids as node-postgres gives them (decimal text). */
function compareIds(a, b) {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
