//! Every line of tests/vectors/codec-*.jsonl, checked as tests/vectors/README.md says. The
//! vectors were made by running the original module's own functions, so they are the ground
//! truth for the byte format.

mod codec_common;

use codec_common::hex_to_text;
use datastore_module::codec::{compress, decompress, Settings};
use datastore_module::value::{luau_number_to_string, Key, Path, Table, Value};
use serde_json::Value as Json;

const ENCODE: &str = include_str!("vectors/codec-encode.jsonl");
const DECODE: &str = include_str!("vectors/codec-decode.jsonl");

/// Our decoded value equals the original's, in the vectors' JSON convention: tables keyed by
/// their Luau `tostring`, numbers as f64 (-0 == 0), an empty table either `{}` or `[]`.
fn same(value: &Value, json: &Json) -> bool {
    match (value, json) {
        (Value::Nil, Json::Null) => true,
        (Value::Bool(a), Json::Bool(b)) => a == b,
        (Value::Number(a), Json::Number(b)) => Some(*a) == b.as_f64(),
        (Value::String(a), Json::String(b)) => a == b,
        (Value::Array(a), Json::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Value::Array(a), Json::Object(b)) => a.is_empty() && b.is_empty(),
        (Value::Table(a), Json::Array(b)) => a.is_empty() && b.is_empty(),
        (Value::Table(a), Json::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(&k.to_luau_string()).is_some_and(|j| same(v, j)))
        }
        _ => false,
    }
}

fn has_del(json: &Json) -> bool {
    match json {
        Json::String(s) => s.contains('\x7f'),
        Json::Array(items) => items.iter().any(has_del),
        Json::Object(map) => map.iter().any(|(k, v)| k.contains('\x7f') || has_del(v)),
        _ => false,
    }
}

/// A key that reads back as a number through Luau's `tostring` may have been a number key in
/// the original (README rule 4).
fn number_key(key: &str) -> Option<f64> {
    let n: f64 = key.parse().ok()?;
    (n.is_finite() && luau_number_to_string(n) == key).then_some(n)
}

fn has_number_like_key(json: &Json) -> bool {
    match json {
        Json::Array(items) => items.iter().any(has_number_like_key),
        Json::Object(map) => map
            .iter()
            .any(|(k, v)| number_key(k).is_some() || has_number_like_key(v)),
        _ => false,
    }
}

/// The input with every number-like key made a number key again, in the same order.
fn with_number_keys(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(with_number_keys).collect()),
        Value::Table(t) => Value::Table(
            t.iter()
                .map(|(k, v)| {
                    let k = match k {
                        Key::String(s) => number_key(s).map_or(k.clone(), Key::Number),
                        _ => k.clone(),
                    };
                    (k, with_number_keys(v))
                })
                .collect::<Table>(),
        ),
        other => other.clone(),
    }
}

#[test]
fn every_encode_vector() {
    let (mut lines, mut exact, mut exact_number_keys, mut by_decoding, mut del_rejected) =
        (0, 0, 0, 0, 0);
    let (mut corrupt_decoded, mut corrupt_refused) = (0, 0);
    for (i, line) in ENCODE.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        lines += 1;
        let v: Json = serde_json::from_str(line).expect("vector line");
        let level = v["level"].as_f64().unwrap();
        let decimals = v["decimals"].as_f64().unwrap();
        let settings = Settings {
            array_mode: level == 2.0,
            decimals,
            safety: v["safety"].as_bool().unwrap(),
        };
        let encoded = hex_to_text(v["encoded_hex"].as_str().unwrap());
        let value = Value::from_json(&v["value"], &mut Path::new("Value")).expect("value");
        let ctx = format!("encode line {}: {line}", i + 1);

        if !settings.safety && has_del(&v["value"]) {
            // Rule 3: we refuse what the original corrupted; its corrupt text must still decode
            // to something or to a clear error.
            let err = compress(&value, &settings).expect_err(&ctx);
            assert!(err.message.contains("DEL (0x7F)"), "{ctx}: {err}");
            match decompress(&encoded, decimals) {
                Ok(got) => {
                    // Not required, but where we do return a value it is the original's.
                    assert!(same(&got, &v["decoded"]), "{ctx}\n got {got:?}");
                    corrupt_decoded += 1;
                }
                Err(e) => {
                    assert!(
                        e.message.starts_with("corrupt compressed data"),
                        "{ctx}: {e}"
                    );
                    corrupt_refused += 1;
                }
            }
            del_rejected += 1;
            continue;
        }

        // Rule 1: the original's bytes decode to the original's result.
        let decoded = decompress(&encoded, decimals).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert!(same(&decoded, &v["decoded"]), "{ctx}\n got {decoded:?}");

        // Rule 2: byte for byte where the key order is known.
        let ours = compress(&value, &settings).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        if ours == encoded {
            exact += 1;
            continue;
        }
        assert!(
            has_number_like_key(&v["value"]),
            "{ctx}\n ours {ours:?}\n want {encoded:?}"
        );
        let ours_numbers = compress(&with_number_keys(&value), &settings).unwrap();
        if ours_numbers == encoded {
            exact_number_keys += 1;
            continue;
        }
        // Rule 4 leaves it open whether a key was a number, so compare what the texts mean.
        let back = decompress(&ours, decimals).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert!(same(&back, &v["decoded"]), "{ctx}\n ours {ours:?}");
        by_decoding += 1;
    }
    eprintln!(
        "encode vectors: {lines} lines, {exact} byte-exact, {exact_number_keys} byte-exact \
         with number keys, {by_decoding} by decoding, {del_rejected} DEL rejected (their corrupt \
         text: {corrupt_decoded} decoded as the original did, {corrupt_refused} refused)"
    );
    assert_eq!(lines, 400);
    assert_eq!(
        exact + exact_number_keys + by_decoding + del_rejected,
        lines
    );
    // Pinned so a change in how lines are judged can't go unnoticed.
    assert_eq!(
        (exact, exact_number_keys, by_decoding, del_rejected),
        EXPECTED_ENCODE_COUNTS
    );
    // One of these texts ends inside its outermost table, which D17 refuses.
    assert_eq!((corrupt_decoded, corrupt_refused), (18, 7));
}

/// Every line is byte-exact: serde_json keeps the file's key order, and every number-like key
/// in these inputs was a string key in the original too, so the fallbacks are never needed.
const EXPECTED_ENCODE_COUNTS: (usize, usize, usize, usize) = (375, 0, 0, 25);

/// Pinned like the encode counts. These are random texts, so many end inside a table or a
/// string: before D17 the 43 cut short were compared with what the original returned.
const EXPECTED_DECODE_COUNTS: (usize, usize, usize, usize) = (230, 27, 43, 0);

fn contains_table_address(json: &Json) -> bool {
    match json {
        Json::String(s) => s.starts_with("table: 0x"),
        Json::Array(items) => items.iter().any(contains_table_address),
        Json::Object(map) => map
            .iter()
            .any(|(k, v)| k.starts_with("table: 0x") || contains_table_address(v)),
        _ => false,
    }
}

/// D17: where the original returned what it had read of a text cut short, we refuse it.
fn is_cut_short(message: &str) -> bool {
    message.starts_with("corrupt compressed data at byte ")
        && (message.ends_with(": the text ends before the outermost table is closed")
            || message.ends_with(": the string has no closing DEL"))
}

#[test]
fn every_decode_vector() {
    let (mut lines, mut equal, mut any_result, mut errors, mut cut_short) = (0, 0, 0, 0, 0);
    for (i, line) in DECODE.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        lines += 1;
        let v: Json = serde_json::from_str(line).expect("vector line");
        let input = hex_to_text(v["input_hex"].as_str().unwrap());
        let decimals = v["decimals"].as_f64().unwrap();
        let ctx = format!("decode line {}: {line}", i + 1);
        let result = decompress(&input, decimals);
        if !v["ok"].as_bool().unwrap() {
            // The original raised an error; so do we, with a clear message.
            let err = result.expect_err(&ctx);
            assert!(
                err.message.starts_with("corrupt compressed data at byte "),
                "{ctx}: {err}"
            );
            errors += 1;
        } else if contains_table_address(&v["decoded"]) {
            any_result += 1;
        } else if result.as_ref().is_err_and(|e| is_cut_short(&e.message)) {
            cut_short += 1;
        } else {
            let got = result.unwrap_or_else(|e| panic!("{ctx}: {e}"));
            assert!(same(&got, &v["decoded"]), "{ctx}\n got {got:?}");
            equal += 1;
        }
    }
    eprintln!(
        "decode vectors: {lines} lines, {equal} equal, {errors} errors as in the original, \
         {cut_short} cut short (D17), {any_result} with a table key (any result)"
    );
    assert_eq!(lines, 300);
    assert_eq!(
        (equal, errors, cut_short, any_result),
        EXPECTED_DECODE_COUNTS
    );
}
