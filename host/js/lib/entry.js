/**
 * What the three entries (index.mjs for browsers and bundlers, node.mjs for Node's `import`,
 * index.node.mjs for `require`) bind to the wasm each of them loads, in their own way.
 */
import { bindCodec } from "./codec.js";
import { bindModule } from "./module.js";
import { realClock } from "./clock.js";
import { bindMemoryStore } from "../stores/memory.js";

/**
 * @param {typeof import("../web/datastore_module.js")} wasm the initialised glue of the codec and
 *   session core (either wasm file has them)
 * @param {() => typeof import("../web/datastore_module_full.js")} loadFull gives the initialised
 *   glue of the wasm with the emulator, when the first MemoryStore is made
 */
export function bindEntry(wasm, loadFull) {
  const { compress, decompress } = bindCodec(wasm);
  return {
    compress,
    decompress,
    MemoryStore: bindMemoryStore(loadFull),
    createModule: bindModule(wasm, realClock),
  };
}
