#!/usr/bin/env node
// Records tests/vectors/fleet/<topic>.json: runs each fleet scenario (tests/luau/fleet/<topic>.luau)
// as its four recorded pairings (ours/original, original/ours, original/original, ours/ours:
// `--servers 8`, tests/luau/fleet/lib/fleet.luau) on host/luau-runtime with virtual time, and writes what each
// role observed. Needs ../shared/reference/original-1.2 (the original module v1.2, reference
// material beside the repository); `make test` only reads the recordings.
//
//   node tests/vectors/fleet/record.mjs            # every scenario
//   node tests/vectors/fleet/record.mjs lock data  # some
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const scenarios = join(root, "tests/luau/fleet");
const out = join(root, "tests/vectors/fleet");
const ORIGINAL = resolve(root, "../shared/reference/original-1.2/DataStore.luau");
const PAIRINGS = ["ours/original", "original/ours", "original/original", "ours/ours"];
const ROLES = ["A", "B"];

if (!existsSync(ORIGINAL)) {
  console.error(`record: ${ORIGINAL} is not there; the recordings are made where it is.`);
  process.exit(1);
}

function run(command, args) {
  const result = spawnSync(command, args, {
    cwd: root,
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  if (result.status !== 0) {
    process.stderr.write(result.stdout ?? "");
    process.stderr.write(result.stderr ?? "");
    throw new Error(`${command} ${args.join(" ")} exited with ${result.status}`);
  }
  return result.stdout;
}

// JSON with DEL written as \u007f, so compressed text stays visible in the file.
const json = (v) => JSON.stringify(v).replace(/\x7f/g, "\\u007f");

function format(topic, about, departures, runs) {
  const lines = [
    "{",
    `  "topic": ${json(topic)},`,
    `  "about": ${json(about)},`,
    `  "regenerate": ${json(`node tests/vectors/fleet/record.mjs ${topic}`)},`,
  ];
  const items = departures.map(({ item, pairings, observations, note }) =>
    json({ item, pairings, observations, note }),
  );
  lines.push(items.length ? `  "departures": [\n    ${items.join(",\n    ")}\n  ],` : `  "departures": [],`);
  lines.push(`  "runs": {`);
  PAIRINGS.forEach((pairing, i) => {
    lines.push(`    ${json(pairing)}: {`);
    ROLES.forEach((role, j) => {
      const observed = runs[pairing][role].map((o) => json(o));
      lines.push(`      ${json(role)}: [`, `        ${observed.join(",\n        ")}`);
      lines.push(j + 1 < ROLES.length ? "      ]," : "      ]");
    });
    lines.push(i + 1 < PAIRINGS.length ? "    }," : "    }");
  });
  lines.push("  }", "}", "");
  return lines.join("\n");
}

// Every difference between a mixed pairing and ours/ours needs a declared departure (make test
// fails without one); a declared one that did not happen is worth a look.
let undeclared = false;
function audit(topic, departures, runs) {
  const declared = (pairing, name) =>
    departures.some((d) => d.pairings.includes(pairing) && d.observations.includes(name));
  for (const pairing of PAIRINGS) {
    for (const role of ROLES) {
      const ours = new Map(runs["ours/ours"][role]);
      for (const [name, value] of runs[pairing][role]) {
        const differs = JSON.stringify(value) !== JSON.stringify(ours.get(name));
        const full = `${role}.${name}`;
        if (differs && !declared(pairing, full)) {
          undeclared = true;
          console.error(`  ${topic}: ${pairing} ${full} differs from ours/ours, no departure declared`);
        } else if (!differs && declared(pairing, full)) {
          console.warn(`  ${topic}: ${pairing} ${full} is declared a departure, but equals ours/ours`);
        }
      }
    }
  }
}

const topics = process.argv.slice(2).length
  ? process.argv.slice(2)
  : readdirSync(scenarios)
      .filter((name) => name.endsWith(".luau"))
      .map((name) => name.slice(0, -".luau".length))
      .sort();

run("make", ["-s", "luau/DataStoreModule.wasm"]);
run("cargo", ["build", "-q", "-p", "luau-runtime"]);
const runtime = join(root, "target/debug/luau-runtime");

for (const topic of topics) {
  const started = Date.now();
  // By absolute path: the scenario's require of the original climbs above the repository.
  const stdout = run(runtime, [
    "run",
    join(scenarios, `${topic}.luau`),
    "--virtual-time",
    "--seed",
    "0",
    "--servers",
    String(2 * PAIRINGS.length),
  ]);
  const runs = Object.fromEntries(PAIRINGS.map((p) => [p, {}]));
  let about, departures;
  for (const line of stdout.split("\n")) {
    const match = /^\[server \d+\] fleet (\{.*\})$/.exec(line);
    if (!match) continue;
    const record = JSON.parse(match[1]);
    if (record.topic !== topic) throw new Error(`${topic}: a line of ${record.topic}`);
    runs[record.pairing][record.role] = record.observed;
    ({ about, departures } = record);
  }
  for (const pairing of PAIRINGS) {
    for (const role of ROLES) {
      if (!runs[pairing][role]) throw new Error(`${topic}: no observations of ${pairing} ${role}`);
    }
  }
  writeFileSync(join(out, `${topic}.json`), format(topic, about, departures, runs));
  console.log(`${topic}.json (${Date.now() - started} ms)`);
  audit(topic, departures, runs);
}
if (undeclared) {
  console.error("record: a pairing differs from ours/ours where the scenario declares no departure (above)");
  process.exit(1);
}
