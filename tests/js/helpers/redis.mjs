// A throwaway redis-server for tests: on a free 127.0.0.1 port, with its files in a temp dir,
// no persistence, stopped (and the dir removed) by `stop()`. A missing redis-server is an error
// that says what to install: tests never skip silently.
//
// `startRedisCluster()` runs three such servers with `cluster-enabled yes` and joins them into a
// Redis Cluster (each node a third of the slots, no replicas), as `redis-cli --cluster create`
// would, through plain CLUSTER commands: ADDSLOTS on each node, SET-CONFIG-EPOCH, MEET from the
// first, then it polls every node until each reports `cluster_state:ok` with all of them known.
// Servers still running when the test process exits are killed then, so a test that fails or
// throws halfway never leaves one behind.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "redis";

const BINARY = process.env.REDIS_SERVER ?? "redis-server";

/** A port nothing listens on at 127.0.0.1 right now (it may be taken before it is used). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Servers this process started and has not stopped: killed, and their dirs removed, at exit. */
const running = new Set();
process.once("exit", () => {
  for (const { child, dir } of running) {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * @param {{ port?: number, cluster?: boolean }} [options] a fixed port (to restart a server
 *   where it was), a free one by default; `cluster`: a cluster node (`cluster-enabled yes`, its
 *   nodes file in the temp dir), for `startRedisCluster`
 * @returns {Promise<{ url: string, port: number, stop(): Promise<void> }>}
 */
export async function startRedis({ port: fixed, cluster = false } = {}) {
  const probe = spawnSync(BINARY, ["--version"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `redis-server is needed for the RedisStore tests and was not found (${BINARY}): ` +
        "install it (Debian: apt-get install redis-server, or run make setup-test), or set REDIS_SERVER",
    );
  }
  const dir = mkdtempSync(join(tmpdir(), "dsm-redis-"));
  // A port can be taken between probing and binding: try a few.
  for (let attempt = 0; ; attempt++) {
    const port = fixed ?? (await freePort());
    const child = spawn(
      BINARY,
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        dir,
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "yes",
        "--loglevel",
        "warning",
        ...(cluster ? ["--cluster-enabled", "yes", "--cluster-config-file", join(dir, "nodes.conf")] : []),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let log = "";
    child.stdout.on("data", (d) => (log += d));
    child.stderr.on("data", (d) => (log += d));
    const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    const up = await Promise.race([waitForPort(port), exited.then(() => false)]);
    if (up === true) {
      const entry = { child, dir };
      running.add(entry);
      return {
        url: `redis://127.0.0.1:${port}`,
        port,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) {
            child.kill("SIGTERM");
            const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
            await exited;
            clearTimeout(timer);
          }
          running.delete(entry);
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    child.kill("SIGKILL");
    await exited;
    if (attempt >= 4 || fixed !== undefined) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`redis-server did not start on 127.0.0.1:${port}:\n${log}`);
    }
  }
}

/** Resolves true once something accepts connections on the port (10 s at most). */
async function waitForPort(port) {
  const { connect } = await import("node:net");
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const ok = await new Promise((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.end();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

/** Redis Cluster's slot count. */
const SLOTS = 16384;

/**
 * `size` (3) cluster nodes on free ports, joined into one cluster that serves every slot, with no
 * replicas. `nodes[i]` serves the slots `slots[i]` (`[first, last]`); `rootNodes` is what
 * `createCluster` and `new Redis.Cluster` take. `stop()` stops every node (also when forming the
 * cluster failed halfway: then the nodes are stopped before the error is thrown).
 * @returns {Promise<{ nodes: { url: string, port: number, slots: [number, number] }[],
 *   rootNodes: { url: string }[], stop(): Promise<void> }>}
 */
export async function startRedisCluster({ size = 3, timeoutMs = 20_000 } = {}) {
  const servers = [];
  const clients = [];
  const stop = async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    servers.push(...(await Promise.all(Array.from({ length: size }, () => startRedis({ cluster: true })))));
    for (const server of servers) {
      const client = createClient({ url: server.url });
      client.on("error", () => {});
      await client.connect();
      clients.push(client);
    }
    const slots = servers.map((_, i) => [Math.floor((i * SLOTS) / size), Math.floor(((i + 1) * SLOTS) / size) - 1]);
    for (const [i, client] of clients.entries()) {
      const [first, last] = slots[i];
      // ADDSLOTS with every slot (not ADDSLOTSRANGE, Redis 7+ only), so Redis 5 and 6 work too.
      const each = Array.from({ length: last - first + 1 }, (_, k) => String(first + k));
      await client.sendCommand(["CLUSTER", "ADDSLOTS", ...each]);
      // Distinct epochs up front, as redis-cli does, so the nodes need not settle a collision.
      await client.sendCommand(["CLUSTER", "SET-CONFIG-EPOCH", String(i + 1)]);
    }
    for (const server of servers.slice(1)) {
      await clients[0].sendCommand(["CLUSTER", "MEET", "127.0.0.1", String(server.port)]);
    }
    await until(
      async () => {
        const infos = await Promise.all(clients.map((c) => c.sendCommand(["CLUSTER", "INFO"])));
        return infos.every(
          (info) =>
            /cluster_state:ok/.test(info) &&
            new RegExp(`cluster_known_nodes:${size}\\b`).test(info) &&
            new RegExp(`cluster_slots_ok:${SLOTS}\\b`).test(info),
        );
      },
      timeoutMs,
      async () =>
        `a Redis Cluster of ${size} nodes reporting cluster_state:ok; last CLUSTER INFO:\n` +
        (await Promise.all(clients.map((c) => c.sendCommand(["CLUSTER", "INFO"]).catch((e) => String(e))))).join("\n"),
    );
    await Promise.all(clients.map((c) => c.close()));
    clients.length = 0;
    return {
      nodes: servers.map((s, i) => ({ url: s.url, port: s.port, slots: slots[i] })),
      rootNodes: servers.map((s) => ({ url: s.url })),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Resolves once `ready()` resolves true (asked every 50 ms); rejects after `ms` with `what()`. */
async function until(ready, ms, what) {
  const deadline = Date.now() + ms;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${await what()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
