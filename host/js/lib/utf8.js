/**
 * Text for the wasm core as UTF-8 bytes, written into one reused buffer.
 *
 * wasm-bindgen copies a `string` argument into wasm memory with a JS loop, one UTF-16 unit at a
 * time; `TextEncoder.encodeInto` does the same work natively, many times faster (docs/DESIGN.md,
 * "The codec skips the Value tree"). Writing into one buffer that lives as long as the module
 * also spares an `ArrayBuffer` per call: V8 may collect garbage before it allocates one, and a
 * driver that made several per operation spent a tenth of its time there (issue 12). The Rust
 * side takes these as `&[u8]`; wasm-bindgen copies them in with one `set`.
 *
 * What `bytes` returns is a view of the shared buffer: valid until the next call, so hand it to
 * wasm at once.
 */
const encoder = new TextEncoder();

/** The shared buffer; a larger one replaces it when a text does not fit. */
let buffer = new Uint8Array(16 * 1024);
/** A buffer grown past this for one large text is dropped after that call. */
const KEEP_BYTES = 1024 * 1024;
/** How many bytes of the buffer the texts of the current call fill. */
let used = 0;

/** Appends `text`; gives its length in bytes. */
function put(text) {
  const start = used;
  let rest = text;
  for (;;) {
    const { read, written } = encoder.encodeInto(rest, used === 0 ? buffer : buffer.subarray(used));
    used += written;
    if (read === rest.length) return used - start;
    // Out of room: at most 3 bytes per UTF-16 unit left (4 per surrogate pair, which is 2).
    rest = rest.slice(read);
    const larger = new Uint8Array(Math.max(buffer.length * 2, used + rest.length * 3));
    larger.set(buffer.subarray(0, used));
    buffer = larger;
  }
}

/** The view of the texts written since `begin()`; the buffer is free again after this. */
function end() {
  const view = buffer.subarray(0, used);
  if (buffer.length > KEEP_BYTES) buffer = new Uint8Array(16 * 1024);
  used = 0;
  return view;
}

/** `text` as UTF-8 bytes (a view of the shared buffer, valid until the next call). */
export function bytes(text) {
  // A text too large to keep a buffer for gets its own, of the exact size.
  if (text.length > KEEP_BYTES) return encoder.encode(text);
  used = 0;
  put(text);
  return end();
}

/**
 * Several texts as one run of UTF-8 bytes, one after the other; `lengths` receives each text's
 * byte length (so the core can split them again). Same lifetime as `bytes`.
 */
export function bytesOf(texts, lengths) {
  used = 0;
  for (let i = 0; i < texts.length; i++) lengths[i] = put(texts[i]);
  return end();
}
