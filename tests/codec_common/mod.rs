//! What the codec's integration tests share: reading the vectors' hex, and the tree-based
//! reference the JSON transcoders (`codec::json`) must match.
#![allow(dead_code)]

use datastore_module::codec::{compress, decompress, CodecError, Settings};
use datastore_module::value::Value;

/// A vector's `*_hex` field as text (the vectors are UTF-8).
pub fn hex_to_text(hex: &str) -> String {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    String::from_utf8(bytes).expect("vector bytes are UTF-8")
}

/// `compress` of JSON text through a `Value` tree, as the bindings did before `codec::json`.
pub fn reference_compress(json: &str, settings: &Settings) -> Result<String, CodecError> {
    let value = Value::from_json_str(json, "value").map_err(|e| CodecError {
        message: e.to_string(),
    })?;
    compress(&value, settings)
}

/// `decompress` to JSON text through a `Value` tree (`None` for nil), refusing keys JSON would
/// merge.
pub fn reference_decompress(text: &str, decimals: f64) -> Result<Option<String>, CodecError> {
    match decompress(text, decimals)? {
        Value::Nil => Ok(None),
        value => value
            .to_host_json("value")
            .map(Some)
            .map_err(|e| CodecError {
                message: e.to_string(),
            }),
    }
}
