//! The only place the session touches its sibling modules: `template` (reconcile), `codec`
//! (`Metadata.Compress`) and `usage`, in the shapes the session needs (errors as text).

use crate::value::Value;
use crate::wire::LUAU_HOSTS;
use crate::{codec, template, usage};

/// §10.1: nil takes a copy of the template; a table gets the template's missing non-number
/// keys, recursively; anything else is left alone.
pub(crate) fn apply_template(value: &mut Value, template: &Value) {
    template::apply_template(value, template);
}

/// Whether templates are spliced into a load's JSON ([`apply_templates_json`]). Not in the JS
/// wasm: there the tree is quick, and the splicing code would take it over its size budget
/// (`tests/js/wasm.test.mjs`); it is for the Luau hosts, where building the tree cost an
/// `Open(template)` five times a plain `Open` (issue 13).
pub(crate) const TEMPLATES_ON_JSON: bool = LUAU_HOSTS;

/// [`apply_template`] of each template in turn on a value's JSON text, as
/// `Value::to_json_string` writes it; `None` when the tree must do it
/// ([`template::apply_template_json`]), or in a build without [`TEMPLATES_ON_JSON`].
pub(crate) fn apply_templates_json(json: &str, templates: &[&Value]) -> Option<String> {
    if !TEMPLATES_ON_JSON {
        return None;
    }
    let mut out: Option<String> = None;
    for template in templates {
        out = Some(template::apply_template_json(
            out.as_deref().unwrap_or(json),
            template,
        )?);
    }
    out
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

/// What the Luau transcoders answer in a build without them: the JS wasm never gets value text
/// ([`crate::wire::LUAU_HOSTS`]), and this keeps their code out of it.
const NO_LUAU: &str = "Value: this build does not read Luau value text";

/// [`compress`] of a value given as Luau value text (no tree when the text is ordinary). A
/// refusal of the value comes before one of the settings, as when the value is read first.
pub(crate) fn compress_luau(text: &[u8], compress_table: &Value) -> Result<String, String> {
    if !LUAU_HOSTS {
        return Err(NO_LUAU.into());
    }
    match codec::Settings::from_compress_table(compress_table) {
        Ok(settings) => codec::luau::compress(text, "Value", &settings).map_err(|e| e.to_string()),
        Err(e) => {
            Value::from_luau_text(text, "Value").map_err(|e| e.to_string())?;
            Err(e.to_string())
        }
    }
}

/// The JSON an uncompressed save stores for a value given as Luau value text.
pub(crate) fn luau_to_json(text: &[u8]) -> Result<String, String> {
    if !LUAU_HOSTS {
        return Err(NO_LUAU.into());
    }
    codec::luau::to_json(text, "Value").map_err(|e| e.to_string())
}

/// `Decompress(text, 10 ^ (Compress.Decimals or 3))`.
pub(crate) fn decompress(text: &str, compress_table: &Value) -> Result<Value, String> {
    let decimals = codec::Settings::decimals_of(compress_table).map_err(|e| e.to_string())?;
    codec::decompress(text, decimals)
        .map_err(|e| format!("cannot decompress the stored value: {e}"))
}

/// [`decompress`] as the JSON text of the value when it needs no tree (`codec::json`): `None`
/// where the tree decides (also for nil, and for every error).
pub(crate) fn decompress_to_json(text: &str, compress_table: &Value) -> Option<String> {
    let decimals = codec::Settings::decimals_of(compress_table).ok()?;
    codec::json::stream_decompress(text, decimals)?
}

/// `Usage()` without compression: `JSONEncode(Value)`'s length and its fraction of 4 MB.
pub(crate) fn usage(value: &Value) -> (usize, f64) {
    usage::usage(value)
}

/// `Usage()` with compression: `JSONEncode(CompressedValue)`'s length.
pub(crate) fn usage_of_compressed(compressed: &str) -> (usize, f64) {
    usage::usage_of_compressed(compressed)
}
