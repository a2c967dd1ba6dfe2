// A fixture server run as its own process and stopped by a signal: the tests of shutdown on
// SIGINT/SIGTERM (hardening.test.mjs, lifecycle.test.mjs).
import { spawn } from "node:child_process";

/**
 * Runs `node file ...args`, sends `signal` once it prints a line "ready", and resolves when it
 * exits (killed after `limitMs`) with its exit code (null when a signal ended it), the signal
 * that ended it (or null), stdout lines and stderr.
 * @param {{ file: string, args?: string[], signal: NodeJS.Signals, env?: object, limitMs?: number }} run
 * @returns {Promise<{ code: number | null, signal: string | null, lines: string[], stderr: string }>}
 */
export function signalWhenReady({ file, args = [], signal, env = process.env, limitMs = 20_000 }) {
  const child = spawn(process.execPath, [file, ...args], { stdio: ["ignore", "pipe", "pipe"], env });
  let stdout = "";
  let stderr = "";
  let signalled = false;
  child.stderr.on("data", (d) => (stderr += d));
  child.stdout.on("data", (d) => {
    stdout += d;
    if (/^ready$/m.test(stdout) && !signalled) {
      signalled = true;
      child.kill(signal);
    }
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), limitMs);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, lines: stdout.trim().split("\n"), stderr });
    });
  });
}
