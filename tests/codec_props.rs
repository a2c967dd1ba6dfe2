//! Round-trip properties of the codec: any storable value survives `compress` → `decompress` at
//! both levels, up to the format's own, documented changes.
//!
//! The generator keeps integers within ±2^53 and scaled non-integers (`|v| × 10^Decimals`)
//! below 2^53: beyond that the original's f64 digit formula (which we copy for byte
//! compatibility, behaviour.md §9.4/§9.7) yields digits outside 0..=82 that are silently
//! dropped, so such numbers do not come back. `huge_numbers_never_fail_or_panic` covers them.

use datastore_module::codec::{compress, decompress, Settings};
use datastore_module::value::{Key, Table, Value};
use proptest::prelude::*;

const TWO_53: f64 = 9_007_199_254_740_992.0;

fn integer() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-1000i64..1000).prop_map(|n| n as f64),
        (-(1i64 << 53)..=(1i64 << 53)).prop_map(|n| n as f64),
        Just(-0.0),
        Just(TWO_53),
        Just(-TWO_53),
    ]
}

/// Non-integers whose scaled value stays below 2^53 for every Decimals in 0..=5.
fn fraction() -> impl Strategy<Value = f64> {
    prop_oneof![
        -1e3..1e3f64,
        -1e10..1e10f64,
        (-1000i64..1000).prop_map(|n| n as f64 + 0.5),
        (-100_000i64..100_000).prop_map(|n| n as f64 / 1000.0),
        Just(0.0005),
        Just(-0.0005),
        Just(f64::MIN_POSITIVE),
    ]
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![integer(), fraction()]
}

/// Arbitrary Unicode, with DEL and the tag bytes made likely.
fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[-+<>()#|*\x7f a0~\"\\\\]{0,12}",
        "\\PC{0,8}",
    ]
}

fn key() -> impl Strategy<Value = Key> {
    prop_oneof![
        4 => string().prop_map(Key::String),
        2 => (1i64..6).prop_map(|n| Key::Number(n as f64)),
        1 => number().prop_map(Key::Number),
        1 => any::<bool>().prop_map(Key::Bool),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        number().prop_map(Value::Number),
        string().prop_map(Value::String),
    ]
}

/// A storable value: no holes in arrays; nil only as a table value (an absent key) or at the
/// top.
fn value() -> impl Strategy<Value = Value> {
    let tree = leaf().prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec(
                (key(), prop_oneof![8 => inner, 1 => Just(Value::Nil)]),
                0..8
            )
            .prop_map(|pairs| Value::Table(pairs.into_iter().collect::<Table>())),
            // A table keyed 1..=n in shuffled order, which is a sequence too, maybe with an
            // absent (nil) key among them.
            (
                prop::collection::vec(any::<bool>(), 1..6),
                any::<u64>(),
                any::<bool>()
            )
                .prop_map(|(items, seed, with_nil)| {
                    let n = items.len();
                    let mut t = Table::new();
                    for i in 0..n {
                        if with_nil && i == n / 2 {
                            t.insert(Key::String("gone".into()), Value::Nil);
                        }
                        let at = (i + seed as usize) % n;
                        t.insert(Key::Number((at + 1) as f64), Value::Bool(items[at]));
                    }
                    Value::Table(t)
                }),
        ]
    });
    prop_oneof![10 => tree, 1 => Just(Value::Nil)]
}

fn settings() -> impl Strategy<Value = Settings> {
    (any::<bool>(), 0u8..=5, any::<bool>()).prop_map(|(array_mode, decimals, safety)| Settings {
        array_mode,
        decimals: f64::from(decimals),
        safety,
    })
}

fn without_del(value: &Value) -> bool {
    match value {
        Value::String(s) => !s.contains('\x7f'),
        Value::Array(items) => items.iter().all(without_del),
        // A key with a nil value is absent, so it is never written.
        Value::Table(t) => t.iter().all(|(k, v)| {
            matches!(v, Value::Nil)
                || (!matches!(k, Key::String(s) if s.contains('\x7f')) && without_del(v))
        }),
        _ => true,
    }
}

/// What the format gives back for `value`: non-integers quantised to `1/scale`, DEL turned
/// into a space when Safety is on, nil table values dropped, a table keyed `1..=n` read as a
/// sequence. Keys that become equal merge, the last value winning, as in the decoder. (An empty
/// array stays an array, and -0 stays -0.)
fn expected(value: &Value, scale: f64, safety: bool) -> Value {
    let number = |n: f64| {
        if n - n.floor() == 0.0 {
            n
        } else if n < 0.0 {
            -(-n * scale).round() / scale
        } else {
            (n * scale).round() / scale
        }
    };
    let string = |s: &str| {
        if safety {
            s.replace('\x7f', " ")
        } else {
            s.to_owned()
        }
    };
    match value {
        Value::Nil => Value::Nil,
        Value::Bool(b) => Value::Bool(*b),
        Value::Number(n) => Value::Number(number(*n)),
        Value::String(s) => Value::String(string(s)),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| expected(v, scale, safety)).collect())
        }
        Value::Table(t) => {
            let mut out = Table::new();
            for (k, v) in t {
                if matches!(v, Value::Nil) {
                    continue;
                }
                let k = match k {
                    Key::String(s) => Key::String(string(s)),
                    Key::Number(n) => Key::Number(number(*n)),
                    Key::Bool(b) => Key::Bool(*b),
                };
                out.insert(k, expected(v, scale, safety));
            }
            let n = out.len();
            let is_sequence = n > 0 && (1..=n).all(|i| out.contains_key(&Key::Number(i as f64)));
            if is_sequence {
                Value::Array(
                    (1..=n)
                        .map(|i| out[&Key::Number(i as f64)].clone())
                        .collect(),
                )
            } else {
                Value::Table(out)
            }
        }
    }
}

/// Every number in `got` is within half a step of the matching one in `original`.
fn within_half_a_step(original: &Value, got: &Value, scale: f64) {
    if let (Value::Number(a), Value::Number(b)) = (original, got) {
        // 0.5/scale from rounding, plus the division's own half-ulp.
        let bound = 0.5 / scale + b.abs() * f64::EPSILON;
        assert!((a - b).abs() <= bound, "{a} came back as {b}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_storable_value_round_trips(value in value(), settings in settings()) {
        let scale = 10f64.powf(settings.decimals);
        let text = compress(&value, &settings);
        if !settings.safety && !without_del(&value) {
            prop_assert!(text.unwrap_err().message.contains("DEL (0x7F)"));
            return Ok(());
        }
        let text = text.unwrap();
        let back = decompress(&text, settings.decimals).unwrap();
        let want = expected(&value, scale, settings.safety);
        prop_assert_eq!(&back, &want);
        // `Value` equality takes -0 for 0; the JSON text tells them apart.
        prop_assert_eq!(back.to_json_string(), want.to_json_string());
        // Re-encoding what we read gives the same text again (up to merged keys).
        let again = compress(&back, &settings).unwrap();
        prop_assert_eq!(decompress(&again, settings.decimals).unwrap(), back);
    }

    #[test]
    fn numbers_come_back_exact_or_within_half_a_step(n in number(), decimals in 0u8..=5) {
        let settings = Settings { decimals: f64::from(decimals), ..Settings::default() };
        let scale = 10f64.powf(settings.decimals);
        let back = decompress(&compress(&Value::Number(n), &settings).unwrap(), settings.decimals)
            .unwrap();
        if n - n.floor() == 0.0 {
            prop_assert_eq!(back, Value::Number(n));
        } else {
            within_half_a_step(&Value::Number(n), &back, scale);
        }
    }

    #[test]
    fn any_number_reads_back_as_written_or_is_refused(bits in any::<u64>(), decimals in 0u8..=5) {
        let n = f64::from_bits(bits);
        prop_assume!(n.is_finite());
        let settings = Settings { decimals: f64::from(decimals), ..Settings::default() };
        let scale = 10f64.powf(settings.decimals);
        match compress(&Value::Number(n), &settings) {
            Ok(text) => {
                // At most the tag and 161 base-83 digits (83^161 > f64::MAX).
                prop_assert!(text.len() <= 162);
                let back = decompress(&text, settings.decimals).unwrap();
                if n - n.floor() == 0.0 {
                    prop_assert_eq!(back, Value::Number(n));
                } else {
                    within_half_a_step(&Value::Number(n), &back, scale);
                }
            }
            // Past 2^53 the original's digit loop can change a number; that is refused.
            Err(e) => prop_assert!(e.message.contains("too large to compress exactly"), "{}", e),
        }
    }
}
