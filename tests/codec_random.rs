//! `decompress` reads text from stores that anyone may have written, so it must survive any
//! input: no panic, no unbounded recursion, no quadratic time. This is the always-on part of
//! that check; `fuzz/` goes further.

use datastore_module::codec::{compress, decompress, Settings};
use datastore_module::rng::Rng;
use datastore_module::value::Value;
use std::time::{Duration, Instant};

/// A draw in `0..n`.
fn below(rng: &mut Rng, n: usize) -> usize {
    rng.below(n as u64) as usize
}

const TAGS: &[u8] = b"-+<>()#|*\x7f";
const DIGITS: &[u8] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!$%&',./:;=?@[]^_`{}~";
const OTHER: &[char] = &[' ', '"', '\\', '\n', '\t', 'é', '€', '日', '😀', '\u{0}'];

fn random_text(rng: &mut Rng) -> String {
    let max = if below(rng, 10) == 0 { 2000 } else { 60 };
    let len = below(rng, max);
    let mut s = String::with_capacity(len);
    for _ in 0..len {
        match below(rng, 20) {
            0..=6 => s.push(TAGS[below(rng, TAGS.len())] as char),
            7..=14 => s.push(DIGITS[below(rng, DIGITS.len())] as char),
            15..=16 => s.push('\x7f'),
            _ => s.push(OTHER[below(rng, OTHER.len())]),
        }
    }
    s
}

/// What `decompress` returned is a storable value: it compresses and reads back.
fn check(text: &str, decimals: f64) {
    if let Ok(value) = decompress(text, decimals) {
        let settings = Settings {
            decimals,
            ..Settings::default()
        };
        match compress(&value, &settings) {
            Ok(again) => {
                decompress(&again, decimals).unwrap_or_else(|e| panic!("{again:?}: {e}"));
            }
            // A scale of 0 or ∞, or a decoded number past 2^53 that the format cannot write back
            // exactly, makes a decoded value unwritable; nothing else may.
            Err(e) => assert!(
                !(10f64.powf(decimals).is_normal())
                    || e.message.contains("too large to compress exactly"),
                "{text:?} decoded to {value:?}, which does not compress: {e}"
            ),
        }
    }
}

#[test]
fn random_text_never_panics() {
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    let (mut values, mut errors) = (0, 0);
    for i in 0..40_000 {
        let text = random_text(&mut rng);
        let decimals = [3.0, 0.0, 5.0, -2.0, 400.0, -400.0][i % 6];
        match decompress(&text, decimals) {
            Ok(_) => values += 1,
            Err(e) => {
                assert!(
                    e.message.starts_with("corrupt compressed data at byte "),
                    "{e}"
                );
                errors += 1;
            }
        }
        check(&text, decimals);
    }
    eprintln!("random text: {values} values, {errors} errors");
    // Both outcomes must really be exercised.
    assert!(
        values > 10_000 && errors > 1_000,
        "{values} values, {errors} errors"
    );
}

fn timed(name: &str, text: &str) -> Result<Value, String> {
    let start = Instant::now();
    let result = decompress(text, 3.0).map_err(|e| e.message);
    let took = start.elapsed();
    // Generous for a shared machine and a debug build; quadratic work on these inputs would
    // take minutes.
    assert!(took < Duration::from_secs(5), "{name} took {took:?}");
    result
}

#[test]
fn pathological_inputs_are_bounded() {
    let deep_arrays = "|".repeat(100_000);
    let err = timed("100k nested |", &deep_arrays).unwrap_err();
    assert!(err.contains("nested more than 512 deep"), "{err}");

    let deep_tables = "*#k\x7f".repeat(100_000);
    let err = timed("100k nested *", &deep_tables).unwrap_err();
    assert!(err.contains("nested more than 512 deep"), "{err}");

    // 1 MB of digits: the number overflows (the original returned inf or NaN).
    let digits = format!(">{}", "~".repeat(1 << 20));
    let err = timed("1 MB of digits", &digits).unwrap_err();
    assert!(err.contains("not finite"), "{err}");
    let zeros = format!(")1{}", "0".repeat(1 << 20));
    assert!(timed("1 MB of zero digits", &zeros).is_err());

    // An unterminated string of 1 MB is text cut short (D17).
    let open_string = format!("#{}", "a".repeat(1 << 20));
    let err = timed("1 MB string without DEL", &open_string).unwrap_err();
    assert!(
        err.contains("byte 0: the string has no closing DEL"),
        "{err}"
    );

    // Long flat containers.
    let trues = format!("|{}\x7f", "+".repeat(1 << 20));
    match timed("1M trues", &trues).unwrap() {
        Value::Array(items) => assert_eq!(items.len(), 1 << 20),
        other => panic!("{other:?}"),
    }
    let empties = format!("|{}\x7f", "*\x7f".repeat(300_000));
    assert!(timed("300k empty tables", &empties).is_ok());

    // Many keys, each removed (map[k] = nil) and set again: removal must not shift the table.
    let n = 50_000;
    let mut churn = String::from("*");
    for i in 0..n {
        churn.push_str(&format!("#k{i}\x7f+"));
    }
    for i in 0..n {
        churn.push_str(&format!("#k{i}\x7f\x7f#k{i}\x7f-"));
    }
    churn.push('\x7f');
    match timed("50k keys removed and re-set", &churn).unwrap() {
        Value::Table(t) => {
            assert_eq!(t.len(), n);
            assert!(t.values().all(|v| *v == Value::Bool(false)));
        }
        other => panic!("{other:?}"),
    }
    let mut removed = String::from("*");
    for i in 0..n {
        removed.push_str(&format!(">{i}+"));
    }
    for i in 0..n {
        removed.push_str(&format!(">{i}\x7f"));
    }
    removed.push('\x7f');
    assert_eq!(
        timed("50k keys all removed", &removed),
        Ok(Value::Table(Default::default()))
    );

    // Nesting right up to the cap, closed and reopened many times.
    let tower = format!("{}{}", "|".repeat(512), "\x7f".repeat(512)).repeat(2_000);
    assert!(timed("2000 towers 512 deep", &tower).is_ok());
    let mut sawtooth = String::from("|");
    for _ in 0..2_000 {
        sawtooth.push_str(&"|".repeat(511));
        sawtooth.push_str(&"\x7f".repeat(511));
    }
    sawtooth.push('\x7f');
    match timed("sawtooth", &sawtooth).unwrap() {
        Value::Array(items) => assert_eq!(items.len(), 2_000),
        other => panic!("{other:?}"),
    }

    // Long runs of skipped bytes and of lone DELs.
    assert_eq!(
        timed("1 MB of non-tags", &" ".repeat(1 << 20)),
        Ok(Value::Nil)
    );
    assert_eq!(
        timed("1 MB of DEL", &"\x7f".repeat(1 << 20)),
        Ok(Value::Nil)
    );
}
