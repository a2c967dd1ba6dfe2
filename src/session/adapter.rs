//! The only place the session touches its sibling modules: `template` (reconcile), `codec`
//! (`Metadata.Compress`) and `usage`, in the shapes the session needs (errors as text).

use crate::value::Value;
use crate::{codec, template, usage};

/// §10.1: nil takes a copy of the template; a table gets the template's missing non-number
/// keys, recursively; anything else is left alone.
pub(crate) fn apply_template(value: &mut Value, template: &Value) {
    template::apply_template(value, template);
}

/// `Compress(value, …)` with the settings of `Metadata.Compress`.
pub(crate) fn compress(value: &Value, compress_table: &Value) -> Result<String, String> {
    let settings =
        codec::Settings::from_compress_table(compress_table).map_err(|e| e.to_string())?;
    codec::compress(value, &settings).map_err(|e| e.to_string())
}

/// [`compress`] of a value given as JSON text (no tree when the text is ordinary).
pub(crate) fn compress_json(json: &str, compress_table: &Value) -> Result<String, String> {
    let settings =
        codec::Settings::from_compress_table(compress_table).map_err(|e| e.to_string())?;
    codec::json::compress(json, "Value", &settings).map_err(|e| e.to_string())
}

/// `Decompress(text, 10 ^ (Compress.Decimals or 3))`.
pub(crate) fn decompress(text: &str, compress_table: &Value) -> Result<Value, String> {
    let decimals = codec::Settings::decimals_to_read(compress_table).map_err(|e| e.to_string())?;
    codec::decompress(text, decimals)
        .map_err(|e| format!("cannot decompress the stored value: {e}"))
}

/// `Usage()` without compression: `JSONEncode(Value)`'s length and its fraction of 4 MB.
pub(crate) fn usage(value: &Value) -> (usize, f64) {
    usage::usage(value)
}

/// `Usage()` with compression: `JSONEncode(CompressedValue)`'s length.
pub(crate) fn usage_of_compressed(compressed: &str) -> (usize, f64) {
    usage::usage_of_compressed(compressed)
}
