// The store conformance suite (helpers/conformance.mjs) on every store: MemoryStore (the Rust
// emulator, on a ManualClock), LmdbStore (a temp directory), RedisStore (a real redis-server on
// 127.0.0.1, through its own node-redis client and through an ioredis client passed in) and
// PostgresStore (a real PostgreSQL in a temp directory, on 127.0.0.1) must all pass the same
// tests, because the module's driver runs unchanged on any of them. Each test gets fresh store
// instances; `a` and `b` are two servers on the same storage (the same MemoryStore, two
// LmdbStores on one path, two RedisStores on one server, two PostgresStores, each with its own
// pool, on one database). Time: virtual for MemoryStore, real (short TTLs, short waits) for the
// others. Redis Cluster's runs are in redis-cluster.test.mjs.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { LmdbStore, ManualClock, MemoryStore, PostgresStore, RedisStore } from "../../pkg/node.mjs";
import { conformance, realTime } from "./helpers/conformance.mjs";
import { startPostgres } from "./helpers/postgres.mjs";
import { startRedis } from "./helpers/redis.mjs";

let redis;
let ioredis;
let postgres;

/** Per store: how to make a fresh pair of servers, and how time passes for it. */
const kinds = {
  MemoryStore: {
    async make() {
      const clock = new ManualClock(Date.UTC(2026, 3, 1, 12, 0, 0));
      const store = new MemoryStore({ clock });
      return {
        a: store,
        b: store,
        now: () => clock.now(),
        wait: (ms) => clock.advance(ms),
        poll: 2000, // Roblox's cadence
        async close() {
          await store.close();
        },
      };
    },
  },
  LmdbStore: {
    async make() {
      const dir = mkdtempSync(join(tmpdir(), "dsm-lmdb-"));
      return realTime(
        (options) => new LmdbStore({ path: dir, ...options }),
        () => rmSync(dir, { recursive: true, force: true }),
      );
    },
  },
  RedisStore: {
    async setup() {
      redis = await startRedis();
    },
    async teardown() {
      await redis?.stop();
    },
    async make() {
      return realTime((options) => new RedisStore({ url: redis.url, ...options }));
    },
  },
  "RedisStore (ioredis)": {
    async setup() {
      ioredis = { server: await startRedis() };
      ioredis.client = new Redis(ioredis.server.url);
    },
    async teardown() {
      ioredis?.client.disconnect();
      await ioredis?.server.stop();
    },
    async make() {
      return realTime((options) => new RedisStore({ client: ioredis.client, ...options }));
    },
  },
  PostgresStore: {
    async setup() {
      postgres = await startPostgres();
    },
    async teardown() {
      await postgres?.stop();
    },
    async make() {
      return realTime((options) => new PostgresStore({ connectionString: postgres.connectionString, ...options }));
    },
  },
};

for (const [kind, maker] of Object.entries(kinds)) conformance(kind, maker);
