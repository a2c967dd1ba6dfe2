// ESM entry (browsers and Node): the wasm-bindgen `web` glues. It loads nothing Node-only, so it is
// what browsers and bundlers get; Node's `import` gets node.mjs, which adds LmdbStore and
// RedisStore (see package.json "exports").
//
// Two wasm files (docs/DESIGN.md): `datastore_module` (codec and session core) and
// `datastore_module_full` (the same plus the emulator behind MemoryStore). Node loads the first
// now and the second only when a MemoryStore is made. A browser loads only the second, now: there
// MemoryStore is the one store, and its constructor is synchronous.
import * as moduleGlue from "./web/datastore_module.js";
import * as fullGlue from "./web/datastore_module_full.js";
import { bindCodec } from "./lib/codec.js";
import { bindMemoryStore } from "./stores/memory.js";
import { bindModule, Response } from "./lib/module.js";
import { defaultModule } from "./lib/default.js";
import { realClock } from "./lib/clock.js";
import { LmdbStore } from "./stores/node-only.js";

let wasm;
let loadFull;
if (typeof process === "object" && process.versions?.node) {
  // Node's fetch cannot read file: URLs, so hand the glue the bytes; read synchronously, since a
  // MemoryStore's constructor may be what needs the second file.
  const { readFileSync } = await import("node:fs");
  const init = (glue, file) => {
    glue.initSync({ module: readFileSync(new URL(`./web/${file}`, import.meta.url)) });
    return glue;
  };
  wasm = init(moduleGlue, "datastore_module_bg.wasm");
  loadFull = () => init(fullGlue, "datastore_module_full_bg.wasm");
} else {
  await fullGlue.default();
  wasm = fullGlue;
  loadFull = () => fullGlue;
}

export const { compress, decompress } = bindCodec(wasm);
export const MemoryStore = bindMemoryStore(loadFull);
export const createModule = bindModule(wasm, realClock);
export { Response };
/** In a browser the embedded store is unavailable: use createModule with a MemoryStore. */
export default defaultModule(createModule, LmdbStore);
export { ManualClock, realClock } from "./lib/clock.js";
export { StoreError } from "./stores/errors.js";
export { LmdbStore, RedisStore } from "./stores/node-only.js";
