// CommonJS entry source: esbuild turns this into pkg/index.cjs over the `nodejs` glues. `lmdb`,
// `redis` and `pg` stay outside the bundle and are loaded only when a store first needs them; so
// does the glue of the wasm with the emulator, required (which instantiates it) by the first MemoryStore.
import * as wasm from "./node/datastore_module.js";
import { bindEntry } from "./lib/entry.js";
import { defaultModule } from "./lib/default.js";
import { LmdbStore } from "./stores/lmdb.js";

export const { compress, decompress, MemoryStore, createModule } = bindEntry(wasm, () =>
  require("./node/datastore_module_full.js"),
);
export { Response } from "./lib/module.js";
export default defaultModule(createModule, LmdbStore);
export { ManualClock, realClock } from "./lib/clock.js";
export { Signal } from "./lib/signal.js";
export { StoreError } from "./stores/errors.js";
export { LmdbStore };
export { RedisStore } from "./stores/redis.js";
export { PostgresStore } from "./stores/postgres.js";
