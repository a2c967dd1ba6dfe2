// ESM entry (browsers and Node): the wasm-bindgen `web` glue. It loads nothing Node-only, so it is
// what browsers and bundlers get; Node's `import` gets node.mjs, which adds LmdbStore and
// RedisStore (see package.json "exports").
import * as wasm from "./web/datastore_module.js";
import { bindCodec } from "./lib/codec.js";
import { bindMemoryStore } from "./stores/memory.js";
import { bindModule, Response } from "./lib/module.js";
import { defaultModule } from "./lib/default.js";
import { realClock } from "./lib/clock.js";
import { LmdbStore } from "./stores/node-only.js";

if (typeof process === "object" && process.versions?.node) {
  // Node's fetch cannot read file: URLs, so hand the glue the bytes.
  const { readFile } = await import("node:fs/promises");
  const url = new URL("./web/datastore_module_bg.wasm", import.meta.url);
  wasm.initSync({ module: await readFile(url) });
} else {
  await wasm.default();
}

export const { compress, decompress } = bindCodec(wasm);
export const MemoryStore = bindMemoryStore(wasm);
export const createModule = bindModule(wasm, realClock);
export { Response };
/** In a browser the embedded store is unavailable: use createModule with a MemoryStore. */
export default defaultModule(createModule, LmdbStore);
export { ManualClock, realClock } from "./lib/clock.js";
export { StoreError } from "./stores/errors.js";
export { LmdbStore, RedisStore } from "./stores/node-only.js";
