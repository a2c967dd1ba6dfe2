//! The only place the session touches its sibling modules: `template` (reconcile), `codec`
//! (`Metadata.Compress`) and `usage`. Each function below has the shape the session needs and
//! forwards to the sibling's API:
//!
//! - `crate::template::apply_template(&mut Value, &Value)`;
//! - `crate::codec::{Settings::from_compress_table, compress, decompress}`;
//! - `crate::usage::{usage, usage_of_compressed}`.
//!
//! STAND-INS: until those modules are merged, the bodies here are minimal private stand-ins
//! (the compressed form is JSON text, not the original's base-83 format). Switching to the real
//! modules is one edit of this file; nothing else in the session depends on how they work.

use crate::value::{Key, Table, Value};

/// The original's `Usage` divisor (§10.3).
const USAGE_DIVISOR: f64 = 4_194_303.0;

/// §10.1: nil takes a copy of the template; a table gets the template's missing non-number
/// keys, recursively; anything else is left alone.
pub(crate) fn apply_template(value: &mut Value, template: &Value) {
    if matches!(value, Value::Nil) {
        *value = template.clone();
    } else if value.is_table() && template.is_table() {
        reconcile(value, template);
    }
}

fn reconcile(target: &mut Value, template: &Value) {
    let Value::Table(template) = template else {
        return;
    };
    for (key, default) in template {
        if matches!(key, Key::Number(_)) || matches!(default, Value::Nil) {
            continue;
        }
        if let Value::Array(items) = target {
            // A sequence that gains a string key is a mixed table.
            let table: Table = std::mem::take(items)
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Key::Number(i as f64 + 1.0), v))
                .collect();
            *target = Value::Table(table);
        }
        let Value::Table(table) = target else {
            return;
        };
        match table.get_mut(key) {
            None => {
                table.insert(key.clone(), default.clone());
            }
            Some(existing) if existing.is_table() && default.is_table() => {
                reconcile(existing, default)
            }
            Some(_) => {}
        }
    }
}

/// `Compress(value, …)` with the settings of `Metadata.Compress`.
pub(crate) fn compress(value: &Value, compress_table: &Value) -> Result<String, String> {
    let _settings = compress_table;
    Ok(value.to_json_string())
}

/// `Decompress(text, 10 ^ (Compress.Decimals or 3))`.
pub(crate) fn decompress(text: &str, compress_table: &Value) -> Result<Value, String> {
    let _settings = compress_table;
    Value::from_json_str(text, "Value")
        .map_err(|e| format!("cannot decompress the stored value: {e}"))
}

/// `Usage()` without compression: `JSONEncode(Value)`'s length and its fraction of 4 MB.
pub(crate) fn usage(value: &Value) -> (usize, f64) {
    let n = value.to_json_string().len();
    (n, n as f64 / USAGE_DIVISOR)
}

/// `Usage()` with compression: `JSONEncode(CompressedValue)`'s length.
pub(crate) fn usage_of_compressed(compressed: &str) -> (usize, f64) {
    let n = Value::String(compressed.to_owned()).to_json_string().len();
    (n, n as f64 / USAGE_DIVISOR)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(json: &str) -> Value {
        Value::from_json_str(json, "Value").unwrap()
    }

    #[test]
    fn template_fills_only_missing_keys() {
        let mut value = v(r#"{"Coins":5,"Inventory":{"Sword":1}}"#);
        apply_template(
            &mut value,
            &v(r#"{"Coins":0,"Level":1,"Inventory":{"Shield":0}}"#),
        );
        assert_eq!(
            value,
            v(r#"{"Coins":5,"Inventory":{"Sword":1,"Shield":0},"Level":1}"#)
        );
    }

    #[test]
    fn nil_takes_the_template_and_mismatches_are_kept() {
        let mut value = Value::Nil;
        apply_template(&mut value, &Value::Number(3.0));
        assert_eq!(value, Value::Number(3.0));
        let mut value = Value::String("x".into());
        apply_template(&mut value, &v(r#"{"a":1}"#));
        assert_eq!(value, Value::String("x".into()));
    }
}
