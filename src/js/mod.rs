//! JavaScript bindings (feature `js`): conversion and forwarding only. This file holds the codec;
//! [`module`] the session core.
//!
//! Values cross the boundary as JSON text in both directions: the JS wrapper checks a value
//! and serialises it with `JSON.stringify` (`host/js/lib/value.js`), and turns the core's JSON
//! back into objects with `JSON.parse`. Both are far faster than walking or building objects
//! one property at a time across the boundary (docs/DESIGN.md has the measurements). The codec
//! goes straight between JSON text and compressed text ([`codec::json`]); both reject holes and
//! bad numbers with their path, as [`Value::from_json_str`] does.
//!
//! The `pkg/` wrapper (`host/js/`) gives these functions their public names and shapes.
//! [`emulator`] (feature `js-emulator`) is the class behind the JS `MemoryStore`; it is left out
//! of the wasm that users of the other stores load. `alloc` grows wasm memory in large steps.

#[cfg(target_arch = "wasm32")]
mod alloc;
#[cfg(feature = "js-emulator")]
pub mod emulator;

pub mod module;

use crate::codec;
use crate::value::Value;
use crate::wire;
use wasm_bindgen::prelude::*;

fn error(message: impl std::fmt::Display) -> JsError {
    JsError::new(&message.to_string())
}

/// Reads `{Level, Decimals, Safety}` (JSON) exactly like `Metadata.Compress`; `null` gives the
/// defaults (2, 3, true).
fn settings(options_json: &str) -> Result<codec::Settings, JsError> {
    match Value::from_json_str(options_json, "options").map_err(error)? {
        Value::Nil => Ok(codec::Settings::default()),
        options => codec::Settings::from_compress_table(&options).map_err(error),
    }
}

/// Text the wrapper encoded with `TextEncoder`. Large texts come as bytes because wasm-bindgen
/// copies a `&str` argument in with a JS loop, one UTF-16 unit at a time (4.7 ms for 1 MB of
/// JSON; `TextEncoder.encode` and one copy take under 0.5 ms).
fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, JsError> {
    std::str::from_utf8(bytes).map_err(|_| error(format!("{what}: the text is not UTF-8")))
}

/// `compress(value, options)`: the value as UTF-8 JSON, the options as JSON text; returns the
/// original's compression text.
#[wasm_bindgen(js_name = compressJson)]
pub fn compress_json(value_json: &[u8], options_json: &str) -> Result<String, JsError> {
    let settings = settings(options_json)?;
    codec::json::compress(utf8(value_json, "value")?, "value", &settings).map_err(error)
}

/// `decompress(text, options)`: the text as UTF-8, the options as JSON text; returns the value
/// as JSON text (`undefined` for nil).
#[wasm_bindgen(js_name = decompressToJson)]
pub fn decompress_to_json(text: &[u8], options_json: &str) -> Result<Option<String>, JsError> {
    let settings = settings(options_json)?;
    codec::json::decompress(utf8(text, "text")?, settings.decimals).map_err(error)
}

/// How to reconcile the host's live value with a template in place (behaviour.md §10.1):
/// `{"replace": v}` when the value is nil, else `{"inserts": [{"path": [keys…], "value": v}]}`
/// to set in order on the host's existing objects. `texts`: the value's JSON (`value_len`
/// bytes), then the template's, as UTF-8.
#[wasm_bindgen(js_name = templatePatch)]
pub fn template_patch(texts: &[u8], value_len: u32) -> Result<String, JsError> {
    let Some((value, template)) = texts.split_at_checked(value_len as usize) else {
        return Err(error(
            "templatePatch: the value's length is past the end of the bytes",
        ));
    };
    wire::template_patch(wire::Format::Json, value, template).map_err(error)
}
