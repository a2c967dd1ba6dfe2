// CommonJS entry source: esbuild turns this into pkg/index.cjs over the `nodejs` glue. `lmdb` and
// `redis` stay outside the bundle and are loaded only when a store first needs them.
import * as wasm from "./node/datastore_module.js";
import { bindCodec } from "./lib/codec.js";
import { bindMemoryStore } from "./stores/memory.js";

export const { compress, decompress } = bindCodec(wasm);
export const MemoryStore = bindMemoryStore(wasm);
export { ManualClock, realClock } from "./lib/clock.js";
export { StoreError } from "./stores/errors.js";
export { LmdbStore } from "./stores/lmdb.js";
export { RedisStore } from "./stores/redis.js";
