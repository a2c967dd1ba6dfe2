//! JavaScript bindings (feature `js`): conversion and forwarding only. This file holds the codec;
//! [`module`] the session core.
//!
//! Values cross the boundary as JSON text in both directions: the JS wrapper checks a value
//! and serialises it with `JSON.stringify` (`host/js/lib/value.js`), and turns the core's JSON
//! back into objects with `JSON.parse`. Both are far faster than walking or building objects
//! one property at a time across the boundary (docs/DESIGN.md has the measurements). The text
//! is read with [`Value::from_json_str`], which rejects holes and bad numbers with their path.
//!
//! The `pkg/` wrapper (`host/js/`) gives these functions their public names and shapes.
//! [`emulator`] (feature `js-emulator`) is the class behind the JS `MemoryStore`; it is left out
//! of the wasm that users of the other stores load.

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

/// `compress(value, options)`, both as JSON text: the original's compression text.
#[wasm_bindgen(js_name = compressJson)]
pub fn compress_json(value_json: &str, options_json: &str) -> Result<String, JsError> {
    let settings = settings(options_json)?;
    let value = Value::from_json_str(value_json, "value").map_err(error)?;
    codec::compress(&value, &settings).map_err(error)
}

/// `decompress(text, options)` as JSON text (`undefined` for nil).
#[wasm_bindgen(js_name = decompressToJson)]
pub fn decompress_to_json(text: &str, options_json: &str) -> Result<Option<String>, JsError> {
    let settings = settings(options_json)?;
    let value = codec::decompress(text, settings.decimals).map_err(error)?;
    Ok(match value {
        Value::Nil => None,
        value => Some(value.to_json_string()),
    })
}

/// How to reconcile the host's live value with a template in place (behaviour.md §10.1):
/// `{"replace": v}` when the value is nil, else `{"inserts": [{"path": [keys…], "value": v}]}`
/// to set in order on the host's existing objects.
#[wasm_bindgen(js_name = templatePatch)]
pub fn template_patch(value_json: &str, template_json: &str) -> Result<String, JsError> {
    wire::template_patch(value_json, template_json).map_err(error)
}
