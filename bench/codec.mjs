// `make bench` (codec part): compress+decompress throughput natively, in wasm from Node, and
// JSON.stringify+JSON.parse of the same data in Node, as one table with ratios.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
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
// The same with --no-wasm: the core translated into Luau (luau/DataStoreCore.luau, tools/wasm2luau),
// as a Luau VM without a wasm host (Roblox) runs it. About two minutes, most of it the 1 MB file.
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
