// Store lifecycle (issue 14): `connect()`, `ping()` and `close()` on every store, and a bad URL,
// a closed port or an unusable path reported at `connect()` with a message that names it;
// RedisStore on an ioredis client (the store conformance suite runs on one too, in
// stores.test.mjs), its own client's errors reaching a module's observers; and the default
// export's signal handling: turned off, or running the application's shutdown hook first.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { createClient } from "redis";
import pg from "pg";
import { createModule, LmdbStore, MemoryStore, PostgresStore, RedisStore, StoreError } from "../../pkg/node.mjs";
import { startPostgres } from "./helpers/postgres.mjs";
import { signalWhenReady } from "./helpers/processes.mjs";
import { freePort, startRedis } from "./helpers/redis.mjs";

/** The rejection of `promise`, which must be a StoreError of `kind` whose message matches. */
async function refused(promise, kind, message) {
  const error = await promise.then(
    () => assert.fail("resolved"),
    (e) => e,
  );
  assert.ok(error instanceof StoreError, String(error));
  assert.equal(error.kind, kind, error.message);
  assert.match(error.message, message);
  return error;
}

/** A module on `store` opening, saving and closing one session. */
async function roundTrip(store, key) {
  const module = createModule({ store });
  const ds = module.new("Player", key);
  assert.deepEqual(await ds.Open({ Coins: 0 }), ["Success", undefined]);
  ds.Value.Coins = 7;
  assert.deepEqual(await ds.Save(), ["Saved", { Coins: 7 }]);
  assert.deepEqual(await ds.Close(), ["Saved", { Coins: 7 }]);
  const reader = createModule({ store }).new("Player", key);
  assert.deepEqual(await reader.Read(), ["Success", undefined]);
  assert.deepEqual(reader.Value, { Coins: 7 });
}

describe("MemoryStore and LmdbStore", () => {
  test("MemoryStore: connect and ping resolve; after close both reject Closed", async () => {
    const store = new MemoryStore();
    await store.connect();
    assert.equal(typeof (await store.ping()), "number");
    await store.close();
    await refused(store.connect(), "Closed", /closed/);
    await refused(store.ping(), "Closed", /closed/);
  });

  test("LmdbStore: connect opens the directory, ping reads, close closes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dsm-lc-"));
    try {
      const store = new LmdbStore({ path: join(dir, "db") });
      await store.connect();
      const ms = await store.ping();
      assert.ok(ms >= 0 && ms < 5000, String(ms));
      await roundTrip(store, "lmdb");
      await store.close();
      await refused(store.connect(), "Closed", /closed/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("LmdbStore: a path it cannot open fails connect, naming the path", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dsm-lc-"));
    try {
      const file = join(dir, "a-file");
      writeFileSync(file, "");
      const store = new LmdbStore({ path: join(file, "db") });
      await refused(store.connect(), "Transient", /^LmdbStore: cannot open .*a-file\/db: /);
      await store.close();
      // The path itself a file, or a device: lmdb crashed the process on /dev/null.
      for (const path of [file, "/dev/null"]) {
        const store = new LmdbStore({ path });
        await refused(store.connect(), "Transient", /is not a directory \(a file or a device is in the way\)/);
        await store.close();
      }
      // A directory the kernel will not make: Node's recursive mkdir spun forever under /proc.
      const proc = new LmdbStore({ path: "/proc/dsm-lc/db" });
      await refused(proc.connect(), "Transient", /^LmdbStore: cannot open \/proc\/dsm-lc\/db: .*ENOENT/);
      await proc.close();
      // Missing parents are made, as lmdb made them.
      const deep = new LmdbStore({ path: join(dir, "a", "b", "c") });
      await roundTrip(deep, "lmdb");
      await deep.close();
      // A directory whose name has a dot: lmdb made a file of a new one (which the next start
      // refused) and could not open an existing one.
      for (const name of ["players.db", "players.db"]) {
        const dotted = new LmdbStore({ path: join(dir, name) });
        await roundTrip(dotted, `dotted ${Math.random()}`);
        await dotted.close();
        assert.ok(statSync(join(dir, name)).isDirectory());
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("RedisStore", () => {
  let server;
  before(async () => {
    server = await startRedis();
  });
  after(async () => {
    await server?.stop();
  });

  test("connect to a closed port fails at once, naming the server with its password hidden", async () => {
    const port = await freePort();
    const store = new RedisStore({ url: `redis://:hunter2@127.0.0.1:${port}` });
    const started = Date.now();
    const error = await refused(
      store.connect(),
      "Transient",
      new RegExp(`^RedisStore: cannot connect to redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`),
    );
    assert.ok(Date.now() - started < 5000, "no waiting for a timeout");
    assert.doesNotMatch(error.message, /hunter2/);
    // The next try tries again (and fails again: nothing listens).
    await refused(store.connect(), "Transient", /cannot connect/);
    await store.close();
  });

  test("a server that takes the connection and says nothing fails connect, ping and calls within 10 s", async () => {
    // A stopped redis-server (SIGSTOP) or something else on the port: the TCP connect succeeds
    // and the handshake never ends, which node-redis's connectTimeout does not cover.
    const silent = createServer(() => {});
    await new Promise((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const store = new RedisStore({ url: `redis://127.0.0.1:${silent.address().port}` });
    try {
      const started = Date.now();
      const outcomes = await Promise.allSettled([store.connect(), store.ping(), store.dataGet("P", "global", "k")]);
      for (const outcome of outcomes) {
        assert.equal(outcome.status, "rejected");
        assert.equal(outcome.reason.kind, "Transient", outcome.reason.message);
        assert.match(outcome.reason.message, /did not answer within 10 s|PING got no answer within 10 s/);
      }
      assert.ok(Date.now() - started < 15_000, "within the timeout");
    } finally {
      await store.close();
      silent.close();
    }
  });

  test("a URL that cannot be used fails connect as Unavailable", async () => {
    const store = new RedisStore({ url: "http://127.0.0.1:6379" });
    await refused(store.connect(), "Unavailable", /^RedisStore: cannot use the url http:\/\/127\.0\.0\.1:6379\/: /);
    await store.close();
  });

  test("{ url }: connect, ping, a module's open/save/close, close", async () => {
    const store = new RedisStore({ url: server.url, prefix: "lc-url" });
    await store.connect();
    assert.ok((await store.ping()) >= 0);
    await roundTrip(store, "url");
    await store.close();
    await refused(store.ping(), "Closed", /closed/);
  });

  test("an ioredis client: connect, ping, a module's open/save/close; the store leaves it open", async () => {
    const client = new Redis(server.url);
    try {
      const store = new RedisStore({ client, prefix: "lc-io" });
      await store.connect();
      assert.ok((await store.ping()) >= 0);
      await roundTrip(store, "ioredis");
      // What it wrote is where the documented layout says, seen through the client itself.
      assert.equal(await client.hget("lc-io:{Player/global/ioredis}:data:6.6", "v"), '{"Coins":7}');
      await store.close();
      assert.equal(client.status, "ready");
    } finally {
      client.disconnect();
    }
  });

  test("an ioredis client that was closed fails connect as Unavailable", async () => {
    const client = new Redis(server.url);
    const ended = new Promise((resolve) => client.once("end", resolve));
    await client.quit();
    await ended; // status "end": closed for good
    const store = new RedisStore({ client });
    await refused(store.connect(), "Unavailable", /ioredis client passed in has been closed/);
  });

  test("close() with a reply owed by a server that stopped answering settles within its bound", async () => {
    const own = await startRedis();
    const admin = createClient({ url: own.url });
    await admin.connect();
    const pid = Number(/process_id:(\d+)/.exec(await admin.info("server"))[1]);
    await admin.close();
    const store = new RedisStore({ url: own.url });
    await store.connect();
    process.kill(pid, "SIGSTOP");
    try {
      const pending = store.dataGet("P", "global", "k").catch((e) => e);
      const started = Date.now();
      // node-redis's close waited for the reply for good; the store drops the connection.
      await store.close();
      assert.ok(Date.now() - started < 15_000, `closed after ${Date.now() - started} ms`);
      assert.ok((await pending) instanceof Error, "the call in flight fails");
    } finally {
      process.kill(pid, "SIGCONT");
      await own.stop();
    }
  });

  test("its own client's errors and reconnects reach a module's onEvent, not the console", async () => {
    const own = await startRedis();
    const store = new RedisStore({ url: own.url });
    const events = [];
    // Held to the end: a module the application drops stops listening (collected.test.mjs).
    const module = createModule({ store, onEvent: (e) => events.push(e) });
    try {
      await store.connect();
      await own.stop();
      const deadline = Date.now() + 10_000;
      while (!events.some((e) => e.type === "store.clientError") && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const error = events.find((e) => e.type === "store.clientError");
      assert.ok(error, JSON.stringify(events));
      assert.equal(error.store, "RedisStore");
      assert.equal(error.url, own.url);
      assert.equal(typeof error.error, "string");
      assert.ok(
        events.some((e) => e.type === "store.connection" && e.state === "reconnecting"),
        JSON.stringify(events),
      );
      assert.equal(module.stats().sessions, 0);
    } finally {
      await store.close();
    }
  });
});

describe("PostgresStore", () => {
  let server;
  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    await server?.stop();
  });

  test("connect to a closed port fails at once, naming the server with its password hidden", async () => {
    const port = await freePort();
    const store = new PostgresStore({ connectionString: `postgres://game:hunter2@127.0.0.1:${port}/game` });
    const error = await refused(
      store.connect(),
      "Transient",
      new RegExp(
        `^PostgresStore: cannot connect to postgres://game:\\*\\*\\*@127\\.0\\.0\\.1:${port}/game: .*ECONNREFUSED`,
      ),
    );
    assert.doesNotMatch(error.message, /hunter2/);
    await store.close();
  });

  test("close() with a query held by a server that stopped answering settles within its bound", async () => {
    const store = new PostgresStore({ connectionString: server.connectionString, prefix: "stall" });
    await store.connect();
    const admin = new pg.Client({ connectionString: server.connectionString });
    await admin.connect();
    const pids = (
      await admin.query(
        "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'",
      )
    ).rows.map((row) => row.pid);
    assert.ok(pids.length > 0, "the store's connections");
    for (const pid of pids) process.kill(pid, "SIGSTOP");
    try {
      const pending = store.dataGet("P", "global", "k").catch((e) => e);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const started = Date.now();
      // pool.end() waited for the connection the query holds, for good.
      await store.close();
      assert.ok(Date.now() - started < 25_000, `closed after ${Date.now() - started} ms`);
      assert.ok((await pending) instanceof Error, "the call in flight fails");
    } finally {
      for (const pid of pids) process.kill(pid, "SIGCONT");
      await admin.end();
    }
  });

  test("connect makes the schema, ping answers, close ends the pool", async () => {
    const store = new PostgresStore({ connectionString: server.connectionString, prefix: "lc" });
    await store.connect();
    assert.ok((await store.ping()) >= 0);
    await roundTrip(store, "pg");
    await store.close();
    await refused(store.connect(), "Closed", /closed/);
  });
});

describe("the default export's signal handling", () => {
  /** Runs fixtures/default-server.mjs in `mode` on a fresh LMDB directory; SIGTERM once ready. */
  async function run(mode) {
    const dir = mkdtempSync(join(tmpdir(), "dsm-default-"));
    try {
      return await signalWhenReady({
        file: fileURLToPath(new URL("./fixtures/default-server.mjs", import.meta.url)),
        args: [mode],
        signal: "SIGTERM",
        env: { ...process.env, DATASTORE_PATH: join(dir, "db") },
        limitMs: 30_000,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  test("on: SIGTERM saves every session, runs onShutdown with the report, then exits 143", async () => {
    const { code, lines, stderr } = await run("hook");
    assert.equal(code, 143, stderr);
    const hook = lines.findIndex((l) => l.startsWith("hook "));
    assert.equal(lines[hook], 'hook SIGTERM {"closed":1,"saved":1,"failed":[]}', lines.join("\n"));
    const at = (type) => lines.indexOf(`event ${type}`);
    assert.ok(at("shutdown.signal") >= 0 && at("shutdown.signal") < at("shutdown.done"), lines.join("\n"));
    assert.ok(
      at("shutdown.done") < hook && hook < at("shutdown.exit"),
      `the hook runs before the exit:\n${lines.join("\n")}`,
    );
  });

  test("a write waiting for a stopped process's LMDB lock does not hold the exit", async () => {
    // Node's exit joins lmdb's threads: process.exit waited forever for this write.
    const dir = mkdtempSync(join(tmpdir(), "dsm-stopped-"));
    let peer;
    try {
      const { code, signal, lines, stderr } = await signalWhenReady({
        file: fileURLToPath(new URL("./fixtures/lmdb-stopped-peer.mjs", import.meta.url)),
        args: ["server", join(dir, "db")],
        signal: "SIGTERM",
        limitMs: 15_000,
      });
      peer = Number(lines.find((l) => l.startsWith("peer "))?.slice(5));
      assert.deepEqual(
        [code, signal],
        [null, "SIGTERM"],
        `ended by the signal itself:\n${lines.join("\n")}\n${stderr}`,
      );
      assert.ok(lines.includes("event shutdown.exit 1"), lines.join("\n"));
      assert.ok(!lines.includes("written"), "the write never got the lock");
    } finally {
      if (peer > 0) process.kill(peer, "SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("handleSignals: false leaves SIGTERM to the application, whose BindToClose saves", async () => {
    const { code, lines, stderr } = await run("off");
    assert.equal(code, 0, `the application's handler exited, not the module's (143):\n${stderr}`);
    assert.ok(lines.includes('app closed {"closed":1,"saved":1,"failed":[]}'), lines.join("\n"));
    assert.ok(!lines.includes("event shutdown.signal"), "the module saw no signal");
  });
});
