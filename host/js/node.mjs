// ESM entry for Node (the "node" export condition): everything index.mjs has, with the real
// LmdbStore and RedisStore in place of the browser entry's placeholders.
export * from "./index.mjs";
export { LmdbStore } from "./stores/lmdb.js";
export { RedisStore } from "./stores/redis.js";
