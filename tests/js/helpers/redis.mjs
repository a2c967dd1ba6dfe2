// A throwaway redis-server for tests: on a free 127.0.0.1 port, with its files in a temp dir,
// no persistence, stopped (and the dir removed) by `stop()`. A missing redis-server is an error
// that says what to install: tests never skip silently.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

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

/**
 * @param {{ port?: number }} [options] a fixed port (to restart a server where it was); a free
 *   one by default
 * @returns {Promise<{ url: string, port: number, stop(): Promise<void> }>}
 */
export async function startRedis({ port: fixed } = {}) {
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
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let log = "";
    child.stdout.on("data", (d) => (log += d));
    child.stderr.on("data", (d) => (log += d));
    const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    const up = await Promise.race([waitForPort(port), exited.then(() => false)]);
    if (up === true) {
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
