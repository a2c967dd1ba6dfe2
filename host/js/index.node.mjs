// CommonJS entry source: esbuild turns this into pkg/index.cjs over the `nodejs` glue.
import * as wasm from "./node/datastore_module.js";
import { bindCodec } from "./lib/codec.js";

export const { compress, decompress } = bindCodec(wasm);
