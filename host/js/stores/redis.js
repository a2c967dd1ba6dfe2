/**
 * RedisStore: the store for many machines (npm `redis`, node-redis v4 or later; Redis 5 or
 * later, or Redis Cluster).
 *
 * Every command that reads-then-writes is one Lua script, so it is atomic on the server, and
 * every time it needs (lock expiry, item expiry, invisibility) is the Redis server's: lock TTLs
 * are `PX` expiries, and queue scripts read `TIME`. No two machines' clocks are ever compared.
 * The lock scripts carry out the lock table of src/fence.rs, and the data scripts its fence (D22).
 *
 * Key layout (`dsm` is the `prefix` option). `{…}` is a Redis Cluster hash tag: every key of one
 * session (`name/scope/key`) is in one hash slot, so the fenced write script, which reads the
 * lock and writes the data, also runs on a cluster. `%`, `{` and `}` inside the tag are written
 * `%25`, `%7B`, `%7D` so a name cannot break the tag, and an empty name (a queue or lock map
 * `""`) is written `%`, since an empty tag would not keep a queue's keys in one slot.
 *
 * | key | type | what |
 * |---|---|---|
 * | `dsm:{name/scope/key}:data:<n>.<s>` | hash | the data record: `v` value JSON, `c` created ms, `u` updated ms, `n` write count, `ids` user ids JSON, `meta` metadata JSON, and the mark of the last fenced write applied: `fo` owner, `ft` token, `fs` seq. `<n>`, `<s>`: UTF-8 byte lengths of name and scope, which keep two keys apart when a name or scope holds `/`. A remove deletes `v c u ids meta` and keeps `n` and the mark (a tombstone, expiring after 30 days) |
 * | `dsm:{map}:lock` | hash | the lock entry: `o` the holder's owner id, `t` its acquisition token; a `PX` expiry (`map` is `name/scope/key` for a session's lock) |
 * | `dsm:{queue}:q` | zset | visible items: member = 16-digit sequence number, score = −priority (so higher priority first, then FIFO by member) |
 * | `dsm:{queue}:v` | hash | item → value JSON |
 * | `dsm:{queue}:p` | hash | item → score, to put an item back in `q` when its invisibility ends |
 * | `dsm:{queue}:x` | zset | item → expiry (server ms) |
 * | `dsm:{queue}:h` | zset | hidden (read) items → end of invisibility (server ms) |
 * | `dsm:{queue}:r` | hash | hidden item → read id |
 * | `dsm:{queue}:s` | string | the queue's sequence counter |
 *
 * The queue's keys expire with its last item (each carries the latest item expiry as its TTL)
 * and are deleted when it empties.
 *
 * `redis` is loaded only for `{ url }` (and only then needs installing); with `{ client }` the
 * store uses the given client and leaves closing it to its owner: node-redis v4+ (`createClient`
 * or `createCluster`, connected) or ioredis (`new Redis()` or `new Redis.Cluster()`). The two
 * speak through one small adapter (`clientOf`); replies are the same shapes in both.
 *
 * Lifecycle: `connect()` makes (or checks) the connection and rejects with a message naming the
 * server when it cannot; `ping()` measures a round trip; `close()` closes what the store made.
 * The store's own client reports connection errors and reconnects to `observe` listeners (a
 * module with a logger), never to the console.
 */
import { createHash } from "node:crypto";
import { StoreError } from "./errors.js";
import {
  checkArgs,
  POLL_MS,
  QueuePolls,
  attributesOf,
  checkDataValue,
  checkMemoryValue,
  checkNames,
  checkPriority,
  checkRead,
  closedError,
  CONNECT_TIMEOUT_MS,
  expirationMs,
  fencedError,
  Listeners,
  loadOptional,
  redact,
  timed,
  utf8Length,
  versionId,
  withTimeout,
} from "./common.js";

const TOMBSTONE_MS = 30 * 24 * 3600 * 1000;

/** Shared Lua: the server's time in ms. */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * Shared Lua: the lock entry of a key, as its holder and token (nil, 0 when absent), and whether
 * it is a plain string (a lock written before tokens: its owner, with token 0). The entry is a
 * hash (`o` owner, `t` token), read with one HMGET; only a key of another type costs more.
 */
const LOCK = `local function lockOf(k)
  local f = redis.pcall('HMGET', k, 'o', 't')
  if not f.err then return f[1] or nil, tonumber(f[2]) or 0, false end
  local g = redis.pcall('GET', k)
  if type(g) == 'string' then return g, 0, true end
  return nil, 0, true
end
local function acq(token) return math.floor(token / 4294967296) end`;

/**
 * Shared Lua: the lock table of src/fence.rs on the entry KEYS[1], for `owner` (strings as
 * given: the token is stored as its own text). Returns 1 written (ttl 0: deleted), 0 and the
 * holder when another holds it, 2 when a refresh's entry lapsed.
 */
const ACQUIRE = `${LOCK}
local function acquire(owner, ttl, token, renew, held)
  local holder, e, other = lockOf(KEYS[1])
  local t = tonumber(token)
  if holder and holder ~= owner then return 0, holder end
  if renew then
    if not holder or e < tonumber(held) or e > t then return 2 end
  elseif holder and e > t then
    return 0, holder
  end
  if tonumber(ttl) > 0 then
    if other then redis.call('DEL', KEYS[1]) end
    redis.call('HSET', KEYS[1], 'o', owner, 't', token)
    redis.call('PEXPIRE', KEYS[1], ttl)
  else
    redis.call('DEL', KEYS[1])
  end
  return 1
end`;

/** The data hash's fields a read returns, in this order. */
const DATA_FIELDS = ["v", "c", "u", "n", "ids", "meta"];

/**
 * Shared Lua: refuse a fenced write (src/fence.rs). KEYS[1] is the data hash, KEYS[2] the lock;
 * ARGV[1] '1' when fenced, ARGV[2..4] the fence's owner, token and seq. The key's mark (the last
 * fenced write applied) is in the data hash: `fo` owner, `ft` token, `fs` seq. `live` is the
 * record's `c` (created ms), there exactly while it has a value (`v` and `c` go together).
 */
const FENCE = `${LOCK}
local fenced = ARGV[1] == '1'
-- The same fenced write applied already (its seq is the mark's): a client that re-sends a
-- command whose reply it lost (ioredis does after a reconnect) delivers it twice. dataSet
-- answers it as applied when it carries what was applied; anything else refuses an equal seq
-- (a remove carries nothing to tell a second delivery from another write).
local again = false
local m = redis.call('HMGET', KEYS[1], 'fo', 'ft', 'fs', 'c')
local live = m[4]
if fenced then
  local holder, e = lockOf(KEYS[2])
  if not holder then return {'FENCED', 'none'} end
  if holder ~= ARGV[2] then return {'FENCED', 'holder', holder} end
  local a = acq(tonumber(ARGV[3]))
  if acq(e) ~= a then return {'FENCED', 'acquisition'} end
  if m[1] == ARGV[2] and acq(tonumber(m[2])) == a and tonumber(m[3]) >= tonumber(ARGV[4]) then
    again = tonumber(m[3]) == tonumber(ARGV[4])
    if not again then return {'FENCED', 'seq', m[3]} end
  end
end
local function mark()
  if fenced then redis.call('HSET', KEYS[1], 'fo', ARGV[2], 'ft', ARGV[3], 'fs', ARGV[4]) end
end`;

const SCRIPTS = {
  // KEYS: data, lock. ARGV: fenced?, owner, token, seq, value, userIds, metadata.
  dataSet: `${FENCE}
if again then
  local d = redis.call('HMGET', KEYS[1], 'v', 'ids', 'meta', 'u', 'n')
  if live and d[1] == ARGV[5] and d[2] == ARGV[6] and d[3] == ARGV[7] then return {'OK', live, d[4], tonumber(d[5])} end
  return {'FENCED', 'seq', m[3]}
end
${NOW}
local created = now
if live then created = tonumber(live) end
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
local c, u = string.format('%.0f', created), string.format('%.0f', now)
if fenced then
  redis.call('HSET', KEYS[1], 'v', ARGV[5], 'c', c, 'u', u, 'ids', ARGV[6], 'meta', ARGV[7], 'fo', ARGV[2], 'ft', ARGV[3], 'fs', ARGV[4])
else
  redis.call('HSET', KEYS[1], 'v', ARGV[5], 'c', c, 'u', u, 'ids', ARGV[6], 'meta', ARGV[7])
end
-- Only a removed record (a tombstone) has an expiry.
if not live then redis.call('PERSIST', KEYS[1]) end
return {'OK', c, u, n}`,

  // KEYS: data, lock. ARGV: fenced?, owner, token, seq, tombstone lifetime ms.
  dataRemove: `${FENCE}
if again then return {'FENCED', 'seq', m[3]} end
if live then
  redis.call('HDEL', KEYS[1], 'v', 'c', 'u', 'ids', 'meta')
  redis.call('HINCRBY', KEYS[1], 'n', 1)
end
mark()
if live or fenced then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
return {'OK'}`,

  // KEYS: lock. ARGV: owner, ttl ms, token, renew ('1'/'0'), held. The lock table of
  // src/fence.rs: {1} written (0 ms: deleted), {0, holder} locked, {2} lapsed.
  lockAcquire: `${ACQUIRE}
local r, holder = acquire(ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1', ARGV[5])
return {r, holder}`,

  // KEYS: lock, data. ARGV: owner, ttl ms, token. A new acquisition, then, when it is
  // written, the data fields read after it: {1, v, c, u, n, ids, meta} or {0, holder}.
  lockAcquireAndGet: `${ACQUIRE}
local r, holder = acquire(ARGV[1], ARGV[2], ARGV[3], false, '0')
if r ~= 1 then return {r, holder} end
local f = redis.call('HMGET', KEYS[2], ${DATA_FIELDS.map((f) => `'${f}'`).join(", ")})
return {1, f[1], f[2], f[3], f[4], f[5], f[6]}`,

  // KEYS: lock. ARGV: owner, token. Deletes the entry only if it is owner's, of token's acquisition.
  lockRelease: `${LOCK}
local holder, e = lockOf(KEYS[1])
if holder == ARGV[1] and acq(e) == acq(tonumber(ARGV[2])) then redis.call('DEL', KEYS[1]) end
return 1`,
};

/** Shared Lua for the queue scripts. KEYS: q v p x h r s. */
const QUEUE_PRELUDE = `${NOW}
local q, v, p, x, h, r, s = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local function drop(id)
  redis.call('ZREM', q, id)
  redis.call('HDEL', v, id)
  redis.call('HDEL', p, id)
  redis.call('ZREM', x, id)
  redis.call('ZREM', h, id)
  redis.call('HDEL', r, id)
end
-- Expired items go; hidden items whose invisibility ended come back to their place.
local function tidy()
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', x, '-inf', now)) do drop(id) end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', h, '-inf', now)) do
    redis.call('ZADD', q, redis.call('HGET', p, id), id)
    redis.call('ZREM', h, id)
    redis.call('HDEL', r, id)
  end
end
-- Every key lives as long as the queue's last item; an empty queue leaves nothing behind.
local function settle()
  if redis.call('ZCARD', x) == 0 then
    redis.call('DEL', q, v, p, x, h, r, s)
    return
  end
  local ttl = redis.call('PTTL', x)
  if ttl > 0 then
    for _, k in ipairs({q, v, p, h, r, s}) do
      if redis.call('EXISTS', k) == 1 then redis.call('PEXPIRE', k, ttl) end
    end
  end
end
`;

Object.assign(SCRIPTS, {
  // ARGV: value, expiration ms, score (-priority).
  queueAdd: `${QUEUE_PRELUDE}
local id = string.format('%016d', redis.call('INCR', s))
redis.call('ZADD', q, ARGV[3], id)
redis.call('HSET', v, id, ARGV[1])
redis.call('HSET', p, id, ARGV[3])
local expires = now + tonumber(ARGV[2])
redis.call('ZADD', x, string.format('%.0f', expires), id)
local ttl = redis.call('PTTL', x)
if ttl < tonumber(ARGV[2]) then redis.call('PEXPIRE', x, ARGV[2]) end
settle()
return 1`,

  // ARGV: count, all or nothing ('1'/'0'), invisibility ms, read id.
  queueRead: `${QUEUE_PRELUDE}
tidy()
local count = tonumber(ARGV[1])
local ids = redis.call('ZRANGE', q, 0, count - 1)
if #ids == 0 or (ARGV[2] == '1' and #ids < count) then
  settle()
  return false
end
local hidden = string.format('%.0f', now + tonumber(ARGV[3]))
local values = {}
for i, id in ipairs(ids) do
  values[i] = redis.call('HGET', v, id)
  redis.call('ZREM', q, id)
  redis.call('ZADD', h, hidden, id)
  redis.call('HSET', r, id, ARGV[4])
end
settle()
return values`,

  // ARGV: read id. Deletes that read's items while they are still hidden.
  queueRemove: `${QUEUE_PRELUDE}
tidy()
local held = redis.call('HGETALL', r)
for i = 1, #held, 2 do
  if held[i + 1] == ARGV[1] then drop(held[i]) end
end
settle()
return 1`,
});

const SHAS = Object.fromEntries(
  Object.entries(SCRIPTS).map(([name, body]) => [name, createHash("sha1").update(body).digest("hex")]),
);

/**
 * A hash-tag body that cannot close or open a tag, and is never empty. Redis hashes a key whose
 * tag is empty (`{}`) whole, as if it had none, so the seven keys of a queue named `""` would
 * fall in different slots and every queue script would fail with CROSSSLOT on a cluster (the
 * conformance suite on a real cluster, redis-cluster.test.mjs, found it; a single server does
 * not check). The empty name is written `%`, which no other name's tag can be: every `%` of a
 * name is written `%25`.
 */
function tag(text) {
  if (text === "") return "%";
  return text.replace(/[%{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`);
}

/** Redis errors as StoreErrors: out of memory is OverQuota, everything else Transient. */
function lifted(e) {
  if (e instanceof StoreError) return e;
  const message = String(e?.message ?? e);
  // A server that wants a password it was not given, or another one, refuses every call until
  // the setting changes: trying again cannot help.
  const kind = message.startsWith("OOM")
    ? "OverQuota"
    : /^(NOAUTH|WRONGPASS)\b/.test(message)
      ? "Unavailable"
      : "Transient";
  return new StoreError(kind, `Redis: ${message}`, { cause: e });
}

/**
 * Refuses a name with an unpaired surrogate: Redis keys are bytes, and the client writes one as
 * U+FFFD, so "k\ud800" and "k\ufffd" would be one record and one lock.
 */
function wellFormed(text, what) {
  if (!text.isWellFormed()) {
    throw new StoreError("InvalidRequest", `${what} holds an unpaired surrogate, which a Redis key cannot keep apart`);
  }
}

/**
 * Refuses a server that may evict keys when full (`maxmemory` set, `maxmemory-policy` other than
 * `noeviction`): an evicted record loses acknowledged saves, an evicted lock lets a second server
 * open a session that is held. Redis evicts only past `maxmemory`, so 0 (no limit) is fine. A
 * server that does not allow INFO (an ACL, a managed service) cannot be checked, and is not.
 */
async function refuseEviction(client, where) {
  if (client.info === undefined) return;
  let text;
  try {
    text = String(await client.info());
  } catch {
    return;
  }
  const field = (name) => new RegExp(`^${name}:(.*)$`, "m").exec(text)?.[1]?.trim();
  const max = Number(field("maxmemory"));
  const policy = field("maxmemory_policy");
  if (max > 0 && policy !== undefined && policy !== "noeviction") {
    throw new StoreError(
      "Unavailable",
      `RedisStore: ${where} may evict keys when full (maxmemory ${max} bytes, maxmemory-policy ${policy}): ` +
        "an evicted record loses saved data and an evicted lock lets two servers hold one session; " +
        "set maxmemory-policy noeviction (or maxmemory 0)",
    );
  }
}

/**
 * One interface over the two clients: node-redis (`evalSha(sha, { keys, arguments })`,
 * `hmGet`, `isOpen`) and ioredis (`evalsha(sha, numkeys, ...keys, ...args)`, `hmget`,
 * `status`). Undefined for anything else.
 */
function clientOf(client) {
  if (typeof client !== "object" || client === null) return undefined;
  if (typeof client.evalSha === "function" && typeof client.hmGet === "function") {
    return {
      library: "node-redis",
      evalSha: (sha, keys, args) => client.evalSha(sha, { keys, arguments: args }),
      eval: (script, keys, args) => client.eval(script, { keys, arguments: args }),
      hmGet: (key, fields) => client.hmGet(key, fields),
      info: typeof client.info === "function" ? () => client.info("memory") : undefined,
      // A node-redis cluster has no keyless PING: a script on one key goes to that key's node.
      ping: () => (typeof client.ping === "function" ? client.ping() : client.eval("return 1", { keys: ["dsm-ping"] })),
      // A cluster has no isOpen before v5; it reports on its own calls.
      closed: () => client.isOpen === false,
      notConnected: "the node-redis client passed in is not connected; call await client.connect() first",
    };
  }
  if (typeof client.evalsha === "function" && typeof client.hmget === "function") {
    return {
      library: "ioredis",
      evalSha: (sha, keys, args) => client.evalsha(sha, keys.length, ...keys, ...args),
      eval: (script, keys, args) => client.eval(script, keys.length, ...keys, ...args),
      hmGet: (key, fields) => client.hmget(key, ...fields),
      info: typeof client.info === "function" ? () => client.info("memory") : undefined,
      ping: () => client.ping(),
      // "end": closed for good (quit, or out of reconnect tries); every other status still
      // connects, and ioredis queues commands until it has.
      closed: () => client.status === "end",
      notConnected: "the ioredis client passed in has been closed (status end); pass an open one",
    };
  }
  return undefined;
}

export class RedisStore {
  #client;
  #own;
  #url;
  #prefix;
  #connecting;
  /** why every call is refused: the server this store's own client reconnected to may evict */
  #refusal;
  /** the eviction check of the server this store's own client reconnected to, while it runs */
  #recheck;
  /** the eviction check of a client passed in (`refuseEviction`), once */
  #evictionChecked;
  #polls;
  #closed = false;
  #listeners = new Listeners();

  /**
   * @param {{ url?: string, client?: object, prefix?: string, pollMs?: number }} options
   *   `url` (`redis://host:port`) makes and owns a client; `client` uses yours. `prefix` starts
   *   every key (default `dsm`). `pollMs`: how often a waiting `queueRead` looks for items other
   *   servers added (default 2000, Roblox's cadence; items added through this store wake it at once).
   */
  constructor({ url, client, prefix = "dsm", pollMs = POLL_MS } = {}) {
    if ((url === undefined) === (client === undefined)) {
      throw new TypeError("RedisStore: give exactly one of { url } or { client }");
    }
    if (url !== undefined && (typeof url !== "string" || url === "")) {
      // node-redis takes "" for redis://localhost:6379, which is never what an empty setting meant.
      throw new TypeError("RedisStore: url must be a non-empty string (redis://host:port)");
    }
    const adapted = client === undefined ? undefined : clientOf(client);
    if (client !== undefined && adapted === undefined) {
      throw new TypeError(
        "RedisStore: client must be a node-redis client (v4 or later) or an ioredis client (standalone or cluster)",
      );
    }
    if (typeof prefix !== "string" || prefix === "" || /[{}]/.test(prefix)) {
      throw new TypeError("RedisStore: prefix must be a non-empty string without { or }");
    }
    this.#polls = new QueuePolls({ store: "RedisStore", intervalMs: pollMs, closed: () => this.#closed });
    this.#url = url;
    this.#client = adapted;
    this.#own = url !== undefined;
    this.#prefix = prefix;
  }

  /**
   * Adds `listener(type, fields)` for what the store's own client reports outside any call:
   * `"store.clientError"` (`{ store, error }`) and `"store.connection"` (`{ store, state }`:
   * `"ready"`, `"reconnecting"`, `"end"`). Gives the function that removes it. A module with a
   * `logger` or `onEvent` adds itself. A client you pass in reports to you, not here.
   */
  observe(listener) {
    return this.#listeners.add(listener);
  }

  /**
   * Connects now (the store's own client) and checks the server answers a PING, instead of at
   * the first command. Rejects with a `StoreError` naming the server: `Unavailable` for a URL
   * that cannot be used, a password missing or wrong, or a client that is closed, `Transient`
   * for a server that refuses or does not answer within 10 s. Calling it is optional, and again
   * after a failure tries again.
   */
  async connect() {
    const client = await this.#ready();
    // One command as well: a server that wants a password the URL lacks takes the connection
    // and refuses every command (Unavailable, as no retry helps).
    const who = this.#own ? `RedisStore: ${redact(this.#url)}` : `RedisStore: the ${client.library} client passed in`;
    await withTimeout(
      client.ping().catch((e) => {
        throw new StoreError(lifted(e).kind, `${who} cannot reach its server: ${e?.message ?? e}`, { cause: e });
      }),
      CONNECT_TIMEOUT_MS,
      `${who} did not reach its server within ${CONNECT_TIMEOUT_MS / 1000} s`,
    );
  }

  /** One round trip to the server (`PING`); resolves with its milliseconds. Connecting first, if
   * it must, counts in its 10 s. */
  async ping() {
    return timed(() =>
      withTimeout(
        (async () => {
          const client = await this.#connected();
          await client.ping().catch((e) => {
            throw lifted(e);
          });
        })(),
        CONNECT_TIMEOUT_MS,
        `RedisStore: PING got no answer within ${CONNECT_TIMEOUT_MS / 1000} s`,
      ),
    );
  }

  /** The client, connected on first use when the store made it. */
  async #ready() {
    if (this.#closed) throw closedError("RedisStore");
    if (!this.#own) {
      if (this.#client.closed()) throw new StoreError("Unavailable", `RedisStore: ${this.#client.notConnected}`);
      this.#evictionChecked ??= refuseEviction(this.#client, `the ${this.#client.library} client passed in`).catch(
        (e) => {
          this.#evictionChecked = undefined;
          throw e;
        },
      );
      await this.#evictionChecked;
      return this.#client;
    }
    this.#connecting ??= (async () => {
      const { createClient } = await loadOptional(() => import("redis"), "redis", "RedisStore with { url }");
      const where = redact(this.#url);
      let connected = false;
      let client;
      try {
        client = createClient({
          url: this.#url,
          // Fail fast while disconnected: the caller retries on its own schedule.
          disableOfflineQueue: true,
          // A first connection that fails is reported (the next call tries again); a lost one is
          // re-established in the background, backing off up to 2 s.
          socket: {
            connectTimeout: CONNECT_TIMEOUT_MS,
            reconnectStrategy: (retries, cause) => (connected ? Math.min(50 * 2 ** retries, 2000) : cause),
          },
        });
      } catch (e) {
        throw new StoreError("Unavailable", `RedisStore: cannot use the url ${where}: ${e?.message ?? e}`, {
          cause: e,
        });
      }
      // Failing commands report themselves; listeners (a module's logger) hear the rest.
      const tell = (type, fields) => this.#listeners.tell(type, { store: "RedisStore", url: where, ...fields });
      client.on("error", (e) => tell("store.clientError", { error: String(e?.message ?? e) }));
      client.on("ready", () => tell("store.connection", { state: "ready" }));
      client.on("reconnecting", () => tell("store.connection", { state: "reconnecting" }));
      client.on("end", () => tell("store.connection", { state: "end" }));
      try {
        // A server that takes the connection and then says nothing (stopped, or not Redis)
        // would hold the handshake for good: connectTimeout covers only the TCP connect.
        await withTimeout(
          client.connect(),
          CONNECT_TIMEOUT_MS,
          `RedisStore: ${where} did not answer within ${CONNECT_TIMEOUT_MS / 1000} s`,
        );
      } catch (e) {
        try {
          client.destroy?.() ?? client.disconnect?.();
        } catch {
          // Not connected: nothing to end.
        }
        if (e instanceof StoreError) throw e;
        throw new StoreError(lifted(e).kind, `RedisStore: cannot connect to ${where}: ${e?.message ?? e}`, {
          cause: e,
        });
      }
      connected = true;
      const wrapped = clientOf(client);
      // This client is a standalone node-redis one, whose raw `sendCommand` skips the command
      // parser and the async layer of `evalSha`: 3 to 4 µs of the store's CPU per call, a
      // tenth of a session cycle's (issue 12). A client passed in may be a cluster, whose
      // `sendCommand` takes other arguments, so it keeps `evalSha`.
      wrapped.evalSha = (sha, keys, args) =>
        client.sendCommand(["EVALSHA", sha, String(keys.length), ...keys, ...args]);
      wrapped.close = () => (typeof client.close === "function" ? client.close() : client.quit());
      wrapped.destroy = () => (typeof client.destroy === "function" ? client.destroy() : client.disconnect());
      try {
        await refuseEviction(wrapped, where);
      } catch (e) {
        await Promise.resolve(wrapped.close()).catch(() => {});
        throw e;
      }
      // A reconnect may reach another server (a failover) with another configuration: it is
      // checked again, and until it passes every call is refused as the first check refuses.
      // Calls wait for the check (a write let through to a server that evicts can be lost), so it
      // starts before any other "ready" listener can make one; an INFO that goes unanswered
      // lets them through after CONNECT_TIMEOUT_MS, as a server that refuses INFO does.
      client.prependListener("ready", () => {
        const check = withTimeout(refuseEviction(wrapped, where), CONNECT_TIMEOUT_MS, "")
          .then(
            () => (this.#refusal = undefined),
            (e) => {
              if (!String(e?.message).includes("may evict")) return;
              this.#refusal = e;
              tell("store.clientError", { error: e.message });
            },
          )
          .finally(() => {
            if (this.#recheck === check) this.#recheck = undefined;
          });
        this.#recheck = check;
      });
      this.#client = wrapped;
      return wrapped;
    })();
    let client;
    try {
      client = await this.#connecting;
    } catch (e) {
      this.#connecting = undefined;
      throw e;
    }
    if (this.#closed) throw closedError("RedisStore");
    return client;
  }

  /** The client, at once when the store made it and it is connected (the common case: no extra
   * promise per command), else through `#ready`. */
  #connected() {
    if (this.#recheck !== undefined) return this.#recheck.then(() => this.#connected());
    if (this.#refusal !== undefined) return Promise.reject(this.#refusal);
    return this.#own && !this.#closed && this.#client !== undefined ? this.#client : this.#ready();
  }

  /** Runs a script by its SHA, loading it the first time a server lacks it. */
  async #script(name, keys, args) {
    const client = await this.#connected();
    const strings = args.map(String);
    try {
      try {
        return await client.evalSha(SHAS[name], keys, strings);
      } catch (e) {
        if (!String(e?.message).startsWith("NOSCRIPT")) throw e;
        return await client.eval(SCRIPTS[name], keys, strings);
      }
    } catch (e) {
      throw lifted(e);
    }
  }

  #session(name, scope, key) {
    return tag(`${name}/${scope}/${key}`);
  }

  #dataKey(name, scope, key) {
    wellFormed(name, "name");
    wellFormed(scope, "scope");
    wellFormed(key, "key");
    return `${this.#prefix}:{${this.#session(name, scope, key)}}:data:${utf8Length(name)}.${utf8Length(scope)}`;
  }

  #lockKey(map) {
    wellFormed(map, "map");
    return `${this.#prefix}:{${tag(map)}}:lock`;
  }

  #queueKeys(queue) {
    wellFormed(queue, "queue");
    const base = `${this.#prefix}:{${tag(queue)}}:`;
    return ["q", "v", "p", "x", "h", "r", "s"].map((k) => base + k);
  }

  // ---- data -----------------------------------------------------------------------------------

  async dataGet(name, scope, key) {
    checkArgs("dataGet", [name, scope, key]);
    checkNames(name, scope, key);
    const client = await this.#connected();
    let fields;
    try {
      fields = await client.hmGet(this.#dataKey(name, scope, key), DATA_FIELDS);
    } catch (e) {
      throw lifted(e);
    }
    return entryOf(fields, 0);
  }

  async dataSet(name, scope, key, value, userIds, metadata, fence = null) {
    checkArgs("dataSet", [name, scope, key, value, userIds, metadata, fence]);
    checkNames(name, scope, key);
    checkDataValue(value);
    [userIds, metadata] = attributesOf(userIds, metadata);
    const reply = await this.#script(
      "dataSet",
      [this.#dataKey(name, scope, key), this.#lockKey(`${name}/${scope}/${key}`)],
      [...fenceArgs(fence), value, userIds, metadata],
    );
    refuseFenced(reply, name, scope, key, fence);
    return versionId(Number(reply[1]), Number(reply[3]), Number(reply[2]));
  }

  async dataRemove(name, scope, key, fence = null) {
    checkArgs("dataRemove", [name, scope, key, fence]);
    checkNames(name, scope, key);
    const reply = await this.#script(
      "dataRemove",
      [this.#dataKey(name, scope, key), this.#lockKey(`${name}/${scope}/${key}`)],
      [...fenceArgs(fence), TOMBSTONE_MS],
    );
    refuseFenced(reply, name, scope, key, fence);
  }

  // ---- locks ----------------------------------------------------------------------------------

  async lockAcquire(map, owner, ttlSeconds, token, renew, held = null) {
    checkArgs("lockAcquire", [map, owner, ttlSeconds, token, renew, held]);
    const ttl = expirationMs(ttlSeconds);
    const reply = await this.#script(
      "lockAcquire",
      [this.#lockKey(map)],
      [owner, ttl, token, renew ? "1" : "0", held ?? 0],
    );
    switch (Number(reply[0])) {
      case 1:
        return { ok: true };
      case 2:
        return { ok: false, lapsed: true };
      default:
        return { ok: false, holder: reply[1] };
    }
  }

  /**
   * A new acquisition and, when it is written, the read of the data key after it, in one script
   * (one round trip): `{ ok: true, entry }` (entry as `dataGet`'s) or `{ ok: false, holder }`.
   * `map` is the session's `name/scope/key`, so both keys share a cluster slot.
   */
  async lockAcquireAndGet(map, owner, ttlSeconds, token, name, scope, key) {
    checkArgs("lockAcquireAndGet", [map, owner, ttlSeconds, token, name, scope, key]);
    checkNames(name, scope, key);
    const ttl = expirationMs(ttlSeconds);
    const reply = await this.#script(
      "lockAcquireAndGet",
      [this.#lockKey(map), this.#dataKey(name, scope, key)],
      [owner, ttl, token],
    );
    if (Number(reply[0]) !== 1) return { ok: false, holder: reply[1] };
    return { ok: true, entry: entryOf(reply, 1) };
  }

  async lockRelease(map, owner, token) {
    checkArgs("lockRelease", [map, owner, token]);
    await this.#script("lockRelease", [this.#lockKey(map)], [owner, token]);
  }

  // ---- queues ---------------------------------------------------------------------------------

  async queueAdd(queue, value, expirationSeconds, priority = 0) {
    checkArgs("queueAdd", [queue, value, expirationSeconds, priority]);
    const ttl = expirationMs(expirationSeconds);
    checkPriority(priority);
    checkMemoryValue(value);
    if (ttl === 0) {
      // Expires as it arrives: accepted, never seen (as Roblox, and the emulator).
      if (this.#closed) throw closedError("RedisStore");
      return;
    }
    const score = priority === 0 ? 0 : -priority; // -0 and 0 are one priority
    await this.#script("queueAdd", this.#queueKeys(queue), [value, ttl, score]);
    this.#polls.wake(queue);
  }

  async queueRead(queue, count, allOrNothing, waitSeconds, invisibilitySeconds, signal) {
    checkArgs("queueRead", [queue, count, allOrNothing, waitSeconds, invisibilitySeconds, signal]);
    const invisibleMs = checkRead(count, invisibilitySeconds);
    const keys = this.#queueKeys(queue);
    return this.#polls.read(
      queue,
      waitSeconds,
      async () => {
        const readId = crypto.randomUUID().toUpperCase();
        const values = await this.#script("queueRead", keys, [count, allOrNothing ? "1" : "0", invisibleMs, readId]);
        return values ? { values, readId } : undefined;
      },
      signal,
    );
  }

  async queueRemove(queue, readId) {
    checkArgs("queueRemove", [queue, readId]);
    await this.#script("queueRemove", this.#queueKeys(queue), [readId]);
  }

  /** Ends pending long polls (they resolve `undefined`); closes the client if the store made it. */
  async close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#polls.cancelAll();
    if (!this.#own || !this.#connecting) return;
    let client;
    try {
      client = await this.#connecting;
    } catch {
      return;
    }
    // node-redis's close waits for every reply the server owes: from a server that stopped
    // answering, for good. A PING answered means every earlier reply has come (a connection
    // answers in order), so close has nothing left to wait for; past the bound the connection
    // is dropped instead.
    const answered = await withTimeout(Promise.resolve(client.ping()), CONNECT_TIMEOUT_MS, "").then(
      () => true,
      () => false,
    );
    if (answered) {
      try {
        await client.close();
      } catch (e) {
        throw lifted(e);
      }
      return;
    }
    try {
      client.destroy();
    } catch {
      // Already closed: nothing to drop.
    }
  }
}

/** The entry a read found: the data fields (DATA_FIELDS) from `reply[at]` on; undefined when
 * there is no value. */
function entryOf(reply, at) {
  const value = reply[at];
  if (value === null || value === undefined) return undefined;
  const createdTime = Number(reply[at + 1]);
  const updatedTime = Number(reply[at + 2]);
  return {
    value,
    createdTime,
    updatedTime,
    version: versionId(createdTime, Number(reply[at + 3]), updatedTime),
    userIds: reply[at + 4],
    metadata: reply[at + 5],
  };
}

/** A fence as script arguments: fenced?, owner, token, seq. */
function fenceArgs(fence) {
  return fence == null ? ["0", "", 0, 0] : ["1", fence.owner, fence.token, fence.seq];
}

/** Throws the Fenced rejection a script answered with (the reasons of src/fence.rs). */
function refuseFenced(reply, name, scope, key, fence) {
  if (reply?.[0] !== "FENCED") return;
  const reasons = {
    none: () => "the lock is not held (expired or released)",
    holder: () => `the lock is held by ${reply[2]}`,
    acquisition: () => `the lock is held by another acquisition of ${fence.owner} than this write's`,
    seq: () => `a newer write (#${reply[2]}) of the same session has landed already (this is #${fence.seq})`,
  };
  throw fencedError(name, scope, key, fence, reasons[reply[1]]());
}
