/**
 * The original module's compression format, over the wasm core (same bytes as Luau's).
 * Values cross the boundary as JSON text both ways (see lib/value.js). The large texts go in as
 * UTF-8 bytes (lib/utf8.js): wasm-bindgen copies a string argument with a JS loop, ten times
 * slower than `TextEncoder` (src/js/mod.rs).
 */
import { bytes } from "./utf8.js";
import { toJson } from "./value.js";

/** @param {typeof import("../web/datastore_module.js")} wasm */
export function bindCodec(wasm) {
  /**
   * @param {unknown} value
   * @param {{ Level?: number, Decimals?: number, Safety?: boolean }} [options]
   * @returns {string}
   */
  function compress(value, options) {
    // Everything that may run the caller's code (getters) before the shared buffer is filled.
    const json = toJson(value, "value");
    const settings = toJson(options, "options");
    return wasm.compressJson(bytes(json), settings);
  }

  /**
   * @param {string} text
   * @param {{ Decimals?: number }} [options]
   * @returns {unknown}
   */
  function decompress(text, options) {
    if (typeof text !== "string") {
      throw new TypeError(`decompress: expected a string, got ${describe(text)}`);
    }
    // UTF-8 has no unpaired surrogate: the bytes would hold U+FFFD instead, and the value read
    // back would not be the one the text holds.
    if (!text.isWellFormed()) throw new Error("corrupt compressed data: the text has an unpaired surrogate");
    const settings = toJson(options, "options");
    const json = wasm.decompressToJson(bytes(text), settings);
    return json === undefined ? undefined : JSON.parse(json);
  }

  return { compress, decompress };
}

function describe(value) {
  return value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
}
