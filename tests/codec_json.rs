//! The bindings' codec (`codec::json`: JSON text ↔ compressed text, no `Value` tree) gives
//! exactly what the tree-based reference gives: `Value::from_json_str` then `codec::compress`,
//! and `codec::decompress` then `Value::to_json_string`. Same bytes, same `None`, same error
//! text, on every vector, on generated JSON (duplicate keys, nulls, escapes, odd numbers, bad
//! syntax, deep nesting) and on generated compressed text (removals, shuffled and mixed keys,
//! truncation, garbage).

mod codec_common;

use codec_common::{hex_to_text, reference_compress, reference_decompress};
use datastore_module::codec::{self, Settings, MAX_DEPTH};
use datastore_module::value::Value;
use proptest::prelude::*;
use serde_json::Value as Json;

fn same_compress(json: &str, settings: &Settings) {
    assert_eq!(
        codec::json::compress(json, "value", settings),
        reference_compress(json, settings),
        "compress {json:?} with {settings:?}"
    );
}

fn same_decompress(text: &str, decimals: f64) {
    assert_eq!(
        codec::json::decompress(text, decimals),
        reference_decompress(text, decimals),
        "decompress {text:?} at Decimals {decimals}"
    );
}

fn settings(level: u8, decimals: f64, safety: bool) -> Settings {
    Settings {
        array_mode: level == 2,
        decimals,
        safety,
    }
}

/// Level, Decimals and Safety combinations, including scales the format handles badly.
fn all_settings() -> Vec<Settings> {
    let mut all = Vec::new();
    for level in [1, 2] {
        for decimals in [3.0, 0.0, 1.0, 5.0, -2.0, 2.5, 400.0] {
            for safety in [true, false] {
                all.push(settings(level, decimals, safety));
            }
        }
    }
    all
}

#[test]
fn every_vector_transcodes_like_the_reference() {
    for line in include_str!("vectors/codec-encode.jsonl").lines() {
        let v: Json = serde_json::from_str(line).expect("vector line");
        let json = v["value"].to_string();
        let decimals = v["decimals"].as_f64().unwrap();
        let ours = settings(
            v["level"].as_f64().unwrap() as u8,
            decimals,
            v["safety"].as_bool().unwrap(),
        );
        same_compress(&json, &ours);
        for other in all_settings() {
            same_compress(&json, &other);
        }
        let encoded = hex_to_text(v["encoded_hex"].as_str().unwrap());
        same_decompress(&encoded, decimals);
        same_decompress(&encoded, 0.0);
    }
    for line in include_str!("vectors/codec-decode.jsonl").lines() {
        let v: Json = serde_json::from_str(line).expect("vector line");
        let input = hex_to_text(v["input_hex"].as_str().unwrap());
        same_decompress(&input, v["decimals"].as_f64().unwrap());
        same_decompress(&input, 3.0);
    }
}

#[test]
fn edge_cases_transcode_like_the_reference() {
    let json = [
        "null",
        " null ",
        "{}",
        "[]",
        "[[]]",
        "[{}]",
        r#"{"Inventory":[],"Bag":{},"Nested":[[],[{}]]}"#,
        "[-0,0,-0.0,{\"z\":-0}]",
        r#"{"a":null}"#,
        r#"{"a":null,"b":1}"#,
        r#"{"a":1,"a":2}"#,
        r#"{"a":1,"b":2,"a":null}"#,
        r#"{"a":null,"a":2}"#,
        r#"{"a":{"x":1},"a":[1]}"#,
        r#"{"a\u007f":1,"a ":2}"#,
        r#"{"\u0061":1,"a":2}"#,
        r#"[1,null]"#,
        r#"[null]"#,
        "-0",
        "-0.0",
        "0.1",
        "1e2",
        "1E-2",
        "1.5e300",
        "1e999",
        "-1e999",
        "1e-999",
        "9007199254740993",
        "18446744073709551616",
        "-9223372036854775809",
        "123456789012345678901234567890",
        "0.30000000000000004",
        "01",
        "1.",
        ".5",
        "+1",
        "-",
        "1e",
        "[1,]",
        r#"{"a":1,}"#,
        "[1 2]",
        "[1] x",
        "{\"a\" 1}",
        r#""\ud83d\ude00""#,
        r#""\ud800""#,
        r#""\udc00x""#,
        "\"tab\tinside\"",
        r#""\b\f\n\r\t\/\\\"""#,
        "\"\u{7f}\"",
        r#"{"k":"a\u007fb"}"#,
        "\"unterminated",
        "",
        "   ",
        "tru",
        "nul",
        "[true,false,null]",
    ];
    for text in json {
        for s in all_settings() {
            same_compress(text, &s);
        }
    }
    let compressed = [
        "",
        "\x7f",
        ">",
        "garbage>5",
        "|>1>2",
        "|\x7f",
        "*\x7f",
        "|\x7f\x7f",
        "||\x7f*\x7f\x7f",
        "*#a\x7f|\x7f#b\x7f*\x7f\x7f",
        "<0",
        "(0",
        "|<0(0>0\x7f",
        "*#Coins\x7f>Z",
        "|>1>2#abc",
        "#abc",
        "garbage#abc",
        "*>1+>2-\x7f",
        "*>2->1+\x7f",
        "*>1+>3-\x7f",
        "*>1+#a\x7f-\x7f",
        "*#a\x7f-#a\x7f+\x7f",
        "*#a\x7f-#b\x7f+#a\x7f\x7f\x7f",
        "*#a\x7f-\x7f#a\x7f+\x7f",
        "*+-\x7f",
        "*)1+\x7f",
        "*#a\x7f",
        "*#a\x7f>1",
        "|>1|>2",
        "|>1*#a\x7f",
        "*|\x7f>1\x7f",
        "*#a\x7f|>1\x7f\x7f",
        "|#unterminated",
        "#x",
        ") 1",
        "<0",
        ">~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~",
        "#\"quote\\back\nline\x01\x1f\x7f",
        "#é€😀\x7f",
        "+>5",
        "*#k\x7f*\x7f\x7f",
    ];
    for text in compressed {
        for decimals in [3.0, 0.0, 1.0, -2.0, 400.0, -400.0] {
            same_decompress(text, decimals);
        }
    }
}

#[test]
fn nesting_at_the_cap_transcodes_like_the_reference() {
    for depth in [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 100_000] {
        let arrays = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let objects = format!("{}1{}", r#"{"k":"#.repeat(depth), "}".repeat(depth));
        for s in [settings(2, 3.0, true), settings(1, 3.0, true)] {
            same_compress(&arrays, &s);
            same_compress(&objects, &s);
        }
        let bars = format!("{}+{}", "|".repeat(depth), "\x7f".repeat(depth));
        let stars = format!("{}+{}", "*#k\x7f".repeat(depth), "\x7f".repeat(depth));
        same_decompress(&bars, 3.0);
        same_decompress(&stars, 3.0);
        same_decompress(&"|".repeat(depth), 3.0);
    }
}

#[test]
fn large_objects_with_a_duplicate_key_transcode_like_the_reference() {
    // Past the small-table check the duplicate search sorts; the duplicate may be anywhere.
    for n in [15, 16, 17, 40, 1000] {
        for dup in [0, n / 2, n - 1] {
            let mut json = String::from("{");
            let mut text = String::from("*");
            for i in 0..n {
                json.push_str(&format!("\"k{i}\":{i},"));
                text.push_str(&format!("#k{i}\x7f>1"));
            }
            json.push_str(&format!("\"k{dup}\":true}}"));
            text.push_str(&format!("#k{dup}\x7f+\x7f"));
            same_compress(&json, &Settings::default());
            same_decompress(&text, 3.0);
            // And without the duplicate.
            same_compress(
                &json.replace(&format!("\"k{dup}\":true"), "\"z\":true"),
                &Settings::default(),
            );
            same_decompress(&text.replace(&format!("#k{dup}\x7f+"), "#z\x7f+"), 3.0);
        }
    }
}

/// `codec::json::is_canonical` never says yes to text the reference would read and write
/// differently (or refuse); said no, the reference decides, so no is always safe.
fn canonical_agrees(json: &str) {
    if codec::json::is_canonical(json) {
        let value = Value::from_json_str(json, "Value").unwrap_or_else(|e| {
            panic!("{json:?} called canonical, but the reference refuses: {e}")
        });
        assert!(
            value != Value::Nil,
            "{json:?} called canonical, but it is nil"
        );
        assert_eq!(value.to_json_string(), json, "{json:?} called canonical");
    }
}

/// What the reference writes is canonical unless it is nil or nests near the limit: the
/// check must say yes to it, or saves would all take the slow path.
fn written_is_canonical(json: &str) {
    let Ok(value) = Value::from_json_str(json, "Value") else {
        return;
    };
    let written = value.to_json_string();
    if value != Value::Nil && codec::json::nesting(&written) + 1 < MAX_DEPTH {
        assert!(
            codec::json::is_canonical(&written),
            "{written:?} (from {json:?})"
        );
    }
}

#[test]
fn canonical_json_is_recognised_exactly() {
    for json in [
        r#"{"a":1,"b":[true,false,"x"],"c":{}}"#,
        "[]",
        "{}",
        "[[],{}]",
        "-0",
        "0",
        "1.5",
        r#""""#,
        "\"q\\\"\\\\\\n\\r\\t\\u0001\\u001f\u{7f}é😀\"",
    ] {
        assert!(codec::json::is_canonical(json), "{json:?}");
        canonical_agrees(json);
    }
    for json in [
        "null",
        "[1,null]",
        r#"{"a":null}"#,
        r#"{"a":1,"a":2}"#,
        "[1, 2]",
        " 1",
        "1 ",
        "1.0",
        "1e2",
        "-0.0",
        "1E400",
        r#""\u0061""#,
        r#""\u000a""#,
        r#""\u001F""#,
        r#""\/""#,
        r#""\b""#,
        "[1,]",
        r#"{"a":1,}"#,
        "tru",
        "",
        "[",
        "\"\u{1}\"",
    ] {
        assert!(!codec::json::is_canonical(json), "{json:?}");
    }
    // Around the whole-number shortcut (up to 15 digits) and the writer's other forms.
    for n in [
        "999999999999999",
        "-999999999999999",
        "1000000000000000",
        "-1000000000000000",
        "9007199254740993",
        "123456789012345678901",
        "1e15",
        "0.1",
        "1e-7",
        "0.000001",
        "1e21",
        "00",
        "-00",
        "-",
        "12.50",
        // Around the short-decimal shortcut: 15 significant digits, 1e-5, trailing zeros.
        "0.00001",
        "-0.00001",
        "0.000012",
        "0.000001",
        "0.0000012",
        "0.123456789012345",
        "0.1234567890123456",
        "123456789.123456",
        "1234567890.123456",
        "999999999999999.9",
        "0.30000000000000004",
        "0.1",
        "0.10",
        "1.5e3",
        "1.05",
        "-2.675",
        "0.0",
    ] {
        for json in [
            n.to_owned(),
            format!("[{n}]"),
            format!(r#"{{"n":{n},"m":[{n},{n}]}}"#),
        ] {
            canonical_agrees(&json);
            written_is_canonical(&json);
        }
    }
    for depth in [MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1] {
        let arrays = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        canonical_agrees(&arrays);
        written_is_canonical(&arrays);
    }
    for line in include_str!("vectors/codec-encode.jsonl").lines() {
        let v: Json = serde_json::from_str(line).expect("vector line");
        let json = v["value"].to_string();
        canonical_agrees(&json);
        written_is_canonical(&json);
    }
}

// ---- generated JSON ---------------------------------------------------------------------------

/// JSON numbers: ordinary, long, exponents, edge values, and a few that are not JSON.
fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (-100_000i64..100_000).prop_map(|n| n.to_string()),
        4 => (-1_000_000i64..1_000_000, 0u32..6).prop_map(|(n, d)| {
            format!("{}", n as f64 / 10f64.powi(d as i32))
        }),
        3 => any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::to_string(&f).unwrap()),
        2 => "-?(0|[1-9][0-9]{0,24})(\\.[0-9]{1,24})?([eE][+-]?[0-9]{1,3})?",
        1 => prop_oneof![
            Just("-0".to_owned()),
            Just("9007199254740993".to_owned()),
            Just("1e999".to_owned()),
            Just("1e-999".to_owned()),
            Just("01".to_owned()),
            Just("1.".to_owned()),
            Just("-".to_owned()),
            Just("+1".to_owned()),
        ],
    ]
}

/// A JSON string literal: escaped in every legal way, sometimes with a lone surrogate or a raw
/// control character (not JSON).
fn string_text() -> impl Strategy<Value = String> {
    let plain = prop_oneof![
        "[a-zA-Z0-9_ ]{0,10}",
        "[-+<>()#|*\x7f a0~\"\\\\/\n\t\x01é€😀]{0,8}",
        any::<String>(),
    ];
    (plain, any::<u64>(), 0u8..20).prop_map(|(s, seed, odd)| {
        let mut out = String::from("\"");
        for (i, c) in s.chars().enumerate() {
            let escape_anyway = (seed >> (i % 64)) & 1 == 1;
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' if escape_anyway => out.push_str("\\n"),
                '/' if escape_anyway => out.push_str("\\/"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c if escape_anyway && (seed >> 7) & 3 == 0 => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{:04X}", unit));
                    }
                }
                c => out.push(c),
            }
        }
        match odd {
            0 => out.push_str("\\ud800"),
            1 => out.push('\x02'),
            2 => out.push_str("\\x"),
            _ => {}
        }
        out.push('"');
        out
    })
}

fn key_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop_oneof![Just("a"), Just("b"), Just("1"), Just("x\\u007f"), Just("x ")]
            .prop_map(|k| format!("\"{k}\"")),
        2 => string_text(),
    ]
}

fn space() -> impl Strategy<Value = &'static str> {
    prop_oneof![8 => Just(""), 1 => Just(" "), 1 => Just("\n\t "), 1 => Just("\r")]
}

/// JSON text, mostly valid, with nulls, duplicate keys and the odd syntax error.
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        1 => Just("null".to_owned()),
        1 => Just("true".to_owned()),
        1 => Just("false".to_owned()),
        4 => number_text(),
        4 => string_text(),
    ];
    leaf.prop_recursive(6, 120, 10, |inner| {
        prop_oneof![
            (
                prop::collection::vec((inner.clone(), space()), 0..10),
                space()
            )
                .prop_map(|(items, end)| {
                    let items: Vec<String> = items
                        .into_iter()
                        .map(|(v, s)| format!("{s}{v}{s}"))
                        .collect();
                    format!("[{}{end}]", items.join(","))
                }),
            (
                prop::collection::vec((key_text(), inner, space()), 0..10),
                space()
            )
                .prop_map(|(pairs, end)| {
                    let pairs: Vec<String> = pairs
                        .into_iter()
                        .map(|(k, v, s)| format!("{s}{k}{s}:{s}{v}"))
                        .collect();
                    format!("{{{}{end}}}", pairs.join(","))
                }),
        ]
    })
}

/// Some texts cut short, with a byte dropped, or with something after them.
fn mutated(text: String, how: u8, at: usize) -> String {
    let cut = |t: &str| {
        let mut i = at % (t.len() + 1);
        while !t.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    match how {
        0 => text[..cut(&text)].to_owned(),
        1 => {
            let i = cut(&text);
            let mut t = text.clone();
            if i < t.len() {
                t.remove(i);
            }
            t
        }
        2 => format!("{text},"),
        3 => format!("{text} 1"),
        _ => text,
    }
}

fn settings_strategy() -> impl Strategy<Value = Settings> {
    (
        1u8..=2,
        prop_oneof![4 => (0u8..=5).prop_map(f64::from), 1 => Just(-2.0), 1 => Just(400.0)],
        any::<bool>(),
    )
        .prop_map(|(level, decimals, safety)| settings(level, decimals, safety))
}

// ---- generated compressed text ----------------------------------------------------------------

/// Compressed text made of plausible pieces: containers, keys that repeat, sequence keys in and
/// out of order, DEL where a value goes (removal), and bytes the decoder skips or refuses.
fn compressed_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => Just("|"),
        3 => Just("*"),
        6 => Just("\x7f"),
        3 => Just("#a\x7f"),
        2 => Just("#b\x7f"),
        1 => Just("#\"\\\n\x01é😀\x7f"),
        1 => Just("#open"),
        3 => Just(">1"),
        2 => Just(">2"),
        2 => Just(">3"),
        1 => Just(">0"),
        1 => Just("<1"),
        2 => Just("+"),
        2 => Just("-"),
        1 => Just(")1"),
        1 => Just("(6i"),
        1 => Just(")h1"),
        1 => Just(" "),
        1 => Just("x"),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

/// Text our own encoder wrote for generated JSON, sometimes damaged.
fn encoded_text() -> impl Strategy<Value = (String, f64)> {
    (json_text(), settings_strategy(), 0u8..8, any::<usize>()).prop_filter_map(
        "encodable",
        |(json, s, how, at)| {
            let text = reference_compress(&json, &s).ok()?;
            Some((mutated(text, how, at), s.decimals))
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn generated_json_compresses_like_the_reference(
        json in json_text(),
        how in 0u8..12,
        at in any::<usize>(),
        s in settings_strategy(),
    ) {
        let json = mutated(json, how, at);
        prop_assert_eq!(
            codec::json::compress(&json, "value", &s),
            reference_compress(&json, &s),
            "{:?} {:?}", json, s
        );
    }

    #[test]
    fn generated_json_is_called_canonical_exactly(
        json in json_text(),
        how in 0u8..12,
        at in any::<usize>(),
    ) {
        let json = mutated(json, how, at);
        canonical_agrees(&json);
        written_is_canonical(&json);
    }

    #[test]
    fn generated_text_decompresses_like_the_reference(
        text in compressed_text(),
        decimals in prop_oneof![Just(3.0), Just(0.0), Just(1.0), Just(-2.0), Just(400.0)],
    ) {
        prop_assert_eq!(
            codec::json::decompress(&text, decimals),
            reference_decompress(&text, decimals),
            "{:?}", text
        );
    }

    #[test]
    fn encoded_text_decompresses_like_the_reference((text, decimals) in encoded_text()) {
        prop_assert_eq!(
            codec::json::decompress(&text, decimals),
            reference_decompress(&text, decimals),
            "{:?}", text
        );
    }
}
