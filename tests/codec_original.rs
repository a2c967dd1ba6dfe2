//! Ours against the original module v1.2 on thousands of random Luau values: what it stored and
//! what a fresh session of it read back (tests/vectors/original/, made by `make
//! vectors-original`; its README has the fields). Run with `--nocapture` for the tally.
//!
//! Without compression, our stored form (`Value::to_json_string`) must be the JSON the original
//! stored, compared as parsed JSON since dictionary order is Luau's hash order. With
//! compression, a value the original stored faithfully (its read back is the value, up to the
//! format's designed loss: `Decimals` rounding, and DEL turned into a space with Safety on) must
//! compress to the original's bytes; where dictionary order can differ (a table of 2+ entries),
//! it must decode to the same value instead (behaviour.md §9.5). A value the original lost or
//! corrupted (D9: Level 2 mixed tables and holes, -0, DEL with Safety off, digits past 2^53,
//! unsupported types) must be refused with its path or come back exactly. And decoding the
//! original's stored text must always give what the original read back.

use std::collections::BTreeMap;

use datastore_module::codec::{compress, decompress, Settings};
use datastore_module::usage::json_encode;
use datastore_module::value::{Key, Table, Value};
use serde_json::Value as Json;

const VECTORS: &str = include_str!("vectors/original/values.jsonl");

/// How many failures of one kind are printed in full.
const SHOWN: usize = 8;

/// How many examples of a departure are printed.
const EXAMPLES: usize = 3;

const D17: &str = "decoding DEPARTURE (D17): ours refuses corrupt text the original read in part";
const KEEPS_KEYS: &str = "uncompressed DEPARTURE: ours keeps the keys Roblox's JSONEncode drops";

struct Case {
    id: u64,
    value: String,
    /// `Level`, `Decimals` (a number, or a string the original reads as one), `Safety`.
    compress: Option<(f64, Value, bool)>,
    stored: Option<String>,
    /// `None` when the original raises on `stored` or reads a table key from it (the vector's
    /// `skipped`).
    readback: Option<String>,
    answer: Vec<String>,
}

fn cases() -> Vec<Case> {
    VECTORS
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let j: Json = serde_json::from_str(line).expect("a vector line is JSON");
            let text = |name: &str| j[name].as_str().map(str::to_owned);
            let compress = j["compress"].as_object().map(|c| {
                (
                    c["Level"].as_f64().expect("Level"),
                    match &c["Decimals"] {
                        Json::String(text) => Value::String(text.clone()),
                        d => Value::Number(d.as_f64().expect("Decimals")),
                    },
                    c["Safety"].as_bool().expect("Safety"),
                )
            });
            Case {
                id: j["id"].as_u64().expect("id"),
                value: text("value").expect("value"),
                compress,
                stored: text("stored"),
                readback: text("readback"),
                answer: j["answer"]
                    .as_array()
                    .expect("answer")
                    .iter()
                    .map(|a| a.as_str().unwrap_or_default().to_owned())
                    .collect(),
            }
        })
        .collect()
}

fn parse(lvt: &str) -> Result<Value, String> {
    Value::from_luau_text(lvt.as_bytes(), "Value").map_err(|e| e.to_string())
}

/// A value as Luau would see it: tables keyed exactly `1..n` are sequences, nil entries absent.
fn norm(v: &Value) -> Value {
    Value::from_luau_text(v.to_luau_text().as_bytes(), "Value")
        .expect("the core's value text reads back")
}

/// Strict equality: number keys and string keys differ, and so do -0 and 0 as values.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y && x.is_sign_negative() == y.is_sign_negative()
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Table(x), Value::Table(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        // Both are Luau's empty table.
        (Value::Array(x), Value::Table(y)) | (Value::Table(y), Value::Array(x)) => {
            x.is_empty() && y.is_empty()
        }
        _ => a == b,
    }
}

/// What the format itself loses, by design: non-integers rounded to `Decimals` places as the
/// decoder reads them back, and, with Safety on, DEL replaced by a space. Keys too (colliding
/// keys keep the later value, as the original's decoder does).
fn designed_loss(v: &Value, scale: f64, safety: bool) -> Value {
    let number = |n: f64| designed_number(n, scale);
    let string = |s: &str| {
        if safety {
            s.replace('\x7f', " ")
        } else {
            s.to_owned()
        }
    };
    let out = match v {
        Value::Number(n) => Value::Number(number(*n)),
        Value::String(s) => Value::String(string(s)),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| designed_loss(i, scale, safety))
                .collect(),
        ),
        Value::Table(t) => {
            let mut table = Table::new();
            for (k, item) in t {
                let key = match k {
                    Key::Number(n) => Key::Number(number(*n)),
                    Key::String(s) => Key::String(string(s)),
                    Key::Bool(b) => Key::Bool(*b),
                };
                table.insert(key, designed_loss(item, scale, safety));
            }
            Value::Table(table)
        }
        other => other.clone(),
    };
    norm(&out)
}

/// A non-integer as the decoder reads it back: rounded to `Decimals` places (§9.5).
fn designed_number(n: f64, scale: f64) -> f64 {
    if n - n.floor() == 0.0 {
        n
    } else if n < 0.0 {
        -(-n * scale).round() / scale
    } else {
        (n * scale).round() / scale
    }
}

/// What the original's decoder reads back for the number `n` its encoder wrote: the digits of
/// §9.4 in f64 arithmetic (a digit that is not a whole number in 0..=82 is dropped), then read
/// back as §9.6 does. Independent of the codec under test, to judge its refusals.
fn original_reads(n: f64, scale: f64) -> f64 {
    let whole = n - n.floor() == 0.0;
    let mut rest = if whole {
        n.abs()
    } else {
        (n.abs() * scale).round()
    };
    let mut digits = Vec::new();
    while rest > 0.0 {
        let digit = rest - (rest / 83.0).floor() * 83.0;
        if (0.0..=82.0).contains(&digit) && digit.fract() == 0.0 {
            digits.push(digit);
        }
        rest = (rest / 83.0).floor();
    }
    let (mut number, mut power) = (0.0, 1.0);
    for digit in digits {
        number += digit * power;
        power *= 83.0;
    }
    let number = if n < 0.0 { -number } else { number };
    if whole {
        number
    } else {
        number / scale
    }
}

/// The number in a "… is too large to compress exactly" refusal.
fn too_large(message: &str) -> Option<f64> {
    let before = message.split(" is too large to compress exactly").next()?;
    if before.len() == message.len() {
        return None;
    }
    before.rsplit(": ").next()?.parse().ok()
}

/// Whether the value holds a table whose pairs Luau may iterate in an order of its own: a
/// dictionary of 2+ entries, or, at Level 1 (where sequences are written as pairs), a sequence
/// of 2+ items (Luau keeps those in the hash part when they were not built in order).
fn order_may_differ(v: &Value, level_1: bool) -> bool {
    match v {
        Value::Table(t) => t.len() >= 2 || t.values().any(|i| order_may_differ(i, level_1)),
        Value::Array(items) => {
            (level_1 && items.len() >= 2) || items.iter().any(|i| order_may_differ(i, level_1))
        }
        _ => false,
    }
}

fn has(v: &Value, test: &dyn Fn(&Value) -> bool) -> bool {
    test(v)
        || match v {
            Value::Array(items) => items.iter().any(|i| has(i, test)),
            Value::Table(t) => {
                t.keys().any(|k| match k {
                    Key::String(s) => test(&Value::String(s.clone())),
                    _ => false,
                }) || t.values().any(|i| has(i, test))
            }
            _ => false,
        }
}

fn has_negative_zero(v: &Value) -> bool {
    has(
        v,
        &|v| matches!(v, Value::Number(n) if *n == 0.0 && n.is_sign_negative()),
    )
}

fn has_del(v: &Value) -> bool {
    has(v, &|v| matches!(v, Value::String(s) if s.contains('\x7f')))
}

/// A table that is not a sequence but has a positive whole number key: Level 2 writes it as the
/// array `1..#t` when Luau's border `#t` is past 0 (holes shift what follows; other keys drop).
fn has_partial_sequence(v: &Value) -> bool {
    let whole_key = |k: &Key| matches!(k, Key::Number(n) if *n >= 1.0 && n.fract() == 0.0);
    has(
        v,
        &|v| matches!(v, Value::Table(t) if t.keys().any(whole_key)),
    )
}

/// JSON values equal as a Luau table would be: objects order-insensitive, numbers as f64, and
/// `[]` the same as `{}` (both are the empty table).
fn json_same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_same(p, q))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_same(v, w)))
        }
        (Json::Array(x), Json::Object(y)) | (Json::Object(y), Json::Array(x)) => {
            x.is_empty() && y.is_empty()
        }
        _ => a == b,
    }
}

fn json(text: &str) -> Json {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[derive(Default)]
struct Tally {
    counts: BTreeMap<String, usize>,
    /// Failures by kind: each a case's description.
    failures: BTreeMap<String, Vec<String>>,
}

impl Tally {
    fn count(&mut self, what: &str) {
        self.add(what);
    }

    /// Counts one more `what`; gives how many so far.
    fn add(&mut self, what: &str) -> usize {
        let n = self.counts.entry(what.to_owned()).or_default();
        *n += 1;
        *n
    }

    fn fail(&mut self, what: &str, case: &Case, detail: String) {
        let settings = case
            .compress
            .as_ref()
            .map_or("uncompressed".to_owned(), |(l, d, s)| {
                format!("Level={l} Decimals={d:?} Safety={s}")
            });
        self.failures
            .entry(what.to_owned())
            .or_default()
            .push(format!(
                "  case {} ({settings})\n    value:    {:?}\n    {detail}",
                case.id, case.value
            ));
    }
}

fn check_uncompressed(case: &Case, tally: &mut Tally) {
    let value = match parse(&case.value) {
        Ok(v) => v,
        Err(why) => {
            if case.answer.first().map(String::as_str) == Some("Error") {
                tally.count("uncompressed: refused by both (unsupported type)");
            } else {
                tally.fail(
                    "uncompressed: ours refuses what the original saved",
                    case,
                    why,
                );
            }
            return;
        }
    };
    let Some(stored) = &case.stored else {
        tally.fail(
            "uncompressed: the original stored nothing, ours would",
            case,
            format!("answer: {:?}", case.answer),
        );
        return;
    };
    let theirs = json(stored);
    let ours = value.to_json_string();
    if json_same(&json(&ours), &theirs) {
        tally.count("uncompressed: same JSON");
    } else if json_same(&json(&json_encode(&value)), &theirs) {
        // The original hands the table to Roblox as it is; Roblox's encoder (the core's model of
        // it, `usage::json_encode`) keeps only the sequence of a table with holes or other keys.
        if tally.add(KEEPS_KEYS) <= EXAMPLES {
            println!(
                "  e.g. case {}: value {:?}\n    original stored {stored}\n    ours {ours}",
                case.id, case.value
            );
        }
    } else {
        tally.fail(
            "uncompressed: different JSON",
            case,
            format!("original: {stored}\n    ours:     {ours}"),
        );
    }
}

fn check_compressed(
    case: &Case,
    (level, decimals, safety): &(f64, Value, bool),
    tally: &mut Tally,
) {
    let (level, safety) = (*level, *safety);
    let mut compress_table = Table::new();
    compress_table.insert(Key::from("Level"), Value::Number(level));
    compress_table.insert(Key::from("Decimals"), decimals.clone());
    compress_table.insert(Key::from("Safety"), Value::Bool(safety));
    let compress_table = Value::Table(compress_table);
    let decimals = Settings::decimals_of(&compress_table).expect("Decimals");
    let stored = case.stored.as_deref().unwrap_or_default();
    check_decoding(case, stored, decimals, safety, tally);

    let value = match parse(&case.value) {
        Ok(v) => v,
        Err(why) => {
            // Unsupported types: the original writes nothing for them (D9: we refuse).
            tally.count("compressed DEPARTURE: refused at the boundary (unsupported type)");
            if !why.starts_with("Value") {
                tally.fail("compressed: a refusal without a path", case, why);
            }
            return;
        }
    };
    let settings = Settings::from_compress_table(&compress_table).expect("settings");
    let ours = compress(&value, &settings);
    let scale = 10f64.powf(decimals);
    let intended = designed_loss(&value, scale, safety);
    let readback = case.readback.as_deref().map(parse);
    let faithful = matches!(&readback, Some(Ok(r)) if same(r, &intended));

    if faithful {
        match &ours {
            Ok(text) if text == stored => tally.count("compressed: byte-identical"),
            Ok(text) if order_may_differ(&value, level != 2.0) => {
                match decompress(text, decimals).map(|v| norm(&v)) {
                    Ok(back) if same(&back, &intended) => {
                        tally.count("compressed: same value, other pair order")
                    }
                    other => tally.fail(
                        "compressed: ours decodes to another value",
                        case,
                        format!(
                            "original: {stored:?}\n    ours:     {text:?}\n    decoded:  {other:?}"
                        ),
                    ),
                }
            }
            Ok(text) => tally.fail(
                "compressed: bytes differ",
                case,
                format!("original: {stored:?}\n    ours:     {text:?}"),
            ),
            // The original changed the number's digits, or ended a string at its DEL (Safety
            // off), but another loss hid it from the read back (a key 0.5 rounded onto key 1 at
            // Decimals 0 replaced what held it).
            Err(e)
                if too_large(&e.message).is_some_and(|n| {
                    original_reads(n, scale).to_bits() != designed_number(n, scale).to_bits()
                }) || (!safety && e.message.contains("DEL")) =>
            {
                tally.count(
                    "compressed DEPARTURE: refused (what the original corrupts, where another \
                     loss hid it)",
                )
            }
            Err(e) => tally.fail(
                "compressed: ours refuses what the original stored faithfully",
                case,
                format!("original: {stored:?}\n    ours:     Err({e})"),
            ),
        }
        return;
    }

    // The original lost or corrupted the value: ours refuses it with a path, or keeps it whole.
    match &ours {
        Err(e) if e.message.starts_with("Value") => {
            let why = if let Some(n) = too_large(&e.message) {
                // Another loss in the same value must not hide a refusal of a number the
                // original keeps.
                if original_reads(n, scale).to_bits() == designed_number(n, scale).to_bits() {
                    tally.fail(
                        "compressed: ours refuses a number the original keeps",
                        case,
                        e.message.clone(),
                    );
                }
                "a number whose digits the original changes (past 2^53)"
            } else if e.message.contains("DEL") {
                "DEL with Safety off"
            } else {
                "other"
            };
            tally.count(&format!("compressed DEPARTURE: refused ({why})"));
            if why == "other" {
                println!("  refused (other), case {}: {}", case.id, e.message);
            }
        }
        Err(e) => tally.fail("compressed: a refusal without a path", case, e.to_string()),
        Ok(text) => {
            let kind = if level == 2.0 && has_partial_sequence(&value) {
                "a Level 2 table with holes or other keys"
            } else if has_negative_zero(&value) {
                "-0"
            } else {
                "other"
            };
            match decompress(text, decimals).map(|v| norm(&v)) {
                Ok(back) if same(&back, &intended) => {
                    tally.count(&format!("compressed DEPARTURE: lossless ({kind})"));
                }
                other => tally.fail(
                    &format!("compressed: lossy like the original ({kind})"),
                    case,
                    format!(
                        "original: {stored:?} read back {:?}\n    \
                         ours:     {text:?} decodes to {:?}\n    wanted:   {:?}",
                        case.readback,
                        other.map(|v| v.to_luau_text()),
                        intended.to_luau_text()
                    ),
                ),
            }
        }
    }
}

/// Our decoder on the original's stored text gives what the original read back, except that
/// text the original wrote corrupt (a DEL ended a string early with Safety off, or an unsupported
/// value was written as nothing) may be refused with its position (D17), where the original
/// returned what it had decoded so far.
fn check_decoding(case: &Case, stored: &str, decimals: f64, safety: bool, tally: &mut Tally) {
    let corrupt = match parse(&case.value) {
        Ok(value) => !safety && has_del(&value),
        Err(_) => true,
    };
    let ours = decompress(stored, decimals).map(|v| norm(&v));
    match (case.readback.as_deref().map(parse), ours) {
        (Some(Ok(theirs)), Ok(ours)) if same(&theirs, &ours) => tally.count("decoding: same value"),
        (Some(Err(_)), Err(_)) => tally.count("decoding: neither gives a storable value"),
        (None, Err(_)) => {
            tally.count("decoding: both fail (the original raises, or reads a table as a key)")
        }
        (None, Ok(_)) => tally
            .count("decoding: ours reads what the original raised on, or read a table key from"),
        (Some(Ok(_)), Err(e))
            if corrupt && e.message.starts_with("corrupt compressed data at byte") =>
        {
            if tally.add(D17) <= EXAMPLES {
                println!("  e.g. case {}: {stored:?}: {}", case.id, e.message);
            }
        }
        (theirs, ours) => tally.fail(
            "decoding: another value than the original's",
            case,
            format!(
                "stored:   {stored:?}\n    original: {theirs:?}\n    ours:     {:?}",
                ours.map(|v| v.to_luau_text())
            ),
        ),
    }
}

#[test]
fn ours_against_the_original() {
    let cases = cases();
    assert!(cases.len() >= 5000, "only {} vectors", cases.len());
    let mut tally = Tally::default();
    // Listed even when none: a reader of the tally should see that these did not happen.
    for what in ["compressed: same value, other pair order", KEEPS_KEYS, D17] {
        tally.counts.insert(what.to_owned(), 0);
    }
    for case in &cases {
        match &case.compress {
            None => check_uncompressed(case, &mut tally),
            Some(settings) => check_compressed(case, settings, &mut tally),
        }
    }
    println!(
        "{} cases from tests/vectors/original/values.jsonl",
        cases.len()
    );
    for (what, n) in &tally.counts {
        println!("{n:6}  {what}");
    }
    let mut report = String::new();
    for (what, list) in &tally.failures {
        report.push_str(&format!("{} × {what}\n", list.len()));
        for line in list.iter().take(SHOWN) {
            report.push_str(line);
            report.push('\n');
        }
    }
    assert!(
        tally.failures.is_empty(),
        "ours differs from the original:\n{report}"
    );
    // The comparison must have teeth: most compressed values byte for byte.
    assert!(
        tally
            .counts
            .get("compressed: byte-identical")
            .copied()
            .unwrap_or(0)
            > 2000
    );
}

/// The test's own model of the format's numbers (`original_reads`), on numbers whose fate is
/// known from the vectors and the original's documentation.
#[test]
fn original_reads_follows_the_format() {
    let kept = [
        (9_007_199_254_740_994.0, 1e3),
        (9_223_372_036_854_775_808.0, 1e3),
        (1_234_567_891_234.987, 1e3),
        // Its digits read back as another integer, but the same number once divided by 100.
        (-638_894_744_965_733.9, 1e2),
    ];
    for (n, scale) in kept {
        assert_eq!(original_reads(n, scale), designed_number(n, scale), "{n}");
    }
    assert_eq!(original_reads(1e21, 1e3), 1.204_819_277_108_434e19);
    assert_ne!(
        original_reads(18_446_744_073_709_551_616.0, 1e3),
        18_446_744_073_709_551_616.0
    );
}
