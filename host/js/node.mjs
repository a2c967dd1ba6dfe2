// ESM entry for Node (the "node" export condition): what index.mjs exports, with the real
// LmdbStore, RedisStore and PostgresStore in place of the browser entry's placeholders. It loads
// the codec and session core now, and the wasm with the emulator only when the first MemoryStore
// is made (docs/DESIGN.md, "Two wasm files"); read from disk, as Node's fetch cannot read file:
// URLs.
import { readFileSync } from "node:fs";
import * as moduleGlue from "./web/datastore_module.js";
import * as fullGlue from "./web/datastore_module_full.js";
import { bindEntry } from "./lib/entry.js";
import { defaultModule } from "./lib/default.js";
import { LmdbStore } from "./stores/lmdb.js";

// Synchronous, since a MemoryStore's constructor may be what needs the second file.
function load(glue, file) {
  glue.initSync({ module: readFileSync(new URL(`./web/${file}`, import.meta.url)) });
  return glue;
}

export const { compress, decompress, MemoryStore, createModule } = bindEntry(
  load(moduleGlue, "datastore_module_bg.wasm"),
  () => load(fullGlue, "datastore_module_full_bg.wasm"),
);
export { Response } from "./lib/module.js";
export default defaultModule(createModule, LmdbStore);
export { ManualClock, realClock } from "./lib/clock.js";
export { Signal } from "./lib/signal.js";
export { StoreError } from "./stores/errors.js";
export { LmdbStore };
export { RedisStore } from "./stores/redis.js";
export { PostgresStore } from "./stores/postgres.js";
