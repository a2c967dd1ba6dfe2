//! JavaScript bindings (feature `js`): conversion and forwarding only.
//!
//! Values cross in two directions, each by the cheapest faithful route:
//! - JS → core: a walk over the JS value with `js-sys`, building a [`Value`] and rejecting what a
//!   DataStore cannot hold (NaN, ±∞, functions, symbols, BigInt, cycles, holes, `undefined` or
//!   `null` inside arrays, unpaired surrogates, non-plain objects) with the path of the
//!   offending value. `undefined`/`null` object properties are absent keys, as nil is in Luau.
//! - core → JS: JSON text, which the JS wrapper turns into objects with `JSON.parse` (far faster
//!   than building objects property by property across the boundary).
//!
//! The `pkg/` wrapper (`host/js/`) gives these functions their public names and shapes.

use crate::codec;
use crate::value::{Key, Path, Table, Value, ValueError};
use js_sys::{Array, JsString, Object};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Deepest nesting accepted from JS; deeper values (or cycles) are rejected, never overflow.
const MAX_DEPTH: usize = 512;

/// Converts a JS value into a storable [`Value`]; `root` names it in errors (`"Value"`).
pub fn value_from_js(value: &JsValue, root: &str) -> Result<Value, ValueError> {
    let mut path = Path::new(root);
    let mut ancestors = Vec::new();
    from_js(value, &mut path, &mut ancestors)
}

fn from_js(
    value: &JsValue,
    path: &mut Path,
    ancestors: &mut Vec<JsValue>,
) -> Result<Value, ValueError> {
    if let Some(n) = value.as_f64() {
        return if n.is_finite() {
            Ok(Value::Number(n))
        } else if n.is_nan() {
            Err(path.error("NaN cannot be stored".into()))
        } else {
            Err(path.error(format!("{n} cannot be stored").replace("inf", "Infinity")))
        };
    }
    if value.is_string() {
        return string_from_js(value, path).map(Value::String);
    }
    if let Some(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if value.is_null() || value.is_undefined() {
        return Ok(Value::Nil);
    }
    if value.is_function() {
        return Err(path.error("a function cannot be stored".into()));
    }
    if value.is_symbol() {
        return Err(path.error("a symbol cannot be stored".into()));
    }
    if value.is_bigint() {
        return Err(path.error(
            "a BigInt cannot be stored (DataStore numbers are doubles; convert it with Number())"
                .into(),
        ));
    }
    if !value.is_object() {
        return Err(path.error("this kind of value cannot be stored".into()));
    }
    if ancestors.iter().any(|a| a == value) {
        return Err(path.error("a cycle cannot be stored (this table contains itself)".into()));
    }
    if ancestors.len() >= MAX_DEPTH {
        return Err(path.error(format!(
            "nesting deeper than {MAX_DEPTH} levels cannot be stored"
        )));
    }
    ancestors.push(value.clone());
    let result = if Array::is_array(value) {
        array_from_js(value.unchecked_ref(), path, ancestors)
    } else {
        object_from_js(value.unchecked_ref(), path, ancestors)
    };
    ancestors.pop();
    result
}

fn string_from_js(value: &JsValue, path: &Path) -> Result<String, ValueError> {
    let text = value.as_string().unwrap_or_default();
    // `as_string` turns an unpaired surrogate into U+FFFD; only then pay for the exact check.
    if text.contains('\u{FFFD}') && !value.unchecked_ref::<JsString>().is_valid_utf16() {
        return Err(path.error("a string with an unpaired surrogate cannot be stored".into()));
    }
    Ok(text)
}

fn array_from_js(
    array: &Array,
    path: &mut Path,
    ancestors: &mut Vec<JsValue>,
) -> Result<Value, ValueError> {
    let len = array.length();
    let mut items = Vec::with_capacity(len as usize);
    for i in 0..len {
        path.push_index(i as usize);
        let item = array.get(i);
        if item.is_undefined() || item.is_null() {
            let what = if item.is_null() {
                "null"
            } else {
                "a hole or undefined"
            };
            return Err(path.error(format!(
                "{what} inside an array cannot be stored (Luau arrays have no holes)"
            )));
        }
        items.push(from_js(&item, path, ancestors)?);
        path.pop();
    }
    Ok(Value::Array(items))
}

fn object_from_js(
    object: &Object,
    path: &mut Path,
    ancestors: &mut Vec<JsValue>,
) -> Result<Value, ValueError> {
    let proto = Object::get_prototype_of(object);
    if !proto.is_null() && !Object::get_prototype_of(&proto).is_null() {
        let name = object.constructor().name();
        return Err(path.error(format!(
            "a {} object cannot be stored (only plain objects and arrays)",
            String::from(name)
        )));
    }
    let keys = Object::keys(object);
    let mut table = Table::with_capacity(keys.length() as usize);
    for key in keys.iter() {
        let name = key.as_string().unwrap_or_default();
        let item = js_sys::Reflect::get(object, &key).unwrap_or(JsValue::UNDEFINED);
        if item.is_undefined() || item.is_null() {
            continue;
        }
        path.push_key(&name);
        let item = from_js(&item, path, ancestors)?;
        path.pop();
        table.insert(Key::String(name), item);
    }
    Ok(Value::Table(table))
}

fn error(message: impl std::fmt::Display) -> JsError {
    JsError::new(&message.to_string())
}

/// Reads `{Level, Decimals, Safety}` exactly like `Metadata.Compress` (defaults 2, 3, true).
fn settings_from_js(options: &JsValue) -> Result<codec::Settings, JsError> {
    if options.is_undefined() || options.is_null() {
        return Ok(codec::Settings::default());
    }
    let options = value_from_js(options, "options").map_err(error)?;
    codec::Settings::from_compress_table(&options).map_err(error)
}

/// `compress(value, options)`: the original's compression text.
#[wasm_bindgen(js_name = compress)]
pub fn compress(value: &JsValue, options: &JsValue) -> Result<String, JsError> {
    let settings = settings_from_js(options)?;
    let value = value_from_js(value, "value").map_err(error)?;
    codec::compress(&value, &settings).map_err(error)
}

/// `decompress(text, options)` as JSON text (`undefined` for nil); the wrapper parses it, which
/// is far faster than building the objects across the boundary.
#[wasm_bindgen(js_name = decompressToJson)]
pub fn decompress_to_json(text: &str, options: &JsValue) -> Result<Option<String>, JsError> {
    let settings = settings_from_js(options)?;
    let value = codec::decompress(text, settings.decimals).map_err(error)?;
    Ok(match value {
        Value::Nil => None,
        value => Some(value.to_json_string()),
    })
}
