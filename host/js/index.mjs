// ESM entry (browsers and Node): the wasm-bindgen `web` glue.
import * as wasm from "./web/datastore_module.js";
import { bindCodec } from "./lib/codec.js";

if (typeof process === "object" && process.versions?.node) {
  // Node's fetch cannot read file: URLs, so hand the glue the bytes.
  const { readFile } = await import("node:fs/promises");
  const url = new URL("./web/datastore_module_bg.wasm", import.meta.url);
  wasm.initSync({ module: await readFile(url) });
} else {
  await wasm.default();
}

export const { compress, decompress } = bindCodec(wasm);
