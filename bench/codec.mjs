// `make bench` (codec part): compress+decompress throughput natively, in wasm from Node, and
// JSON.stringify+JSON.parse of the same data in Node, as one table with ratios.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { compress, decompress } from "../pkg/node.mjs";
import { playerData, SIZES } from "./corpus.mjs";

const root = new URL("../", import.meta.url);
const corpusDir = new URL("target/bench-corpus/", root);
mkdirSync(corpusDir, { recursive: true });

/** Mean milliseconds per call of `fn`, after warm-up, over at least `budgetMs` of work. */
function time(fn, budgetMs = 400) {
  for (let i = 0; i < 3; i++) fn();
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < budgetMs || n < 5) {
    fn();
    n++;
    elapsed = performance.now() - start;
  }
  return elapsed / n;
}

const corpus = SIZES.map(([label, bytes]) => {
  const value = playerData(bytes);
  const json = JSON.stringify(value);
  const file = new URL(`${bytes}.json`, corpusDir);
  writeFileSync(file, json);
  return { label, bytes, value, json, file };
});

// Native numbers from the Rust example, on the very same files.
const native = JSON.parse(
  execFileSync(
    "cargo",
    ["run", "--quiet", "--release", "--example", "bench_codec", "--", ...corpus.map((c) => c.file.pathname)],
    {
      cwd: root,
      encoding: "utf8",
    },
  ),
);

// The C-ABI wasm on luau-runtime (wasmi), through bench/luau_codec.luau, on the same files.
writeFileSync(new URL("index.json", corpusDir), JSON.stringify(corpus.map((c) => `${c.bytes}.json`)));
const luauOut = execFileSync(
  "cargo",
  ["run", "--quiet", "--release", "-p", "luau-runtime", "--", "run", "bench/luau_codec.luau"],
  {
    cwd: root,
    encoding: "utf8",
  },
);
const luau = JSON.parse(luauOut.trim().split("\n").pop());
// The same with --no-wasm: the core translated into Luau (luau/DataStoreCore.luau and its parts,
// tools/wasm2luau), as Roblox's servers run it: the parts compiled to native code (`--!native`).
const luauOnly = JSON.parse(
  execFileSync(
    "cargo",
    ["run", "--quiet", "--release", "-p", "luau-runtime", "--", "run", "bench/luau_codec.luau", "--no-wasm"],
    { cwd: root, encoding: "utf8" },
  )
    .trim()
    .split("\n")
    .pop(),
);

const rows = [];
for (const [i, c] of corpus.entries()) {
  const text = compress(c.value);
  const wasmC = time(() => compress(c.value));
  const wasmD = time(() => decompress(text));
  const jsonS = time(() => JSON.stringify(c.value));
  const jsonP = time(() => JSON.parse(c.json));
  const n = native[i];
  rows.push({
    size: c.label,
    "JSON chars": c.json.length,
    compressed: text.length,
    "native c+d ms": (n.compress_ms + n.decompress_ms).toFixed(3),
    "wasm c ms": wasmC.toFixed(3),
    "wasm d ms": wasmD.toFixed(3),
    "wasm c+d ms": (wasmC + wasmD).toFixed(3),
    "Luau c+d ms": (luau[i].compress_ms + luau[i].decompress_ms).toFixed(3),
    "Luau save+load ms": (luau[i].save_ms + luau[i].load_ms).toFixed(3),
    "Luau no-wasm c+d ms": (luauOnly[i].compress_ms + luauOnly[i].decompress_ms).toFixed(3),
    "Luau no-wasm save+load ms": (luauOnly[i].save_ms + luauOnly[i].load_ms).toFixed(3),
    "JSON s+p ms": (jsonS + jsonP).toFixed(3),
    "wasm / JSON": ((wasmC + wasmD) / (jsonS + jsonP)).toFixed(2),
    "wasm MB/s": ((2 * c.json.length) / 1e6 / ((wasmC + wasmD) / 1e3)).toFixed(0),
    "native MB/s": ((2 * c.json.length) / 1e6 / ((n.compress_ms + n.decompress_ms) / 1e3)).toFixed(0),
  });
}
console.log(
  "Codec throughput (c = compress, d = decompress; wasm = JS wasm in Node, Luau = C-ABI wasm on luau-runtime/wasmi, Luau no-wasm = the same translated into Luau (luau-runtime --no-wasm); " +
    "Luau save+load = the Luau module's compressed Save plus a Read of it, on the emulated DataStore; target: wasm / JSON <= 1.5)",
);
console.table(rows);

// This module without wasm beside the original module v1.2 on the same runtime, in one VM
// (bench/luau_original.luau), each figure next to its target (issue 13). The original lives beside
// the repository (../shared/reference/original-1.2) and is loaded at bench time only.
const original = new URL("../shared/reference/original-1.2/DataStore.luau", root);
if (!existsSync(original)) {
  console.log(
    `Luau without wasm vs the original v1.2: skipped, ${fileURLToPath(original)} is not there ` +
      "(the original module is reference material beside the repository; bench where it is).",
  );
} else {
  // By absolute path: the script's require of the original climbs above the working directory.
  const script = fileURLToPath(new URL("bench/luau_original.luau", root));
  // Three ways to run Luau (luau-runtime --native): as Roblox's servers do, compiling to machine
  // code what asks for it (our core's parts are marked `--!native`, the original is not);
  // compiling everything, the original too; and on the interpreter alone.
  const modes = [
    ["marked", "as Roblox servers run them: ours native (--!native parts), the original interpreted"],
    ["all", "both compiled to native code"],
    ["none", "both on the interpreter (a Luau VM without code generation)"],
  ];
  const row = (mode, what, oursMs, theirsMs, target) => ({
    "--native": mode,
    what,
    "ours ms": oursMs.toFixed(1),
    "original ms": theirsMs.toFixed(1),
    "ours / original": `${(oursMs / theirsMs).toFixed(1)}×`,
    target: target === undefined ? "" : `<= ${target}×`,
    met: target === undefined ? "" : oursMs <= target * theirsMs ? "yes" : "no",
  });
  const rows = [];
  for (const [mode, meaning] of modes) {
    const versus = JSON.parse(
      execFileSync(
        "cargo",
        ["run", "--quiet", "--release", "-p", "luau-runtime", "--", "run", script, "--no-wasm", "--native", mode],
        { cwd: root, encoding: "utf8" },
      )
        .trim()
        .split("\n")
        .pop(),
    );
    const { ours, original: theirs } = versus;
    rows.push(
      row(
        mode,
        `codec: compress + decompress (${meaning})`,
        ours.compress_ms + ours.decompress_ms,
        theirs.compress_ms + theirs.decompress_ms,
        2,
      ),
      row(mode, "Open/Save/Close", ours.cycle_ms, theirs.cycle_ms, 3),
      ...["open", "save", "close", "open_template", "reconcile"].map((step) =>
        row(
          mode,
          step === "open_template"
            ? "Open(template), alone"
            : step === "reconcile"
              ? "Reconcile(template) of an open session, alone"
              : `  of which ${step[0].toUpperCase()}${step.slice(1)}`,
          ours[`${step}_ms`],
          theirs[`${step}_ms`],
        ),
      ),
    );
  }
  console.log(
    "Luau without wasm (luau-runtime --no-wasm: the core translated into Luau, as Roblox runs it) vs the original " +
      "module v1.2, same VM, 64 KB corpus; codec = Usage() with Metadata.Compress (compress) + a hidden Read() of " +
      "the compressed save (decompress); cycle = Open, Save, Close of the 64 KB value, compressed. The targets are " +
      "issue 13's; Roblox runs the first rows' way",
  );
  console.table(rows);
}
