// ESM entry for Node (the "node" export condition): everything index.mjs has, with the real
// LmdbStore and RedisStore in place of the browser entry's placeholders.
import { createModule } from "./index.mjs";
import { defaultModule } from "./lib/default.js";
import { LmdbStore } from "./stores/lmdb.js";

export * from "./index.mjs";
export { LmdbStore };
export default defaultModule(createModule, LmdbStore);
export { RedisStore } from "./stores/redis.js";
