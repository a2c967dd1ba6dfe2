// ESM entry for browsers, bundlers and runtimes without Node's "node" export condition; Node's
// `import` gets node.mjs instead (package.json "exports"). It imports nothing Node-only, so
// esbuild, Vite and webpack bundle it for the browser as it is.
//
// It loads one wasm file now: `datastore_module_full`, the codec and session core plus the
// emulator behind MemoryStore, whose constructor is synchronous (docs/DESIGN.md, "Two wasm
// files"). The file is named by `new URL("…", import.meta.url)`, the form bundlers look for:
// Vite and webpack copy it into the build and rewrite the URL; esbuild keeps the expression, so
// the file goes into `web/` beside the bundle (README.md, "Bundlers").
import * as glue from "./web/datastore_module_full.js";
import { bindEntry } from "./lib/entry.js";
import { defaultModule } from "./lib/default.js";
import { LmdbStore } from "./stores/node-only.js";

const file = new URL("./web/datastore_module_full_bg.wasm", import.meta.url);
// Node imports this file only when asked to by path. Its fetch cannot read file: URLs, so read
// the bytes, through process.getBuiltinModule rather than an import a bundler would follow.
const fs = file.protocol === "file:" ? globalThis.process?.getBuiltinModule?.("fs") : undefined;
if (fs) glue.initSync({ module: fs.readFileSync(file) });
else await glue.default({ module_or_path: file });

export const { compress, decompress, MemoryStore, createModule } = bindEntry(glue, () => glue);
export { Response } from "./lib/module.js";
/** In a browser the embedded store is unavailable: use createModule with a MemoryStore. */
export default defaultModule(createModule, LmdbStore);
export { ManualClock, realClock } from "./lib/clock.js";
export { Signal } from "./lib/signal.js";
export { StoreError } from "./stores/errors.js";
export { LmdbStore, PostgresStore, RedisStore } from "./stores/node-only.js";
