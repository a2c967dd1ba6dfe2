// `make bench` (size part): every wasm file the build ships, raw and gzipped (zlib level 9),
// measured now from the files `make build` wrote. `node bench/size.mjs` prints one line per file.
//
// pkg/*/datastore_module_bg.wasm is the codec and the session core: all that a Node server on
// LmdbStore or RedisStore loads. pkg/*/datastore_module_full_bg.wasm adds the emulator behind
// MemoryStore: Node loads it when the first MemoryStore is made, and a browser loads it instead of
// the other one (docs/DESIGN.md, "Two wasm files"). luau/DataStoreModule.wasm is the C-ABI build
// the Luau module loads. tests/js/size.test.mjs holds the module wasm to MODULE_WASM_LIMIT.
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = new URL("../", import.meta.url);

/** The target for the wasm a Node server loads (pkg/*\/datastore_module_bg.wasm), gzipped. */
export const MODULE_WASM_LIMIT = 150 * 1024;

/** What each file is, for the printout. */
const ROLES = {
  "datastore_module_bg.wasm": "codec + session core: all a Node server loads",
  "datastore_module_full_bg.wasm": "the same + emulator: browsers; Node once a MemoryStore is made",
  "DataStoreModule.wasm": "C-ABI build for Luau",
};

/** `{ file, raw, gzip }` (bytes) for each shipped wasm, `file` relative to the repository. */
export function wasmSizes() {
  const files = ["pkg/web/", "pkg/node/"].flatMap((dir) =>
    readdirSync(new URL(dir, root))
      .filter((name) => name.endsWith(".wasm"))
      .sort()
      .map((name) => dir + name),
  );
  files.push("luau/DataStoreModule.wasm");
  return files.map((file) => {
    const bytes = readFileSync(new URL(file, root));
    return { file, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  });
}

const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`Wasm sizes (gzip level 9; target for the module wasm: <= ${kib(MODULE_WASM_LIMIT)} gzipped)`);
  for (const { file, raw, gzip } of wasmSizes()) {
    const role = ROLES[file.split("/").pop()] ?? "";
    console.log(`  ${file.padEnd(40)} ${kib(gzip).padStart(10)} gzipped ${kib(raw).padStart(10)} raw  ${role}`);
  }
}
