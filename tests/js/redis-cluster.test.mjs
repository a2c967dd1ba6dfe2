// RedisStore on a real Redis Cluster: three redis-server nodes joined into one cluster
// (helpers/redis.mjs, `startRedisCluster`), used through a node-redis `createCluster` client and
// through an ioredis `Redis.Cluster` client passed in. For each client: the module opens, saves
// and closes sessions whose keys land on different nodes (checked on the nodes themselves), a
// save after the lock was lost is refused by the fence, another server's queue item reaches the
// owner and is removed, a node that forgets its scripts gets them again, and the whole store
// conformance suite (helpers/conformance.mjs) runs on the cluster. The two clients run side by
// side (each mostly waits on short real-time TTLs), on one cluster started once for the file.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import { createClient, createCluster } from "redis";
import { createModule, RedisStore } from "../../pkg/node.mjs";
import { conformance, realTime } from "./helpers/conformance.mjs";
import { startRedisCluster } from "./helpers/redis.mjs";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once `ready()` resolves true (asked every 20 ms); fails the test after `ms`. */
async function until(ready, what, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * The cluster and a plain client to each node (to see which node holds a key, and to act on
 * one node alone), started on first use and stopped after the file's tests.
 */
let started;
function cluster() {
  started ??= (async () => {
    const running = await startRedisCluster();
    const nodes = [];
    try {
      for (const node of running.nodes) {
        const client = createClient({ url: node.url });
        client.on("error", () => {});
        await client.connect();
        nodes.push({ ...node, client });
      }
    } catch (e) {
      await Promise.all(nodes.map((n) => n.client.close()));
      await running.stop();
      throw e;
    }
    return {
      ...running,
      nodes,
      /** The node whose slots hold `key`. */
      async nodeOf(key) {
        const slot = await nodes[0].client.sendCommand(["CLUSTER", "KEYSLOT", key]);
        return nodes.find((n) => n.slots[0] <= slot && slot <= n.slots[1]);
      },
      /** The keys matching `pattern`, by node index. */
      async keysByNode(pattern) {
        return Promise.all(nodes.map(async (n) => (await n.client.keys(pattern)).sort()));
      },
      async stop() {
        await Promise.all(nodes.map((n) => n.client.close()));
        await running.stop();
      },
    };
  })();
  return started;
}

after(async () => {
  if (started) await (await started.catch(() => undefined))?.stop();
});

/**
 * Runs `work` when no other `alone` work runs: the two clients' runs share the cluster, and one's
 * SCRIPT FLUSH would empty the script cache the other is looking at.
 */
let aloneTail = Promise.resolve();
function alone(work) {
  const run = aloneTail.then(work);
  aloneTail = run.catch(() => {});
  return run;
}

/** The two cluster clients a RedisStore accepts: how to open one on the cluster and close it. */
const clients = {
  "node-redis createCluster": async ({ rootNodes }) => {
    const client = createCluster({ rootNodes });
    client.on("error", () => {});
    await client.connect();
    return { client, close: () => client.close() };
  },
  "ioredis Redis.Cluster": async ({ nodes }) => {
    const client = new Redis.Cluster(nodes.map((n) => ({ host: "127.0.0.1", port: n.port })));
    client.on("error", () => {});
    return { client, close: () => client.quit() };
  },
};

/**
 * Runs `body(a, b)` with two modules ("servers"), each on its own RedisStore over `client` and
 * recording its events (`{ store, module, events }`), and shuts both down after.
 */
async function twoServers(client, prefix, body) {
  const server = () => {
    const store = new RedisStore({ client, prefix, pollMs: 100 });
    const events = [];
    return { store, module: createModule({ store, onEvent: (e) => events.push(e) }), events };
  };
  const a = server();
  const b = server();
  try {
    await body(a, b);
  } finally {
    await a.module.BindToClose();
    await b.module.BindToClose();
  }
}

describe("RedisStore on a Redis Cluster", { concurrency: 2 }, () => {
  for (const [label, open] of Object.entries(clients)) {
    describe(label, { concurrency: 1 }, () => {
      /** This client's prefix, so the two clients' runs never share a key. */
      const prefix = label.startsWith("node-redis") ? "nr" : "io";
      let c;
      let opened;
      before(async () => {
        c = await cluster();
        opened = await open(c);
      });
      after(async () => {
        await opened?.close();
      });

      test("sessions on different nodes open, save and close through the module", async () => {
        await twoServers(opened.client, prefix, async (a, b) => {
          const keys = Array.from({ length: 8 }, (_, i) => `user${i}`);
          for (const [i, key] of keys.entries()) {
            const session = a.module.new("Player", key);
            assert.deepEqual(await session.Open({ Coins: 0 }), ["Success", undefined]);
            session.Value.Coins = i * 10;
            assert.deepEqual(await session.Save(), ["Saved", { Coins: i * 10 }]);
            // The lock is where the data is: on the node of the session's hash slot.
            const data = `${prefix}:{Player/global/${key}}:data:6.6`;
            const lock = `${prefix}:{Player/global/${key}}:lock`;
            const node = await c.nodeOf(data);
            assert.equal(await node.client.exists(data), 1, `${data} on its slot's node`);
            assert.equal(await node.client.exists(lock), 1, `${lock} next to it`);
            assert.equal((await session.Close())[0], "Saved");
            assert.equal(await node.client.exists(lock), 0, "Close unlocks");
          }
          const byNode = await c.keysByNode(`${prefix}:{Player/global/user*}:data:*`);
          assert.equal(byNode.flat().length, keys.length, JSON.stringify(byNode));
          assert.ok(
            byNode.filter((k) => k.length > 0).length >= 2,
            `the sessions' keys are on at least 2 of the 3 nodes: ${JSON.stringify(byNode)}`,
          );
          // Another server opens each and finds what the first saved.
          for (const [i, key] of keys.entries()) {
            const session = b.module.new("Player", key);
            assert.deepEqual(await session.Open({ Coins: 0 }), ["Success", undefined]);
            assert.deepEqual(session.Value, { Coins: i * 10 });
            assert.equal((await session.Destroy())[0], "Saved");
          }
          assert.equal(a.module.stats().saveFailures, 0);
        });
      });

      test("a save after the lock was lost is refused by the fence, and the new holder's data stays", async () => {
        await twoServers(opened.client, prefix, async (a, b) => {
          const first = a.module.new("Player", "fenced");
          assert.deepEqual(await first.Open({ Coins: 0 }), ["Success", undefined]);
          first.Value.Coins = 1;
          assert.equal((await first.Save())[0], "Saved");
          // The lease ends under the first server (as if it stalled past its lock's expiry):
          // the lock entry goes, on its node, and the second server takes the key.
          const lock = `${prefix}:{Player/global/fenced}:lock`;
          assert.equal(await (await c.nodeOf(lock)).client.del(lock), 1);
          const second = b.module.new("Player", "fenced");
          assert.deepEqual(await second.Open({ Coins: 0 }), ["Success", undefined]);
          assert.deepEqual(second.Value, { Coins: 1 });
          first.Value.Coins = 99;
          const [response, message] = await first.Save();
          assert.equal(response, "Error");
          assert.match(String(message), new RegExp(`held by ${second.UniqueId}`));
          const fenced = a.events.filter((e) => e.type === "save.fenced");
          assert.equal(fenced.length, 1, JSON.stringify(a.events));
          assert.equal(fenced[0].id, "Player/global/fenced");
          assert.equal(a.module.stats().fenced, 1);
          assert.equal((await b.store.dataGet("Player", "global", "fenced")).value, '{"Coins":1}', "not overwritten");
          assert.equal((await second.Destroy())[0], "Saved");
        });
      });

      test("another server's queue items reach the owner through ProcessQueue, and Remove deletes them", async () => {
        await twoServers(opened.client, prefix, async (a, b) => {
          const owner = a.module.new("Player", "queue");
          assert.deepEqual(await owner.Open({ Coins: 0 }), ["Success", undefined]);
          const batches = [];
          owner.ProcessQueue.Connect(async (id, values, ds) => {
            const [removed] = await ds.Remove(id);
            for (const value of values) ds.Value.Coins += value;
            batches.push({ values, removed });
          });
          const sender = b.module.new("Player", "queue");
          assert.deepEqual(await sender.Open({ Coins: 0 }), ["Locked", owner.UniqueId]);
          assert.deepEqual(await sender.Queue(5, 60, 0), ["Success", undefined]);
          assert.deepEqual(await sender.Queue(7, 60, 1), ["Success", undefined]);
          await until(
            () => batches.reduce((n, batch) => n + batch.values.length, 0) === 2 && batches.every((x) => x.removed),
            "both items delivered and removed",
          );
          assert.deepEqual(
            batches.map((x) => x.removed),
            batches.map(() => "Success"),
          );
          assert.equal(owner.Value.Coins, 12);
          // Removed: the queue's keys are gone from the session's node (the queue emptied).
          const node = await c.nodeOf(`${prefix}:{Player/global/queue}:q`);
          assert.deepEqual(await node.client.keys(`${prefix}:{Player/global/queue}:[qvpxhrs]`), []);
          assert.equal((await owner.Destroy())[0], "Saved");
          assert.equal((await b.store.dataGet("Player", "global", "queue")).value, '{"Coins":12}');
        });
      });

      test("connect() and ping() reach the cluster", async () => {
        const store = new RedisStore({ client: opened.client, prefix });
        await store.connect();
        const ms = await store.ping();
        assert.ok(ms >= 0 && ms < 5000, String(ms));
        await store.close();
      });

      test("a node that forgets its scripts (SCRIPT FLUSH on it alone) gets them again", async () => {
        const store = new RedisStore({ client: opened.client, prefix });
        // One map on each node.
        const maps = [];
        for (let i = 0; maps.length < c.nodes.length; i++) {
          const map = `flush/${i}`;
          const node = await c.nodeOf(`${prefix}:{${map}}:lock`);
          if (!maps.some((m) => m.node === node)) maps.push({ map, node });
        }
        const cached = async (node) =>
          Number(/number_of_cached_scripts:(\d+)/.exec(await node.client.info("memory"))?.[1] ?? NaN);
        for (const { map } of maps) {
          assert.deepEqual(await store.lockAcquire(map, "A", 30, 2 ** 32, false), { ok: true });
        }
        await alone(async () => {
          for (const { map, node } of maps) {
            await node.client.scriptFlush();
            // Not checked for 0 here: the other client's conformance run may load a script again.
            assert.deepEqual(await store.lockAcquire(map, "B", 30, 2 ** 32, false), { ok: false, holder: "A" });
            assert.ok((await cached(node)) >= 1, "the script is on that node again");
          }
        });
        await store.close();
      });

      conformance(`RedisStore (${label})`, {
        async make() {
          return realTime((options) => new RedisStore({ client: opened.client, prefix, ...options }));
        },
      });
    });
  }
});
