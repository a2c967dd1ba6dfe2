// A throwaway PostgreSQL server for tests: initdb in a temp dir, the `postgres` binary on a free
// 127.0.0.1 port (its socket in the temp dir too), trust authentication, stopped (and the dir
// removed) by `stop()`. initdb and postgres refuse to run as root, so under root both run as an
// unprivileged user (`postgres` if the system has one, else `nobody`) who owns the temp dir.
// `shutdown()` and `restart()` stop the server and start it again on the same port with the same
// data, as a real restart. A missing PostgreSQL is an error that says what to install: tests
// never skip silently.
//
// Tests turn durability off (fsync, synchronous_commit) for speed; `durable: true` keeps the
// defaults (the bench). `PG_BIN` names the directory of initdb and postgres; by default the
// newest /usr/lib/postgresql/*/bin (Debian's layout, not on PATH), else PATH.
import { spawn, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { freePort } from "./redis.mjs";

/** The directory holding initdb and postgres, or "" for PATH. */
function binDir() {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return "";
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(root, versions[0], "bin") : "";
}

/** Under root: the user to run as ({ uid, gid }); otherwise null (run as ourselves). */
function serverUser() {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return null;
  const users = Object.fromEntries(
    readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .map((line) => line.split(":"))
      .filter((f) => f.length >= 4)
      .map((f) => [f[0], { uid: Number(f[2]), gid: Number(f[3]) }]),
  );
  const user = users.postgres ?? users.nobody;
  if (!user || user.uid === 0)
    throw new Error("running as root, and there is no postgres or nobody user to run PostgreSQL as");
  return user;
}

/** A temp dir the server's user can reach: under root, every parent must let others through. */
function makeDir(user) {
  let base = tmpdir();
  if (user) {
    for (let d = base; ; d = dirname(d)) {
      if ((statSync(d).mode & 0o001) === 0) {
        base = "/tmp";
        break;
      }
      if (d === dirname(d)) break;
    }
  }
  const dir = mkdtempSync(join(base, "dsm-pg-"));
  if (user) chownSync(dir, user.uid, user.gid);
  return dir;
}

/**
 * @param {{ durable?: boolean }} [options]
 * @returns {Promise<{ connectionString: string, port: number, shutdown(): Promise<void>,
 *   restart(): Promise<void>, stop(): Promise<void> }>}
 */
export async function startPostgres({ durable = false } = {}) {
  const bin = binDir();
  const tool = (name) => (bin ? join(bin, name) : name);
  const probe = spawnSync(tool("postgres"), ["--version"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `PostgreSQL is needed for the PostgresStore tests and was not found (${tool("postgres")}): ` +
        "install it (Debian: apt-get install postgresql, or run make setup-test), or set PG_BIN to the directory of initdb and postgres",
    );
  }
  const user = serverUser();
  const as = user ? { uid: user.uid, gid: user.gid } : {};
  const dir = makeDir(user);
  const data = join(dir, "data");
  const env = { ...process.env, HOME: dir, LC_ALL: "C", LANG: "C" };
  const init = spawnSync(
    tool("initdb"),
    ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
    { encoding: "utf8", env, ...as },
  );
  if (init.error || init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${init.error ?? ""}${init.stdout}${init.stderr}`);
  }
  const settings = [
    ["listen_addresses", "127.0.0.1"],
    ["unix_socket_directories", dir],
    ["max_connections", "200"],
    ...(durable
      ? []
      : [
          ["fsync", "off"],
          ["synchronous_commit", "off"],
          ["full_page_writes", "off"],
        ]),
  ].flatMap(([k, v]) => ["-c", `${k}=${v}`]);

  let child;
  let exited;
  /** Starts the server on `port`; true once it accepts connections, false if it exited. */
  const launch = async (port) => {
    child = spawn(tool("postgres"), ["-D", data, "-p", String(port), ...settings], {
      stdio: ["ignore", "pipe", "pipe"],
      env,
      ...as,
    });
    let log = "";
    const ready = new Promise((resolve) => {
      const look = (d) => {
        log += d;
        if (log.includes("database system is ready to accept connections")) resolve(true);
      };
      child.stdout.on("data", look);
      child.stderr.on("data", look);
    });
    exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    const timeout = new Promise((resolve) => setTimeout(() => resolve(false), 20_000).unref());
    const up = await Promise.race([ready, exited.then(() => false), timeout]);
    return { up, log: () => log };
  };
  /** Fast shutdown (SIGINT: sessions are ended, the data is kept); SIGKILL after 10 s. */
  const halt = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGINT");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
  };

  // A port can be taken between probing and binding: try a few.
  let port;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    const { up, log } = await launch(port);
    if (up) break;
    child.kill("SIGKILL");
    await exited;
    if (attempt >= 4) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`postgres did not start on 127.0.0.1:${port}:\n${log()}`);
    }
  }
  return {
    connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    shutdown: halt,
    async restart() {
      await halt();
      const { up, log } = await launch(port);
      if (!up) throw new Error(`postgres did not start again on 127.0.0.1:${port}:\n${log()}`);
    },
    async stop() {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
