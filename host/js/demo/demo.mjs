// `make demo`: two real Node processes, "server A" and "server B", on the embedded store
// (LMDB) in a fresh temporary folder, printing one timeline.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const dir = mkdtempSync(join(tmpdir(), "datastore-demo-"));
const start = Date.now();
const children = new Set();

function line(who, text) {
  const t = ((Date.now() - start) / 1000).toFixed(1).padStart(5);
  console.log(`${t}s  ${who.padEnd(9)} ${text}`);
}

/** Starts a server process; resolves each awaited line it prints. */
function server(name, script) {
  const child = spawn(process.execPath, [new URL(script, import.meta.url).pathname], {
    env: { ...process.env, DATASTORE_PATH: join(dir, "store") },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.add(child);
  child.on("exit", () => children.delete(child));
  const waiting = [];
  child.on("exit", (code, signal) => {
    for (const w of waiting.splice(0))
      w.reject(new Error(`${name} exited (${code ?? signal}) before printing "${w.marker}"`));
  });
  const seen = [];
  createInterface({ input: child.stdout }).on("line", (text) => {
    line(name, text);
    seen.push(text);
    for (const w of [...waiting]) {
      if (text.includes(w.marker)) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve(text);
      }
    }
  });
  return {
    child,
    until: (marker) =>
      new Promise((resolve, reject) => {
        const earlier = seen.find((text) => text.includes(marker));
        if (earlier !== undefined) resolve(earlier);
        else waiting.push({ marker, resolve, reject });
      }),
    exited: new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal }))),
  };
}

const watchdog = setTimeout(() => {
  line("demo", "did not finish within 60 s");
  for (const child of children) child.kill("SIGKILL");
  process.exit(1);
}, 60_000);

try {
  line("demo", `data in ${dir}`);
  const a = server("server A", "server-a.mjs");
  const uniqueId = (await a.until("opened Player/1")).match(/UniqueId ([0-9A-F-]{36})/)[1];

  const b = server("server B", "server-b.mjs");
  await b.until("queued");
  await a.until("CompressedValue");

  line("demo", "sending SIGTERM to server A");
  a.child.kill("SIGTERM");
  const { code } = await a.exited;
  line("demo", `server A exited with code ${code}`);

  await b.until("done");
  const result = await b.exited;
  if (result.code !== 0) throw new Error(`server B failed (${result.code})`);
  line(
    "demo",
    `A held the lock as ${uniqueId}; B got it after A's bind-to-close. Done in ${((Date.now() - start) / 1000).toFixed(1)} s.`,
  );
} catch (error) {
  line("demo", `FAILED: ${error.message}`);
  process.exitCode = 1;
} finally {
  clearTimeout(watchdog);
  for (const child of children) child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
}
