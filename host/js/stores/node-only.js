/**
 * What the browser entry (index.mjs) exports as `LmdbStore`, `RedisStore` and `PostgresStore`:
 * the real ones need Node.js and npm packages a browser cannot load, so this entry never imports
 * them. Node's `import "datastore-module"` resolves to node.mjs (the package's "node" export condition) and
 * `require` to index.cjs, which both give the real stores.
 */
import { StoreError } from "./errors.js";

function unavailable(name) {
  return class {
    constructor() {
      throw new StoreError(
        "Unavailable",
        `${name} runs only in Node.js (import "datastore-module" from Node); in a browser, use MemoryStore`,
      );
    }
  };
}

export const LmdbStore = unavailable("LmdbStore");
export const RedisStore = unavailable("RedisStore");
export const PostgresStore = unavailable("PostgresStore");
