// What only RedisStore has: its key layout (one hash slot per session, so Redis Cluster works),
// queue keys that clean up after themselves, a caller's own client, and loading scripts on a
// server that lost them. The shared behaviour is in stores.test.mjs.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createClient } from "redis";
import { RedisStore, StoreError } from "../../pkg/node.mjs";
import { startRedis } from "./helpers/redis.mjs";

let server;
let client;

before(async () => {
  server = await startRedis();
  client = createClient({ url: server.url });
  client.on("error", () => {});
  await client.connect();
});

after(async () => {
  await client?.close();
  await server?.stop();
});

/** Redis Cluster's hash slot of a key (CRC16/XMODEM of its hash tag, mod 16384). */
function slot(key) {
  const open = key.indexOf("{");
  if (open >= 0) {
    const close = key.indexOf("}", open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of Buffer.from(key)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

async function keysOf(pattern) {
  return (await client.keys(pattern)).sort();
}

test("the slot function matches Redis's (CLUSTER KEYSLOT examples)", () => {
  assert.equal(slot("foo"), 12182);
  assert.equal(slot("{user1000}.following"), slot("{user1000}.followers"));
  assert.equal(slot("123456789"), 0x31c3 % 16384);
});

test("every key of a session is in one hash slot, even with braces in its name", async () => {
  const store = new RedisStore({ client, prefix: "slot" });
  for (const [name, scope, key] of [
    ["Players", "global", "k1"],
    ["}odd{", "sco}pe", "{k}"],
    ["A/B", "c", "%7D"],
  ]) {
    const id = `${name}/${scope}/${key}`;
    await store.lockAcquire(id, "OWNER", 30, 2 ** 32, false);
    await store.dataSet(name, scope, key, "1", "[]", "{}", { owner: "OWNER", token: 2 ** 32, seq: 1 });
    await store.queueAdd(id, "1", 60, 0);
    await store.queueRead(id, 1, false, 0, 30); // makes the hidden-item keys too
    const keys = (await keysOf("slot:*")).filter((k) =>
      k.includes(id.replace(/[%{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)),
    );
    assert.ok(keys.length >= 8, `keys: ${keys}`);
    assert.equal(new Set(keys.map(slot)).size, 1, `one slot for ${keys}`);
  }
});

test("the documented layout: data hash with the fence mark, lock hash with PX expiry, queue keys", async () => {
  const store = new RedisStore({ client, prefix: "layout" });
  await store.lockAcquire("P/global/k", "OWNER", 30, 2 ** 32, false);
  await store.dataSet("P", "global", "k", '{"a":1}', "[3]", '{"m":1}', { owner: "OWNER", token: 2 ** 32, seq: 1 });
  assert.deepEqual({ ...(await client.hGetAll("layout:{P/global/k}:lock")) }, { o: "OWNER", t: "4294967296" });
  const pttl = await client.pTTL("layout:{P/global/k}:lock");
  assert.ok(pttl > 29_000 && pttl <= 30_000, `lock PTTL ${pttl}`);
  const data = await client.hGetAll("layout:{P/global/k}:data:1.6");
  assert.deepEqual(
    { v: data.v, ids: data.ids, meta: data.meta, n: data.n, fo: data.fo, ft: data.ft, fs: data.fs },
    { v: '{"a":1}', ids: "[3]", meta: '{"m":1}', n: "1", fo: "OWNER", ft: "4294967296", fs: "1" },
  );
  assert.ok(Number(data.c) > 1.7e12 && data.u === data.c);
  await store.queueAdd("P/global/k", '"x"', 60, 2);
  assert.deepEqual(await keysOf("layout:{P/global/k}:*"), [
    "layout:{P/global/k}:data:1.6",
    "layout:{P/global/k}:lock",
    "layout:{P/global/k}:p",
    "layout:{P/global/k}:q",
    "layout:{P/global/k}:s",
    "layout:{P/global/k}:v",
    "layout:{P/global/k}:x",
  ]);
  assert.deepEqual(await client.zRangeWithScores("layout:{P/global/k}:q", 0, -1), [
    { value: "0000000000000001", score: -2 },
  ]);
  await store.dataRemove("P", "global", "k", { owner: "OWNER", token: 2 ** 32, seq: 2 });
  const tomb = await client.hGetAll("layout:{P/global/k}:data:1.6");
  assert.deepEqual(
    { ...tomb },
    { n: "2", fo: "OWNER", ft: "4294967296", fs: "2" },
    "a tombstone keeps the write count and the mark",
  );
  assert.ok((await client.pTTL("layout:{P/global/k}:data:1.6")) > 29 * 24 * 3600 * 1000);
});

test("a lock written before tokens (a plain string) is its owner's, with token 0", async () => {
  const store = new RedisStore({ client, prefix: "legacy" });
  await client.set("legacy:{P/global/old}:lock", "OLD", { PX: 30_000 });
  assert.deepEqual(await store.lockAcquire("P/global/old", "NEW", 30, 2 ** 32, false), { ok: false, holder: "OLD" });
  assert.deepEqual(await store.lockAcquire("P/global/old", "OLD", 30, 2 ** 32 + 1, true, 0), { ok: true });
  assert.deepEqual({ ...(await client.hGetAll("legacy:{P/global/old}:lock")) }, { o: "OLD", t: "4294967297" });
});

test("a fenced write delivered twice (a client re-sending after a lost reply) answers as applied", async () => {
  // ioredis re-sends commands whose replies a dropped connection lost; the second delivery of a
  // write that landed must not answer Fenced. With another payload the same seq is refused, as
  // the store conformance suite checks for every store.
  const store = new RedisStore({ client, prefix: "twice" });
  const ACQ = 2 ** 32;
  const fence = (seq) => ({ owner: "OWNER", token: ACQ, seq });
  await store.lockAcquire("P/global/k", "OWNER", 30, ACQ, false);
  const first = await store.dataSet("P", "global", "k", '"5"', "[1]", '{"m":1}', fence(5));
  assert.equal(await store.dataSet("P", "global", "k", '"5"', "[1]", '{"m":1}', fence(5)), first, "written once");
  assert.equal((await store.dataGet("P", "global", "k")).version, first);
  await assert.rejects(store.dataSet("P", "global", "k", '"5"', "[2]", '{"m":1}', fence(5)), { kind: "Fenced" });
  await store.dataRemove("P", "global", "k", fence(6));
  await assert.rejects(store.dataSet("P", "global", "k", '"5"', "[1]", '{"m":1}', fence(5)), { kind: "Fenced" });
  assert.equal(await store.dataGet("P", "global", "k"), undefined);
});

test("a server that may evict keys when full is refused as Unavailable, by every way in", async () => {
  // allkeys-lru dropped an acknowledged save's record; volatile-lru, live locks.
  await client.configSet({ maxmemory: "64mb", "maxmemory-policy": "allkeys-lru" });
  try {
    for (const store of [new RedisStore({ url: server.url }), new RedisStore({ client, prefix: "evict" })]) {
      for (const call of [() => store.connect(), () => store.dataGet("P", "global", "k")]) {
        await assert.rejects(call(), { kind: "Unavailable", message: /may evict keys .*maxmemory-policy allkeys-lru/ });
      }
      await store.close();
    }
    await client.configSet("maxmemory-policy", "noeviction");
    const store = new RedisStore({ url: server.url });
    await store.connect();
    assert.equal(await store.dataGet("P", "global", "k"), undefined);
    await store.close();
  } finally {
    await client.configSet({ maxmemory: "0", "maxmemory-policy": "noeviction" });
  }
});

test("a reconnect to a server that may evict is refused until it may not", async () => {
  // The check ran once, at the first connect: a failover to a server set to evict went unseen.
  const store = new RedisStore({ url: server.url, prefix: "recheck" });
  await store.connect();
  const reconnect = async (want) => {
    await client.sendCommand(["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const outcome = await store.dataGet("P", "global", "k").then(
        () => "ok",
        (e) => e.kind,
      );
      if (outcome === want || Date.now() > deadline) return outcome;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  try {
    await client.configSet({ maxmemory: "64mb", "maxmemory-policy": "allkeys-lru" });
    assert.equal(await reconnect("Unavailable"), "Unavailable");
    await assert.rejects(store.dataGet("P", "global", "k"), { kind: "Unavailable", message: /may evict keys/ });
    await client.configSet({ maxmemory: "0", "maxmemory-policy": "noeviction" });
    assert.equal(await reconnect("ok"), "ok");
  } finally {
    await client.configSet({ maxmemory: "0", "maxmemory-policy": "noeviction" });
    await store.close();
  }
});

test("a call made as the client reconnects waits for the server's eviction check", async () => {
  // The check ran beside the calls: one made at "ready" reached a server set to evict.
  const store = new RedisStore({ url: server.url, prefix: "recheck-race" });
  await store.connect();
  const made = new Promise((resolve) =>
    store.observe((type, fields) => {
      if (type === "store.connection" && fields.state === "ready") {
        resolve(
          store.dataGet("P", "global", "k").then(
            () => "ok",
            (e) => e.kind,
          ),
        );
      }
    }),
  );
  try {
    await client.configSet({ maxmemory: "64mb", "maxmemory-policy": "allkeys-lru" });
    await client.sendCommand(["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]);
    assert.equal(await made, "Unavailable");
  } finally {
    await client.configSet({ maxmemory: "0", "maxmemory-policy": "noeviction" });
    await store.close();
  }
});

test("names with an unpaired surrogate are refused, not merged with U+FFFD", async () => {
  const store = new RedisStore({ client, prefix: "lone" });
  await store.dataSet("P", "global", "k\ufffd", '"other"', "[]", "{}", null);
  for (const call of [
    () => store.dataGet("P", "global", "k\ud800"),
    () => store.dataSet("P\udc00", "global", "k", '"x"', "[]", "{}", null),
    () => store.lockAcquire("P/global/k\ud800", "A", 30, 2 ** 32, false),
    () => store.queueAdd("q\ud800", '"x"', 60, 0),
  ]) {
    await assert.rejects(call(), { kind: "InvalidRequest", message: /unpaired surrogate/ });
  }
});

test("queue keys expire with their last item and vanish when the queue empties", async () => {
  const store = new RedisStore({ client, prefix: "tidy" });
  await store.queueAdd("Q", "1", 5, 0);
  await store.queueAdd("Q", "2", 50, 0);
  for (const key of await keysOf("tidy:{Q}:*")) {
    const ttl = await client.pTTL(key);
    assert.ok(ttl > 45_000 && ttl <= 50_000, `${key} PTTL ${ttl}`);
  }
  const read = await store.queueRead("Q", 10, false, 0, 30);
  for (const key of await keysOf("tidy:{Q}:*")) assert.ok((await client.pTTL(key)) > 45_000, key);
  await store.queueRemove("Q", read.readId);
  assert.deepEqual(await keysOf("tidy:{Q}:*"), []);
  // Expired items are swept by the next read, and the keys with them.
  await store.queueAdd("Q", "3", 0.05, 0);
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(await store.queueRead("Q", 1, false, 0, 30), undefined);
  assert.deepEqual(await keysOf("tidy:{Q}:*"), []);
});

test("with { client } the store uses it and leaves it open on close", async () => {
  const store = new RedisStore({ client, prefix: "own" });
  await store.dataSet("P", "global", "k", "1", "[]", "{}", null);
  await store.close();
  assert.equal(client.isOpen, true);
  assert.equal(await client.hGet("own:{P/global/k}:data:1.6", "v"), "1");
  await assert.rejects(store.dataGet("P", "global", "k"), (e) => e instanceof StoreError && e.kind === "Closed");
});

// The store's own client sends scripts through its raw `sendCommand`, a client passed in
// through `evalSha`: both load a script the server has lost.
for (const made of ["client", "url"]) {
  test(`scripts are loaded again after the server forgets them ({ ${made} })`, async () => {
    const prefix = `flush-${made}`;
    const store = new RedisStore(made === "url" ? { url: server.url, prefix } : { client, prefix });
    try {
      assert.deepEqual(await store.lockAcquire("m", "A", 30, 2 ** 32, false), { ok: true });
      await client.scriptFlush();
      assert.deepEqual(await store.lockAcquire("m", "B", 30, 2 ** 32, false), { ok: false, holder: "A" });
      await client.scriptFlush();
      const version = await store.dataSet("P", "global", "k", '{"a":1}', "[]", "{}", null);
      assert.deepEqual(await store.dataGet("P", "global", "k"), {
        value: '{"a":1}',
        version,
        createdTime: Number(await client.hGet(`${prefix}:{P/global/k}:data:1.6`, "c")),
        updatedTime: Number(await client.hGet(`${prefix}:{P/global/k}:data:1.6`, "u")),
        userIds: "[]",
        metadata: "{}",
      });
    } finally {
      await store.close();
    }
  });
}

test("a server that cannot be reached gives a Transient error, and the next call tries again", async () => {
  const spare = await startRedis();
  await spare.stop();
  const store = new RedisStore({ url: spare.url });
  for (let i = 0; i < 2; i++) {
    const error = await store.dataGet("P", "global", "k").catch((e) => e);
    assert.ok(error instanceof StoreError, String(error));
    assert.equal(error.kind, "Transient");
  }
  await store.close();
});

test("a lost connection gives Transient errors, and the store recovers when the server is back", async () => {
  const own = await startRedis();
  const store = new RedisStore({ url: own.url });
  try {
    await store.dataSet("P", "global", "k", "1", "[]", "{}", null);
    await own.stop();
    const error = await store.dataGet("P", "global", "k").catch((e) => e);
    assert.equal(error.kind, "Transient", String(error));
    const again = await startRedis({ port: own.port });
    try {
      // The client reconnects in the background; calls fail fast until it has.
      let result;
      for (let tries = 0; tries < 100; tries++) {
        result = await store.lockAcquire("m", "A", 30, 2 ** 32, false).catch((e) => e);
        if (!(result instanceof Error)) break;
        assert.equal(result.kind, "Transient");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.deepEqual(result, { ok: true });
    } finally {
      await store.close();
      await again.stop();
    }
  } finally {
    await store.close();
  }
});

test("options are checked", () => {
  assert.throws(() => new RedisStore({}), /exactly one of/);
  assert.throws(() => new RedisStore({ url: "redis://x", client }), /exactly one of/);
  assert.throws(() => new RedisStore({ client: {} }), /node-redis client/);
  assert.throws(() => new RedisStore({ client, prefix: "a{b" }), /prefix/);
});
