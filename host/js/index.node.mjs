// CommonJS entry source: esbuild turns this into pkg/index.cjs over the `nodejs` glues. `lmdb` and
// `redis` stay outside the bundle and are loaded only when a store first needs them; so does the
// glue of the wasm with the emulator, required (which instantiates it) by the first MemoryStore.
import * as wasm from "./node/datastore_module.js";
import { bindCodec } from "./lib/codec.js";
import { bindMemoryStore } from "./stores/memory.js";
import { bindModule, Response } from "./lib/module.js";
import { defaultModule } from "./lib/default.js";
import { realClock } from "./lib/clock.js";
import { LmdbStore } from "./stores/lmdb.js";

export const { compress, decompress } = bindCodec(wasm);
export const MemoryStore = bindMemoryStore(() => require("./node/datastore_module_full.js"));
export const createModule = bindModule(wasm, realClock);
export { Response };
export default defaultModule(createModule, LmdbStore);
export { ManualClock, realClock } from "./lib/clock.js";
export { StoreError } from "./stores/errors.js";
export { LmdbStore };
export { RedisStore } from "./stores/redis.js";
